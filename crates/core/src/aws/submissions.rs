//! The consumer's writes: meetings move from `queued` to `submitted`, and Symbl jobs are
//! recorded in the jobs table keyed by job id.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::meetings::{put_claim, run_of, ClaimWrite, PK};
use super::{conditional, guarded, n, s, sdk_error, state, DUE_AT};
use crate::lifecycle::{deadline, EmailState, JobState, MeetingState, Step};
use crate::meeting::ProducedAudio;
use crate::meeting_key::MeetingKey;
use crate::ports::{EmailOutcome, MeetingOutcomes, QueuedMeeting, SubmissionStore, SubmittedJob};
use crate::timefmt::{now_rfc3339, unix_now};
use crate::{Error, Result};

#[derive(Clone)]
pub struct DynamoSubmissions {
    pub(super) client: Client,
    pub(super) meetings_table: String,
    jobs_table: String,
    retention: Option<Duration>,
}

impl DynamoSubmissions {
    pub fn new(client: Client, meetings_table: impl Into<String>, jobs_table: impl Into<String>) -> Self {
        DynamoSubmissions {
            client,
            meetings_table: meetings_table.into(),
            jobs_table: jobs_table.into(),
            retention: None,
        }
    }

    /// Job records carry `expires_at` this long after submission; the table's TTL deletes them.
    pub fn expiring_after(mut self, retention: Duration) -> Self {
        self.retention = Some(retention);
        self
    }
}

impl SubmissionStore for DynamoSubmissions {
    async fn load(&self, key: &MeetingKey) -> Result<Option<QueuedMeeting>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.meetings_table)
            .key(PK, s(key.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        let Some(item) = out.item else { return Ok(None) };
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let audio = match item.get("audio") {
            Some(a) => Some(
                serde_dynamo::from_attribute_value(a.clone())
                    .map_err(|e| Error::Invalid(format!("meeting record's audio is malformed: {e}")))?,
            ),
            None => None,
        };
        Ok(Some(QueuedMeeting {
            status: text("status").as_deref().and_then(MeetingState::parse),
            audio,
            job_id: text("job_id"),
        }))
    }

    async fn claim_submission(&self, key: &MeetingKey, claim: &str, until: i64) -> Result<bool> {
        let now = unix_now();
        // Every handling of the work item touches the deadline: a `queued` meeting nobody
        // touches for an hour has lost its work item (see `lifecycle::deadline::QUEUED_SECS`).
        let res = self
            .client
            .update_item()
            .table_name(&self.meetings_table)
            .key(PK, s(key.as_str()))
            .update_expression("SET submit_claim = :claim, submit_claim_until = :until, #due = :due")
            .condition_expression(
                "#st IN (:queued, :produced) AND (attribute_not_exists(submit_claim_until) OR submit_claim_until < :now)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#due", DUE_AT)
            .expression_attribute_values(":queued", state(MeetingState::Queued))
            .expression_attribute_values(":produced", state(MeetingState::Produced))
            .expression_attribute_values(":claim", s(claim))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":due", n(now.max(until).saturating_add(deadline::QUEUED_SECS)))
            .send()
            .await;
        conditional(res)
    }

    async fn release_submission(&self, key: &MeetingKey, claim: &str) -> Result<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.meetings_table)
            .key(PK, s(key.as_str()))
            .update_expression("REMOVE submit_claim, submit_claim_until")
            .condition_expression("submit_claim = :claim")
            .expression_attribute_values(":claim", s(claim))
            .send()
            .await;
        // Refused: the claim expired and another delivery holds it now; that one is its own.
        conditional(res).map(drop)
    }

    async fn record_submission(&self, job: &SubmittedJob) -> Result<()> {
        super::jobs::record_job(&self.client, &self.jobs_table, self.retention, job).await?;
        let now = now_rfc3339();
        let req = self
            .client
            .update_item()
            .table_name(&self.meetings_table)
            .key(PK, s(&job.meeting_key));
        let (req, guard) = guarded(req, Step::Submit);
        // Out of the index: the job's own deadline (on the job record) covers it from here.
        let res = req
            .update_expression(
                "SET #st = :to, job_id = :j, conversation_id = :c, submitted_at = :at, updated_at = :now \
                 REMOVE submit_claim, submit_claim_until, #due",
            )
            .condition_expression(guard)
            .expression_attribute_names("#due", DUE_AT)
            .expression_attribute_values(":j", s(&job.job_id))
            .expression_attribute_values(":c", s(&job.conversation_id))
            .expression_attribute_values(":at", s(&job.submitted_at))
            .expression_attribute_values(":now", s(&now))
            .send()
            .await;
        // A webhook-driven notifier may already have moved the meeting further.
        conditional(res).map(drop)
    }

    async fn fail_submission(&self, key: &MeetingKey, reason: &str) -> Result<()> {
        let now = now_rfc3339();
        let req = self
            .client
            .update_item()
            .table_name(&self.meetings_table)
            .key(PK, s(key.as_str()));
        let (req, guard) = guarded(req, Step::FailSubmission);
        // Due at once: its failure email is owed.
        let res = req
            .update_expression("SET #st = :to, failure_reason = :r, failed_at = :now, updated_at = :now, #due = :epoch")
            .condition_expression(guard)
            .expression_attribute_names("#due", DUE_AT)
            .expression_attribute_values(":epoch", n(unix_now()))
            .expression_attribute_values(":r", s(reason))
            .expression_attribute_values(":now", s(&now))
            .send()
            .await;
        conditional(res).map(drop)
    }
}

impl DynamoSubmissions {
    /// The named attributes of a meeting's record, read consistently; `None` without a record.
    async fn meeting_attributes(
        &self,
        meeting_key: &str,
        projection: &str,
    ) -> Result<Option<std::collections::HashMap<String, AttributeValue>>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.meetings_table)
            .key(PK, s(meeting_key))
            .consistent_read(true)
            .projection_expression(projection)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        Ok(out.item)
    }
}

impl MeetingOutcomes for DynamoSubmissions {
    async fn audio(&self, meeting_key: &str) -> Result<Option<ProducedAudio>> {
        let key = MeetingKey::parse(meeting_key)?;
        Ok(self.load(&key).await?.and_then(|m| m.audio))
    }

    async fn insights_stored(
        &self,
        meeting_key: &str,
        documents: &std::collections::BTreeMap<String, String>,
        summary_url: Option<&str>,
    ) -> Result<()> {
        let docs = AttributeValue::M(documents.iter().map(|(k, v)| (k.clone(), s(v))).collect());
        let mut req = self
            .client
            .update_item()
            .table_name(&self.meetings_table)
            .key(PK, s(meeting_key))
            .expression_attribute_values(":docs", docs)
            .expression_attribute_values(":now", s(&now_rfc3339()));
        req = match summary_url {
            Some(url) => req
                .update_expression("SET insights = :docs, summary_url = :url, updated_at = :now")
                .expression_attribute_values(":url", s(url)),
            None => req.update_expression("SET insights = :docs, updated_at = :now"),
        };
        req.send().await.map_err(|e| sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn email_settled(&self, meeting_key: &str, outcome: &EmailOutcome) -> Result<()> {
        let (email, detail) = match outcome {
            EmailOutcome::Sent { message_id } => (EmailState::Sent, message_id.as_str()),
            EmailOutcome::Failed { reason } => (EmailState::Failed, reason.as_str()),
        };
        self.client
            .update_item()
            .table_name(&self.meetings_table)
            .key(PK, s(meeting_key))
            // Settled: nothing is owed on the meeting any more, so it leaves the index.
            .update_expression(
                "SET email_status = :state, email_detail = :detail, emailed_at = :now, updated_at = :now REMOVE #due",
            )
            .expression_attribute_names("#due", DUE_AT)
            .expression_attribute_values(":state", super::state(email))
            .expression_attribute_values(":detail", s(detail))
            .expression_attribute_values(":now", s(&now_rfc3339()))
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn job_finished(&self, meeting_key: &str, job: JobState) -> Result<()> {
        let (step, reason) = match job {
            JobState::Completed => (Step::Transcribe, None),
            JobState::Failed => (
                Step::FailJob,
                Some("the insights provider could not process the recording (job failed)"),
            ),
            _ => return Err(Error::Invalid("job_finished() needs a terminal status".into())),
        };
        let now = now_rfc3339();
        let req = self
            .client
            .update_item()
            .table_name(&self.meetings_table)
            .key(PK, s(meeting_key));
        let (req, guard) = guarded(req, step);
        // The job record owes its email from here: the meeting leaves the index.
        let mut req = req
            .condition_expression(guard)
            .expression_attribute_names("#due", DUE_AT)
            .expression_attribute_values(":now", s(&now));
        req = match reason {
            Some(r) => req
                .update_expression(
                    "SET #st = :to, failure_reason = :r, failed_at = :now, updated_at = :now REMOVE #due",
                )
                .expression_attribute_values(":r", s(r)),
            None => req.update_expression("SET #st = :to, transcribed_at = :now, updated_at = :now REMOVE #due"),
        };
        conditional(req.send().await).map(drop)
    }

    async fn insights_failed(&self, meeting_key: &str, reason: &str) -> Result<()> {
        let now = now_rfc3339();
        let req = self
            .client
            .update_item()
            .table_name(&self.meetings_table)
            .key(PK, s(meeting_key));
        let (req, guard) = guarded(req, Step::FailInsights);
        // Not in the index: the job record owes the (failure) email.
        let res = req
            .update_expression("SET #st = :to, failure_reason = :r, failed_at = :now, updated_at = :now")
            .condition_expression(guard)
            .expression_attribute_values(":r", s(reason))
            .expression_attribute_values(":now", s(&now))
            .send()
            .await;
        // Already failed (a repeat) or restarted meanwhile: nothing to correct.
        conditional(res).map(drop)
    }

    async fn restart_deferred(&self, meeting_key: &str, now: i64) -> Result<Option<u32>> {
        let Some(item) = self.meeting_attributes(meeting_key, "next_event, email_status").await? else {
            return Ok(None);
        };
        let Some(kept) = item.get("next_event").and_then(|v| v.as_s().ok()) else {
            return Ok(None);
        };
        // Only after the email: a settle still in flight would otherwise land on the new run.
        let settled = item
            .get("email_status")
            .and_then(|v| v.as_s().ok())
            .and_then(|v| EmailState::parse(v))
            .is_some_and(|e| e != EmailState::Sending);
        if !settled {
            return Ok(None);
        }
        let event: crate::zoom::webhook::RecordingCompleted = serde_json::from_str(kept).map_err(|e| {
            Error::Invalid(format!(
                "the kept delivery of meeting {meeting_key} does not parse: {e}"
            ))
        })?;
        let claim = crate::ports::MeetingClaim::of_delivery(&event, None, now, 0);
        if claim.key.as_str() != meeting_key {
            return Err(Error::Invalid(format!(
                "the kept delivery of meeting {meeting_key} is for another meeting"
            )));
        }
        let Some(seen) = run_of(&self.client, &self.meetings_table, meeting_key).await? else {
            return Ok(None);
        };
        if !Step::Restart.from().contains(&seen.state) {
            return Ok(None);
        }
        let written = put_claim(
            &self.client,
            &self.meetings_table,
            self.retention,
            &claim,
            ClaimWrite::Restart(&seen),
        )
        .await?;
        Ok(written.then_some(seen.run + 1))
    }

    async fn adopt_job(&self, job: &SubmittedJob, now: i64) -> Result<bool> {
        let req = self
            .client
            .update_item()
            .table_name(&self.meetings_table)
            .key(PK, s(&job.meeting_key));
        let (req, guard) = guarded(req, Step::Submit);
        // Waiting for a submission and none under way; or this very job adopted before.
        let res = req
            .update_expression(
                "SET #st = :to, job_id = :j, conversation_id = :c, submitted_at = :at, adopted_at = :at, \
                 updated_at = :at REMOVE submit_claim, submit_claim_until, #due",
            )
            .condition_expression(format!(
                "({guard} AND (attribute_not_exists(submit_claim_until) OR submit_claim_until < :now)) \
                 OR (#st = :to AND job_id = :j)"
            ))
            .expression_attribute_names("#due", DUE_AT)
            .expression_attribute_values(":j", s(&job.job_id))
            .expression_attribute_values(":c", s(&job.conversation_id))
            .expression_attribute_values(":at", s(&job.submitted_at))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        conditional(res)
    }

    async fn insights_of(&self, meeting_key: &str) -> Result<Option<crate::ports::StoredInsights>> {
        let Some(item) = self.meeting_attributes(meeting_key, "insights, summary_url").await? else {
            return Ok(None);
        };
        let Some(AttributeValue::M(docs)) = item.get("insights") else {
            return Ok(None);
        };
        let documents = docs
            .iter()
            .filter_map(|(name, key)| key.as_s().ok().map(|k| (name.clone(), k.clone())))
            .collect();
        Ok(Some(crate::ports::StoredInsights {
            documents,
            summary_url: item.get("summary_url").and_then(|v| v.as_s().ok()).cloned(),
        }))
    }
}

impl crate::ports::PageRecords for DynamoSubmissions {
    async fn page_record(&self, meeting_key: &str) -> Result<Option<(ProducedAudio, crate::ports::StoredInsights)>> {
        let audio = self.audio(meeting_key).await?;
        let insights = self.insights_of(meeting_key).await?;
        Ok(audio.zip(insights))
    }
}
