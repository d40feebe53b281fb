//! A Symbl job's status, applied once and in order. Terminal statuses are confirmed with
//! Symbl before anything happens, and every terminal status releases the job's concurrency
//! slot (idempotently: a retry after a crash releases what is still held, nothing more).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use tracing::{error, info, info_span, warn, Instrument};
use zoom_symbl_core::error::Retry;
use zoom_symbl_core::lifecycle::JobState;
use zoom_symbl_core::ports::{
    EmailOutcome, FailedMeeting, InsightsProvider, JobStore, JobView, Mailer, MeetingFailures, MeetingOutcomes,
    ObjectStore, OutgoingEmail, Semaphore, StatusEvent,
};
use zoom_symbl_core::timefmt::unix_now;
use zoom_symbl_core::Error;

use crate::email::{failure_email, insights_email, MeetingFacts};

#[derive(Debug, Clone)]
pub struct Settings {
    /// How long the summary page's own link lives (Symbl's `summaryURLExpiresIn`).
    pub summary_page_ttl_secs: u64,
    /// How long the page's audio link (a presigned URL of the mixdown) lives.
    pub media_url_ttl: Duration,
    /// A claim on the email older than this is taken to be from a notifier that died.
    pub email_claim_stale_secs: i64,
    /// Attempts at a temporarily failing SMTP relay within one invocation.
    pub smtp_attempts: u32,
    pub smtp_backoff: Duration,
    /// A production whose lease lapsed this long ago, with no attempt running, has failed:
    /// longer than Lambda's retries take to come.
    pub stall_grace_secs: i64,
}

/// What invokes the notifier: a status (from symbl-webhook) or the reconciler's schedule.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Trigger {
    Status(StatusEvent),
    Schedule(ScheduleEvent),
}

/// EventBridge's scheduled event; only its presence matters.
#[derive(Debug, Deserialize)]
pub struct ScheduleEvent {
    #[serde(rename = "detail-type")]
    pub detail_type: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    UnknownJob,
    Advanced(bool),
    /// The webhook said terminal, Symbl does not (yet).
    NotTerminalYet(JobState),
    Finished {
        status: JobState,
        first: bool,
    },
    Reconciled(usize),
}

pub struct Notifier<J, S, P, M, O, E> {
    pub jobs: J,
    pub semaphore: S,
    pub symbl: P,
    pub meetings: M,
    pub objects: O,
    pub mailer: E,
    pub settings: Settings,
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
    pub async fn handle(&self, trigger: Trigger) -> Result<Outcome, Error> {
        match trigger {
            Trigger::Status(event) => self.apply(event).await,
            Trigger::Schedule(s) => {
                info!(trigger = %s.detail_type, "reconciling overdue jobs");
                self.reconcile().await
            }
        }
    }

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
    async fn finish(&self, job: &JobView, status: JobState) -> Result<Outcome, Error> {
        let first = self.jobs.finish(&job.job_id, status).await?;
        if self.semaphore.release(&job.meeting_key).await? {
            info!(meeting_key = %job.meeting_key, "released the concurrency slot");
        }
        self.meetings.job_finished(&job.meeting_key, status).await?;
        info!(?status, first, "job finished");
        self.email_host(job, status).await?;
        Ok(Outcome::Finished { status, first })
    }

    /// Exactly one email per job: claim before sending, record after. A temporary failure
    /// gives the claim back and fails the invocation, so Lambda (and then the reconciler)
    /// tries again; a permanent one is recorded and ends it.
    async fn email_host(&self, job: &JobView, status: JobState) -> Result<(), Error> {
        let claim = uuid::Uuid::new_v4().to_string();
        if !self
            .jobs
            .claim_email(&job.job_id, &claim, self.settings.email_claim_stale_secs)
            .await?
        {
            info!("the host's email is sent, failed for good, or being sent by another invocation");
            return Ok(());
        }
        let result = self.compose_and_send(job, status).await;
        let outcome = match result {
            Ok(message_id) => EmailOutcome::Sent { message_id },
            Err(e) if e.retry() == Retry::Retryable => {
                warn!(error = %e, "the host's email failed for now; giving the claim back for a retry");
                self.jobs.release_email_claim(&job.job_id, &claim).await?;
                return Err(e);
            }
            Err(e) => {
                let reason = e.reason();
                error!(%reason, "the host's email cannot be sent");
                EmailOutcome::Failed { reason }
            }
        };
        self.jobs.email_settled(&job.job_id, &claim, &outcome).await?;
        self.meetings.email_settled(&job.meeting_key, &outcome).await?;
        if let EmailOutcome::Sent { message_id } = &outcome {
            info!(%message_id, "emailed the host");
        }
        Ok(())
    }

    /// A retryable error keeps the email owed; any other settles it as failed, with its reason.
    async fn compose_and_send(&self, job: &JobView, status: JobState) -> Result<String, Error> {
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
                insights_email(&facts, &report.insights, page.as_deref())
            }
            _ => failure_email(
                &facts,
                "Symbl could not process the recording (the transcription job failed).",
            ),
        };
        let email = OutgoingEmail {
            to: audio.host_email.clone(),
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
        };
        self.send(&email).await
    }

    /// Sends, retrying a temporarily refusing relay a few times within this invocation.
    async fn send(&self, email: &OutgoingEmail) -> Result<String, Error> {
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

    /// Jobs past their deadline without a terminal status: ask Symbl, then take the same
    /// path a webhook would have.
    pub async fn reconcile(&self) -> Result<Outcome, Error> {
        let overdue = self.jobs.overdue(unix_now()).await?;
        let mut driven = 0;
        // One job that cannot be settled now must not hold up the others.
        for job in overdue {
            let span = info_span!("job", job_id = %job.job_id, source = "reconciler");
            match self.reconcile_one(&job).instrument(span).await {
                Ok(true) => driven += 1,
                Ok(false) => {}
                Err(e) => warn!(job_id = %job.job_id, error = %e, "could not settle an overdue job; next round"),
            }
        }
        driven += self.reconcile_failed_meetings().await?;
        Ok(Outcome::Reconciled(driven))
    }

    /// Meetings that never reached Symbl: productions that stopped without an outcome fail,
    /// and every failed meeting's host is told once.
    async fn reconcile_failed_meetings(&self) -> Result<usize, Error> {
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

    /// One failure email per failed meeting: claim, send, record (as for jobs).
    async fn tell_failure(&self, failed: &FailedMeeting) -> Result<bool, Error> {
        let claim = uuid::Uuid::new_v4().to_string();
        let now = unix_now();
        if !self
            .meetings
            .claim_failure_email(&failed.meeting_key, &claim, now, self.settings.email_claim_stale_secs)
            .await?
        {
            return Ok(false);
        }
        let outcome = if failed.host_email.trim().is_empty() {
            EmailOutcome::Failed {
                reason: "the meeting has no host email".into(),
            }
        } else {
            let facts = MeetingFacts {
                topic: &failed.topic,
                start_time: &failed.start_time,
                duration_secs: 0.0,
                participants: Vec::new(),
            };
            let rendered = failure_email(&facts, &failed.reason);
            let email = OutgoingEmail {
                to: failed.host_email.clone(),
                subject: rendered.subject,
                text: rendered.text,
                html: rendered.html,
            };
            match self.send(&email).await {
                Ok(message_id) => EmailOutcome::Sent { message_id },
                Err(e) if e.retry() == Retry::Retryable => {
                    self.meetings.release_failure_email(&failed.meeting_key, &claim).await?;
                    return Err(e);
                }
                Err(e) => {
                    let reason = e.reason();
                    error!(%reason, "the host's failure email cannot be sent");
                    EmailOutcome::Failed { reason }
                }
            }
        };
        self.meetings.email_settled(&failed.meeting_key, &outcome).await?;
        info!(reason = %failed.reason, ?outcome, "told the host their meeting failed");
        Ok(matches!(outcome, EmailOutcome::Sent { .. }))
    }

    async fn reconcile_one(&self, job: &JobView) -> Result<bool, Error> {
        // Finished and confirmed earlier, but the host's email is still owed.
        if job.status.is_terminal() {
            self.finish(job, job.status).await?;
            return Ok(true);
        }
        let status = self.symbl.job_state(&job.job_id).await?;
        if !status.is_terminal() {
            info!(?status, "overdue job still running at Symbl");
            return Ok(false);
        }
        self.finish(job, status).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use zoom_symbl_core::lifecycle::{EmailState, MeetingState};
    use zoom_symbl_core::ports::MailError;
    use zoom_symbl_core::testkit::{
        samples, AudioBuilder, Faults, MeetingRow, MemInsights, MemJobs, MemMailer, MemMeetings, MemObjects,
        MemSemaphore,
    };

    use super::*;

    type Subject = Notifier<MemJobs, MemSemaphore, MemInsights, MemMeetings, MemObjects, MemMailer>;

    /// Meeting "m", submitted to Symbl as job "j", its audio ready for the email.
    fn submitted_meeting() -> MeetingRow {
        let audio = AudioBuilder::sample()
            .topic("Weekly sync")
            .host_email("host@example.com")
            .duration_secs(600.0)
            .speakers(&["Dana"])
            .build();
        MeetingRow {
            status: Some(MeetingState::Submitted),
            job_id: Some("j".into()),
            conversation_id: Some("c".into()),
            ..MeetingRow::queued(audio)
        }
    }

    /// Job "j" of meeting "m" (scheduled, due at `deadline`); Symbl reports it `symbl`.
    fn notifier(symbl: JobState, deadline: i64) -> Subject {
        Notifier {
            jobs: MemJobs::default().with_job(JobView {
                deadline,
                ..samples::scheduled_job("j", "m")
            }),
            // The job's slot and another job's.
            semaphore: MemSemaphore::default()
                .holding("m", i64::MAX)
                .holding("other", i64::MAX),
            // The notifier never submits.
            symbl: MemInsights::default().reporting(symbl).forbidding(&["submit"]),
            meetings: MemMeetings::default().with("m", submitted_meeting()),
            objects: MemObjects::default(),
            mailer: MemMailer::default(),
            settings: Settings {
                summary_page_ttl_secs: 0,
                media_url_ttl: Duration::from_secs(60),
                email_claim_stale_secs: 600,
                smtp_attempts: 2,
                smtp_backoff: Duration::from_millis(1),
                stall_grace_secs: 600,
            },
        }
    }

    /// Of every time the insights were stored: all five documents, and the summary page's URL.
    fn assert_insights_stored_whole(n: &Subject) {
        for stored in n.meetings.stored_insights.lock().unwrap().iter() {
            assert_eq!(stored.documents.len(), 5);
            assert!(stored.summary_url.is_some());
        }
    }

    /// Where the host's email about a meeting that failed before Symbl stands.
    fn email_of(n: &Subject, key: &str) -> Option<EmailState> {
        n.meetings.row(key).unwrap().email_status
    }

    fn ev(status: JobState) -> Trigger {
        Trigger::Status(StatusEvent {
            job_id: "j".into(),
            status,
            source: "webhook".into(),
        })
    }

    #[tokio::test]
    async fn duplicates_and_out_of_order_statuses_finish_once_release_once_and_email_once() {
        let n = notifier(JobState::Completed, i64::MAX);
        assert_eq!(
            n.handle(ev(JobState::InProgress)).await.unwrap(),
            Outcome::Advanced(true)
        );
        assert_eq!(
            n.handle(ev(JobState::Completed)).await.unwrap(),
            Outcome::Finished {
                status: JobState::Completed,
                first: true
            }
        );
        assert_eq!(
            n.handle(ev(JobState::Completed)).await.unwrap(),
            Outcome::Finished {
                status: JobState::Completed,
                first: false
            }
        );
        // A late in_progress changes nothing.
        assert_eq!(
            n.handle(ev(JobState::InProgress)).await.unwrap(),
            Outcome::Advanced(false)
        );
        assert_eq!(n.semaphore.holder_names(), ["other"]);
        assert_eq!(n.jobs.row("j").status, JobState::Completed);
        let sent = n.mailer.sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, "host@example.com");
        assert_eq!(sent[0].subject, "Meeting insights: Weekly sync");
        assert!(
            sent[0].html.contains("We agreed &lt;b&gt;things&lt;/b&gt;.")
                && sent[0].html.contains("https://meetinginsights.symbl.ai/meeting/#/c")
        );
        assert_eq!(n.objects.puts.lock().unwrap().len(), 5, "five insight documents stored");
        assert_insights_stored_whole(&n);
    }

    #[tokio::test]
    async fn unconfirmed_terminal_status_changes_nothing_terminal() {
        let n = notifier(JobState::InProgress, i64::MAX);
        assert_eq!(
            n.handle(ev(JobState::Completed)).await.unwrap(),
            Outcome::NotTerminalYet(JobState::InProgress)
        );
        assert_eq!(n.semaphore.holder_names().len(), 2);
        assert!(n.meetings.finished.lock().unwrap().is_empty());
        assert!(n.mailer.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failed_job_releases_its_slot_and_tells_the_host() {
        let n = notifier(JobState::Failed, i64::MAX);
        assert_eq!(
            n.handle(ev(JobState::Completed)).await.unwrap(),
            Outcome::Finished {
                status: JobState::Failed,
                first: true
            }
        );
        assert_eq!(
            *n.meetings.finished.lock().unwrap(),
            [("m".to_string(), JobState::Failed)]
        );
        let sent = n.mailer.sent.lock().unwrap();
        assert_eq!(sent[0].subject, "We could not process: Weekly sync");
        assert!(
            n.objects.puts.lock().unwrap().is_empty(),
            "no insights for a failed job"
        );
    }

    #[tokio::test]
    async fn smtp_down_for_a_while_is_retried_and_then_sent_once() {
        let n = notifier(JobState::Completed, i64::MAX);
        *n.mailer.script.lock().unwrap() = vec![MailError::Temporary("421".into()); 2];
        assert!(n.handle(ev(JobState::Completed)).await.unwrap_err().is_retryable());
        assert!(n.mailer.sent.lock().unwrap().is_empty());
        // Lambda's retry (or the reconciler) comes back: the claim was given back.
        n.handle(ev(JobState::Completed)).await.unwrap();
        assert_eq!(n.mailer.sent.lock().unwrap().len(), 1);
        n.handle(ev(JobState::Completed)).await.unwrap();
        assert_eq!(n.mailer.sent.lock().unwrap().len(), 1);
        assert_insights_stored_whole(&n);
    }

    #[tokio::test]
    async fn a_permanent_smtp_refusal_is_recorded_not_retried() {
        let n = notifier(JobState::Completed, i64::MAX);
        *n.mailer.script.lock().unwrap() = vec![MailError::Permanent("550 no such user".into())];
        n.handle(ev(JobState::Completed)).await.unwrap();
        assert_eq!(
            *n.meetings.emailed.lock().unwrap(),
            [(
                "m".to_string(),
                EmailOutcome::Failed {
                    reason: "550 no such user".into()
                }
            )]
        );
        n.handle(ev(JobState::Completed)).await.unwrap();
        assert!(n.mailer.sent.lock().unwrap().is_empty());
        assert_insights_stored_whole(&n);
    }

    #[tokio::test]
    async fn the_reconciler_drives_overdue_jobs_and_owed_emails_through_the_same_path() {
        let n = notifier(JobState::Completed, 0);
        let schedule: Trigger =
            serde_json::from_str(r#"{"detail-type":"Scheduled Event","source":"aws.events","detail":{}}"#).unwrap();
        assert_eq!(n.handle(schedule).await.unwrap(), Outcome::Reconciled(1));
        assert_eq!(n.semaphore.holder_names(), ["other"]);
        assert_eq!(n.mailer.sent.lock().unwrap().len(), 1);
        assert_insights_stored_whole(&n);
        let again: Trigger = serde_json::from_str(r#"{"detail-type":"Scheduled Event"}"#).unwrap();
        assert_eq!(n.handle(again).await.unwrap(), Outcome::Reconciled(0));
    }

    #[test]
    fn the_sample_events_parse() {
        let status: Trigger = serde_json::from_str(include_str!("../../../events/notifier-status.json")).unwrap();
        assert!(matches!(
            status,
            Trigger::Status(StatusEvent {
                status: JobState::Completed,
                ..
            })
        ));
        let schedule: Trigger = serde_json::from_str(include_str!("../../../events/notifier-schedule.json")).unwrap();
        assert!(matches!(schedule, Trigger::Schedule(_)));
    }

    #[test]
    fn anything_else_is_refused() {
        assert!(serde_json::from_str::<Trigger>(r#"{"job_id":"j"}"#).is_err());
        assert!(serde_json::from_str::<Trigger>(r#"{"job_id":"j","status":"done","source":"x"}"#).is_err());
    }

    fn schedule() -> Trigger {
        Trigger::Schedule(ScheduleEvent {
            detail_type: "Scheduled Event".into(),
        })
    }

    /// A meeting that failed in the producer; its host is not told yet.
    fn failed_meeting(host: &str) -> MeetingRow {
        MeetingRow {
            topic: "Board <review>".into(),
            host_email: host.into(),
            start_time: Some("2024-05-31T18:00:05Z".into()),
            failure_reason: Some("zoom download: no track could be downloaded (Ana: HTTP 503)".into()),
            ..MeetingRow::with_status(MeetingState::Failed)
        }
    }

    #[tokio::test]
    async fn a_meeting_that_failed_before_symbl_gets_one_failure_email() {
        let n = notifier(JobState::Scheduled, i64::MAX);
        n.meetings.insert("f1", failed_meeting("host@example.com"));
        assert_eq!(n.handle(schedule()).await.unwrap(), Outcome::Reconciled(1));
        assert_eq!(n.handle(schedule()).await.unwrap(), Outcome::Reconciled(0), "told once");
        let sent = n.mailer.sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, "host@example.com");
        assert!(sent[0].subject.contains("Board <review>"), "{}", sent[0].subject);
        assert!(
            sent[0].text.contains("no track could be downloaded (Ana: HTTP 503)"),
            "{}",
            sent[0].text
        );
        assert!(sent[0].html.contains("Board &lt;review&gt;"), "escaped in HTML");
        assert_eq!(email_of(&n, "f1"), Some(EmailState::Sent));
    }

    #[tokio::test]
    async fn a_refusing_relay_leaves_the_failure_email_owed_for_the_next_round() {
        let n = notifier(JobState::Scheduled, i64::MAX);
        n.meetings.insert("f1", failed_meeting("host@example.com"));
        *n.mailer.script.lock().unwrap() = vec![MailError::Temporary("421".into()), MailError::Temporary("421".into())];
        assert_eq!(n.handle(schedule()).await.unwrap(), Outcome::Reconciled(0));
        assert_eq!(email_of(&n, "f1"), None, "the claim was given back");
        assert_eq!(n.handle(schedule()).await.unwrap(), Outcome::Reconciled(1));
        assert_eq!(n.mailer.sent.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_meeting_without_a_host_is_recorded_not_retried() {
        let n = notifier(JobState::Scheduled, i64::MAX);
        n.meetings.insert("f1", failed_meeting(" "));
        n.handle(schedule()).await.unwrap();
        assert!(n.mailer.sent.lock().unwrap().is_empty());
        assert_eq!(email_of(&n, "f1"), Some(EmailState::Failed));
        assert!(
            matches!(&n.meetings.emailed.lock().unwrap()[0], (key, EmailOutcome::Failed { reason }) if key == "f1" && reason.contains("no host email"))
        );
    }

    #[tokio::test]
    async fn a_production_that_stopped_fails_and_its_host_is_told() {
        let n = notifier(JobState::Scheduled, i64::MAX);
        // Attempt 3 of its production stopped: its lease lapsed long ago, and no retry came.
        n.meetings.insert(
            "s1",
            MeetingRow {
                topic: "Standup".into(),
                host_email: "lead@example.com".into(),
                received_at: Some("2024-05-31T18:00:05Z".into()),
                attempt: Some(3),
                lease_until: Some(0),
                ..MeetingRow::with_status(MeetingState::Producing)
            },
        );
        assert_eq!(n.handle(schedule()).await.unwrap(), Outcome::Reconciled(1));
        let sent = n.mailer.sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert!(sent[0].text.contains("stopped without finishing"));
    }

    #[tokio::test]
    async fn unknown_jobs_are_ignored() {
        let n = notifier(JobState::Completed, 0);
        let t = Trigger::Status(StatusEvent {
            job_id: "nope".into(),
            status: JobState::Completed,
            source: "webhook".into(),
        });
        assert_eq!(n.handle(t).await.unwrap(), Outcome::UnknownJob);
    }
}
