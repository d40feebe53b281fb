//! One SQS batch: each message is a produced meeting to submit to Symbl within the
//! account's concurrency limit. Nothing is deleted that was not done: a message that cannot
//! go now comes back later (partial batch failure), one that never can ends in the DLQ.

use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::{error, info, info_span, warn, Instrument};
use zoom_symbl_core::aws::meetings::status;
use zoom_symbl_core::keys::MeetingKey;
use zoom_symbl_core::ports::{
    InsightsProvider, ObjectStore, RedeliveryDelay, Semaphore, SlotGrant, SubmissionStore, SubmittedJob, WorkItem,
};
use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::symbl::SymblError;
use zoom_symbl_core::timefmt::{now_rfc3339, unix_now};

use crate::request::submit_request;

#[derive(Debug, Clone)]
pub struct Settings {
    pub language: String,
    /// Lease on a slot while submitting; the job's deadline replaces it once submitted.
    pub submit_lease_secs: i64,
    /// When to try again after Symbl's 429 or a full semaphore.
    pub busy_retry_secs: i32,
    /// When to try again after Symbl or AWS failed transiently.
    pub error_retry_secs: i32,
    pub presign_ttl: Duration,
    /// A job is overdue after twice the meeting's length plus this.
    pub deadline_slack_secs: i64,
}

/// Symbl's Async API takes at most 4 hours of audio per file.
pub const SYMBL_MAX_AUDIO_SECS: f64 = 4.0 * 3600.0;

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Submitted now, or earlier by another delivery: delete the message.
    Done,
    /// Not now, because something failed for a while: back to the queue after this many
    /// seconds (a receive that counts towards the dead-letter queue).
    Later(i32),
    /// No capacity (our semaphore or Symbl's 429): a fresh copy after this many seconds, so
    /// a long wait never looks like a failing message.
    Wait(i32),
    /// Never: stays failed so SQS moves it to the dead-letter queue after its receive count.
    Failed(String),
}

pub struct Consumer<M, S, P, O, D> {
    pub meetings: M,
    pub semaphore: S,
    pub symbl: P,
    pub objects: O,
    pub redelivery: D,
    /// symbl-webhook's URL with its token (secret: it authenticates Symbl's callbacks).
    pub webhook: SecretString,
    pub settings: Settings,
}

impl<M, S, P, O, D> Consumer<M, S, P, O, D>
where
    M: SubmissionStore,
    S: Semaphore,
    P: InsightsProvider,
    O: ObjectStore,
    D: RedeliveryDelay,
{
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for message in event.records {
            let id = message.message_id.clone().unwrap_or_default();
            let span = info_span!("message", message_id = %id);
            let disposition = self.handle_message(&message).instrument(span).await;
            match disposition {
                Disposition::Done => {}
                Disposition::Wait(secs) => match self
                    .redelivery
                    .requeue(message.body.as_deref().unwrap_or_default(), secs)
                    .await
                {
                    // The copy is queued: the original is done with.
                    Ok(()) => {}
                    Err(e) => {
                        warn!(error = %e, "could not requeue; the message comes back instead");
                        self.come_back_after(&message, secs).await;
                        response.batch_item_failures.push(failure(id));
                    }
                },
                Disposition::Later(secs) => {
                    self.come_back_after(&message, secs).await;
                    response.batch_item_failures.push(failure(id));
                }
                Disposition::Failed(reason) => {
                    error!(%reason, "message cannot be processed; it will reach the dead-letter queue");
                    response.batch_item_failures.push(failure(id));
                }
            }
        }
        response
    }

    /// Sets how long until a message reported as failed comes back.
    async fn come_back_after(&self, message: &SqsMessage, secs: i32) {
        if let Some(receipt) = &message.receipt_handle {
            if let Err(e) = self.redelivery.delay(receipt, secs).await {
                // The queue's own visibility timeout still brings it back.
                warn!(error = %e, "could not set the redelivery delay");
            }
        }
    }

    pub async fn handle_message(&self, message: &SqsMessage) -> Disposition {
        let item: WorkItem = match message.body.as_deref().map(serde_json::from_str) {
            Some(Ok(item)) => item,
            _ => return Disposition::Failed("message body is not a work item".into()),
        };
        let key = match MeetingKey::parse(&item.meeting_key) {
            Ok(k) => k,
            Err(e) => return Disposition::Failed(e.to_string()),
        };
        let span = info_span!("meeting", meeting_key = %key, meeting_uuid = %key.uuid());
        self.submit(&key).instrument(span).await
    }

    async fn submit(&self, key: &MeetingKey) -> Disposition {
        let meeting = match self.meetings.load(key).await {
            Ok(Some(m)) => m,
            Ok(None) => return Disposition::Failed("no meeting record for this work item".into()),
            Err(e) => return self.transient(&e.to_string()),
        };
        match meeting.status.as_str() {
            s if s == status::QUEUED || s == status::PRODUCED => {}
            s if s == status::FAILED => return Disposition::Failed("the meeting has failed; not submitting".into()),
            s => {
                // submitted or further along: a redelivery of work already done.
                info!(status = s, job_id = ?meeting.job_id, "already submitted");
                return Disposition::Done;
            }
        }
        let Some(audio) = meeting.audio else {
            return Disposition::Failed("the meeting record has no produced audio".into());
        };
        if audio.duration_secs > SYMBL_MAX_AUDIO_SECS {
            // Symbl would refuse it after we took a slot; fail it now, with a reason the host can use.
            let reason = format!(
                "the recording is {:.1} hours long; Symbl processes at most {} hours per file",
                audio.duration_secs / 3600.0,
                SYMBL_MAX_AUDIO_SECS / 3600.0
            );
            warn!(%reason, "not submitting");
            if let Err(e) = self.meetings.fail_submission(key, &reason).await {
                return self.transient(&e.to_string());
            }
            return Disposition::Failed(reason);
        }
        let lease_until = unix_now() + self.settings.submit_lease_secs;
        let claim = uuid::Uuid::new_v4().to_string();
        match self.meetings.claim_submission(key, &claim, lease_until).await {
            Ok(true) => {}
            Ok(false) => {
                // Another copy of this work item is submitting it, or just has: the copy that
                // comes back finds the meeting submitted (or the claim lapsed, if its holder died).
                info!("another delivery holds the submission; checking back later");
                return Disposition::Wait(self.settings.busy_retry_secs);
            }
            Err(e) => return self.transient(&e.to_string()),
        }
        let outcome = self.submit_claimed(key, &audio, lease_until).await;
        if !matches!(outcome, Disposition::Done) {
            if let Err(e) = self.meetings.release_submission(key, &claim).await {
                warn!(error = %e, "could not give the submission claim back; it lapses on its own");
            }
        }
        outcome
    }

    /// Holding the meeting's claim: a Symbl slot, then the submission.
    async fn submit_claimed(
        &self,
        key: &MeetingKey,
        audio: &zoom_symbl_core::meeting::ProducedAudio,
        lease_until: i64,
    ) -> Disposition {
        match self.semaphore.acquire(key.as_str(), lease_until).await {
            Ok(SlotGrant::Granted | SlotGrant::AlreadyHeld) => {}
            Ok(SlotGrant::Full) => {
                info!("every Symbl slot is taken; retrying later");
                return Disposition::Wait(self.settings.busy_retry_secs);
            }
            Err(e) => return self.transient(&e.to_string()),
        }
        let outcome = self.submit_holding_slot(key, audio).await;
        if !matches!(outcome, Disposition::Done) {
            if let Err(e) = self.semaphore.release(key.as_str()).await {
                // The lease expires on its own; log so the leak is visible meanwhile.
                warn!(error = %e, "could not release the slot after a failed submit");
            }
        }
        outcome
    }

    async fn submit_holding_slot(
        &self,
        key: &MeetingKey,
        audio: &zoom_symbl_core::meeting::ProducedAudio,
    ) -> Disposition {
        let media = match self
            .objects
            .presign_get(&audio.merged_bucket, &audio.merged_key, self.settings.presign_ttl)
            .await
        {
            Ok(url) => url,
            Err(e) => return self.transient(&e.to_string()),
        };
        let req = submit_request(audio, media, self.webhook.expose().to_owned(), &self.settings.language);
        let submitted = match self.symbl.submit(&req).await {
            Ok(s) => s,
            Err(SymblError::RateLimited) => {
                info!("Symbl answered 429; retrying later");
                return Disposition::Wait(self.settings.busy_retry_secs);
            }
            Err(e @ SymblError::Unavailable(_)) => return self.transient(&e.to_string()),
            Err(e) => {
                let reason = e.to_string();
                error!(%reason, "Symbl refused the meeting");
                if let Err(e) = self.meetings.fail_submission(key, &reason).await {
                    return self.transient(&e.to_string());
                }
                return Disposition::Failed(reason);
            }
        };
        info!(job_id = %submitted.job_id, conversation_id = %submitted.conversation_id, "submitted to Symbl");
        // The job holds the slot until it ends; the deadline lets the slot heal if every
        // status webhook is lost.
        let deadline = unix_now() + (2.0 * audio.duration_secs) as i64 + self.settings.deadline_slack_secs;
        let job = SubmittedJob {
            job_id: submitted.job_id.clone(),
            conversation_id: submitted.conversation_id,
            meeting_key: key.to_string(),
            submitted_at: now_rfc3339(),
            deadline,
        };
        if let Err(e) = self.semaphore.extend(key.as_str(), deadline).await {
            warn!(error = %e, "could not extend the slot to the job's deadline");
        }
        match self.meetings.record_submission(&job).await {
            Ok(()) => Disposition::Done,
            Err(e) => {
                // Symbl has the job; a redelivery would submit it twice. Keep the slot and
                // retry only the bookkeeping, which is idempotent.
                error!(error = %e, job_id = %job.job_id, "submitted but not recorded; retrying the record");
                match self.meetings.record_submission(&job).await {
                    Ok(()) => Disposition::Done,
                    Err(e) => {
                        // Redelivering would submit a second job: the work is done, the record
                        // is not. Loud, for an operator; the job's webhooks still name it.
                        error!(error = %e, job_id = %job.job_id, "giving up on recording the submitted job");
                        Disposition::Done
                    }
                }
            }
        }
    }

    fn transient(&self, reason: &str) -> Disposition {
        warn!(%reason, "transient failure; retrying later");
        Disposition::Later(self.settings.error_retry_secs)
    }
}

/// symbl-webhook's URL with the token as a properly encoded `t` query parameter.
pub fn webhook_url(base: &str, token: &SecretString) -> Result<SecretString, zoom_symbl_core::Error> {
    let mut url = url::Url::parse(base)
        .map_err(|e| zoom_symbl_core::Error::Config(format!("SYMBL_WEBHOOK_URL is not a URL: {e}")))?;
    url.query_pairs_mut().append_pair("t", token.expose());
    Ok(SecretString::new(String::from(url)))
}

fn failure(id: String) -> BatchItemFailure {
    let mut f = BatchItemFailure::default();
    f.item_identifier = id;
    f
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use zoom_symbl_core::meeting::{AudioMode, ProducedAudio};
    use zoom_symbl_core::ports::QueuedMeeting;
    use zoom_symbl_core::symbl::{JobStatus, RawInsights, SubmitAudio, Submitted};
    use zoom_symbl_core::Result;

    use super::*;

    struct Store {
        status: Mutex<String>,
        recorded: Mutex<Vec<SubmittedJob>>,
        duration_secs: f64,
        /// The live submission claim (leases do not lapse within a test).
        claim: Mutex<Option<String>>,
    }
    impl SubmissionStore for Store {
        async fn claim_submission(&self, _: &MeetingKey, claim: &str, _: i64) -> Result<bool> {
            let mut held = self.claim.lock().unwrap();
            if *self.status.lock().unwrap() != "queued" || held.is_some() {
                return Ok(false);
            }
            *held = Some(claim.to_owned());
            Ok(true)
        }
        async fn release_submission(&self, _: &MeetingKey, claim: &str) -> Result<()> {
            let mut held = self.claim.lock().unwrap();
            if held.as_deref() == Some(claim) {
                *held = None;
            }
            Ok(())
        }
        async fn load(&self, _: &MeetingKey) -> Result<Option<QueuedMeeting>> {
            let audio = ProducedAudio {
                mode: AudioMode::Multichannel,
                topic: "t".into(),
                host_email: "h@example.com".into(),
                start_time: "2024-05-31T18:00:05Z".into(),
                duration_secs: self.duration_secs,
                participants: Vec::new(),
                sample_rate: 16_000,
                channels: 2,
                merged_bucket: "out".into(),
                merged_key: "k.wav".into(),
                merged_format: "wav".into(),
                merged_bytes: 1,
                mixdown_key: "m.mp3".into(),
                originals_prefix: "p".into(),
            };
            Ok(Some(QueuedMeeting {
                status: self.status.lock().unwrap().clone(),
                audio: Some(audio),
                job_id: None,
            }))
        }
        async fn record_submission(&self, job: &SubmittedJob) -> Result<()> {
            *self.status.lock().unwrap() = "submitted".into();
            *self.claim.lock().unwrap() = None;
            self.recorded.lock().unwrap().push(job.clone());
            Ok(())
        }
        async fn fail_submission(&self, _: &MeetingKey, reason: &str) -> Result<()> {
            *self.status.lock().unwrap() = format!("failed: {reason}");
            Ok(())
        }
    }

    /// A semaphore with `free` slots.
    struct Slots(Mutex<u32>);
    impl Semaphore for Slots {
        async fn acquire(&self, _: &str, _: i64) -> Result<SlotGrant> {
            let mut free = self.0.lock().unwrap();
            Ok(if *free == 0 {
                SlotGrant::Full
            } else {
                *free -= 1;
                SlotGrant::Granted
            })
        }
        async fn extend(&self, _: &str, _: i64) -> Result<()> {
            Ok(())
        }
        async fn release(&self, _: &str) -> Result<bool> {
            *self.0.lock().unwrap() += 1;
            Ok(true)
        }
    }

    /// Symbl answering from a script (Ok when it runs out).
    struct Symbl(Mutex<Vec<SymblError>>);
    impl InsightsProvider for Symbl {
        async fn submit(&self, req: &SubmitAudio) -> std::result::Result<Submitted, SymblError> {
            assert!(
                req.webhook_url.as_deref().is_some_and(|u| u.contains("?t=")),
                "the callback carries the token"
            );
            // A network call: lets another delivery run meanwhile.
            tokio::task::yield_now().await;
            match self.0.lock().unwrap().pop() {
                Some(e) => Err(e),
                None => Ok(Submitted {
                    conversation_id: "c".into(),
                    job_id: "j".into(),
                }),
            }
        }
        async fn job_status(&self, _: &str) -> std::result::Result<JobStatus, SymblError> {
            unreachable!()
        }
        async fn insights(&self, _: &str) -> std::result::Result<RawInsights, SymblError> {
            unreachable!()
        }
        async fn summary_page(&self, _: &str, _: &str, _: u64) -> std::result::Result<String, SymblError> {
            unreachable!()
        }
    }

    struct Objects;
    impl ObjectStore for Objects {
        async fn put_stream<R: tokio::io::AsyncRead + Unpin + Send>(
            &self,
            _: &str,
            _: &str,
            _: &str,
            _: R,
        ) -> Result<u64> {
            unreachable!()
        }
        async fn presign_get(&self, b: &str, k: &str, _: Duration) -> Result<String> {
            Ok(format!("https://{b}/{k}?X-Amz-Signature=s"))
        }
    }

    #[derive(Default)]
    struct Queue {
        delays: Mutex<Vec<i32>>,
        copies: Mutex<Vec<(String, i32)>>,
        requeue_fails: bool,
    }
    impl RedeliveryDelay for Queue {
        async fn delay(&self, _: &str, secs: i32) -> Result<()> {
            self.delays.lock().unwrap().push(secs);
            Ok(())
        }
        async fn requeue(&self, body: &str, secs: i32) -> Result<()> {
            if self.requeue_fails {
                return Err(zoom_symbl_core::Error::retryable("sqs", "throttled"));
            }
            self.copies.lock().unwrap().push((body.into(), secs));
            Ok(())
        }
    }

    fn consumer(free: u32, symbl: Vec<SymblError>, queue: Queue) -> Consumer<Store, Slots, Symbl, Objects, Queue> {
        Consumer {
            meetings: Store {
                status: Mutex::new("queued".into()),
                recorded: Mutex::default(),
                duration_secs: 60.0,
                claim: Mutex::default(),
            },
            semaphore: Slots(Mutex::new(free)),
            symbl: Symbl(Mutex::new(symbl)),
            objects: Objects,
            redelivery: queue,
            webhook: SecretString::new("https://api.example/Prod/symbl/webhook?t=tok"),
            settings: Settings {
                language: "en-US".into(),
                submit_lease_secs: 300,
                busy_retry_secs: 120,
                error_retry_secs: 30,
                presign_ttl: Duration::from_secs(60),
                deadline_slack_secs: 60,
            },
        }
    }

    fn batch() -> SqsEvent {
        serde_json::from_str(include_str!("../../../events/consumer-sqs-batch.json")).unwrap()
    }

    #[tokio::test]
    async fn a_free_slot_submits_once_and_deletes_the_message() {
        let c = consumer(1, Vec::new(), Queue::default());
        let out = c.handle_batch(batch()).await;
        assert!(out.batch_item_failures.is_empty());
        assert_eq!(c.meetings.recorded.lock().unwrap().len(), 1);
        // A redelivery of the same message finds it submitted and submits nothing.
        assert!(c.handle_batch(batch()).await.batch_item_failures.is_empty());
        assert_eq!(c.meetings.recorded.lock().unwrap().len(), 1);
        assert_eq!(*c.semaphore.0.lock().unwrap(), 0, "the job holds its slot");
    }

    #[tokio::test]
    async fn two_copies_of_a_work_item_at_once_submit_once_and_the_other_checks_back() {
        // Free slots for both: only the meeting's claim keeps the second copy from submitting.
        let c = consumer(2, Vec::new(), Queue::default());
        let message = &batch().records[0];
        let (a, b) = tokio::join!(c.handle_message(message), c.handle_message(message));
        let mut outcomes = [a, b];
        outcomes.sort_by_key(|d| format!("{d:?}"));
        assert_eq!(outcomes, [Disposition::Done, Disposition::Wait(120)]);
        assert_eq!(c.meetings.recorded.lock().unwrap().len(), 1, "one Symbl job");
        assert_eq!(*c.semaphore.0.lock().unwrap(), 1, "one slot taken, by the job");
        // The copy that checks back finds the meeting submitted.
        assert_eq!(c.handle_message(message).await, Disposition::Done);
        assert_eq!(c.meetings.recorded.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn waiting_for_a_slot_requeues_a_fresh_copy_instead_of_failing_the_message() {
        let c = consumer(0, Vec::new(), Queue::default());
        let out = c.handle_batch(batch()).await;
        assert!(out.batch_item_failures.is_empty(), "not a failed receive");
        let copies = c.redelivery.copies.lock().unwrap();
        assert_eq!(copies.len(), 1);
        assert_eq!(
            copies[0].0,
            batch().records[0].body.clone().unwrap(),
            "the same work item"
        );
        assert_eq!(copies[0].1, 120);
        assert!(c.meetings.recorded.lock().unwrap().is_empty());
        assert!(
            c.meetings.claim.lock().unwrap().is_none(),
            "the claim is given back for the copy"
        );
    }

    #[tokio::test]
    async fn symbls_429_waits_the_same_way_and_gives_the_slot_back() {
        let c = consumer(1, vec![SymblError::RateLimited], Queue::default());
        assert!(c.handle_batch(batch()).await.batch_item_failures.is_empty());
        assert_eq!(c.redelivery.copies.lock().unwrap().len(), 1);
        assert_eq!(*c.semaphore.0.lock().unwrap(), 1, "slot released");
    }

    #[tokio::test]
    async fn if_the_copy_cannot_be_sent_the_original_comes_back_instead() {
        let c = consumer(
            0,
            Vec::new(),
            Queue {
                requeue_fails: true,
                ..Queue::default()
            },
        );
        let out = c.handle_batch(batch()).await;
        assert_eq!(out.batch_item_failures.len(), 1, "kept, not lost");
        assert_eq!(*c.redelivery.delays.lock().unwrap(), [120]);
    }

    #[tokio::test]
    async fn transient_errors_come_back_and_count_towards_the_dead_letter_queue() {
        let c = consumer(1, vec![SymblError::Unavailable("503".into())], Queue::default());
        let out = c.handle_batch(batch()).await;
        assert_eq!(out.batch_item_failures.len(), 1);
        assert_eq!(*c.redelivery.delays.lock().unwrap(), [30]);
        assert!(c.redelivery.copies.lock().unwrap().is_empty());
        assert_eq!(*c.semaphore.0.lock().unwrap(), 1, "slot released");
        assert!(c.meetings.claim.lock().unwrap().is_none(), "claim released");
    }

    #[tokio::test]
    async fn a_refused_meeting_is_failed_with_its_reason_and_left_for_the_dead_letter_queue() {
        let c = consumer(
            1,
            vec![SymblError::Rejected {
                status: 400,
                message: "audio too long".into(),
            }],
            Queue::default(),
        );
        let out = c.handle_batch(batch()).await;
        assert_eq!(out.batch_item_failures.len(), 1);
        assert!(c.meetings.status.lock().unwrap().contains("audio too long"));
        assert_eq!(*c.semaphore.0.lock().unwrap(), 1);
    }

    #[tokio::test]
    async fn a_recording_longer_than_symbl_takes_fails_before_taking_a_slot() {
        let mut c = consumer(1, Vec::new(), Queue::default());
        c.meetings.duration_secs = 4.5 * 3600.0;
        assert_eq!(c.handle_batch(batch()).await.batch_item_failures.len(), 1);
        let status = c.meetings.status.lock().unwrap().clone();
        assert!(
            status.starts_with("failed: ") && status.contains("4.5 hours"),
            "{status}"
        );
        assert_eq!(*c.semaphore.0.lock().unwrap(), 1, "no slot taken");
        assert!(c.meetings.recorded.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_body_that_is_not_a_work_item_fails_without_touching_anything() {
        let c = consumer(1, Vec::new(), Queue::default());
        let mut b = batch();
        b.records[0].body = Some("{\"meeting\":1}".into());
        assert_eq!(c.handle_batch(b).await.batch_item_failures.len(), 1);
        assert!(c.meetings.recorded.lock().unwrap().is_empty());
        assert!(c.redelivery.delays.lock().unwrap().is_empty());
    }

    #[test]
    fn the_sample_batch_parses() {
        let batch: SqsEvent = serde_json::from_str(include_str!("../../../events/consumer-sqs-batch.json")).unwrap();
        let item: WorkItem = serde_json::from_str(batch.records[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(
            MeetingKey::parse(&item.meeting_key).unwrap().uuid(),
            "tFpXbu/pQ9+zPgGteb/Krw=="
        );
    }

    #[test]
    fn the_token_survives_any_characters() {
        let token = SecretString::new("a&b#c+d/e=f g%");
        let url = webhook_url("https://api.example/Prod/symbl/webhook", &token).unwrap();
        let parsed = url::Url::parse(url.expose()).unwrap();
        assert_eq!(parsed.path(), "/Prod/symbl/webhook");
        let t: Vec<_> = parsed.query_pairs().collect();
        assert_eq!(t, [("t".into(), "a&b#c+d/e=f g%".into())]);
        assert!(webhook_url("not a url", &token).is_err());
    }
}
