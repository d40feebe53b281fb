//! The notifier's entry point: a job's status (from symbl-webhook) is applied ([`crate::status`]),
//! the schedule runs the reconciler ([`crate::reconcile`]); both email the host through
//! [`crate::delivery`].

use std::time::Duration;

use serde::Deserialize;
use tracing::info;
use zoom_symbl_core::lifecycle::JobState;
use zoom_symbl_core::ports::{
    DueMeetings, InsightsProvider, JobStore, Mailer, MeetingFailures, MeetingOutcomes, ObjectStore, ProducerInvoker,
    Semaphore, StatusEvent, WorkQueue,
};
use zoom_symbl_core::timefmt::unix_now;
use zoom_symbl_core::transcript::jobs::{self, ChangedTo, JobStateChange};
use zoom_symbl_core::Error;

pub use crate::heal::Budget;
use crate::heal::Healer;

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
    /// Where the meeting page is and how its links are signed; `None`: no page link.
    pub page: Option<PageSite>,
}

/// The meeting page's base URL (`https://.../Prod`) and the key its links are signed with.
#[derive(Debug, Clone)]
pub struct PageSite {
    pub base_url: String,
    pub links: zoom_symbl_core::page_link::PageLinks,
}

/// What invokes the notifier: a status (from symbl-webhook), a Transcribe job's state change
/// (EventBridge), or the reconciler's schedule.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Trigger {
    Status(StatusEvent),
    /// An operator's `zoom-symbl resend`.
    Resend(crate::resend::ResendRequest),
    /// Before `Schedule`: both carry a `detail-type`, only this one a job in its `detail`.
    Transcription(TranscriptionEvent),
    Schedule(ScheduleEvent),
}

/// EventBridge's "Transcribe Job State Change" (`aws.transcribe`).
#[derive(Debug, Deserialize)]
pub struct TranscriptionEvent {
    pub detail: JobStateChange,
}

impl TranscriptionEvent {
    /// The status of the run's job this Transcribe job belongs to, as the status path takes
    /// it: a terminal one is confirmed with the provider, which asks every job of the run.
    /// `None` for a job this pipeline did not make, or a state that is not an end.
    pub fn status(&self) -> Option<StatusEvent> {
        let (run_job, _) = jobs::parse_name(&self.detail.name)?;
        let status = match self.detail.status {
            ChangedTo::Completed => JobState::Completed,
            ChangedTo::Failed => JobState::Failed,
            ChangedTo::Other => return None,
        };
        Some(StatusEvent {
            job_id: run_job.to_owned(),
            status,
            source: "transcribe".into(),
            meeting_key: None,
        })
    }
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
    /// An event that is not about one of our jobs' ends.
    Ignored,
    Advanced(bool),
    /// The webhook said terminal, Symbl does not (yet).
    NotTerminalYet(JobState),
    Finished {
        status: JobState,
        first: bool,
    },
    Reconciled(usize),
    /// An operator's resend went out.
    Resent {
        kind: String,
        to: String,
        message_id: String,
    },
}

pub struct Notifier<J, S, P, M, O, E> {
    pub jobs: J,
    pub semaphore: S,
    pub provider: P,
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
    /// One invocation with no time limit of its own (tests).
    pub async fn handle(&self, trigger: Trigger) -> Result<Outcome, Error> {
        self.handle_within(trigger, Budget::unlimited()).await
    }

    /// One invocation of the function: a status is applied; on the schedule the healers run
    /// first, so a meeting they fail is told in the same run, then the jobs and the failures.
    pub async fn handle_event<HM, HP, HQ>(
        &self,
        healer: &Healer<HM, HP, HQ>,
        trigger: Trigger,
        budget: Budget,
    ) -> Result<Outcome, Error>
    where
        HM: DueMeetings,
        HP: ProducerInvoker,
        HQ: WorkQueue,
    {
        let mut healed = 0;
        if matches!(trigger, Trigger::Schedule(_)) {
            healed = healer.heal(unix_now(), budget).await;
        }
        match self.handle_within(trigger, budget).await? {
            Outcome::Reconciled(n) => Ok(Outcome::Reconciled(n + healed)),
            other => Ok(other),
        }
    }

    pub async fn handle_within(&self, trigger: Trigger, budget: Budget) -> Result<Outcome, Error> {
        match trigger {
            Trigger::Status(event) => self.apply(event).await,
            Trigger::Resend(request) => self.resend(&request.resend).await,
            Trigger::Transcription(event) => match event.status() {
                Some(status) => self.apply(status).await,
                None => {
                    info!(job = %event.detail.name, status = ?event.detail.status, "not an end of one of our jobs; ignored");
                    Ok(Outcome::Ignored)
                }
            },
            Trigger::Schedule(s) => {
                info!(trigger = %s.detail_type, "reconciling overdue jobs");
                self.reconcile(budget).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use zoom_symbl_core::lifecycle::{EmailState, MeetingState};
    use zoom_symbl_core::ports::MailError;
    use zoom_symbl_core::ports::{EmailOutcome, JobView, ProviderError};
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
            provider: MemInsights::default().reporting(symbl).forbidding(&["submit"]),
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
                page: None,
            },
        }
    }

    /// The insights were stored once: the provider's five documents and ours, and the
    /// summary page's URL; one page was made.
    fn assert_insights_stored_whole(n: &Subject) {
        let stored = n.meetings.stored_insights.lock().unwrap();
        assert_eq!(stored.len(), 1, "stored once");
        assert_eq!(stored[0].documents.len(), 6);
        assert!(stored[0].documents.contains_key(crate::status::INSIGHTS_DOCUMENT));
        assert!(stored[0].summary_url.is_some());
        assert_eq!(n.provider.pages.lock().unwrap().len(), 1, "one summary page");
    }

    /// Where the host's email about a meeting that failed before Symbl stands.
    fn email_of(n: &Subject, key: &str) -> Option<EmailState> {
        n.meetings.row(key).unwrap().email_status
    }

    fn ev(status: JobState) -> Trigger {
        Trigger::Status(samples::status_event("j", status))
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
        assert_eq!(
            n.objects.puts.lock().unwrap().len(),
            6,
            "five insight documents and ours stored"
        );
        assert_insights_stored_whole(&n);
    }

    #[tokio::test]
    async fn a_richer_delivery_kept_while_the_job_worked_is_the_next_run_once_the_email_is_settled() {
        let n = notifier(JobState::Completed, i64::MAX);
        n.meetings.rows.lock().unwrap().get_mut("m").unwrap().deferred = Some(samples::claim("richer", 0));
        *n.mailer.script.lock().unwrap() = vec![MailError::Temporary("421".into()); 2];
        assert!(n.handle(ev(JobState::Completed)).await.is_err());
        let row = n.meetings.row("m").unwrap();
        assert_eq!(row.status, Some(MeetingState::Transcribed), "not before the email");
        assert!(row.deferred.is_some());
        n.handle(ev(JobState::Completed)).await.unwrap();
        assert_eq!(n.mailer.sent.lock().unwrap().len(), 1, "this run's email");
        let row = n.meetings.row("m").unwrap();
        assert_eq!(row.status, Some(MeetingState::Received));
        assert_eq!(row.run, Some(2));
        assert!(
            row.due_at
                .is_some_and(|due| due <= zoom_symbl_core::timefmt::unix_now()),
            "due at once: the reconciler's next run starts its producer"
        );
        assert_eq!(
            row.claim.unwrap().event,
            samples::recording_completed(),
            "the kept delivery"
        );
        assert_eq!(row.attempt, Some(1), "the attempts count on");
        n.handle(ev(JobState::Completed)).await.unwrap();
        assert_eq!(
            n.meetings.row("m").unwrap().run,
            Some(2),
            "a late status restarts nothing more"
        );
        assert_eq!(n.mailer.sent.lock().unwrap().len(), 1);
    }

    /// Meeting "m" queued and waiting for its submission; job "lost" calls back naming it.
    fn with_an_unrecorded_job(symbl: JobState) -> Subject {
        let n = notifier(symbl, i64::MAX);
        let mut rows = n.meetings.rows.lock().unwrap();
        let row = rows.get_mut("m").unwrap();
        row.status = Some(MeetingState::Queued);
        row.job_id = None;
        row.conversation_id = None;
        drop(rows);
        n
    }

    fn lost(status: JobState) -> Trigger {
        Trigger::Status(StatusEvent {
            meeting_key: Some("m".into()),
            ..samples::status_event("lost", status)
        })
    }

    #[tokio::test]
    async fn a_job_whose_submission_was_never_recorded_is_adopted_and_ends_in_one_email() {
        let n = with_an_unrecorded_job(JobState::InProgress);
        assert_eq!(
            n.handle(lost(JobState::Scheduled)).await.unwrap(),
            Outcome::Advanced(true)
        );
        let row = n.meetings.row("m").unwrap();
        assert_eq!(row.status, Some(MeetingState::Submitted), "nothing submits it again");
        assert_eq!(row.job_id.as_deref(), Some("lost"));
        assert_eq!(
            n.jobs.row("lost").status,
            JobState::InProgress,
            "as the provider confirms"
        );
        assert!(
            n.semaphore.holder_names().contains(&"m".to_string()),
            "it counts against the limit"
        );
        // Its end: the results cannot be fetched (Symbl names them only in the lost answer).
        *n.provider.status.lock().unwrap() = JobState::Completed;
        n.handle(lost(JobState::Completed)).await.unwrap();
        n.handle(lost(JobState::Completed)).await.unwrap();
        let sent = n.mailer.sent.lock().unwrap();
        assert_eq!(sent.len(), 1, "one email");
        assert!(
            sent[0].text.contains("answer to our submission was lost"),
            "{}",
            sent[0].text
        );
        assert_eq!(n.meetings.row("m").unwrap().status, Some(MeetingState::Failed));
        assert!(
            !n.semaphore.holder_names().contains(&"m".to_string()),
            "its slot released"
        );
    }

    #[tokio::test]
    async fn a_job_is_not_adopted_while_a_submission_is_under_way_or_without_a_meeting_named() {
        let n = with_an_unrecorded_job(JobState::InProgress);
        n.meetings.rows.lock().unwrap().get_mut("m").unwrap().submit_claim_until = Some(i64::MAX);
        assert_eq!(n.handle(lost(JobState::Scheduled)).await.unwrap(), Outcome::UnknownJob);
        let unnamed = Trigger::Status(samples::status_event("lost", JobState::Scheduled));
        assert_eq!(n.handle(unnamed).await.unwrap(), Outcome::UnknownJob);
        assert_eq!(n.meetings.row("m").unwrap().status, Some(MeetingState::Queued));
        assert!(!n.jobs.rows.lock().unwrap().contains_key("lost"));
    }

    #[tokio::test]
    async fn a_settle_that_fails_for_a_moment_is_retried_and_the_email_goes_once() {
        let n = notifier(JobState::Completed, i64::MAX);
        n.jobs.fail_times("email_settled", 2);
        n.handle(ev(JobState::Completed)).await.unwrap();
        assert_eq!(n.mailer.sent.lock().unwrap().len(), 1);
        assert_eq!(n.jobs.row("j").email_state, Some(EmailState::Sent));
        n.handle(ev(JobState::Completed)).await.unwrap();
        assert_eq!(n.mailer.sent.lock().unwrap().len(), 1, "settled: not sent again");
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

    fn resend(key: &str, to: Option<&str>) -> Trigger {
        serde_json::from_value(serde_json::json!({"resend": {"meeting_key": key, "to": to}})).unwrap()
    }

    #[tokio::test]
    async fn an_operators_resend_of_a_failed_meeting_goes_each_time_with_a_message_id_of_its_own() {
        let n = notifier(JobState::Scheduled, i64::MAX);
        n.meetings.insert("f1", failed_meeting("host@example.com"));
        assert_eq!(n.handle(schedule()).await.unwrap(), Outcome::Reconciled(1));
        let Outcome::Resent { kind, to, .. } = n.handle(resend("f1", Some("ops@example.com"))).await.unwrap() else {
            panic!("not resent");
        };
        assert_eq!((kind.as_str(), to.as_str()), ("failure", "ops@example.com"));
        assert!(
            matches!(n.handle(resend("f1", None)).await.unwrap(), Outcome::Resent { to, .. } if to == "host@example.com")
        );
        let sent = n.mailer.sent.lock().unwrap();
        assert_eq!(sent.len(), 3, "the owed email, then both resends");
        assert_eq!(sent[1].to, "ops@example.com");
        assert_eq!(sent[1].text, sent[0].text, "the same email");
        let ids: std::collections::BTreeSet<_> = sent.iter().map(|e| e.stable_id.clone()).collect();
        assert_eq!(ids.len(), 3, "each has its own Message-ID: {ids:?}");
        drop(sent);
        assert_eq!(
            email_of(&n, "f1"),
            Some(EmailState::Sent),
            "the owed email's ledger is untouched"
        );
    }

    #[tokio::test]
    async fn an_operators_resend_of_insights_renders_what_is_stored_without_asking_the_provider() {
        let n = notifier(JobState::Completed, i64::MAX);
        assert!(matches!(
            n.handle(ev(JobState::Completed)).await.unwrap(),
            Outcome::Finished { .. }
        ));
        let asked = n.provider.status_asked.lock().unwrap().len();
        let Outcome::Resent { kind, to, .. } = n.handle(resend("m", None)).await.unwrap() else {
            panic!("not resent");
        };
        assert_eq!((kind.as_str(), to.as_str()), ("insights", "host@example.com"));
        assert_insights_stored_whole(&n);
        assert_eq!(
            n.provider.status_asked.lock().unwrap().len(),
            asked,
            "the provider is not asked again"
        );
        let sent = n.mailer.sent.lock().unwrap();
        assert_eq!(sent.len(), 2);
        assert_eq!((&sent[1].subject, &sent[1].text), (&sent[0].subject, &sent[0].text));
        assert_ne!(sent[1].stable_id, sent[0].stable_id);
    }

    #[tokio::test]
    async fn a_resend_of_a_meeting_in_flight_or_unknown_is_refused_in_plain_words() {
        let n = notifier(JobState::Scheduled, i64::MAX);
        let in_flight = n.handle(resend("m", None)).await.unwrap_err().to_string();
        assert!(
            in_flight.contains("the meeting is submitted: it has no email yet"),
            "{in_flight}"
        );
        let unknown = n.handle(resend("nope", None)).await.unwrap_err().to_string();
        assert!(unknown.contains("no meeting nope"), "{unknown}");
        assert!(n.mailer.sent.lock().unwrap().is_empty());
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
        let t = Trigger::Status(samples::status_event("nope", JobState::Completed));
        assert_eq!(n.handle(t).await.unwrap(), Outcome::UnknownJob);
    }

    /// EventBridge's state change of Transcribe job `name`.
    fn transcription(name: &str, status: &str) -> Trigger {
        serde_json::from_value(serde_json::json!({
            "version": "0",
            "id": "e1",
            "detail-type": "Transcribe Job State Change",
            "source": "aws.transcribe",
            "detail": {"TranscriptionJobName": name, "TranscriptionJobStatus": status}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn a_transcribe_job_that_ended_finishes_its_runs_job_and_other_events_are_ignored() {
        // Job "j" is the run's; its Transcribe jobs are "j-p0", "j-p1"...
        let n = notifier(JobState::Completed, i64::MAX);
        assert!(matches!(transcription("j-p0", "COMPLETED"), Trigger::Transcription(_)));
        let scheduled: Trigger = serde_json::from_value(serde_json::json!({
            "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}
        }))
        .unwrap();
        assert!(
            matches!(scheduled, Trigger::Schedule(_)),
            "a schedule is still a schedule"
        );
        assert_eq!(
            n.handle(transcription("j-p1", "IN_PROGRESS")).await.unwrap(),
            Outcome::Ignored
        );
        assert_eq!(
            n.handle(transcription("not-ours", "COMPLETED")).await.unwrap(),
            Outcome::Ignored
        );
        assert_eq!(
            n.handle(transcription("x-p0", "COMPLETED")).await.unwrap(),
            Outcome::UnknownJob
        );
        assert!(n.mailer.sent.lock().unwrap().is_empty());
        // A failed participant's job is confirmed with the provider, which asks the whole run.
        assert_eq!(
            n.handle(transcription("j-p1", "FAILED")).await.unwrap(),
            Outcome::Finished {
                status: JobState::Completed,
                first: true
            }
        );
        assert_eq!(*n.provider.status_asked.lock().unwrap(), ["j"]);
        assert_eq!(n.mailer.sent.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_throttled_model_leaves_the_email_owed_and_a_later_round_sends_it_once() {
        let n = notifier(JobState::Completed, i64::MAX);
        *n.provider.insights_errors.lock().unwrap() = vec![ProviderError::AtCapacity("ThrottlingException".into())];
        let err = n.handle(ev(JobState::Completed)).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(n.mailer.sent.lock().unwrap().is_empty());
        // The job ended; its email is owed, and the reconciler's next look sends it.
        assert!(n
            .jobs
            .overdue(unix_now())
            .await
            .unwrap()
            .iter()
            .any(|j| j.job_id == "j"));
        assert_eq!(
            n.handle(ev(JobState::Completed)).await.unwrap(),
            Outcome::Finished {
                status: JobState::Completed,
                first: false
            }
        );
        let sent = n.mailer.sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].subject, "Meeting insights: Weekly sync");
    }

    #[tokio::test]
    async fn insights_that_cannot_be_made_are_one_failure_email_saying_why() {
        let n = notifier(JobState::Completed, i64::MAX);
        *n.provider.insights_errors.lock().unwrap() = vec![ProviderError::Refused(
            "the model's insights were invalid twice: an assignee is not a participant".into(),
        )];
        n.handle(ev(JobState::Completed)).await.unwrap();
        n.handle(ev(JobState::Completed)).await.unwrap();
        let sent = n.mailer.sent.lock().unwrap();
        assert_eq!(sent.len(), 1, "once");
        assert!(sent[0].subject.contains("Weekly sync"), "{}", sent[0].subject);
        assert!(
            sent[0]
                .text
                .contains("its insights could not be made: the model's insights were invalid twice"),
            "{}",
            sent[0].text
        );
        let row = n.meetings.row("m").unwrap();
        assert_eq!(row.status, Some(MeetingState::Failed), "the meeting failed, with why");
        assert!(row.failure_reason.unwrap().contains("invalid twice"));
    }
}
