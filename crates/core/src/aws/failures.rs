//! Meetings that failed before Symbl had a job: the reconciler fails productions that
//! stopped without an outcome and tells each host once (claim before sending).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::meetings::PK;
use super::submissions::DynamoSubmissions;
use super::{conditional, guarded, n, query_due, s, sdk_error, state, DUE_AT};
use crate::lifecycle::{deadline, EmailState, MeetingState, Step};
use crate::ports::{FailedMeeting, MeetingFailures};
use crate::timefmt::now_rfc3339;
use crate::{Error, Result};

type Item = HashMap<String, AttributeValue>;

fn text(item: &Item, name: &str) -> String {
    item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
}

/// Failed, not handed to Symbl, and the host not told (or a claim on it gone stale).
const UNNOTIFIED: &str = "#st = :failed AND attribute_not_exists(job_id) AND (attribute_not_exists(email_status) \
                          OR (email_status = :sending AND email_claimed_at < :stale))";

/// A meeting record's facts as the failure email shows them.
fn failed_meeting(i: &HashMap<String, AttributeValue>) -> FailedMeeting {
    FailedMeeting {
        meeting_key: text(i, PK),
        topic: text(i, "topic"),
        host_email: text(i, "host_email"),
        start_time: Some(text(i, "start_time"))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| text(i, "received_at")),
        timezone: Some(text(i, "timezone")).filter(|t| !t.is_empty()),
        reason: text(i, "failure_reason"),
        run: i
            .get(super::meetings::RUN)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
    }
}

impl MeetingFailures for DynamoSubmissions {
    async fn fail_stalled(&self, now: i64, grace_secs: i64) -> Result<usize> {
        let mut failed = 0;
        for from in Step::FailStalled.from() {
            // `due_at` of a production is its lease; the grace is Lambda's retry's to come.
            let stalled = query_due(&self.client, &self.meetings_table, from.as_str(), now - grace_secs, 500).await?;
            for item in stalled {
                if self.fail_one_stalled(&item, now, grace_secs).await? {
                    failed += 1;
                }
            }
        }
        Ok(failed)
    }

    async fn unnotified_failures(&self, now: i64, _stale_secs: i64) -> Result<Vec<FailedMeeting>> {
        // A failed meeting is in the index while its email is owed: at once, or once a claim on it went stale.
        let items = query_due(
            &self.client,
            &self.meetings_table,
            MeetingState::Failed.as_str(),
            now + 1,
            500,
        )
        .await?;
        Ok(items
            .iter()
            .filter(|i| !i.contains_key("job_id"))
            .map(failed_meeting)
            .collect())
    }

    async fn meeting_facts(&self, meeting_key: &str) -> Result<Option<(MeetingState, FailedMeeting)>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.meetings_table)
            .key(PK, s(meeting_key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        let Some(item) = out.item else { return Ok(None) };
        let state = MeetingState::parse(&text(&item, "status"))
            .ok_or_else(|| Error::Invalid(format!("meeting {meeting_key} has no known status")))?;
        Ok(Some((state, failed_meeting(&item))))
    }

    async fn claim_failure_email(&self, meeting_key: &str, claim: &str, now: i64, stale_secs: i64) -> Result<bool> {
        let res = self
            .client
            .update_item()
            .table_name(&self.meetings_table)
            .key(PK, s(meeting_key))
            .update_expression(
                "SET email_status = :sending, email_claim = :claim, email_claimed_at = :now, #due = :retry_at",
            )
            .condition_expression(UNNOTIFIED)
            .expression_attribute_names("#due", DUE_AT)
            // Found again once the claim is stale, if its sender died.
            .expression_attribute_values(":retry_at", n(now + stale_secs))
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":failed", state(MeetingState::Failed))
            .expression_attribute_values(":sending", state(EmailState::Sending))
            .expression_attribute_values(":stale", n(now - stale_secs))
            .expression_attribute_values(":claim", s(claim))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        conditional(res)
    }

    async fn release_failure_email(&self, meeting_key: &str, claim: &str) -> Result<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.meetings_table)
            .key(PK, s(meeting_key))
            .update_expression("SET #due = :later REMOVE email_status, email_claim, email_claimed_at")
            .condition_expression("email_status = :sending AND email_claim = :claim")
            .expression_attribute_names("#due", DUE_AT)
            // Behind what fell due since: one email that keeps failing cannot starve the rest.
            .expression_attribute_values(":later", n(crate::timefmt::unix_now() + deadline::RETRY_LATER_SECS))
            .expression_attribute_values(":sending", state(EmailState::Sending))
            .expression_attribute_values(":claim", s(claim))
            .send()
            .await;
        conditional(res).map(drop)
    }
}

impl DynamoSubmissions {
    /// Fails one stalled production, if it is still stalled: an attempt that came back to
    /// life in between keeps the meeting.
    async fn fail_one_stalled(&self, item: &Item, now: i64, grace_secs: i64) -> Result<bool> {
        let key = text(item, PK);
        let attempt = item
            .get("attempt")
            .and_then(|v| v.as_n().ok())
            .cloned()
            .unwrap_or_else(|| "?".into());
        let reason = match text(item, "failure_reason") {
            last if last.is_empty() => {
                format!(
                    "the audio could not be prepared: attempt {attempt} stopped without finishing (timeout or crash)"
                )
            }
            last => format!("{last} (not retried after attempt {attempt})"),
        };
        let req = self
            .client
            .update_item()
            .table_name(&self.meetings_table)
            .key(PK, s(&key));
        let (req, guard) = guarded(req, Step::FailStalled);
        let res = req
            .update_expression(
                "SET #st = :to, failure_reason = :reason, failed_at = :now, updated_at = :now, #due = :epoch",
            )
            .condition_expression(format!("{guard} AND lease_until < :cutoff"))
            .expression_attribute_names("#due", DUE_AT)
            .expression_attribute_values(":reason", s(&reason))
            .expression_attribute_values(":now", s(&now_rfc3339()))
            .expression_attribute_values(":epoch", n(now))
            .expression_attribute_values(":cutoff", n(now - grace_secs))
            .send()
            .await;
        let failed = conditional(res)?;
        if failed {
            tracing::warn!(meeting_key = %key, %reason, "production stalled; the meeting has failed");
        }
        Ok(failed)
    }
}
