//! The host's email, sent exactly once: claim it, send it, settle it. The insights email (its
//! claim on the job) and the failure email (its claim on the meeting) share this protocol.

use std::future::Future;

use tracing::{error, info, warn};
use zoom_symbl_core::error::Retry;
use zoom_symbl_core::ports::{
    EmailOutcome, InsightsProvider, JobStore, JobView, Mailer, MeetingFailures, MeetingOutcomes, ObjectStore,
    OutgoingEmail, Semaphore,
};
use zoom_symbl_core::timefmt::unix_now;
use zoom_symbl_core::Error;

use crate::handler::Notifier;

/// Tries at recording an email's outcome within one invocation.
const SETTLE_ATTEMPTS: u32 = 3;

/// Where an email's claim and outcome are kept.
pub(crate) trait EmailLedger: Sync {
    /// `false` when the email was settled, or another sender holds a live claim.
    fn claim(&self, claim: &str) -> impl Future<Output = Result<bool, Error>> + Send;
    /// Gives the claim back after a temporary failure, so a retry can take it at once.
    fn release(&self, claim: &str) -> impl Future<Output = Result<(), Error>> + Send;
    fn settle(&self, claim: &str, outcome: &EmailOutcome) -> impl Future<Output = Result<(), Error>> + Send;
}

/// The insights (or job-failed) email: claimed on the job, its outcome kept on both records.
pub(crate) struct JobEmail<'a, J, M> {
    pub jobs: &'a J,
    pub meetings: &'a M,
    pub job: &'a JobView,
    pub stale_secs: i64,
}

impl<J: JobStore, M: MeetingOutcomes> EmailLedger for JobEmail<'_, J, M> {
    async fn claim(&self, claim: &str) -> Result<bool, Error> {
        self.jobs.claim_email(&self.job.job_id, claim, self.stale_secs).await
    }

    async fn release(&self, claim: &str) -> Result<(), Error> {
        self.jobs.release_email_claim(&self.job.job_id, claim).await
    }

    async fn settle(&self, claim: &str, outcome: &EmailOutcome) -> Result<(), Error> {
        self.jobs.email_settled(&self.job.job_id, claim, outcome).await?;
        self.meetings.email_settled(&self.job.meeting_key, outcome).await
    }
}

/// The email for a meeting that failed before the provider had a job: claimed on the meeting.
pub(crate) struct FailureEmail<'a, M> {
    pub meetings: &'a M,
    pub meeting_key: &'a str,
    pub stale_secs: i64,
}

impl<M: MeetingOutcomes + MeetingFailures> EmailLedger for FailureEmail<'_, M> {
    async fn claim(&self, claim: &str) -> Result<bool, Error> {
        let now = unix_now();
        self.meetings
            .claim_failure_email(self.meeting_key, claim, now, self.stale_secs)
            .await
    }

    async fn release(&self, claim: &str) -> Result<(), Error> {
        self.meetings.release_failure_email(self.meeting_key, claim).await
    }

    async fn settle(&self, _claim: &str, outcome: &EmailOutcome) -> Result<(), Error> {
        self.meetings.email_settled(self.meeting_key, outcome).await
    }
}

impl<J, S, P, M, O, E> Notifier<J, S, P, M, O, E>
where
    J: JobStore,
    S: Semaphore,
    P: InsightsProvider,
    M: MeetingOutcomes + MeetingFailures,
    O: ObjectStore,
    E: Mailer,
{
    /// Claims the email on `ledger`, then composes and sends it. A retryable failure gives the
    /// claim back and is returned, so Lambda (and then the reconciler) tries again; any other
    /// is settled as the email's failure, with its reason. `None`: not ours to send.
    pub(crate) async fn email_once(
        &self,
        what: &str,
        ledger: &impl EmailLedger,
        compose: impl Future<Output = Result<OutgoingEmail, Error>>,
    ) -> Result<Option<EmailOutcome>, Error> {
        let claim = uuid::Uuid::new_v4().to_string();
        if !ledger.claim(&claim).await? {
            info!(
                what,
                "the email is sent, failed for good, or being sent by another invocation"
            );
            return Ok(None);
        }
        let sent = match compose.await {
            Ok(email) => self.send(&email).await,
            Err(e) => Err(e),
        };
        let outcome = match sent {
            Ok(message_id) => EmailOutcome::Sent { message_id },
            Err(e) if e.retry() == Retry::Retryable => {
                warn!(what, error = %e, "the email failed for now; giving the claim back for a retry");
                ledger.release(&claim).await?;
                return Err(e);
            }
            Err(e) => {
                let reason = e.reason();
                error!(what, %reason, "the email cannot be sent");
                EmailOutcome::Failed { reason }
            }
        };
        self.settle(what, ledger, &claim, &outcome).await?;
        if let EmailOutcome::Sent { message_id } = &outcome {
            info!(what, %message_id, "emailed the host");
        }
        Ok(Some(outcome))
    }

    /// Records how the email ended, retrying a failing write a few times: a settle given up
    /// leaves the claim to go stale, and the email is sent again (with the same Message-ID,
    /// so the host's mail client folds the two).
    async fn settle(
        &self,
        what: &str,
        ledger: &impl EmailLedger,
        claim: &str,
        outcome: &EmailOutcome,
    ) -> Result<(), Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match ledger.settle(claim, outcome).await {
                Ok(()) => return Ok(()),
                Err(e) if e.retry() == Retry::Retryable && attempt < SETTLE_ATTEMPTS => {
                    warn!(what, error = %e, attempt, "could not record the email's outcome; retrying");
                    tokio::time::sleep(self.settings.smtp_backoff * attempt).await;
                }
                Err(e) => {
                    error!(what, error = %e, "could not record the email's outcome; it is sent again once its claim goes stale");
                    return Err(e);
                }
            }
        }
    }

    /// Sends, retrying a temporarily refusing relay a few times within this invocation.
    pub(crate) async fn send(&self, email: &OutgoingEmail) -> Result<String, Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.mailer.send(email).await {
                Ok(id) => return Ok(id),
                Err(e) if e.retry() == Retry::Retryable && attempt < self.settings.smtp_attempts => {
                    warn!(reason = %e, attempt, "SMTP refused for now; retrying");
                    tokio::time::sleep(self.settings.smtp_backoff * attempt).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
