//! A job's status, applied once and in order. Terminal statuses are confirmed with the
//! provider before anything happens, and every terminal status releases the job's concurrency
//! slot (idempotently: a retry after a crash releases what is still held, nothing more).

use std::collections::BTreeMap;

use tracing::{info, info_span, warn, Instrument};
use zoom_symbl_core::error::Retry;
use zoom_symbl_core::insights::Insights;
use zoom_symbl_core::lifecycle::JobState;
use zoom_symbl_core::meeting::ProducedAudio;
use zoom_symbl_core::ports::{
    InsightsProvider, JobStore, JobView, Mailer, MeetingFailures, MeetingOutcomes, ObjectStore, OutgoingEmail,
    Semaphore, StatusEvent,
};
use zoom_symbl_core::Error;

use crate::delivery::JobEmail;
use crate::email::{failure_email, insights_email, MeetingFacts};
use crate::handler::{Notifier, Outcome};

impl<J, S, P, M, O, E> Notifier<J, S, P, M, O, E>
where
    J: JobStore,
    S: Semaphore,
    P: InsightsProvider,
    M: MeetingOutcomes + MeetingFailures,
    O: ObjectStore,
    E: Mailer,
{
    pub async fn apply(&self, event: StatusEvent) -> Result<Outcome, Error> {
        let span = info_span!("job", job_id = %event.job_id, source = %event.source);
        async {
            let Some(job) = self.jobs.get(&event.job_id).await? else {
                info!("no such job; ignored");
                return Ok(Outcome::UnknownJob);
            };
            if !event.status.is_terminal() {
                return Ok(Outcome::Advanced(self.jobs.advance(&job.job_id, event.status).await?));
            }
            if job.status.is_terminal() {
                // Confirmed when it ended; a repeat only makes sure nothing is left undone.
                return self.finish(&job, job.status).await;
            }
            // Symbl signs nothing: a terminal status is acted on only once Symbl confirms it.
            let confirmed = self.symbl.job_state(&job.job_id).await?;
            if !confirmed.is_terminal() {
                warn!(claimed = ?event.status, ?confirmed, "terminal status not confirmed by Symbl");
                self.jobs.advance(&job.job_id, confirmed).await?;
                return Ok(Outcome::NotTerminalYet(confirmed));
            }
            self.finish(&job, confirmed).await
        }
        .instrument(span)
        .await
    }

    /// A confirmed terminal status: the job ends once, its slot is released (idempotently),
    /// the meeting records the outcome and the host is told.
    pub(crate) async fn finish(&self, job: &JobView, status: JobState) -> Result<Outcome, Error> {
        let first = self.jobs.finish(&job.job_id, status).await?;
        if self.semaphore.release(&job.meeting_key).await? {
            info!(meeting_key = %job.meeting_key, "released the concurrency slot");
        }
        self.meetings.job_finished(&job.meeting_key, status).await?;
        info!(?status, first, "job finished");
        self.email_host(job, status).await?;
        Ok(Outcome::Finished { status, first })
    }

    /// Exactly one email per job (see [`Notifier::email_once`]).
    async fn email_host(&self, job: &JobView, status: JobState) -> Result<(), Error> {
        let ledger = JobEmail {
            jobs: &self.jobs,
            meetings: &self.meetings,
            job,
            stale_secs: self.settings.email_claim_stale_secs,
        };
        self.email_once("insights", &ledger, self.job_email(job, status))
            .await?;
        Ok(())
    }

    /// The email for a finished job: its insights (stored first) or the news that it failed.
    async fn job_email(&self, job: &JobView, status: JobState) -> Result<OutgoingEmail, Error> {
        let audio = self
            .meetings
            .audio(&job.meeting_key)
            .await?
            .ok_or_else(|| Error::Invalid("the meeting record has no audio details".into()))?;
        if audio.host_email.trim().is_empty() {
            return Err(Error::Invalid("the meeting has no host email".into()));
        }
        let facts = MeetingFacts::of(&audio);
        let rendered = match status {
            JobState::Completed => {
                let (insights, page) = self.store_insights(job, &audio).await?;
                insights_email(&facts, &insights, page.as_deref())
            }
            _ => failure_email(
                &facts,
                "Symbl could not process the recording (the transcription job failed).",
            ),
        };
        Ok(OutgoingEmail {
            to: audio.host_email.clone(),
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
        })
    }

    /// Fetches the finished job's insights, keeps the provider's documents beside the meeting,
    /// makes the provider's page where it has one, and records where they all are.
    async fn store_insights(&self, job: &JobView, audio: &ProducedAudio) -> Result<(Insights, Option<String>), Error> {
        let report = self.symbl.insights(&job.conversation_id).await?;
        let mut documents = BTreeMap::new();
        let prefix = format!("meetings/{}/insights/", job.meeting_key);
        for (name, doc) in &report.documents {
            let key = format!("{prefix}{name}.json");
            let bytes = serde_json::to_vec_pretty(doc).map_err(|e| Error::Invalid(e.to_string()))?;
            self.objects
                .put_stream(&audio.merged_bucket, &key, "application/json", bytes.as_slice())
                .await?;
            documents.insert((*name).to_owned(), key);
        }
        let media = self
            .objects
            .presign_get(&audio.merged_bucket, &audio.mixdown_key, self.settings.media_url_ttl)
            .await?;
        let page = match self
            .symbl
            .summary_page(&job.conversation_id, &media, self.settings.summary_page_ttl_secs)
            .await
        {
            Ok(url) => Some(url),
            // The insights are worth sending without the page; a transient failure is retried.
            Err(e) if e.retry() == Retry::Retryable => return Err(e.into()),
            Err(e) => {
                warn!(error = %e, "no summary page; emailing without its link");
                None
            }
        };
        self.meetings
            .insights_stored(&job.meeting_key, &documents, page.as_deref())
            .await?;
        Ok((report.insights, page))
    }
}
