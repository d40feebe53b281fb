//! A Symbl job's status, applied once and in order. Terminal statuses are confirmed with
//! Symbl before anything happens, and every terminal status releases the job's concurrency
//! slot (idempotently: a retry after a crash releases what is still held, nothing more).

use serde::Deserialize;
use tracing::{info, info_span, warn, Instrument};
use zoom_symbl_core::ports::{InsightsProvider, JobStore, MeetingOutcomes, Semaphore, StatusEvent};
use zoom_symbl_core::symbl::JobStatus;
use zoom_symbl_core::timefmt::unix_now;
use zoom_symbl_core::Error;

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
    NotTerminalYet(JobStatus),
    Finished { status: JobStatus, first: bool },
    Reconciled(usize),
}

pub struct Notifier<J, S, P, M> {
    pub jobs: J,
    pub semaphore: S,
    pub symbl: P,
    pub meetings: M,
}

impl<J: JobStore, S: Semaphore, P: InsightsProvider, M: MeetingOutcomes> Notifier<J, S, P, M> {
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
            // Symbl signs nothing: a terminal status is acted on only once Symbl confirms it.
            let confirmed = self.symbl.job_status(&job.job_id).await.map_err(Error::from)?;
            if !confirmed.is_terminal() {
                warn!(claimed = ?event.status, ?confirmed, "terminal status not confirmed by Symbl");
                self.jobs.advance(&job.job_id, confirmed).await?;
                return Ok(Outcome::NotTerminalYet(confirmed));
            }
            let first = self.jobs.finish(&job.job_id, confirmed).await?;
            if self.semaphore.release(&job.meeting_key).await? {
                info!(meeting_key = %job.meeting_key, "released the concurrency slot");
            }
            self.meetings.job_finished(&job.meeting_key, confirmed).await?;
            info!(status = ?confirmed, first, "job finished");
            Ok(Outcome::Finished { status: confirmed, first })
        }
        .instrument(span)
        .await
    }

    /// Jobs past their deadline without a terminal status: ask Symbl, then take the same
    /// path a webhook would have.
    pub async fn reconcile(&self) -> Result<Outcome, Error> {
        let overdue = self.jobs.overdue(unix_now()).await?;
        let mut driven = 0;
        for job in overdue {
            let status = match self.symbl.job_status(&job.job_id).await {
                Ok(s) => s,
                Err(e) => {
                    warn!(job_id = %job.job_id, error = %e, "could not poll an overdue job");
                    continue;
                }
            };
            if status.is_terminal() {
                self.apply(StatusEvent { job_id: job.job_id.clone(), status, source: "reconciler".into() }).await?;
                driven += 1;
            } else {
                info!(job_id = %job.job_id, ?status, "overdue job still running at Symbl");
            }
        }
        Ok(Outcome::Reconciled(driven))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use zoom_symbl_core::ports::{JobView, SlotGrant};
    use zoom_symbl_core::symbl::{SubmitAudio, Submitted, SymblError};
    use zoom_symbl_core::Result;

    use super::*;

    #[derive(Default)]
    struct Jobs(Mutex<HashMap<String, JobView>>);
    impl JobStore for Jobs {
        async fn get(&self, id: &str) -> Result<Option<JobView>> {
            Ok(self.0.lock().unwrap().get(id).cloned())
        }
        async fn advance(&self, id: &str, to: JobStatus) -> Result<bool> {
            let mut m = self.0.lock().unwrap();
            let j = m.get_mut(id).unwrap();
            Ok(if j.status == JobStatus::Scheduled && to == JobStatus::InProgress {
                j.status = to;
                true
            } else {
                false
            })
        }
        async fn finish(&self, id: &str, to: JobStatus) -> Result<bool> {
            let mut m = self.0.lock().unwrap();
            let j = m.get_mut(id).unwrap();
            Ok(if j.status.is_terminal() {
                false
            } else {
                j.status = to;
                true
            })
        }
        async fn overdue(&self, now: i64) -> Result<Vec<JobView>> {
            Ok(self.0.lock().unwrap().values().filter(|j| j.deadline < now && !j.status.is_terminal()).cloned().collect())
        }
    }

    #[derive(Default)]
    struct Slots(Mutex<Vec<String>>);
    impl Semaphore for Slots {
        async fn acquire(&self, h: &str, _: i64) -> Result<SlotGrant> {
            self.0.lock().unwrap().push(h.into());
            Ok(SlotGrant::Granted)
        }
        async fn extend(&self, _: &str, _: i64) -> Result<()> {
            Ok(())
        }
        async fn release(&self, h: &str) -> Result<bool> {
            let mut v = self.0.lock().unwrap();
            let before = v.len();
            v.retain(|x| x != h);
            Ok(v.len() < before)
        }
    }

    struct Symbl(JobStatus);
    impl InsightsProvider for Symbl {
        async fn submit(&self, _: &SubmitAudio) -> Result<Submitted, SymblError> {
            unreachable!()
        }
        async fn job_status(&self, _: &str) -> Result<JobStatus, SymblError> {
            Ok(self.0)
        }
    }

    #[derive(Default)]
    struct Meetings(Mutex<Vec<(String, JobStatus)>>);
    impl MeetingOutcomes for Meetings {
        async fn job_finished(&self, key: &str, st: JobStatus) -> Result<()> {
            self.0.lock().unwrap().push((key.into(), st));
            Ok(())
        }
    }

    fn notifier(symbl: JobStatus, deadline: i64) -> Notifier<Jobs, Slots, Symbl, Meetings> {
        let jobs = Jobs::default();
        jobs.0.lock().unwrap().insert(
            "j".into(),
            JobView { job_id: "j".into(), meeting_key: "m".into(), conversation_id: "c".into(), status: JobStatus::Scheduled, deadline },
        );
        Notifier { jobs, semaphore: Slots(Mutex::new(vec!["m".into(), "other".into()])), symbl: Symbl(symbl), meetings: Meetings::default() }
    }

    fn ev(status: JobStatus) -> Trigger {
        Trigger::Status(StatusEvent { job_id: "j".into(), status, source: "webhook".into() })
    }

    #[tokio::test]
    async fn duplicates_and_out_of_order_statuses_finish_once_and_release_once() {
        let n = notifier(JobStatus::Completed, i64::MAX);
        assert_eq!(n.handle(ev(JobStatus::InProgress)).await.unwrap(), Outcome::Advanced(true));
        assert_eq!(n.handle(ev(JobStatus::Completed)).await.unwrap(), Outcome::Finished { status: JobStatus::Completed, first: true });
        assert_eq!(n.handle(ev(JobStatus::Completed)).await.unwrap(), Outcome::Finished { status: JobStatus::Completed, first: false });
        // A late in_progress changes nothing.
        assert_eq!(n.handle(ev(JobStatus::InProgress)).await.unwrap(), Outcome::Advanced(false));
        assert_eq!(*n.semaphore.0.lock().unwrap(), ["other"]);
        assert_eq!(n.jobs.0.lock().unwrap()["j"].status, JobStatus::Completed);
    }

    #[tokio::test]
    async fn unconfirmed_terminal_status_changes_nothing_terminal() {
        let n = notifier(JobStatus::InProgress, i64::MAX);
        assert_eq!(n.handle(ev(JobStatus::Completed)).await.unwrap(), Outcome::NotTerminalYet(JobStatus::InProgress));
        assert_eq!(n.semaphore.0.lock().unwrap().len(), 2);
        assert!(n.meetings.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn symbl_is_believed_over_the_webhook() {
        let n = notifier(JobStatus::Failed, i64::MAX);
        assert_eq!(n.handle(ev(JobStatus::Completed)).await.unwrap(), Outcome::Finished { status: JobStatus::Failed, first: true });
        assert_eq!(*n.meetings.0.lock().unwrap(), [("m".to_string(), JobStatus::Failed)]);
    }

    #[tokio::test]
    async fn the_reconciler_drives_overdue_jobs_through_the_same_path() {
        let n = notifier(JobStatus::Completed, 0);
        let schedule: Trigger = serde_json::from_str(r#"{"detail-type":"Scheduled Event","source":"aws.events","detail":{}}"#).unwrap();
        assert_eq!(n.handle(schedule).await.unwrap(), Outcome::Reconciled(1));
        assert_eq!(*n.semaphore.0.lock().unwrap(), ["other"]);
        let again: Trigger = serde_json::from_str(r#"{"detail-type":"Scheduled Event"}"#).unwrap();
        assert_eq!(n.handle(again).await.unwrap(), Outcome::Reconciled(0));
    }

    #[test]
    fn anything_else_is_refused() {
        assert!(serde_json::from_str::<Trigger>(r#"{"job_id":"j"}"#).is_err());
        assert!(serde_json::from_str::<Trigger>(r#"{"job_id":"j","status":"done","source":"x"}"#).is_err());
    }

    #[tokio::test]
    async fn unknown_jobs_are_ignored() {
        let n = notifier(JobStatus::Completed, 0);
        let t = Trigger::Status(StatusEvent { job_id: "nope".into(), status: JobStatus::Completed, source: "webhook".into() });
        assert_eq!(n.handle(t).await.unwrap(), Outcome::UnknownJob);
    }
}
