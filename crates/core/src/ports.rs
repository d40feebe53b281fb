//! Small port traits the handlers are generic over. AWS adapters live in [`crate::aws`];
//! tests use in-memory ones.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::lifecycle::{JobState, MeetingState, Step};
use crate::meeting_key::MeetingKey;
use crate::zoom::RecordingCompleted;
use crate::Result;

/// The first sighting of a meeting instance, written once per UUID.
#[derive(Debug, Clone, PartialEq)]
pub struct MeetingClaim {
    pub key: MeetingKey,
    pub uuid: String,
    pub meeting_id: String,
    pub topic: String,
    pub host_email: String,
    pub event_ts: Option<i64>,
    /// Random per delivery, so only the delivery that claimed can release.
    pub claim_id: String,
    pub received_at: String,
    pub tracking_id: Option<String>,
    /// Unix seconds until which the claim is this delivery's alone. Longer than the webhook's
    /// timeout: a delivery that dies before it starts the producer (killed, timed out) leaves
    /// a claim that a later delivery of the same meeting takes over once it lapses.
    pub lease_until: i64,
    /// The delivery's event, kept with the claim so the reconciler can start the producer
    /// if this delivery dies before it does (and Zoom does not deliver again).
    pub event: RecordingCompleted,
    /// The event's completed audio files: a later delivery with more is a richer recording.
    pub audio_files: u32,
    /// The audio files Zoom had not finished, listed in the meeting record.
    pub unfinished_files: Vec<String>,
    /// An operator's replay of archived originals (kept, so a restarted producer replays too).
    pub replay: Option<Replay>,
}

impl MeetingClaim {
    /// A delivery's claim on its meeting, leased from `now` (unix seconds) for `lease_secs`.
    pub fn of_delivery(rec: &RecordingCompleted, tracking_id: Option<String>, now: i64, lease_secs: u64) -> Self {
        let object = &rec.payload.object;
        MeetingClaim {
            key: MeetingKey::from_uuid(&object.uuid),
            uuid: object.uuid.clone(),
            meeting_id: object.id.clone(),
            topic: object.topic.clone(),
            host_email: object.host_email.clone(),
            event_ts: rec.event_ts,
            claim_id: uuid::Uuid::new_v4().to_string(),
            received_at: crate::timefmt::now_rfc3339(),
            tracking_id,
            lease_until: now.saturating_add_unsigned(lease_secs),
            event: rec.clone(),
            audio_files: object.completed_audio_files(),
            unfinished_files: object.unfinished_audio_files(),
            replay: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed,
    /// A richer delivery ([`Step::Restart`]) started the meeting over as this run: the
    /// delivery starts the producer as a first one would.
    Restarted {
        run: u32,
    },
    /// A richer delivery kept for after the provider's job on the earlier audio
    /// ([`Step::DeferDelivery`]).
    Deferred,
    /// Another delivery of the same meeting instance got there first (and started the
    /// producer, or still may: its lease is live), with as many completed files.
    AlreadyClaimed,
}

/// Idempotent ingestion of meeting instances (conditional writes).
pub trait MeetingClaims: Send + Sync {
    /// Claims a meeting never seen, or one still `received` whose claim's lease lapsed at
    /// `now` (unix seconds); a claimed one is restarted or deferred when this delivery is
    /// richer ([`Step::for_richer_delivery`]).
    fn claim(&self, claim: &MeetingClaim, now: i64) -> impl Future<Output = Result<ClaimOutcome>> + Send;
    /// Undoes our own claim (and nothing else) so that Zoom's retry can claim again.
    fn release(&self, claim: &MeetingClaim) -> impl Future<Output = Result<()>> + Send;
    /// Records that the producer was handed the meeting.
    fn mark_dispatched(&self, claim: &MeetingClaim) -> impl Future<Output = Result<()>> + Send;
}

/// What `zoom-webhook` hands the producer (async invoke payload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProducerJob {
    pub meeting_key: String,
    pub claim_id: String,
    pub received_at: String,
    #[serde(default)]
    pub tracking_id: Option<String>,
    pub event: RecordingCompleted,
    /// Which run of the meeting this is: a richer delivery starts the next.
    #[serde(default = "first_run")]
    pub run: u32,
    /// An operator's replay: the run is made from the originals an earlier run archived,
    /// and Zoom is not asked for anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<Replay>,
}

/// Where a replayed run's audio comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replay {
    /// The earlier run's originals (input bucket), ending with `/`.
    pub originals_prefix: String,
}

/// Records and payloads written before runs existed are the first run.
pub fn first_run() -> u32 {
    1
}

/// Starts the producer without waiting for it.
pub trait ProducerInvoker: Send + Sync {
    fn invoke(&self, job: &ProducerJob) -> impl Future<Output = Result<()>> + Send;
}

/// Streaming object storage (S3 in production).
pub trait ObjectStore: Send + Sync {
    /// Streams `body` into `bucket/key`, returning the bytes written. Memory stays bounded
    /// whatever the size.
    fn put_stream<R: tokio::io::AsyncRead + Unpin + Send>(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        body: R,
    ) -> impl Future<Output = Result<u64>> + Send;

    fn presign_get(
        &self,
        bucket: &str,
        key: &str,
        ttl: std::time::Duration,
    ) -> impl Future<Output = Result<String>> + Send;

    /// A small object, whole (the stored insights).
    fn get(&self, bucket: &str, key: &str) -> impl Future<Output = Result<Vec<u8>>> + Send;

    /// The object's size, `None` if there is no such object (a replay checks its originals).
    fn size(&self, bucket: &str, key: &str) -> impl Future<Output = Result<Option<u64>>> + Send;
}

/// The message the producer queues for the consumer: the meeting record is the payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkItem {
    pub meeting_key: String,
    pub produced_at: String,
}

pub trait WorkQueue: Send + Sync {
    fn enqueue(&self, item: &WorkItem) -> impl Future<Output = Result<()>> + Send;
}

/// Where a retried or concurrent producer invocation stands.
#[derive(Debug, Clone, PartialEq)]
pub enum ProductionStart {
    /// We hold the lease; produce (again, if an earlier attempt died).
    Produce { attempt: u32 },
    /// Audio exists but the consumer was not told yet.
    EnqueueOnly,
    /// Queued (or further along): nothing to do.
    AlreadyDone,
    /// Another invocation holds a live lease.
    Busy,
    /// An earlier attempt failed for good; the failure stands.
    Failed { reason: String },
    /// A richer delivery restarted the meeting as a later run: this invocation's event is
    /// the earlier recording and must not be produced.
    Superseded { run: u32 },
}

/// Whether a failed production will be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finality {
    /// Lambda retries the invocation; the next attempt may produce.
    WillRetry,
    /// Permanent, or the last attempt: the meeting has failed and its host is told.
    Final,
}

/// The producer's view of the meetings table.
pub trait MeetingStore: Send + Sync {
    /// Takes the production of the meeting's `run` (the record's run must be this one).
    fn begin_production(
        &self,
        key: &MeetingKey,
        run: u32,
        lease_secs: u64,
    ) -> impl Future<Output = Result<ProductionStart>> + Send;
    /// Stores the audio, if `attempt` still holds the production.
    fn save_produced(
        &self,
        key: &MeetingKey,
        attempt: u32,
        audio: &crate::meeting::ProducedAudio,
    ) -> impl Future<Output = Result<()>> + Send;
    fn mark_queued(&self, key: &MeetingKey) -> impl Future<Output = Result<()>> + Send;
    /// Extends the lease of the attempt that holds it; `false` when it is no longer ours.
    fn renew_lease(&self, key: &MeetingKey, attempt: u32, lease_secs: u64)
        -> impl Future<Output = Result<bool>> + Send;
    /// Records `attempt`'s failure, if no later attempt took the meeting over.
    fn mark_failed(
        &self,
        key: &MeetingKey,
        attempt: u32,
        reason: &str,
        finality: Finality,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Result of asking the concurrency semaphore for a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotGrant {
    Granted,
    /// This holder already has a slot (a redelivered message after a crash).
    AlreadyHeld,
    /// Every slot is taken by a live lease.
    Full,
}

/// The account-wide Symbl concurrency limit, with leases that expire so a lost slot heals.
pub trait Semaphore: Send + Sync {
    fn acquire(&self, holder: &str, lease_until: i64) -> impl Future<Output = Result<SlotGrant>> + Send;
    fn extend(&self, holder: &str, lease_until: i64) -> impl Future<Output = Result<()>> + Send;
    /// Releases the holder's slot; `false` when it held none (already released): exactly once.
    fn release(&self, holder: &str) -> impl Future<Output = Result<bool>> + Send;
}

/// The consumer's view of a meeting.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedMeeting {
    /// `None` for a record without a state this version knows.
    pub status: Option<crate::lifecycle::MeetingState>,
    pub audio: Option<crate::meeting::ProducedAudio>,
    pub job_id: Option<String>,
}

/// A submitted Symbl job, keyed by job id.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmittedJob {
    pub job_id: String,
    pub conversation_id: String,
    pub meeting_key: String,
    pub submitted_at: String,
    /// Unix seconds after which the reconciler polls Symbl for it.
    pub deadline: i64,
}

pub trait SubmissionStore: Send + Sync {
    fn load(&self, key: &MeetingKey) -> impl Future<Output = Result<Option<QueuedMeeting>>> + Send;
    /// Takes a queued meeting for one submission attempt, until `until` (unix seconds). SQS
    /// delivers at least once, so two copies of a work item can run at once: only the
    /// holder of the claim submits. Refused while another claim is live or once the meeting
    /// has moved on.
    fn claim_submission(&self, key: &MeetingKey, claim: &str, until: i64) -> impl Future<Output = Result<bool>> + Send;
    /// Gives a claim back when nothing reached Symbl, so the next delivery need not wait it out.
    fn release_submission(&self, key: &MeetingKey, claim: &str) -> impl Future<Output = Result<()>> + Send;
    /// Records the job (once, even if Symbl's `scheduled` webhook created its row first) and
    /// moves the meeting to `submitted`.
    fn record_submission(&self, job: &SubmittedJob) -> impl Future<Output = Result<()>> + Send;
    fn fail_submission(&self, key: &MeetingKey, reason: &str) -> impl Future<Output = Result<()>> + Send;
}

/// A meeting's audio, handed to an insights provider.
#[derive(Debug, Clone, Copy)]
pub struct InsightsRequest<'a> {
    pub meeting_key: &'a MeetingKey,
    /// The produced audio and its participants (channel k is participant k).
    pub audio: &'a crate::meeting::ProducedAudio,
    /// Where the provider fetches the audio from (short-lived).
    pub audio_url: &'a str,
    /// Where the provider reports the job's progress; carries the deployment's token.
    pub callback_url: &'a str,
    /// A BCP 47 language code such as `en-US`.
    pub language: &'a str,
}

/// The provider's handle on a submitted meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderJob {
    pub job_id: String,
    /// Where the provider keeps the meeting's results.
    pub conversation_id: String,
}

/// A recorded job as the provider is asked about it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobRef<'a> {
    pub job_id: &'a str,
    /// Empty for a job adopted from its callback (its submission's answer was lost).
    pub conversation_id: &'a str,
    pub meeting_key: &'a str,
}

/// Why an insights provider did not do what was asked, in the pipeline's one retry vocabulary.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// At its concurrent-job limit: not now, later, without spending a retry.
    #[error("{0}")]
    AtCapacity(String),
    /// Down, slow or answering 5xx: later.
    #[error("{0}")]
    Unavailable(String),
    /// Refused for good (bad request, bad credentials, no such job): retrying gives the same.
    #[error("{0}")]
    Refused(String),
}

impl ProviderError {
    pub fn retry(&self) -> crate::error::Retry {
        match self {
            ProviderError::AtCapacity(_) | ProviderError::Unavailable(_) => crate::error::Retry::Retryable,
            ProviderError::Refused(_) => crate::error::Retry::Permanent,
        }
    }
}

impl From<ProviderError> for crate::Error {
    fn from(e: ProviderError) -> Self {
        crate::Error::Dependency {
            dependency: "insights provider",
            retry: e.retry(),
            message: e.to_string(),
        }
    }
}

/// Where meetings go for insights.
pub trait InsightsProvider: Send + Sync {
    /// The longest recording the provider takes, in seconds: longer ones fail before a slot is taken.
    fn max_audio_secs(&self) -> f64;

    /// The holders this meeting's work takes in the concurrency semaphore: one per job the
    /// provider runs for it (Symbl: one per meeting; Transcribe: one per speaking participant).
    fn slot_holders(&self, meeting_key: &str, audio: &crate::meeting::ProducedAudio) -> Vec<String> {
        let _ = audio;
        vec![meeting_key.to_owned()]
    }

    fn submit(&self, req: &InsightsRequest<'_>) -> impl Future<Output = Result<ProviderJob, ProviderError>> + Send;

    fn job_state(&self, job: JobRef<'_>) -> impl Future<Output = Result<JobState, ProviderError>> + Send;

    /// The finished job's insights; `audio` is the meeting the job was for.
    fn insights(
        &self,
        job: JobRef<'_>,
        audio: &crate::meeting::ProducedAudio,
    ) -> impl Future<Output = Result<crate::insights::InsightsReport, ProviderError>> + Send;

    /// Creates the provider's own page for the meeting and returns its URL.
    fn summary_page(
        &self,
        conversation_id: &str,
        media_url: &str,
        expires_in_secs: u64,
    ) -> impl Future<Output = Result<String, ProviderError>> + Send;
}

/// The meeting's end state once its insights job is terminal.
pub trait MeetingOutcomes: Send + Sync {
    fn job_finished(&self, meeting_key: &str, status: JobState) -> impl Future<Output = Result<()>> + Send;
    /// The producer's record of the meeting, for the email.
    fn audio(&self, meeting_key: &str) -> impl Future<Output = Result<Option<crate::meeting::ProducedAudio>>> + Send;
    /// Where the insights are (S3 keys by name) and the summary page's URL.
    fn insights_stored(
        &self,
        meeting_key: &str,
        documents: &std::collections::BTreeMap<String, String>,
        summary_url: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;
    fn email_settled(&self, meeting_key: &str, outcome: &EmailOutcome) -> impl Future<Output = Result<()>> + Send;
    /// A transcribed meeting whose insights cannot be made fails with `reason`
    /// ([`Step::FailInsights`]); its job's email (a failure email) is still owed on the job.
    fn insights_failed(&self, meeting_key: &str, reason: &str) -> impl Future<Output = Result<()>> + Send;
    /// What [`MeetingOutcomes::insights_stored`] recorded, if anything: an email sent again
    /// is rendered from it, without asking the provider or making a new page.
    fn insights_of(&self, meeting_key: &str) -> impl Future<Output = Result<Option<StoredInsights>>> + Send;
    /// A richer delivery kept while this run's job worked ([`Step::DeferDelivery`]) starts the
    /// meeting over once this run's email is settled ([`Step::Restart`]): its claim is written
    /// from the kept event, due at `now`, so the reconciler's next run starts the producer.
    /// The new run's number, or `None` when nothing was kept, the email is not settled yet,
    /// or another invocation restarted it first.
    fn restart_deferred(&self, meeting_key: &str, now: i64) -> impl Future<Output = Result<Option<u32>>> + Send;
    /// A job that calls back naming this meeting but was never recorded becomes the meeting's
    /// submission ([`Step::Submit`]) if the meeting still waits for one and no consumer holds a
    /// live submission claim (a submission under way records its own job). Repeating it for
    /// the same job is `true` again. `false`: the meeting is not this job's to adopt.
    fn adopt_job(&self, job: &SubmittedJob, now: i64) -> impl Future<Output = Result<bool>> + Send;
}

/// What the meeting page shows: the meeting's audio record and where its insights are.
pub trait PageRecords: Send + Sync {
    /// `None` for a meeting that does not exist or has no insights stored (yet).
    fn page_record(
        &self,
        meeting_key: &str,
    ) -> impl Future<Output = Result<Option<(crate::meeting::ProducedAudio, StoredInsights)>>> + Send;
}

/// Where a meeting's insights are: S3 keys by document name, and the summary page.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredInsights {
    pub documents: std::collections::BTreeMap<String, String>,
    pub summary_url: Option<String>,
}

/// A meeting that failed before Symbl had a job for it (in the producer or the consumer).
#[derive(Debug, Clone, PartialEq)]
pub struct FailedMeeting {
    pub meeting_key: String,
    pub topic: String,
    pub host_email: String,
    /// The meeting's start, or when its webhook arrived when production never got that far.
    pub start_time: String,
    /// The meeting's IANA time zone, from its delivery (records from before it was kept have none).
    pub timezone: Option<String>,
    pub reason: String,
    /// The meeting's run that failed.
    pub run: u32,
}

/// The reconciler's view of meetings that failed, or stopped, before Symbl.
pub trait MeetingFailures: Send + Sync {
    /// Productions whose lease lapsed over `grace_secs` ago with no attempt left running
    /// (a timeout or crash whose retry never came): failed for good. Returns how many.
    fn fail_stalled(&self, now: i64, grace_secs: i64) -> impl Future<Output = Result<usize>> + Send;
    /// Failed meetings without a Symbl job whose host has not been told (or whose claim on
    /// the email is older than `stale_secs`).
    fn unnotified_failures(&self, now: i64, stale_secs: i64)
        -> impl Future<Output = Result<Vec<FailedMeeting>>> + Send;
    /// Claims the failure email before sending; `false` when it is settled or being sent.
    fn claim_failure_email(
        &self,
        meeting_key: &str,
        claim: &str,
        now: i64,
        stale_secs: i64,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Gives a claim back after a temporary failure, so a later round sends it.
    fn release_failure_email(&self, meeting_key: &str, claim: &str) -> impl Future<Output = Result<()>> + Send;
    /// A meeting's state and its facts as a failure email shows them (`reason` empty unless
    /// it failed): what an operator's `resend` sends from. `None` if there is no record.
    fn meeting_facts(
        &self,
        meeting_key: &str,
    ) -> impl Future<Output = Result<Option<(MeetingState, FailedMeeting)>>> + Send;
}

/// A meeting whose state's deadline passed, as the reconciler's healers need it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueMeeting {
    pub meeting_key: String,
    pub state: MeetingState,
    /// Unix seconds: the deadline that passed. A heal is conditional on it, so two healers
    /// (or a healer and an owner that came back to life) never both act.
    pub due_at: i64,
    /// How many times a healer has moved it on already.
    pub heals: u32,
    /// The delivery's event (for `received` and `dispatched`), to start the producer again.
    pub event: Option<RecordingCompleted>,
    pub claim_id: String,
    pub received_at: String,
    pub tracking_id: Option<String>,
    /// The meeting's run, which a restarted producer must carry on.
    pub run: u32,
    /// The run replays archived originals (an operator's `replay`).
    pub replay: Option<Replay>,
}

/// Meetings past their state's deadline (a sparse index on state and deadline, never a scan).
pub trait DueMeetings: Send + Sync {
    /// Meetings in `state` whose deadline is before `before`, oldest deadline first, at most `limit`.
    fn due(
        &self,
        state: MeetingState,
        before: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<DueMeeting>>> + Send;
    /// Makes one of the reconciler's steps on `seen` if it is still in that state with that
    /// deadline: counts the heal and sets `next_due`, or (a failing step) records `reason`.
    /// `false` when something else moved it first.
    fn heal(
        &self,
        seen: &DueMeeting,
        step: Step,
        next_due: i64,
        reason: Option<&str>,
    ) -> impl Future<Output = Result<bool>> + Send;
}

/// Puts a received message back on the queue after a delay (SQS visibility timeout).
pub trait RedeliveryDelay: Send + Sync {
    fn delay(&self, receipt_handle: &str, secs: i32) -> impl Future<Output = Result<()>> + Send;
    /// Sends a fresh copy of `body` that becomes visible after `secs` (at most 900): waiting
    /// for capacity must not use up the receive count that sends failing work to the DLQ.
    fn requeue(&self, body: &str, secs: i32) -> impl Future<Output = Result<()>> + Send;
}

/// A Symbl job as the status path sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub job_id: String,
    pub meeting_key: String,
    pub conversation_id: String,
    pub status: JobState,
    pub deadline: i64,
}

impl JobView {
    pub fn as_ref(&self) -> JobRef<'_> {
        JobRef {
            job_id: &self.job_id,
            conversation_id: &self.conversation_id,
            meeting_key: &self.meeting_key,
        }
    }
}

/// Looking a job up: all that symbl-webhook needs.
pub trait JobLookup: Send + Sync {
    fn get(&self, job_id: &str) -> impl Future<Output = Result<Option<JobView>>> + Send;
}

/// The jobs table, for the notifier and its reconciler.
pub trait JobStore: JobLookup {
    /// Moves a job forward to a non-terminal status; earlier or equal statuses change nothing.
    fn advance(&self, job_id: &str, to: JobState) -> impl Future<Output = Result<bool>> + Send;
    /// Makes the job terminal, once: `true` for the caller that did it.
    fn finish(&self, job_id: &str, to: JobState) -> impl Future<Output = Result<bool>> + Send;
    /// Jobs the reconciler must look at: past their deadline and not terminal, or terminal
    /// with the host's email not yet settled.
    fn overdue(&self, now: i64) -> impl Future<Output = Result<Vec<JobView>>> + Send;
    /// Claims the right to email the host about this job: `false` when the email was sent,
    /// failed for good, or another notifier holds a claim younger than `stale_after_secs`.
    fn claim_email(
        &self,
        job_id: &str,
        claim: &str,
        stale_after_secs: i64,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Records how the claimed email ended (sent with its Message-ID, or failed for good).
    fn email_settled(
        &self,
        job_id: &str,
        claim: &str,
        outcome: &EmailOutcome,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Gives a claim back after a temporary failure, so a retry can take it at once.
    fn release_email_claim(&self, job_id: &str, claim: &str) -> impl Future<Output = Result<()>> + Send;
    /// Records a job the provider calls back about that was never recorded, once its meeting
    /// has adopted it ([`MeetingOutcomes::adopt_job`]); a job already recorded is left alone.
    fn adopt(&self, job: &SubmittedJob) -> impl Future<Output = Result<()>> + Send;
}

#[derive(Debug, Clone, PartialEq)]
pub enum EmailOutcome {
    Sent { message_id: String },
    Failed { reason: String },
}

/// What symbl-webhook and the reconciler hand the notifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusEvent {
    pub job_id: String,
    pub status: JobState,
    pub source: String,
    /// The meeting the callback's URL names, for a job we never recorded (its submission's
    /// answer was lost): the notifier adopts it instead of ignoring it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_key: Option<String>,
}

pub trait NotifierInvoker: Send + Sync {
    fn invoke(&self, event: &StatusEvent) -> impl Future<Output = Result<()>> + Send;
}

/// An email for the meeting's host.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The same for every send of this meeting's email of this kind (`insights.<hash>`): the
    /// left part of its Message-ID, so a copy sent again (the relay took it, recording that
    /// failed) is folded into the first by mail clients.
    pub stable_id: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MailError {
    /// 4xx replies, connection, TLS and authentication failures, a relay refusing to send at
    /// all: the relay or its configuration, not the recipient. The email stays owed.
    #[error("temporary mail failure: {0}")]
    Temporary(String),
    /// The recipient refused (a 5xx to this address), an invalid address: retrying gives the
    /// same answer.
    #[error("permanent mail failure: {0}")]
    Permanent(String),
}

impl MailError {
    pub fn retry(&self) -> crate::error::Retry {
        match self {
            MailError::Temporary(_) => crate::error::Retry::Retryable,
            MailError::Permanent(_) => crate::error::Retry::Permanent,
        }
    }
}

impl From<MailError> for crate::Error {
    fn from(e: MailError) -> Self {
        let retry = e.retry();
        let (MailError::Temporary(message) | MailError::Permanent(message)) = e;
        crate::Error::Dependency {
            dependency: "smtp",
            retry,
            message,
        }
    }
}

pub trait Mailer: Send + Sync {
    /// Sends and returns the Message-ID.
    fn send(&self, email: &OutgoingEmail) -> impl Future<Output = std::result::Result<String, MailError>> + Send;
}

/// The language of a transcription: a code such as `en-US`, or identified from the audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Language {
    Code(String),
    Identify,
}

impl Language {
    /// `auto` identifies the language; anything else is a language code.
    pub fn parse(setting: &str) -> Language {
        match setting.trim() {
            "" | "auto" => Language::Identify,
            code => Language::Code(code.to_owned()),
        }
    }
}

/// One participant's speech (or a mixed track) to transcribe, under a name that makes a
/// repeated start a no-op.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptionJob<'a> {
    pub name: &'a str,
    pub media_bucket: &'a str,
    pub media_key: &'a str,
    pub output_bucket: &'a str,
    pub output_key: &'a str,
    pub language: &'a Language,
    pub vocabulary: Option<&'a str>,
    /// Personal information is redacted from the transcript.
    pub redact_pii: bool,
    /// A mixed track: label up to this many speakers (2 to 30).
    pub speakers: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptionStart {
    Started,
    /// A job of that name exists: this start is a repeat (exactly once by construction).
    AlreadyStarted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranscriptionState {
    Running,
    Completed,
    Failed { reason: String },
}

/// Speech to text, one job per participant who spoke.
pub trait Transcriber: Send + Sync {
    fn start(
        &self,
        job: &TranscriptionJob<'_>,
    ) -> impl Future<Output = std::result::Result<TranscriptionStart, ProviderError>> + Send;
    fn state(&self, name: &str) -> impl Future<Output = std::result::Result<TranscriptionState, ProviderError>> + Send;
}

/// The model that turns a transcript into insights, one tool-use request at a time.
pub trait InsightsModel: Send + Sync {
    fn ask(
        &self,
        request: &crate::llm::Request,
    ) -> impl Future<Output = std::result::Result<crate::llm::ModelReply, ProviderError>> + Send;
}
