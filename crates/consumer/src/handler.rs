//! One SQS batch: each message is a produced meeting to submit to Symbl within the
//! account's concurrency limit. Nothing is deleted that was not done: a message that cannot
//! go now comes back later (partial batch failure), one that never can ends in the DLQ.

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::{error, info, info_span, warn, Instrument};
use zoom_symbl_core::error::Retry;
use zoom_symbl_core::lifecycle::MeetingState;
use zoom_symbl_core::meeting_key::MeetingKey;
use zoom_symbl_core::ports::{
    InsightsProvider, InsightsRequest, ObjectStore, ProviderError, RedeliveryDelay, Semaphore, SlotGrant,
    SubmissionStore, SubmittedJob, WorkItem,
};
use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::timefmt::{now_rfc3339, unix_now};

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
    /// The most one message can take (the provider's submit timeout and the writes around it).
    pub message_budget: Duration,
}

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
    /// The meeting failed for good and its record says why (its host is told): the message
    /// is done with, so nothing alarms operators about what the host already knows.
    MeetingFailed(String),
}

pub struct Consumer<M, S, P, O, D> {
    pub meetings: M,
    pub semaphore: S,
    pub provider: P,
    pub objects: O,
    pub redelivery: D,
    /// symbl-webhook's URL with its token (secret: it authenticates Symbl's callbacks);
    /// `None` for a provider that reports otherwise (Transcribe's events).
    pub webhook: Option<SecretString>,
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
    /// A batch with no time limit of its own (tests).
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle_batch_until(event, Instant::now() + Duration::from_secs(86_400))
            .await
    }

    /// A batch within the invocation: a message starts only with [`Settings::message_budget`]
    /// left, so a timeout never kills a submission half-way (the POST made, the job not
    /// recorded: submitted again later, billed twice). The rest come back untouched.
    pub async fn handle_batch_until(&self, event: SqsEvent, until: Instant) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for message in event.records {
            let id = message.message_id.clone().unwrap_or_default();
            let span = info_span!("message", message_id = %id);
            let disposition = if Instant::now() + self.settings.message_budget > until {
                info!(message_id = %id, "not enough time left in this invocation; the message comes back");
                Disposition::Later(self.settings.error_retry_secs)
            } else {
                self.handle_message(&message).instrument(span).await
            };
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
                        response.add_failure(id);
                    }
                },
                Disposition::Later(secs) => {
                    self.come_back_after(&message, secs).await;
                    response.add_failure(id);
                }
                Disposition::MeetingFailed(reason) => {
                    warn!(%reason, "the meeting has failed; its record says why and its host is told");
                }
                Disposition::Failed(reason) => {
                    error!(%reason, "message cannot be processed; it will reach the dead-letter queue");
                    response.add_failure(id);
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
        match meeting.status {
            Some(s) if s.ready_to_submit() => {}
            Some(MeetingState::Failed) => {
                return Disposition::MeetingFailed("the meeting has failed; not submitting".into())
            }
            s => {
                // submitted or further along: a redelivery of work already done.
                info!(status = ?s, job_id = ?meeting.job_id, "already submitted");
                return Disposition::Done;
            }
        }
        let Some(audio) = meeting.audio else {
            return Disposition::Failed("the meeting record has no produced audio".into());
        };
        let max_secs = self.provider.max_audio_secs();
        if audio.duration_secs > max_secs {
            // The provider would refuse it after we took a slot; fail it now, with a reason the host can use.
            let reason = format!(
                "the recording is {:.1} hours long; the insights provider processes at most {} hours per file",
                audio.duration_secs / 3600.0,
                max_secs / 3600.0
            );
            warn!(%reason, "not submitting");
            if let Err(e) = self.meetings.fail_submission(key, &reason).await {
                return self.transient(&e.to_string());
            }
            return Disposition::MeetingFailed(reason);
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

    /// Holding the meeting's claim: its slots (one per provider job), then the submission.
    async fn submit_claimed(
        &self,
        key: &MeetingKey,
        audio: &zoom_symbl_core::meeting::ProducedAudio,
        lease_until: i64,
    ) -> Disposition {
        let holders = self.provider.slot_holders(key.as_str(), audio);
        let mut held = Vec::with_capacity(holders.len());
        let mut outcome = None;
        for holder in &holders {
            match self.semaphore.acquire(holder, lease_until).await {
                Ok(SlotGrant::Granted | SlotGrant::AlreadyHeld) => held.push(holder.as_str()),
                Ok(SlotGrant::Full) => {
                    info!(needed = holders.len(), "not enough free provider slots; retrying later");
                    outcome = Some(Disposition::Wait(self.settings.busy_retry_secs));
                    break;
                }
                Err(e) => {
                    outcome = Some(self.transient(&e.to_string()));
                    break;
                }
            }
        }
        let outcome = match outcome {
            Some(outcome) => outcome,
            None => self.submit_holding_slot(key, audio, &holders).await,
        };
        if !matches!(outcome, Disposition::Done) {
            for holder in held {
                if let Err(e) = self.semaphore.release(holder).await {
                    // The lease expires on its own; log so the leak is visible meanwhile.
                    warn!(error = %e, "could not release a slot after a failed submit");
                }
            }
        }
        outcome
    }

    async fn submit_holding_slot(
        &self,
        key: &MeetingKey,
        audio: &zoom_symbl_core::meeting::ProducedAudio,
        holders: &[String],
    ) -> Disposition {
        let media = match self
            .objects
            .presign_get(&audio.merged_bucket, &audio.merged_key, self.settings.presign_ttl)
            .await
        {
            Ok(url) => url,
            Err(e) => return self.transient(&e.to_string()),
        };
        let callback = self
            .webhook
            .as_ref()
            .map_or_else(|| SecretString::new(String::new()), |w| callback_for(w, key));
        let request = InsightsRequest {
            meeting_key: key,
            audio,
            audio_url: &media,
            callback_url: callback.expose(),
            language: &self.settings.language,
        };
        let submitted = match self.provider.submit(&request).await {
            Ok(s) => s,
            Err(ProviderError::AtCapacity(reason)) => {
                info!(%reason, "the provider is at its limit; retrying later");
                return Disposition::Wait(self.settings.busy_retry_secs);
            }
            Err(e) if e.retry() == Retry::Retryable => return self.transient(&e.to_string()),
            Err(e) => {
                let reason = e.to_string();
                error!(%reason, "the provider refused the meeting");
                if let Err(e) = self.meetings.fail_submission(key, &reason).await {
                    return self.transient(&e.to_string());
                }
                return Disposition::MeetingFailed(reason);
            }
        };
        info!(job_id = %submitted.job_id, conversation_id = %submitted.conversation_id, "submitted to the insights provider");
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
        for holder in holders {
            if let Err(e) = self.semaphore.extend(holder, deadline).await {
                warn!(error = %e, "could not extend a slot to the job's deadline");
            }
        }
        self.record(&job).await;
        Disposition::Done
    }

    /// The provider has the job: a redelivery would submit it twice, so the work is done
    /// whatever happens here. The record is retried once (it is idempotent), then left loud
    /// for an operator; the job's callbacks still name it.
    async fn record(&self, job: &SubmittedJob) {
        let Err(e) = self.meetings.record_submission(job).await else {
            return;
        };
        error!(error = %e, job_id = %job.job_id, "submitted but not recorded; retrying the record");
        if let Err(e) = self.meetings.record_submission(job).await {
            error!(error = %e, job_id = %job.job_id, "giving up on recording the submitted job");
        }
    }

    fn transient(&self, reason: &str) -> Disposition {
        warn!(%reason, "transient failure; retrying later");
        Disposition::Later(self.settings.error_retry_secs)
    }
}

/// The callback URL of one meeting's job: it names the meeting (`m`), so a job whose
/// submission's answer was lost is adopted when it calls back, not submitted again.
pub fn callback_for(webhook: &SecretString, key: &MeetingKey) -> SecretString {
    match url::Url::parse(webhook.expose()) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair("m", key.as_str());
            SecretString::new(String::from(url))
        }
        // `webhook_url` made it, so it parses; were it not to, the job is still ours by its record.
        Err(_) => webhook.clone(),
    }
}

/// symbl-webhook's URL with the token as a properly encoded `t` query parameter.
pub fn webhook_url(base: &str, token: &SecretString) -> Result<SecretString, zoom_symbl_core::Error> {
    let mut url = url::Url::parse(base)
        .map_err(|e| zoom_symbl_core::Error::Config(format!("SYMBL_WEBHOOK_URL is not a URL: {e}")))?;
    url.query_pairs_mut().append_pair("t", token.expose());
    Ok(SecretString::new(String::from(url)))
}

#[cfg(test)]
mod tests {
    use zoom_symbl_core::testkit::{
        samples, AudioBuilder, Faults, MeetingRow, MemInsights, MemMeetings, MemObjects, MemQueue, MemSemaphore,
    };

    use zoom_symbl_core::symbl::SymblError;

    use super::*;

    type Subject = Consumer<MemMeetings, MemSemaphore, MemInsights, MemObjects, MemQueue>;

    /// The meeting the sample batch's work item names: the sample meeting.
    fn key() -> String {
        samples::meeting_key().to_string()
    }

    /// The sample meeting queued (60 s of audio), `free` Symbl slots, and Symbl answering
    /// `symbl` to the first submits (then accepting).
    fn consumer(free: u32, symbl: Vec<SymblError>, queue: MemQueue) -> Subject {
        // Symbl's own answers, through the adapter's mapping into the port's vocabulary.
        let symbl = symbl.into_iter().map(ProviderError::from).collect();
        Consumer {
            meetings: MemMeetings::default().with(
                &key(),
                MeetingRow::queued(AudioBuilder::sample().duration_secs(60.0).build()),
            ),
            semaphore: MemSemaphore::with_limit(free),
            // The consumer only submits, and never writes to storage.
            provider: MemInsights::default()
                .refusing(symbl)
                .forbidding(&["job_state", "insights", "summary_page"]),
            objects: MemObjects::default().forbidding(&["put_stream"]),
            redelivery: queue,
            webhook: Some(SecretString::new("https://api.example/Prod/symbl/webhook?t=tok")),
            settings: Settings {
                language: "en-US".into(),
                submit_lease_secs: 300,
                busy_retry_secs: 120,
                error_retry_secs: 30,
                presign_ttl: Duration::from_secs(60),
                deadline_slack_secs: 60,
                message_budget: Duration::from_secs(45),
            },
        }
    }

    /// Of every request Symbl was sent.
    fn assert_the_callback_carries_the_token(c: &Subject) {
        for req in c.provider.submitted.lock().unwrap().iter() {
            assert!(req.callback_url.contains("?t="), "the callback carries the token");
        }
    }

    fn batch() -> SqsEvent {
        serde_json::from_str(include_str!("../../../events/consumer-sqs-batch.json")).unwrap()
    }

    #[tokio::test]
    async fn a_free_slot_submits_once_and_deletes_the_message() {
        let c = consumer(1, Vec::new(), MemQueue::default());
        let out = c.handle_batch(batch()).await;
        assert!(out.batch_item_failures.is_empty());
        assert_eq!(c.meetings.submissions.lock().unwrap().len(), 1);
        // A redelivery of the same message finds it submitted and submits nothing.
        assert!(c.handle_batch(batch()).await.batch_item_failures.is_empty());
        assert_eq!(c.meetings.submissions.lock().unwrap().len(), 1);
        assert_eq!(c.semaphore.free(), 0, "the job holds its slot");
        assert_the_callback_carries_the_token(&c);
    }

    #[tokio::test]
    async fn two_copies_of_a_work_item_at_once_submit_once_and_the_other_checks_back() {
        // Free slots for both: only the meeting's claim keeps the second copy from submitting.
        let c = consumer(2, Vec::new(), MemQueue::default());
        let message = &batch().records[0];
        let (a, b) = tokio::join!(c.handle_message(message), c.handle_message(message));
        let mut outcomes = [a, b];
        outcomes.sort_by_key(|d| format!("{d:?}"));
        assert_eq!(outcomes, [Disposition::Done, Disposition::Wait(120)]);
        assert_eq!(c.meetings.submissions.lock().unwrap().len(), 1, "one Symbl job");
        assert_eq!(c.semaphore.free(), 1, "one slot taken, by the job");
        // The copy that checks back finds the meeting submitted.
        assert_eq!(c.handle_message(message).await, Disposition::Done);
        assert_eq!(c.meetings.submissions.lock().unwrap().len(), 1);
        assert_the_callback_carries_the_token(&c);
    }

    #[tokio::test]
    async fn waiting_for_a_slot_requeues_a_fresh_copy_instead_of_failing_the_message() {
        let c = consumer(0, Vec::new(), MemQueue::default());
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
        assert!(c.meetings.submissions.lock().unwrap().is_empty());
        assert!(
            c.meetings.row(&key()).unwrap().submit_claim.is_none(),
            "the claim is given back for the copy"
        );
    }

    #[tokio::test]
    async fn symbls_429_waits_the_same_way_and_gives_the_slot_back() {
        let c = consumer(1, vec![SymblError::RateLimited], MemQueue::default());
        assert!(c.handle_batch(batch()).await.batch_item_failures.is_empty());
        assert_eq!(c.redelivery.copies.lock().unwrap().len(), 1);
        assert_eq!(c.semaphore.free(), 1, "slot released");
        assert_the_callback_carries_the_token(&c);
    }

    #[tokio::test]
    async fn if_the_copy_cannot_be_sent_the_original_comes_back_instead() {
        let c = consumer(0, Vec::new(), MemQueue::default().failing("requeue"));
        let out = c.handle_batch(batch()).await;
        assert_eq!(out.batch_item_failures.len(), 1, "kept, not lost");
        assert_eq!(*c.redelivery.delays.lock().unwrap(), [120]);
    }

    #[tokio::test]
    async fn transient_errors_come_back_and_count_towards_the_dead_letter_queue() {
        let c = consumer(1, vec![SymblError::Unavailable("503".into())], MemQueue::default());
        let out = c.handle_batch(batch()).await;
        assert_eq!(out.batch_item_failures.len(), 1);
        assert_eq!(*c.redelivery.delays.lock().unwrap(), [30]);
        assert!(c.redelivery.copies.lock().unwrap().is_empty());
        assert_eq!(c.semaphore.free(), 1, "slot released");
        assert!(c.meetings.row(&key()).unwrap().submit_claim.is_none(), "claim released");
        assert_the_callback_carries_the_token(&c);
    }

    #[tokio::test]
    async fn a_refused_meeting_is_failed_with_its_reason_and_its_message_done_with() {
        let c = consumer(
            1,
            vec![SymblError::Rejected {
                status: 400,
                message: "audio too long".into(),
            }],
            MemQueue::default(),
        );
        let out = c.handle_batch(batch()).await;
        // The record says why and the host is told: nothing for the dead-letter queue.
        assert!(out.batch_item_failures.is_empty());
        assert!(c.meetings.status_line(&key()).contains("audio too long"));
        assert_eq!(c.semaphore.free(), 1);
        assert_the_callback_carries_the_token(&c);
    }

    #[tokio::test]
    async fn a_recording_longer_than_symbl_takes_fails_before_taking_a_slot() {
        let c = consumer(1, Vec::new(), MemQueue::default());
        c.meetings
            .edit(&key(), |m| m.audio.as_mut().unwrap().duration_secs = 4.5 * 3600.0);
        assert!(c.handle_batch(batch()).await.batch_item_failures.is_empty());
        let status = c.meetings.status_line(&key());
        assert!(
            status.starts_with("failed: ") && status.contains("4.5 hours"),
            "{status}"
        );
        assert_eq!(c.semaphore.free(), 1, "no slot taken");
        assert!(c.meetings.submissions.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_body_that_is_not_a_work_item_fails_without_touching_anything() {
        let c = consumer(1, Vec::new(), MemQueue::default());
        let mut b = batch();
        b.records[0].body = Some("{\"meeting\":1}".into());
        assert_eq!(c.handle_batch(b).await.batch_item_failures.len(), 1);
        assert!(c.meetings.submissions.lock().unwrap().is_empty());
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

    #[test]
    fn the_callback_names_its_meeting() {
        let url = webhook_url("https://api.example/Prod/symbl/webhook", &SecretString::new("tok")).unwrap();
        let key = samples::meeting_key();
        let callback = callback_for(&url, &key);
        let parsed = url::Url::parse(callback.expose()).unwrap();
        let named: Vec<_> = parsed
            .query_pairs()
            .filter(|(k, _)| k == "m")
            .map(|(_, v)| v.into_owned())
            .collect();
        assert_eq!(named, [key.to_string()], "the callback names its meeting");
    }

    #[tokio::test]
    async fn a_message_is_not_started_without_the_time_to_finish_it() {
        let c = consumer(1, Vec::new(), MemQueue::default());
        let out = c
            .handle_batch_until(batch(), Instant::now() + Duration::from_secs(10))
            .await;
        assert_eq!(out.batch_item_failures.len(), 1, "it comes back");
        assert!(c.meetings.submissions.lock().unwrap().is_empty(), "nothing submitted");
        assert!(
            c.meetings.row(&key()).unwrap().submit_claim.is_none(),
            "nothing claimed"
        );
        assert_eq!(c.semaphore.free(), 1, "no slot taken");
    }
}
