//! The states a meeting, its insights job and its host's email can be in, as stored. The
//! adapters write and read these values only through this module, so a state is named once.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a meeting is, in the order it moves through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingState {
    /// A webhook delivery claimed it (with a lease) and is starting the producer.
    Received,
    /// The producer was invoked.
    Dispatched,
    /// A producer attempt holds it (with a lease it renews).
    Producing,
    /// A production attempt failed and Lambda will try again.
    Retrying,
    /// Its audio is stored; the consumer has not been told yet.
    Produced,
    /// Its work item is on the queue.
    Queued,
    /// The insights provider has a job for it.
    Submitted,
    /// The provider's job is terminal; the insights (or the failure) are the email's.
    Transcribed,
    /// It failed for good before the provider had a job; its host is told.
    Failed,
}

impl MeetingState {
    pub const ALL: [MeetingState; 9] = [
        MeetingState::Received,
        MeetingState::Dispatched,
        MeetingState::Producing,
        MeetingState::Retrying,
        MeetingState::Produced,
        MeetingState::Queued,
        MeetingState::Submitted,
        MeetingState::Transcribed,
        MeetingState::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            MeetingState::Received => "received",
            MeetingState::Dispatched => "dispatched",
            MeetingState::Producing => "producing",
            MeetingState::Retrying => "retrying",
            MeetingState::Produced => "produced",
            MeetingState::Queued => "queued",
            MeetingState::Submitted => "submitted",
            MeetingState::Transcribed => "transcribed",
            MeetingState::Failed => "failed",
        }
    }

    pub fn parse(stored: &str) -> Option<MeetingState> {
        MeetingState::ALL.into_iter().find(|s| s.as_str() == stored)
    }

    /// Before the provider has a job: the states production (or its retry) may start from.
    pub const fn before_production(self) -> bool {
        matches!(
            self,
            MeetingState::Received | MeetingState::Dispatched | MeetingState::Retrying
        )
    }

    /// Ready for the consumer to submit.
    pub const fn ready_to_submit(self) -> bool {
        matches!(self, MeetingState::Produced | MeetingState::Queued)
    }
}

impl From<MeetingState> for &'static str {
    fn from(s: MeetingState) -> Self {
        s.as_str()
    }
}

impl fmt::Display for MeetingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider's insights job. Only moves forward; `Completed` and `Failed` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Scheduled,
    InProgress,
    Completed,
    Failed,
}

impl JobState {
    pub const ALL: [JobState; 4] = [
        JobState::Scheduled,
        JobState::InProgress,
        JobState::Completed,
        JobState::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            JobState::Scheduled => "scheduled",
            JobState::InProgress => "in_progress",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
        }
    }

    pub fn parse(stored: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.as_str() == stored)
    }

    pub const fn is_terminal(self) -> bool {
        matches!(self, JobState::Completed | JobState::Failed)
    }
}

impl From<JobState> for &'static str {
    fn from(s: JobState) -> Self {
        s.as_str()
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The host's email about a meeting: claimed before it is sent, settled after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailState {
    /// Claimed by one sender; a claim older than its stale limit may be taken over.
    Sending,
    Sent,
    /// Refused for good; the reason is kept beside it.
    Failed,
}

impl EmailState {
    pub const ALL: [EmailState; 3] = [EmailState::Sending, EmailState::Sent, EmailState::Failed];

    pub const fn as_str(self) -> &'static str {
        match self {
            EmailState::Sending => "sending",
            EmailState::Sent => "sent",
            EmailState::Failed => "failed",
        }
    }

    pub fn parse(stored: &str) -> Option<EmailState> {
        EmailState::ALL.into_iter().find(|s| s.as_str() == stored)
    }
}

impl From<EmailState> for &'static str {
    fn from(s: EmailState) -> Self {
        s.as_str()
    }
}

impl fmt::Display for EmailState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip_and_match_serde() {
        for s in MeetingState::ALL {
            assert_eq!(MeetingState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in JobState::ALL {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in EmailState::ALL {
            assert_eq!(EmailState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(MeetingState::parse("Queued"), None, "stored names are exact");
    }

    #[test]
    fn jobs_only_end_in_completed_or_failed() {
        let terminal: Vec<_> = JobState::ALL.into_iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(terminal, [JobState::Completed, JobState::Failed]);
        assert!(JobState::Scheduled < JobState::InProgress && JobState::InProgress < JobState::Completed);
    }
}
