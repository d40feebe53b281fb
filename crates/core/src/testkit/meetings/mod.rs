//! The meetings table in memory: every port the DynamoDB adapters implement on it
//! ([`DynamoMeetings`](crate::aws::meetings::DynamoMeetings) and
//! [`DynamoSubmissions`](crate::aws::submissions::DynamoSubmissions)), with their conditions.

mod claims;
mod failures;
mod healing;
mod outcomes;
mod production;
mod submissions;

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Clock, Faults, Knobs, MemJobs};
use crate::lifecycle::JobState;
use crate::lifecycle::{EmailState, MeetingState};
use crate::meeting::ProducedAudio;
use crate::ports::{EmailOutcome, MeetingClaim, ProductionStart, SubmittedJob};
use crate::Error;

/// One item of the meetings table: the attributes the adapters read and write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeetingRow {
    /// `None` when the item has no status (an update that created it wrote none).
    pub status: Option<MeetingState>,
    /// The delivery's claim as its put wrote it (`claim_id`, and the lease it asked for).
    pub claim: Option<MeetingClaim>,
    /// `claim_until`: the claim's live lease, removed once the producer is invoked.
    pub claim_until: Option<i64>,
    pub topic: String,
    pub host_email: String,
    pub received_at: Option<String>,
    pub start_time: Option<String>,
    /// The production attempt that holds (or last held) the lease.
    pub attempt: Option<u32>,
    pub lease_until: Option<i64>,
    pub failure_reason: Option<String>,
    pub audio: Option<ProducedAudio>,
    pub submit_claim: Option<String>,
    pub submit_claim_until: Option<i64>,
    pub job_id: Option<String>,
    pub conversation_id: Option<String>,
    /// Insight documents by name -> S3 key.
    pub insights: Option<BTreeMap<String, String>>,
    pub summary_url: Option<String>,
    pub email_status: Option<EmailState>,
    /// The Message-ID of a sent email, or why it failed.
    pub email_detail: Option<String>,
    pub email_claim: Option<String>,
    pub email_claimed_at: Option<i64>,
    /// `due_at`: when the reconciler acts if the meeting is still in its state.
    pub due_at: Option<i64>,
    /// How many times a healer moved it on.
    pub heals: u32,
    /// `run`: `None` on records from before runs (the first run).
    pub run: Option<u32>,
    /// A richer delivery kept for after the provider's job (`next_event`).
    pub deferred: Option<MeetingClaim>,
}

impl MeetingRow {
    /// The item a claim's put writes (replacing the whole item): `received`, due when its lease lapses.
    pub fn claimed(c: &MeetingClaim, run: u32, attempt: Option<u32>) -> Self {
        MeetingRow {
            status: MeetingState::Received.into(),
            claim: Some(c.clone()),
            claim_until: Some(c.lease_until),
            due_at: Some(c.lease_until),
            topic: c.topic.clone(),
            host_email: c.host_email.clone(),
            received_at: Some(c.received_at.clone()),
            run: Some(run),
            attempt,
            ..Default::default()
        }
    }

    /// A meeting the producer made and queued for the consumer.
    pub fn queued(audio: ProducedAudio) -> Self {
        MeetingRow {
            status: MeetingState::Queued.into(),
            topic: audio.topic.clone(),
            host_email: audio.host_email.clone(),
            start_time: Some(audio.start_time.clone()),
            attempt: Some(1),
            audio: Some(audio),
            ..Default::default()
        }
    }

    /// A meeting in the state on which `begin_production` answers `start`.
    pub fn where_production_starts(start: &ProductionStart) -> Self {
        match start {
            // Lambda's first attempt finds the webhook's record; a retry, the failed attempt's.
            ProductionStart::Produce { attempt: 1 } => MeetingRow::with_status(MeetingState::Dispatched),
            ProductionStart::Produce { attempt } => MeetingRow {
                attempt: Some(attempt - 1),
                lease_until: Some(0),
                failure_reason: Some("an earlier attempt failed".into()),
                ..MeetingRow::with_status(MeetingState::Retrying)
            },
            ProductionStart::EnqueueOnly => MeetingRow {
                status: MeetingState::Produced.into(),
                ..MeetingRow::queued(super::AudioBuilder::sample().build())
            },
            ProductionStart::AlreadyDone => MeetingRow::queued(super::AudioBuilder::sample().build()),
            ProductionStart::Busy => MeetingRow {
                attempt: Some(1),
                lease_until: Some(i64::MAX),
                ..MeetingRow::with_status(MeetingState::Producing)
            },
            // The run-1 event finds the record restarted as a later run.
            ProductionStart::Superseded { run } => MeetingRow {
                run: Some(*run),
                ..MeetingRow::with_status(MeetingState::Received)
            },
            ProductionStart::Failed { reason } => MeetingRow {
                failure_reason: Some(reason.clone()),
                ..MeetingRow::with_status(MeetingState::Failed)
            },
        }
    }

    pub fn with_status(status: MeetingState) -> Self {
        MeetingRow {
            status: Some(status),
            ..Default::default()
        }
    }

    /// The status as a person reads the record: `failed: <reason>` for a failed or retrying
    /// meeting, the bare status otherwise.
    pub fn status_line(&self) -> String {
        match &self.failure_reason {
            Some(reason) if self.status_in(&[MeetingState::Failed, MeetingState::Retrying]) => {
                format!("{}: {reason}", self.status_name())
            }
            _ => self.status_name().into(),
        }
    }

    /// The claim's `claim_id` attribute.
    fn claim_id(&self) -> Option<&str> {
        self.claim.as_ref().map(|c| c.claim_id.as_str())
    }

    fn status_in(&self, states: &[MeetingState]) -> bool {
        self.status.is_some_and(|s| states.contains(&s))
    }

    fn status_name(&self) -> &'static str {
        self.status.map_or("", MeetingState::as_str)
    }
}

/// What one `insights_stored` call recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredInsights {
    pub meeting_key: String,
    /// Document name -> S3 key.
    pub documents: BTreeMap<String, String>,
    pub summary_url: Option<String>,
}

/// The meetings table. `Default` is an empty table on the real clock.
#[derive(Default)]
pub struct MemMeetings {
    /// Meeting key -> item.
    pub rows: Mutex<BTreeMap<String, MeetingRow>>,
    /// The jobs table that `record_submission` writes: give it a clone of the notifier's
    /// [`MemJobs`] to share one.
    pub jobs: MemJobs,
    pub clock: Clock,
    /// Scripted answers to `renew_lease`, in order (`None`: the call fails); once they run
    /// out the table answers.
    pub renewals: Mutex<Vec<Option<bool>>>,
    /// The producer's outcome writes, call by call: `produced`, `queued`, `failed: <reason>`,
    /// `retrying: <reason>` (whether or not their condition let them through).
    pub production_log: Mutex<Vec<String>>,
    /// Every `record_submission` call.
    pub submissions: Mutex<Vec<SubmittedJob>>,
    /// Every `job_finished` call: (meeting key, status).
    pub finished: Mutex<Vec<(String, JobState)>>,
    /// Every `insights_stored` call.
    pub stored_insights: Mutex<Vec<StoredInsights>>,
    /// Every `email_settled` call: (meeting key, outcome).
    pub emailed: Mutex<Vec<(String, EmailOutcome)>>,
    pub knobs: Knobs,
}

impl MemMeetings {
    /// Adds (or replaces) a meeting.
    pub fn with(self, key: &str, row: MeetingRow) -> Self {
        self.insert(key, row);
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_jobs(mut self, jobs: MemJobs) -> Self {
        self.jobs = jobs;
        self
    }

    pub fn insert(&self, key: &str, row: MeetingRow) {
        self.rows.lock().unwrap().insert(key.into(), row);
    }

    pub fn row(&self, key: &str) -> Option<MeetingRow> {
        self.rows.lock().unwrap().get(key).cloned()
    }

    /// Changes a meeting in place (it must exist).
    pub fn edit(&self, key: &str, f: impl FnOnce(&mut MeetingRow)) {
        let mut rows = self.rows.lock().unwrap();
        f(rows.get_mut(key).unwrap_or_else(|| panic!("no meeting {key}")));
    }

    /// [`MeetingRow::status_line`] of a meeting; `""` when there is none.
    pub fn status_line(&self, key: &str) -> String {
        self.row(key).map(|r| r.status_line()).unwrap_or_default()
    }

    /// Keys of the meetings in `status`.
    pub fn in_status(&self, status: MeetingState) -> Vec<String> {
        let rows = self.rows.lock().unwrap();
        rows.iter()
            .filter(|(_, r)| r.status == Some(status))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn enter(&self, op: &'static str) -> crate::Result<()> {
        if self.knobs.hit(Self::NAME, op) {
            return Err(Error::retryable("dynamodb", "throttled (testkit)"));
        }
        Ok(())
    }
}

impl Faults for MemMeetings {
    const NAME: &'static str = "MemMeetings";
    const OPS: &'static [&'static str] = &[
        // MeetingClaims
        "claim",
        "release",
        "mark_dispatched",
        // MeetingStore
        "begin_production",
        "save_produced",
        "mark_queued",
        "renew_lease",
        "mark_failed",
        // SubmissionStore
        "load",
        "claim_submission",
        "release_submission",
        "record_submission",
        "fail_submission",
        // MeetingOutcomes
        "job_finished",
        "audio",
        "insights_stored",
        "email_settled",
        "insights_failed",
        "page_record",
        "insights_of",
        "restart_deferred",
        "adopt_job",
        // MeetingFailures
        "fail_stalled",
        "unnotified_failures",
        "claim_failure_email",
        "release_failure_email",
        // DueMeetings
        "due",
        "heal",
    ];

    fn knobs(&self) -> &Knobs {
        &self.knobs
    }
}
