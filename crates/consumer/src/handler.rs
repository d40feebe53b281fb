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

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Submitted now, or earlier by another delivery: delete the message.
    Done,
    /// Not now: back to the queue after this many seconds.
    Later(i32),
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
                Disposition::Later(secs) => {
                    if let Some(receipt) = &message.receipt_handle {
                        if let Err(e) = self.redelivery.delay(receipt, secs).await {
                            // The queue's own visibility timeout still brings it back.
                            warn!(error = %e, "could not set the redelivery delay");
                        }
                    }
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
        match self.semaphore.acquire(key.as_str(), unix_now() + self.settings.submit_lease_secs).await {
            Ok(SlotGrant::Granted | SlotGrant::AlreadyHeld) => {}
            Ok(SlotGrant::Full) => {
                info!("every Symbl slot is taken; retrying later");
                return Disposition::Later(self.settings.busy_retry_secs);
            }
            Err(e) => return self.transient(&e.to_string()),
        }
        let outcome = self.submit_holding_slot(key, &audio).await;
        if !matches!(outcome, Disposition::Done) {
            if let Err(e) = self.semaphore.release(key.as_str()).await {
                // The lease expires on its own; log so the leak is visible meanwhile.
                warn!(error = %e, "could not release the slot after a failed submit");
            }
        }
        outcome
    }

    async fn submit_holding_slot(&self, key: &MeetingKey, audio: &zoom_symbl_core::meeting::ProducedAudio) -> Disposition {
        let media = match self.objects.presign_get(&audio.merged_bucket, &audio.merged_key, self.settings.presign_ttl).await {
            Ok(url) => url,
            Err(e) => return self.transient(&e.to_string()),
        };
        let req = submit_request(audio, media, self.webhook.expose().to_owned(), &self.settings.language);
        let submitted = match self.symbl.submit(&req).await {
            Ok(s) => s,
            Err(SymblError::RateLimited) => {
                info!("Symbl answered 429; retrying later");
                return Disposition::Later(self.settings.busy_retry_secs);
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
    use super::*;

    #[test]
    fn the_sample_batch_parses() {
        let batch: SqsEvent = serde_json::from_str(include_str!("../../../events/consumer-sqs-batch.json")).unwrap();
        let item: WorkItem = serde_json::from_str(batch.records[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(MeetingKey::parse(&item.meeting_key).unwrap().uuid(), "tFpXbu/pQ9+zPgGteb/Krw==");
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
