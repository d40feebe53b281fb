//! The reconciler's view of meetings that failed before Symbl, as
//! [`aws::failures`](crate::aws::failures) keeps it.

use super::{MeetingRow, MemMeetings};
use crate::lifecycle::{EmailState, MeetingState};
use crate::ports::{FailedMeeting, MeetingFailures};
use crate::Result;

impl MeetingRow {
    /// Failed, not handed to Symbl, and the host not told (or a claim on it gone stale).
    fn unnotified(&self, now: i64, stale_secs: i64) -> bool {
        self.status == Some(MeetingState::Failed)
            && self.job_id.is_none()
            && match self.email_status {
                None => true,
                Some(EmailState::Sending) => self.email_claimed_at.is_some_and(|at| at < now - stale_secs),
                Some(_) => false,
            }
    }

    fn stalled(&self, cutoff: i64) -> bool {
        self.status_in(&[MeetingState::Producing, MeetingState::Retrying])
            && self.lease_until.is_some_and(|l| l < cutoff)
    }
}

impl MeetingFailures for MemMeetings {
    async fn fail_stalled(&self, now: i64, grace_secs: i64) -> Result<usize> {
        self.enter("fail_stalled")?;
        let mut failed = 0;
        for row in self.rows.lock().unwrap().values_mut() {
            if !row.stalled(now - grace_secs) {
                continue;
            }
            let attempt = row.attempt.map_or_else(|| "?".to_owned(), |a| a.to_string());
            let reason = match row.failure_reason.as_deref() {
                None | Some("") => {
                    format!("the audio could not be prepared: attempt {attempt} stopped without finishing (timeout or crash)")
                }
                Some(last) => format!("{last} (not retried after attempt {attempt})"),
            };
            row.status = MeetingState::Failed.into();
            row.failure_reason = Some(reason);
            failed += 1;
        }
        Ok(failed)
    }

    async fn unnotified_failures(&self, now: i64, stale_secs: i64) -> Result<Vec<FailedMeeting>> {
        self.enter("unnotified_failures")?;
        let rows = self.rows.lock().unwrap();
        Ok(rows
            .iter()
            .filter(|(_, r)| r.unnotified(now, stale_secs))
            .map(|(key, r)| r.facts(key))
            .collect())
    }

    async fn meeting_facts(&self, meeting_key: &str) -> Result<Option<(MeetingState, FailedMeeting)>> {
        self.enter("meeting_facts")?;
        let rows = self.rows.lock().unwrap();
        Ok(rows
            .get(meeting_key)
            .and_then(|r| Some((r.status?, r.facts(meeting_key)))))
    }

    async fn claim_failure_email(&self, meeting_key: &str, claim: &str, now: i64, stale_secs: i64) -> Result<bool> {
        self.enter("claim_failure_email")?;
        let mut rows = self.rows.lock().unwrap();
        match rows.get_mut(meeting_key) {
            Some(row) if row.unnotified(now, stale_secs) => {
                row.email_status = Some(EmailState::Sending);
                row.email_claim = Some(claim.into());
                row.email_claimed_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release_failure_email(&self, meeting_key: &str, claim: &str) -> Result<()> {
        self.enter("release_failure_email")?;
        if let Some(row) = self.rows.lock().unwrap().get_mut(meeting_key) {
            if row.email_status == Some(EmailState::Sending) && row.email_claim.as_deref() == Some(claim) {
                row.email_status = None;
                row.email_claim = None;
                row.email_claimed_at = None;
            }
        }
        Ok(())
    }
}

impl MeetingRow {
    /// The row's facts as the failure email shows them.
    fn facts(&self, key: &str) -> FailedMeeting {
        FailedMeeting {
            meeting_key: key.to_owned(),
            topic: self.topic.clone(),
            host_email: self.host_email.clone(),
            start_time: self
                .start_time
                .clone()
                .filter(|t| !t.is_empty())
                .or_else(|| self.received_at.clone())
                .unwrap_or_default(),
            reason: self.failure_reason.clone().unwrap_or_default(),
            timezone: self
                .claim
                .as_ref()
                .and_then(|c| c.event.payload.object.timezone.clone()),
            run: self.run.unwrap_or(1),
        }
    }
}
