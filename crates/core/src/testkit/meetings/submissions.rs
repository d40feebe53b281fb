//! The consumer's view, as [`DynamoSubmissions`](crate::aws::submissions::DynamoSubmissions) keeps it.

use super::MemMeetings;
use crate::lifecycle::{deadline, MeetingState};
use crate::meeting_key::MeetingKey;
use crate::ports::{QueuedMeeting, SubmissionStore, SubmittedJob};
use crate::Result;

impl SubmissionStore for MemMeetings {
    async fn load(&self, key: &MeetingKey) -> Result<Option<QueuedMeeting>> {
        self.enter("load")?;
        Ok(self.row(key.as_str()).map(|r| QueuedMeeting {
            status: r.status,
            audio: r.audio,
            job_id: r.job_id,
        }))
    }

    async fn claim_submission(&self, key: &MeetingKey, claim: &str, until: i64) -> Result<bool> {
        self.enter("claim_submission")?;
        let now = self.clock.now();
        let mut rows = self.rows.lock().unwrap();
        match rows.get_mut(key.as_str()) {
            Some(row)
                if row.status_in(&[MeetingState::Queued, MeetingState::Produced])
                    && row.submit_claim_until.is_none_or(|u| u < now) =>
            {
                row.submit_claim = Some(claim.into());
                row.submit_claim_until = Some(until);
                row.due_at = Some(now.max(until).saturating_add(deadline::QUEUED_SECS));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release_submission(&self, key: &MeetingKey, claim: &str) -> Result<()> {
        self.enter("release_submission")?;
        if let Some(row) = self.rows.lock().unwrap().get_mut(key.as_str()) {
            // Not ours when it lapsed and another delivery holds it now.
            if row.submit_claim.as_deref() == Some(claim) {
                row.submit_claim = None;
                row.submit_claim_until = None;
            }
        }
        Ok(())
    }

    async fn record_submission(&self, job: &SubmittedJob) -> Result<()> {
        self.enter("record_submission")?;
        self.submissions.lock().unwrap().push(job.clone());
        // The job's row first, once, even if a webhook created it already.
        self.jobs.record(job);
        if let Some(row) = self.rows.lock().unwrap().get_mut(&job.meeting_key) {
            // A webhook-driven notifier may already have moved the meeting further.
            if row.status_in(&[MeetingState::Queued, MeetingState::Produced]) {
                row.status = MeetingState::Submitted.into();
                row.due_at = None;
                row.job_id = Some(job.job_id.clone());
                row.conversation_id = Some(job.conversation_id.clone());
                row.submit_claim = None;
                row.submit_claim_until = None;
            }
        }
        Ok(())
    }

    async fn fail_submission(&self, key: &MeetingKey, reason: &str) -> Result<()> {
        self.enter("fail_submission")?;
        if let Some(row) = self.rows.lock().unwrap().get_mut(key.as_str()) {
            if row.status_in(&[MeetingState::Queued, MeetingState::Produced]) {
                row.status = MeetingState::Failed.into();
                row.failure_reason = Some(reason.into());
            }
        }
        Ok(())
    }
}
