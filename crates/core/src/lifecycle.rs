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

/// Who makes a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    ZoomWebhook,
    Producer,
    Consumer,
    /// The notifier applying a job status.
    Notifier,
    /// The notifier's scheduled run: healers and owed emails.
    Reconciler,
    /// A person, through the `zoom-symbl` command line.
    Operator,
}

impl Actor {
    pub const fn as_str(self) -> &'static str {
        match self {
            Actor::ZoomWebhook => "zoom-webhook",
            Actor::Producer => "producer",
            Actor::Consumer => "consumer",
            Actor::Notifier => "notifier",
            Actor::Reconciler => "reconciler",
            Actor::Operator => "operator (`zoom-symbl replay`)",
        }
    }
}

/// Every move a meeting record can make. The adapters build each write's condition from
/// [`Step::from`] and its new status from [`Step::to`], so the allowed transitions are this table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// A first delivery claims a new meeting.
    Claim,
    /// A delivery (or the reconciler) takes over a `received` claim whose lease lapsed.
    TakeOverClaim,
    /// The claim's producer was invoked.
    Dispatch,
    /// The reconciler invokes the producer again for a `dispatched` meeting that never started.
    Redispatch,
    /// A producer attempt takes the meeting (or a lapsed attempt's lease).
    BeginProduction,
    /// The audio is stored.
    SaveProduced,
    /// The work item is on the queue.
    Queue,
    /// The reconciler puts the work item on the queue again.
    Requeue,
    /// A production attempt failed; Lambda retries it.
    RetryProduction,
    /// A production failed for good.
    FailProduction,
    /// The reconciler fails a production that stopped without an outcome.
    FailStalled,
    /// The reconciler fails a meeting its healer could not move on.
    FailHealing,
    /// The provider took the audio.
    Submit,
    /// The provider refused the audio for good.
    FailSubmission,
    /// The provider's job completed.
    Transcribe,
    /// The provider's job failed.
    FailJob,
    /// Transcribed, but the insights cannot be made (the model answered invalidly twice, the
    /// transcript cannot be read): the meeting fails with why.
    FailInsights,
    /// A richer delivery (more completed audio files) starts the meeting over as its next
    /// run, from any state in which no provider job is working on the earlier audio.
    Restart,
    /// A richer delivery while the provider works on the earlier audio: kept with the
    /// meeting, which restarts with it once that job's email is settled.
    DeferDelivery,
    /// An operator runs a finished meeting again from its archived originals, as its next
    /// run (after a fix, or with another provider); never while a run is in flight.
    Replay,
}

impl Step {
    pub const ALL: [Step; 20] = [
        Step::Claim,
        Step::TakeOverClaim,
        Step::Dispatch,
        Step::Redispatch,
        Step::BeginProduction,
        Step::SaveProduced,
        Step::Queue,
        Step::Requeue,
        Step::RetryProduction,
        Step::FailProduction,
        Step::FailStalled,
        Step::FailHealing,
        Step::Submit,
        Step::FailSubmission,
        Step::Transcribe,
        Step::FailJob,
        Step::FailInsights,
        Step::Restart,
        Step::DeferDelivery,
        Step::Replay,
    ];

    /// The states the record must be in. `Claim` and `BeginProduction` may also create the
    /// record ([`Step::may_create`]).
    pub const fn from(self) -> &'static [MeetingState] {
        use MeetingState::*;
        match self {
            Step::Claim => &[],
            Step::TakeOverClaim | Step::Dispatch => &[Received],
            Step::Redispatch => &[Dispatched],
            // `Producing` only once its lease lapsed (the adapter adds that clause).
            Step::BeginProduction => &[Received, Dispatched, Retrying, Producing],
            Step::SaveProduced => &[Producing],
            Step::Queue => &[Produced],
            Step::Requeue => &[Produced, Queued],
            Step::RetryProduction | Step::FailProduction => &[Received, Dispatched, Producing, Retrying],
            Step::FailStalled => &[Producing, Retrying],
            Step::FailHealing => &[Received, Dispatched, Produced, Queued],
            Step::Submit | Step::FailSubmission => &[Queued, Produced],
            Step::Transcribe | Step::FailJob => &[Queued, Submitted],
            Step::FailInsights => &[Transcribed],
            Step::Restart => &[
                Received,
                Dispatched,
                Producing,
                Retrying,
                Produced,
                Queued,
                Transcribed,
                Failed,
            ],
            Step::DeferDelivery => &[Submitted],
            Step::Replay => &[Transcribed, Failed],
        }
    }

    pub const fn to(self) -> MeetingState {
        use MeetingState::*;
        match self {
            Step::Claim | Step::TakeOverClaim | Step::Restart | Step::Replay => Received,
            Step::Dispatch | Step::Redispatch => Dispatched,
            Step::BeginProduction => Producing,
            Step::SaveProduced => Produced,
            Step::Queue | Step::Requeue => Queued,
            Step::RetryProduction => Retrying,
            Step::FailProduction
            | Step::FailStalled
            | Step::FailHealing
            | Step::FailSubmission
            | Step::FailJob
            | Step::FailInsights => Failed,
            Step::Submit | Step::DeferDelivery => Submitted,
            Step::Transcribe => Transcribed,
        }
    }

    /// Whether the step may write a record that does not exist yet.
    pub const fn may_create(self) -> bool {
        matches!(self, Step::Claim | Step::BeginProduction)
    }

    /// Who may make it.
    pub const fn by(self) -> &'static [Actor] {
        match self {
            Step::Claim => &[Actor::ZoomWebhook],
            Step::TakeOverClaim => &[Actor::ZoomWebhook],
            // The reconciler starts a dead delivery's producer the way the delivery would have.
            Step::Dispatch => &[Actor::ZoomWebhook, Actor::Reconciler],
            Step::BeginProduction | Step::SaveProduced | Step::Queue | Step::RetryProduction | Step::FailProduction => {
                &[Actor::Producer]
            }
            Step::Submit | Step::FailSubmission => &[Actor::Consumer],
            Step::Transcribe | Step::FailJob | Step::FailInsights => &[Actor::Notifier, Actor::Reconciler],
            Step::Redispatch | Step::Requeue | Step::FailStalled | Step::FailHealing => &[Actor::Reconciler],
            // The notifier restarts a deferred delivery once the job's email is settled.
            Step::Restart => &[Actor::ZoomWebhook, Actor::Notifier],
            Step::DeferDelivery => &[Actor::ZoomWebhook],
            Step::Replay => &[Actor::Operator],
        }
    }

    /// What a delivery carrying `files` completed audio files does to a meeting in `state`
    /// that was claimed with `claimed_files` (and holds a deferred delivery of `deferred_files`):
    /// `None` when it adds nothing (a duplicate).
    pub fn for_richer_delivery(
        state: MeetingState,
        claimed_files: u32,
        deferred_files: Option<u32>,
        files: u32,
    ) -> Option<Step> {
        if files <= claimed_files {
            return None;
        }
        if Step::DeferDelivery.from().contains(&state) {
            return (files > deferred_files.unwrap_or(0)).then_some(Step::DeferDelivery);
        }
        Step::Restart.from().contains(&state).then_some(Step::Restart)
    }

    /// The step's row in `docs/lifecycle.md`'s transition table.
    pub fn markdown_row(self) -> String {
        let names = |states: &[MeetingState]| {
            if states.is_empty() {
                "(none)".to_owned()
            } else {
                states.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
            }
        };
        let mut from = names(self.from());
        if self.may_create() && !self.from().is_empty() {
            from.push_str(", (none)");
        }
        let by: Vec<_> = self.by().iter().map(|a| a.as_str()).collect();
        format!("| {self:?} | {from} | `{}` | {} |", self.to(), by.join(", "))
    }
}

/// The transition table as Markdown.
pub fn step_table_markdown() -> String {
    let mut out = String::from("| Step | From | To | By |\n|---|---|---|---|\n");
    for step in Step::ALL {
        out.push_str(&step.markdown_row());
        out.push('\n');
    }
    out
}

/// How long a meeting may stay in a state before the reconciler acts, in seconds. A state's
/// deadline is written with it (`due_at`); the reconciler finds what is due through a sparse
/// index, so a state with no deadline here is one the meeting record never waits in.
pub mod deadline {
    /// After a production lease lapses (or a retry was promised), how long Lambda's own retry
    /// has to come before the reconciler fails the meeting: its two async retries come within
    /// about three minutes.
    pub const STALL_GRACE_SECS: i64 = 600;
    /// `dispatched`: the producer's async invoke starts within seconds; Lambda retries a failed
    /// start twice within about three minutes.
    pub const DISPATCHED_SECS: i64 = 900;
    /// `produced`: the producer enqueues right after it saves.
    pub const PRODUCED_SECS: i64 = 300;
    /// `queued`: the consumer touches the record each time it handles or defers the work
    /// item, so a quiet record means the item is gone (dead-lettered or lost).
    pub const QUEUED_SECS: i64 = 3_600;
    /// How many times the reconciler invokes the producer again or re-queues the work item
    /// before it fails the meeting.
    pub const MAX_HEALS: u32 = 3;
    /// An owed email whose try failed is due again after this: behind everything that fell
    /// due meanwhile, so one that keeps failing cannot starve the others (oldest first).
    pub const RETRY_LATER_SECS: i64 = 60;
}

/// What moves a meeting on from a state, its deadline, what heals it when the deadline passes,
/// and what the host hears; `docs/lifecycle.md` shows this table (a test keeps them equal).
pub struct StateRow {
    pub state: MeetingState,
    pub moved_on_by: &'static str,
    pub deadline: &'static str,
    pub healer: &'static str,
    pub host_hears: &'static str,
}

pub const STATE_TABLE: [StateRow; 9] = [
    StateRow {
        state: MeetingState::Received,
        moved_on_by: "zoom-webhook invokes the producer (`dispatch`)",
        deadline: "the claim's lease (`CLAIM_LEASE_SECS`, 30 s)",
        healer: "the next Zoom delivery takes the lapsed claim over, or the reconciler invokes the producer with the event the claim kept; after 3 restarts: `failed`",
        host_hears: "the insights email, or one failure email",
    },
    StateRow {
        state: MeetingState::Dispatched,
        moved_on_by: "the producer starts (`begin_production`)",
        deadline: "15 min",
        healer: "the reconciler invokes the producer again with the kept event; after 3 restarts: `failed`",
        host_hears: "the insights email, or one failure email",
    },
    StateRow {
        state: MeetingState::Producing,
        moved_on_by: "the producer saves the audio or fails",
        deadline: "the attempt's lease (renewed while it works) + 10 min",
        healer: "a later attempt takes the lapsed lease; else the reconciler fails it (`failed`)",
        host_hears: "one failure email if it fails",
    },
    StateRow {
        state: MeetingState::Retrying,
        moved_on_by: "Lambda's next async attempt (`begin_production`)",
        deadline: "10 min",
        healer: "the reconciler fails it with the last attempt's reason",
        host_hears: "one failure email",
    },
    StateRow {
        state: MeetingState::Produced,
        moved_on_by: "the producer enqueues the work item (`queue`)",
        deadline: "5 min",
        healer: "the reconciler enqueues it; after 3 tries: `failed`",
        host_hears: "the insights email, or one failure email",
    },
    StateRow {
        state: MeetingState::Queued,
        moved_on_by: "the consumer submits it (`submit`), touching the deadline each time it defers",
        deadline: "1 h since the consumer last touched it",
        healer: "the reconciler re-queues the work item (its earlier one was dead-lettered or lost); after 3 tries: `failed`",
        host_hears: "the insights email, or one failure email",
    },
    StateRow {
        state: MeetingState::Submitted,
        moved_on_by: "the provider's job status (webhook, EventBridge or the reconciler's poll)",
        deadline: "the job's deadline, on the job record",
        healer: "the reconciler asks the provider and applies the answer",
        host_hears: "the insights email, or one failure email",
    },
    StateRow {
        state: MeetingState::Transcribed,
        moved_on_by: "final; the email is owed on the job record until it is settled (`failed` instead if the insights cannot be made)",
        deadline: "an email claim goes stale after 15 min",
        healer: "the reconciler sends the owed email",
        host_hears: "the insights email, or one failure email saying why there are no insights",
    },
    StateRow {
        state: MeetingState::Failed,
        moved_on_by: "final; the failure email is owed until it is settled",
        deadline: "owed at once; an email claim goes stale after 15 min",
        healer: "the reconciler sends the owed failure email",
        host_hears: "one failure email",
    },
];

/// [`STATE_TABLE`] as the Markdown table in `docs/lifecycle.md`.
pub fn state_table_markdown() -> String {
    let mut out = String::from(
        "| State | Moved on by | Deadline | When the deadline passes | The host hears |\n|---|---|---|---|---|\n",
    );
    for row in &STATE_TABLE {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            row.state, row.moved_on_by, row.deadline, row.healer, row.host_hears
        ));
    }
    out
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
    fn every_state_has_a_row_and_every_step_a_legal_origin() {
        let rows: Vec<_> = STATE_TABLE.iter().map(|r| r.state).collect();
        assert_eq!(rows, MeetingState::ALL, "one row per state, in order");
        for step in Step::ALL {
            assert!(
                !step.from().is_empty() || step.may_create(),
                "{step:?} can start from nothing only if it may create the record"
            );
            // Final for the run: only a richer recording or an operator's replay starts the
            // meeting over, and a
            // transcript whose insights cannot be made is a failed meeting after all.
            for last in [MeetingState::Failed, MeetingState::Transcribed] {
                let correction = step == Step::FailInsights && last == MeetingState::Transcribed;
                assert!(
                    !step.from().contains(&last) || [Step::Restart, Step::Replay].contains(&step) || correction,
                    "{step:?}: {last} is final"
                );
            }
        }
    }

    #[test]
    fn a_richer_delivery_restarts_unless_a_job_is_working_on_the_earlier_audio() {
        use MeetingState::*;
        for state in MeetingState::ALL {
            assert_eq!(
                Step::for_richer_delivery(state, 3, None, 3),
                None,
                "{state}: a duplicate"
            );
            assert_eq!(Step::for_richer_delivery(state, 3, None, 2), None, "{state}: poorer");
            let richer = Step::for_richer_delivery(state, 2, None, 3);
            if state == Submitted {
                assert_eq!(richer, Some(Step::DeferDelivery));
            } else {
                assert_eq!(richer, Some(Step::Restart), "{state}");
            }
        }
        // A deferred delivery is replaced only by a richer one still.
        assert_eq!(Step::for_richer_delivery(Submitted, 2, Some(3), 3), None);
        assert_eq!(
            Step::for_richer_delivery(Submitted, 2, Some(3), 4),
            Some(Step::DeferDelivery)
        );
    }

    #[test]
    fn every_state_but_the_final_ones_has_a_way_out() {
        for state in MeetingState::ALL {
            let leaves = Step::ALL.iter().any(|s| {
                ![Step::Restart, Step::Replay, Step::FailInsights].contains(s)
                    && s.from().contains(&state)
                    && s.to() != state
            });
            let is_final = matches!(state, MeetingState::Failed | MeetingState::Transcribed);
            assert_eq!(leaves, !is_final, "{state}");
            if !is_final && state != MeetingState::Submitted && state != MeetingState::Producing {
                // Stuck here past its deadline, the reconciler moves it (the job's own
                // deadline covers `submitted`; a lapsed `producing` lease is taken or failed).
                let healed = Step::ALL
                    .iter()
                    .any(|s| s.by().contains(&Actor::Reconciler) && s.from().contains(&state));
                assert!(healed, "{state} has no healer");
            }
        }
    }

    #[test]
    fn the_docs_show_the_state_table() {
        let docs = include_str!("../../../docs/lifecycle.md");
        for table in [state_table_markdown(), step_table_markdown()] {
            assert!(
                docs.contains(&table),
                "docs/lifecycle.md is out of date; paste:\n{table}"
            );
        }
    }

    #[test]
    fn jobs_only_end_in_completed_or_failed() {
        let terminal: Vec<_> = JobState::ALL.into_iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(terminal, [JobState::Completed, JobState::Failed]);
        assert!(JobState::Scheduled < JobState::InProgress && JobState::InProgress < JobState::Completed);
    }
}
