//! The jobs table in memory, with [`DynamoJobs`](crate::aws::jobs::DynamoJobs)'s conditions.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{Clock, Faults, Knobs};
use crate::lifecycle::EmailState;
use crate::lifecycle::JobState;
use crate::ports::{EmailOutcome, JobLookup, JobStore, JobView, SubmittedJob};
use crate::{Error, Result};

/// One item of the jobs table.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    /// `None` on a row a webhook created before the consumer recorded the job: not ours to act on.
    pub meeting_key: Option<String>,
    pub conversation_id: String,
    pub status: JobState,
    pub deadline: i64,
    pub email_state: Option<EmailState>,
    pub email_claim: Option<String>,
    pub email_claimed_at: Option<i64>,
    /// The Message-ID of a sent email, or why it failed.
    pub email_detail: Option<String>,
}

impl JobRow {
    fn view(&self, job_id: &str) -> Option<JobView> {
        Some(JobView {
            job_id: job_id.into(),
            meeting_key: self.meeting_key.clone()?,
            conversation_id: self.conversation_id.clone(),
            status: self.status,
            deadline: self.deadline,
        })
    }
}

impl From<&JobView> for JobRow {
    fn from(job: &JobView) -> Self {
        JobRow {
            meeting_key: Some(job.meeting_key.clone()),
            conversation_id: job.conversation_id.clone(),
            status: job.status,
            deadline: job.deadline,
            email_state: None,
            email_claim: None,
            email_claimed_at: None,
            email_detail: None,
        }
    }
}

/// The jobs table. Clones share the table (as clients of one DynamoDB table do), so the
/// consumer's [`MemMeetings`](super::MemMeetings) and the notifier can write the same one.
#[derive(Debug, Clone, Default)]
pub struct MemJobs {
    /// Job id -> item.
    pub rows: Arc<Mutex<BTreeMap<String, JobRow>>>,
    pub clock: Clock,
    pub knobs: Arc<Knobs>,
}

impl MemJobs {
    pub fn with_job(self, job: JobView) -> Self {
        self.rows.lock().unwrap().insert(job.job_id.clone(), JobRow::from(&job));
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The item of `job_id` (it must exist).
    pub fn row(&self, job_id: &str) -> JobRow {
        self.rows
            .lock()
            .unwrap()
            .get(job_id)
            .cloned()
            .unwrap_or_else(|| panic!("no job {job_id}"))
    }

    /// What `record_submission` writes: the job, once (a row a webhook created keeps its status).
    pub(crate) fn record(&self, job: &SubmittedJob) {
        let mut rows = self.rows.lock().unwrap();
        let row = rows.entry(job.job_id.clone()).or_insert_with(|| JobRow {
            meeting_key: None,
            conversation_id: String::new(),
            status: JobState::Scheduled,
            deadline: 0,
            email_state: None,
            email_claim: None,
            email_claimed_at: None,
            email_detail: None,
        });
        if row.meeting_key.is_none() {
            row.meeting_key = Some(job.meeting_key.clone());
            row.conversation_id = job.conversation_id.clone();
            row.deadline = job.deadline;
        }
    }

    fn enter(&self, op: &'static str) -> Result<()> {
        if self.knobs.hit(Self::NAME, op) {
            return Err(Error::retryable("dynamodb", "throttled (testkit)"));
        }
        Ok(())
    }

    /// Runs `f` on the job's row when it has a meeting (`attribute_exists(meeting_key)`).
    fn update<T>(&self, job_id: &str, refused: T, f: impl FnOnce(&mut JobRow) -> T) -> T {
        match self.rows.lock().unwrap().get_mut(job_id) {
            Some(row) if row.meeting_key.is_some() => f(row),
            _ => refused,
        }
    }
}

impl Faults for MemJobs {
    const NAME: &'static str = "MemJobs";
    const OPS: &'static [&'static str] = &[
        "get",
        "advance",
        "finish",
        "overdue",
        "claim_email",
        "email_settled",
        "release_email_claim",
        "adopt",
    ];

    fn knobs(&self) -> &Knobs {
        &self.knobs
    }
}

impl JobLookup for MemJobs {
    async fn get(&self, job_id: &str) -> Result<Option<JobView>> {
        self.enter("get")?;
        Ok(self.rows.lock().unwrap().get(job_id).and_then(|r| r.view(job_id)))
    }
}

impl JobStore for MemJobs {
    async fn adopt(&self, job: &SubmittedJob) -> Result<()> {
        self.enter("adopt")?;
        self.record(job);
        Ok(())
    }

    async fn advance(&self, job_id: &str, to: JobState) -> Result<bool> {
        self.enter("advance")?;
        if to.is_terminal() {
            return Err(Error::Invalid("advance() is for non-terminal statuses".into()));
        }
        // Only forward: in_progress is the one status after another non-terminal one.
        if to != JobState::InProgress {
            return Ok(false);
        }
        Ok(self.update(job_id, false, |row| {
            let from_scheduled = row.status == JobState::Scheduled;
            if from_scheduled {
                row.status = to;
            }
            from_scheduled
        }))
    }

    async fn finish(&self, job_id: &str, to: JobState) -> Result<bool> {
        self.enter("finish")?;
        if !to.is_terminal() {
            return Err(Error::Invalid("finish() is for terminal statuses".into()));
        }
        Ok(self.update(job_id, false, |row| {
            let open = !row.status.is_terminal();
            if open {
                row.status = to;
            }
            open
        }))
    }

    async fn overdue(&self, now: i64) -> Result<Vec<JobView>> {
        self.enter("overdue")?;
        let rows = self.rows.lock().unwrap();
        Ok(rows
            .iter()
            .filter(|(_, r)| {
                (r.deadline < now && !r.status.is_terminal())
                    || (r.status.is_terminal() && r.email_state.is_none_or(|s| s == EmailState::Sending))
            })
            .filter_map(|(id, r)| r.view(id))
            .collect())
    }

    async fn claim_email(&self, job_id: &str, claim: &str, stale_after_secs: i64) -> Result<bool> {
        self.enter("claim_email")?;
        let now = self.clock.now();
        Ok(self.update(job_id, false, |row| {
            let free = match row.email_state {
                None => true,
                Some(EmailState::Sending) => row.email_claimed_at.is_some_and(|at| at < now - stale_after_secs),
                Some(_) => false,
            };
            if free {
                row.email_state = Some(EmailState::Sending);
                row.email_claim = Some(claim.into());
                row.email_claimed_at = Some(now);
            }
            free
        }))
    }

    async fn email_settled(&self, job_id: &str, claim: &str, outcome: &EmailOutcome) -> Result<()> {
        self.enter("email_settled")?;
        let (state, detail) = match outcome {
            EmailOutcome::Sent { message_id } => (EmailState::Sent, message_id),
            EmailOutcome::Failed { reason } => (EmailState::Failed, reason),
        };
        // Taken over before it settled: the adapter logs it and leaves the row alone.
        if let Some(row) = self.rows.lock().unwrap().get_mut(job_id) {
            if row.email_claim.as_deref() == Some(claim) {
                row.email_state = Some(state);
                row.email_detail = Some(detail.clone());
            }
        }
        Ok(())
    }

    async fn release_email_claim(&self, job_id: &str, claim: &str) -> Result<()> {
        self.enter("release_email_claim")?;
        if let Some(row) = self.rows.lock().unwrap().get_mut(job_id) {
            if row.email_claim.as_deref() == Some(claim) && row.email_state == Some(EmailState::Sending) {
                row.email_state = None;
                row.email_claim = None;
                row.email_claimed_at = None;
            }
        }
        Ok(())
    }
}
