//! Symbl in memory, standing in for [`SymblClient`](crate::symbl::SymblClient).

use std::sync::Mutex;

use super::{samples, Faults, Knobs};
use crate::ports::InsightsProvider;
use crate::symbl::{JobStatus, RawInsights, SubmitAudio, Submitted, SymblError};

#[derive(Debug)]
pub struct MemInsights {
    /// Errors `submit` answers, in order, before it succeeds: 429s, outages, refusals.
    pub submit_errors: Mutex<Vec<SymblError>>,
    /// Every request submitted, refused ones included.
    pub submitted: Mutex<Vec<SubmitAudio>>,
    /// What a successful submit answers.
    pub job: Submitted,
    /// What Symbl says of any job's status.
    pub status: Mutex<JobStatus>,
    /// Every job whose status was asked for.
    pub status_asked: Mutex<Vec<String>>,
    /// Any conversation's insights.
    pub insights: RawInsights,
    /// Every summary page made: (conversation id, media URL).
    pub pages: Mutex<Vec<(String, String)>>,
    pub knobs: Knobs,
}

impl Default for MemInsights {
    fn default() -> Self {
        MemInsights {
            submit_errors: Mutex::default(),
            submitted: Mutex::default(),
            job: Submitted {
                conversation_id: "c".into(),
                job_id: "j".into(),
            },
            status: Mutex::new(JobStatus::Completed),
            status_asked: Mutex::default(),
            insights: samples::insights(),
            pages: Mutex::default(),
            knobs: Knobs::default(),
        }
    }
}

impl MemInsights {
    /// Symbl reports every job in `status`.
    pub fn reporting(self, status: JobStatus) -> Self {
        *self.status.lock().unwrap() = status;
        self
    }

    /// `submit` answers these errors first, in order.
    pub fn refusing(self, errors: Vec<SymblError>) -> Self {
        *self.submit_errors.lock().unwrap() = errors;
        self
    }

    /// Symbl's URL for a conversation's summary page.
    pub fn page_url(conversation_id: &str) -> String {
        format!("https://meetinginsights.symbl.ai/meeting/#/{conversation_id}")
    }

    fn enter(&self, op: &'static str) -> Result<(), SymblError> {
        if self.knobs.hit(Self::NAME, op) {
            return Err(SymblError::Unavailable("503 (testkit)".into()));
        }
        Ok(())
    }
}

impl Faults for MemInsights {
    const NAME: &'static str = "MemInsights";
    const OPS: &'static [&'static str] = &["submit", "job_status", "insights", "summary_page"];

    fn knobs(&self) -> &Knobs {
        &self.knobs
    }
}

impl InsightsProvider for MemInsights {
    async fn submit(&self, req: &SubmitAudio) -> Result<Submitted, SymblError> {
        self.enter("submit")?;
        // A network call: lets another task (a second delivery) run meanwhile.
        tokio::task::yield_now().await;
        self.submitted.lock().unwrap().push(req.clone());
        let refusal = {
            let mut script = self.submit_errors.lock().unwrap();
            (!script.is_empty()).then(|| script.remove(0))
        };
        match refusal {
            Some(e) => Err(e),
            None => Ok(self.job.clone()),
        }
    }

    async fn job_status(&self, job_id: &str) -> Result<JobStatus, SymblError> {
        self.enter("job_status")?;
        self.status_asked.lock().unwrap().push(job_id.into());
        Ok(*self.status.lock().unwrap())
    }

    async fn insights(&self, _conversation_id: &str) -> Result<RawInsights, SymblError> {
        self.enter("insights")?;
        Ok(self.insights.clone())
    }

    async fn summary_page(
        &self,
        conversation_id: &str,
        media_url: &str,
        _expires_in_secs: u64,
    ) -> Result<String, SymblError> {
        self.enter("summary_page")?;
        self.pages
            .lock()
            .unwrap()
            .push((conversation_id.into(), media_url.into()));
        Ok(MemInsights::page_url(conversation_id))
    }
}
