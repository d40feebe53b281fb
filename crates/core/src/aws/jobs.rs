//! The jobs table: one item per Symbl job; status only moves forward.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::meetings::{expiry, EXPIRES_AT};
use super::{conditional, conditional_failed, n, query_due, s, sdk_error, state, DUE_AT};
use crate::lifecycle::{EmailState, JobState};
use crate::ports::{EmailOutcome, JobLookup, JobStore, JobView, SubmittedJob};
use crate::timefmt::now_rfc3339;
use crate::{Error, Result};

#[derive(Clone)]
pub struct DynamoJobs {
    client: Client,
    table: String,
    retention: Option<Duration>,
}

impl DynamoJobs {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoJobs {
            client,
            table: table.into(),
            retention: None,
        }
    }

    /// Job records it writes (adopted jobs) carry `expires_at` this long from now.
    pub fn expiring_after(mut self, retention: Duration) -> Self {
        self.retention = Some(retention);
        self
    }
}

/// Writes the job's record once: a record that already names its meeting is left alone (a
/// status that arrived first keeps its status).
pub(crate) async fn record_job(
    client: &Client,
    table: &str,
    retention: Option<Duration>,
    job: &SubmittedJob,
) -> Result<()> {
    let mut set = String::from(
        "SET meeting_key = :m, conversation_id = :c, submitted_at = :at, deadline = :d, \
         #st = if_not_exists(#st, :scheduled), updated_at = :now, #due = if_not_exists(#due, :d)",
    );
    if retention.is_some() {
        set.push_str(", #exp = :exp");
    }
    let mut req = client
        .update_item()
        .table_name(table)
        .key("job_id", s(&job.job_id))
        .update_expression(set)
        .condition_expression("attribute_not_exists(meeting_key)")
        .expression_attribute_names("#st", "status")
        .expression_attribute_names("#due", DUE_AT)
        .expression_attribute_values(":m", s(&job.meeting_key))
        .expression_attribute_values(":c", s(&job.conversation_id))
        .expression_attribute_values(":at", s(&job.submitted_at))
        .expression_attribute_values(":d", n(job.deadline))
        .expression_attribute_values(":scheduled", state(JobState::Scheduled))
        .expression_attribute_values(":now", s(&now_rfc3339()));
    if let Some(retention) = retention {
        req = req
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":exp", expiry(retention));
    }
    match req.send().await {
        Ok(_) => Ok(()),
        Err(e) if conditional_failed(&e) => {
            tracing::info!(job_id = %job.job_id, "job already recorded");
            Ok(())
        }
        Err(e) => Err(sdk_error("dynamodb", e)),
    }
}

fn view(item: &std::collections::HashMap<String, AttributeValue>) -> Option<JobView> {
    let text = |n: &str| item.get(n).and_then(|v| v.as_s().ok()).cloned();
    Some(JobView {
        job_id: text("job_id")?,
        // A row created by an early webhook has no meeting yet; such jobs are not ours to act on.
        meeting_key: text("meeting_key")?,
        conversation_id: text("conversation_id").unwrap_or_default(),
        status: text("status")
            .as_deref()
            .and_then(JobState::parse)
            .unwrap_or(JobState::Scheduled),
        deadline: item
            .get("deadline")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    })
}

impl JobLookup for DynamoJobs {
    async fn get(&self, job_id: &str) -> Result<Option<JobView>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("job_id", s(job_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        Ok(out.item.as_ref().and_then(view))
    }
}

impl JobStore for DynamoJobs {
    async fn adopt(&self, job: &SubmittedJob) -> Result<()> {
        record_job(&self.client, &self.table, self.retention, job).await
    }

    async fn advance(&self, job_id: &str, to: JobState) -> Result<bool> {
        if to.is_terminal() {
            return Err(Error::Invalid("advance() is for non-terminal statuses".into()));
        }
        // Allowed predecessors of `to`: strictly earlier statuses.
        let earlier: &[JobState] = match to {
            JobState::InProgress => &[JobState::Scheduled],
            _ => &[],
        };
        if earlier.is_empty() {
            return Ok(false);
        }
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("job_id", s(job_id))
            .update_expression("SET #st = :to, updated_at = :now")
            .condition_expression("attribute_exists(meeting_key) AND #st = :from")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":to", state(to))
            .expression_attribute_values(":from", state(earlier[0]))
            .expression_attribute_values(":now", s(&now_rfc3339()))
            .send()
            .await;
        conditional(res)
    }

    async fn finish(&self, job_id: &str, to: JobState) -> Result<bool> {
        if !to.is_terminal() {
            return Err(Error::Invalid("finish() is for terminal statuses".into()));
        }
        let now = now_rfc3339();
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("job_id", s(job_id))
            // Due at once: the host's email is owed.
            .update_expression("SET #st = :to, finished_at = :now, updated_at = :now, #due = :epoch")
            .condition_expression("attribute_exists(meeting_key) AND NOT #st IN (:completed, :failed)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#due", DUE_AT)
            .expression_attribute_values(":epoch", n(crate::timefmt::unix_now()))
            .expression_attribute_values(":to", state(to))
            .expression_attribute_values(":completed", state(JobState::Completed))
            .expression_attribute_values(":failed", state(JobState::Failed))
            .expression_attribute_values(":now", s(&now))
            .send()
            .await;
        conditional(res)
    }

    async fn claim_email(&self, job_id: &str, claim: &str, stale_after_secs: i64) -> Result<bool> {
        let now = crate::timefmt::unix_now();
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("job_id", s(job_id))
            // Found again once the claim is stale, if its sender died.
            .update_expression(
                "SET email_state = :sending, email_claim = :claim, email_claimed_at = :now, #due = :retry_at",
            )
            .condition_expression(
                "attribute_exists(meeting_key) AND (attribute_not_exists(email_state) \
                 OR (email_state = :sending AND email_claimed_at < :stale))",
            )
            .expression_attribute_names("#due", DUE_AT)
            .expression_attribute_values(":retry_at", n(now + stale_after_secs))
            .expression_attribute_values(":sending", state(EmailState::Sending))
            .expression_attribute_values(":claim", s(claim))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":stale", AttributeValue::N((now - stale_after_secs).to_string()))
            .send()
            .await;
        conditional(res)
    }

    async fn email_settled(&self, job_id: &str, claim: &str, outcome: &EmailOutcome) -> Result<()> {
        let (email, detail_name, detail) = match outcome {
            EmailOutcome::Sent { message_id } => (EmailState::Sent, "email_message_id", message_id.as_str()),
            EmailOutcome::Failed { reason } => (EmailState::Failed, "email_failure", reason.as_str()),
        };
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("job_id", s(job_id))
            // Settled: nothing is owed on the job, so it leaves the index.
            .update_expression("SET email_state = :state, #detail = :detail, email_settled_at = :now REMOVE #due")
            .condition_expression("email_claim = :claim")
            .expression_attribute_names("#detail", detail_name)
            .expression_attribute_names("#due", DUE_AT)
            .expression_attribute_values(":state", state(email))
            .expression_attribute_values(":detail", s(detail))
            .expression_attribute_values(":claim", s(claim))
            .expression_attribute_values(":now", s(&now_rfc3339()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if conditional_failed(&e) => {
                tracing::warn!(job_id, "email claim was taken over before it settled");
                Ok(())
            }
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }

    async fn release_email_claim(&self, job_id: &str, claim: &str) -> Result<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("job_id", s(job_id))
            .update_expression("SET #due = :later REMOVE email_state, email_claim, email_claimed_at")
            .condition_expression("email_claim = :claim AND email_state = :sending")
            .expression_attribute_names("#due", DUE_AT)
            // Behind what fell due since: one email that keeps failing cannot starve the rest.
            .expression_attribute_values(
                ":later",
                n(crate::timefmt::unix_now() + crate::lifecycle::deadline::RETRY_LATER_SECS),
            )
            .expression_attribute_values(":claim", s(claim))
            .expression_attribute_values(":sending", state(EmailState::Sending))
            .send()
            .await;
        conditional(res).map(drop)
    }

    async fn overdue(&self, now: i64) -> Result<Vec<JobView>> {
        // A job is in the index while something is owed on it: a status past its deadline,
        // or the host's email once the job is final.
        let mut due = Vec::new();
        for status in JobState::ALL {
            let items = query_due(&self.client, &self.table, status.as_str(), now, 500).await?;
            due.extend(items.iter().filter_map(view));
        }
        due.sort_by_key(|j| j.deadline);
        Ok(due)
    }
}
