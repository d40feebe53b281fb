//! The reconciler (on a schedule): jobs past their deadline are asked about and driven through
//! the path a status would have taken; owed emails are sent; meetings that failed before the
//! provider had a job end in one failure email.

use tracing::{info, info_span, warn, Instrument};
use zoom_symbl_core::ports::{
    EmailOutcome, FailedMeeting, InsightsProvider, JobStore, JobView, Mailer, MeetingFailures, MeetingOutcomes,
    ObjectStore, OutgoingEmail, Semaphore,
};
use zoom_symbl_core::timefmt::unix_now;
use zoom_symbl_core::Error;

use crate::delivery::FailureEmail;
use crate::email::{failure_email, MeetingFacts};
use crate::handler::{Notifier, Outcome};
use crate::heal::Budget;

impl<J, S, P, M, O, E> Notifier<J, S, P, M, O, E>
where
    J: JobStore,
    S: Semaphore,
    P: InsightsProvider,
    M: MeetingOutcomes + MeetingFailures,
    O: ObjectStore,
    E: Mailer,
{
    /// Jobs past their deadline without a terminal status: ask Symbl, then take the same
    /// path a webhook would have.
    pub async fn reconcile(&self, budget: Budget) -> Result<Outcome, Error> {
        let overdue = self.jobs.overdue(unix_now()).await?;
        let mut driven = 0;
        // One job that cannot be settled now must not hold up the others.
        for job in overdue {
            if budget.spent() {
                info!("time budget spent; the next run continues");
                return Ok(Outcome::Reconciled(driven));
            }
            let span = info_span!("job", job_id = %job.job_id, source = "reconciler");
            match self.reconcile_one(&job).instrument(span).await {
                Ok(true) => driven += 1,
                Ok(false) => {}
                Err(e) => warn!(job_id = %job.job_id, error = %e, "could not settle an overdue job; next round"),
            }
        }
        driven += self.reconcile_failed_meetings(budget).await?;
        Ok(Outcome::Reconciled(driven))
    }

    /// Meetings that never reached Symbl: productions that stopped without an outcome fail,
    /// and every failed meeting's host is told once.
    async fn reconcile_failed_meetings(&self, budget: Budget) -> Result<usize, Error> {
        let now = unix_now();
        match self.meetings.fail_stalled(now, self.settings.stall_grace_secs).await {
            Ok(0) => {}
            Ok(n) => warn!(count = n, "failed productions that stopped without an outcome"),
            Err(e) => warn!(error = %e, "could not look for stalled productions; next round"),
        }
        let mut told = 0;
        for failed in self
            .meetings
            .unnotified_failures(now, self.settings.email_claim_stale_secs)
            .await?
        {
            if budget.spent() {
                info!("time budget spent; the next run continues");
                break;
            }
            let span = info_span!("meeting", meeting_key = %failed.meeting_key, source = "reconciler");
            match self.tell_failure(&failed).instrument(span).await {
                Ok(true) => told += 1,
                Ok(false) => {}
                Err(e) => {
                    warn!(meeting_key = %failed.meeting_key, error = %e, "could not tell the host yet; next round")
                }
            }
        }
        Ok(told)
    }

    /// One failure email per failed meeting (see [`Notifier::email_once`]).
    async fn tell_failure(&self, failed: &FailedMeeting) -> Result<bool, Error> {
        let ledger = FailureEmail {
            meetings: &self.meetings,
            meeting_key: &failed.meeting_key,
            stale_secs: self.settings.email_claim_stale_secs,
        };
        let outcome = self
            .email_once("failure", &ledger, async { failure_notice(failed) })
            .await?;
        if let Some(outcome) = &outcome {
            info!(reason = %failed.reason, ?outcome, "told the host their meeting failed");
        }
        Ok(matches!(outcome, Some(EmailOutcome::Sent { .. })))
    }

    async fn reconcile_one(&self, job: &JobView) -> Result<bool, Error> {
        // Finished and confirmed earlier, but the host's email is still owed.
        if job.status.is_terminal() {
            self.finish(job, job.status).await?;
            return Ok(true);
        }
        let status = self.provider.job_state(job.as_ref()).await?;
        if !status.is_terminal() {
            info!(?status, "overdue job still running at the provider");
            return Ok(false);
        }
        self.finish(job, status).await?;
        Ok(true)
    }
}

/// The failure email for a meeting that never reached the provider.
pub(crate) fn failure_notice(failed: &FailedMeeting) -> Result<OutgoingEmail, Error> {
    if failed.host_email.trim().is_empty() {
        return Err(Error::Invalid("the meeting has no host email".into()));
    }
    let facts = MeetingFacts {
        topic: &failed.topic,
        start_time: &failed.start_time,
        timezone: failed.timezone.as_deref(),
        duration_secs: 0.0,
        participants: Vec::new(),
        talk: Vec::new(),
    };
    let rendered = failure_email(&facts, &failed.reason);
    Ok(OutgoingEmail {
        to: failed.host_email.clone(),
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        stable_id: crate::email::stable_id(crate::email::EmailKind::Failure, &failed.meeting_key, failed.run),
    })
}
