//! The notifier's writes once a job ends, as [`DynamoSubmissions`](crate::aws::submissions::DynamoSubmissions) makes them.

use std::collections::BTreeMap;

use super::{MeetingRow, MemMeetings, StoredInsights};
use crate::lifecycle::{EmailState, MeetingState};
use crate::lifecycle::{JobState, Step};
use crate::meeting::ProducedAudio;
use crate::ports::{EmailOutcome, MeetingClaim, MeetingOutcomes, SubmittedJob};
use crate::{Error, Result};

impl MeetingOutcomes for MemMeetings {
    async fn job_finished(&self, meeting_key: &str, job: JobState) -> Result<()> {
        self.enter("job_finished")?;
        let (to, reason) = match job {
            JobState::Completed => (MeetingState::Transcribed, None),
            JobState::Failed => (
                MeetingState::Failed,
                Some("the insights provider could not process the recording (job failed)"),
            ),
            _ => return Err(Error::Invalid("job_finished() needs a terminal status".into())),
        };
        self.finished.lock().unwrap().push((meeting_key.into(), job));
        if let Some(row) = self.rows.lock().unwrap().get_mut(meeting_key) {
            if row.status_in(&[MeetingState::Queued, MeetingState::Submitted]) {
                row.status = to.into();
                if let Some(r) = reason {
                    row.failure_reason = Some(r.into());
                }
            }
        }
        Ok(())
    }

    async fn insights_failed(&self, meeting_key: &str, reason: &str) -> Result<()> {
        self.enter("insights_failed")?;
        if let Some(row) = self.rows.lock().unwrap().get_mut(meeting_key) {
            if row.status_in(Step::FailInsights.from()) {
                row.status = Step::FailInsights.to().into();
                row.failure_reason = Some(reason.into());
            }
        }
        Ok(())
    }

    /// Unlike the adapter, any key is accepted: tests name their meetings freely.
    async fn audio(&self, meeting_key: &str) -> Result<Option<ProducedAudio>> {
        self.enter("audio")?;
        Ok(self.row(meeting_key).and_then(|r| r.audio))
    }

    async fn insights_stored(
        &self,
        meeting_key: &str,
        documents: &BTreeMap<String, String>,
        summary_url: Option<&str>,
    ) -> Result<()> {
        self.enter("insights_stored")?;
        self.stored_insights.lock().unwrap().push(StoredInsights {
            meeting_key: meeting_key.into(),
            documents: documents.clone(),
            summary_url: summary_url.map(str::to_owned),
        });
        // An unconditional update: it creates the item if it is missing.
        let mut rows = self.rows.lock().unwrap();
        let row = rows.entry(meeting_key.into()).or_default();
        row.insights = Some(documents.clone());
        if let Some(url) = summary_url {
            row.summary_url = Some(url.into());
        }
        Ok(())
    }

    async fn email_settled(&self, meeting_key: &str, outcome: &EmailOutcome) -> Result<()> {
        self.enter("email_settled")?;
        self.emailed.lock().unwrap().push((meeting_key.into(), outcome.clone()));
        let (state, detail) = match outcome {
            EmailOutcome::Sent { message_id } => (EmailState::Sent, message_id),
            EmailOutcome::Failed { reason } => (EmailState::Failed, reason),
        };
        let mut rows = self.rows.lock().unwrap();
        let row = rows.entry(meeting_key.into()).or_default();
        row.email_status = Some(state);
        row.email_detail = Some(detail.clone());
        Ok(())
    }

    async fn restart_deferred(&self, meeting_key: &str, now: i64) -> Result<Option<u32>> {
        self.enter("restart_deferred")?;
        let mut rows = self.rows.lock().unwrap();
        let Some(row) = rows.get_mut(meeting_key) else {
            return Ok(None);
        };
        let settled = matches!(row.email_status, Some(EmailState::Sent | EmailState::Failed));
        let restartable = row.status.is_some_and(|s| Step::Restart.from().contains(&s));
        if !settled || !restartable {
            return Ok(None);
        }
        let Some(kept) = row.deferred.take() else {
            return Ok(None);
        };
        let claim = MeetingClaim::of_delivery(&kept.event, None, now, 0);
        let run = row.run.unwrap_or(1) + 1;
        *row = MeetingRow::claimed(&claim, run, row.attempt);
        Ok(Some(run))
    }

    async fn adopt_job(&self, job: &SubmittedJob, now: i64) -> Result<bool> {
        self.enter("adopt_job")?;
        let mut rows = self.rows.lock().unwrap();
        let Some(row) = rows.get_mut(&job.meeting_key) else {
            return Ok(false);
        };
        let again = row.status == Some(MeetingState::Submitted) && row.job_id.as_deref() == Some(job.job_id.as_str());
        let waiting = row.status.is_some_and(|s| Step::Submit.from().contains(&s))
            && row.submit_claim_until.is_none_or(|until| until < now);
        if !(again || waiting) {
            return Ok(false);
        }
        row.status = MeetingState::Submitted.into();
        row.job_id = Some(job.job_id.clone());
        row.conversation_id = Some(job.conversation_id.clone());
        row.submit_claim = None;
        row.submit_claim_until = None;
        row.due_at = None;
        Ok(true)
    }

    async fn insights_of(&self, meeting_key: &str) -> Result<Option<crate::ports::StoredInsights>> {
        self.enter("insights_of")?;
        Ok(self.row(meeting_key).and_then(|r| {
            r.insights.map(|documents| crate::ports::StoredInsights {
                documents,
                summary_url: r.summary_url,
            })
        }))
    }
}

impl crate::ports::PageRecords for MemMeetings {
    async fn page_record(&self, meeting_key: &str) -> Result<Option<(ProducedAudio, crate::ports::StoredInsights)>> {
        self.enter("page_record")?;
        let audio = self.audio(meeting_key).await?;
        let insights = self.insights_of(meeting_key).await?;
        Ok(audio.zip(insights))
    }
}
