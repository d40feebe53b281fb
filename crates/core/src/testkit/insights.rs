//! An insights provider in memory, standing in for [`SymblClient`](crate::symbl::SymblClient)
//! (or any other provider).

use std::sync::Mutex;

use super::{samples, Faults, Knobs};
use crate::insights::InsightsReport;
use crate::lifecycle::JobState;
use crate::meeting::ProducedAudio;
use crate::ports::{InsightsProvider, InsightsRequest, JobRef, ProviderError, ProviderJob};

/// An [`InsightsRequest`] as it was submitted.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub audio: ProducedAudio,
    pub audio_url: String,
    pub callback_url: String,
    pub language: String,
}

#[derive(Debug)]
pub struct MemInsights {
    /// Errors `submit` answers, in order, before it succeeds: limits, outages, refusals.
    pub submit_errors: Mutex<Vec<ProviderError>>,
    /// Every request submitted, refused ones included.
    pub submitted: Mutex<Vec<Submission>>,
    /// What a successful submit answers.
    pub job: ProviderJob,
    /// What the provider says of any job's state.
    pub status: Mutex<JobState>,
    /// Every job whose state was asked for.
    pub status_asked: Mutex<Vec<String>>,
    /// Any conversation's insights.
    pub insights: InsightsReport,
    /// Errors `insights` answers, in order, before it answers them.
    pub insights_errors: Mutex<Vec<ProviderError>>,
    /// The longest recording it takes (Symbl's 4 hours by default).
    pub max_audio_secs: f64,
    /// Every summary page made: (conversation id, media URL).
    pub pages: Mutex<Vec<(String, String)>>,
    pub knobs: Knobs,
}

impl Default for MemInsights {
    fn default() -> Self {
        MemInsights {
            submit_errors: Mutex::default(),
            submitted: Mutex::default(),
            job: ProviderJob {
                conversation_id: "c".into(),
                job_id: "j".into(),
            },
            status: Mutex::new(JobState::Completed),
            status_asked: Mutex::default(),
            insights: samples::insights().into_report(),
            insights_errors: Mutex::default(),
            max_audio_secs: crate::symbl::MAX_AUDIO_SECS,
            pages: Mutex::default(),
            knobs: Knobs::default(),
        }
    }
}

impl MemInsights {
    /// Symbl reports every job in `status`.
    pub fn reporting(self, status: JobState) -> Self {
        *self.status.lock().unwrap() = status;
        self
    }

    /// `submit` answers these errors first, in order.
    pub fn refusing(self, errors: Vec<ProviderError>) -> Self {
        *self.submit_errors.lock().unwrap() = errors;
        self
    }

    /// `insights` answers these errors first, in order.
    pub fn refusing_insights(self, errors: Vec<ProviderError>) -> Self {
        *self.insights_errors.lock().unwrap() = errors;
        self
    }

    /// Symbl's URL for a conversation's summary page.
    pub fn page_url(conversation_id: &str) -> String {
        format!("https://meetinginsights.symbl.ai/meeting/#/{conversation_id}")
    }

    fn enter(&self, op: &'static str) -> Result<(), ProviderError> {
        if self.knobs.hit(Self::NAME, op) {
            return Err(ProviderError::Unavailable("503 (testkit)".into()));
        }
        Ok(())
    }
}

impl Faults for MemInsights {
    const NAME: &'static str = "MemInsights";
    const OPS: &'static [&'static str] = &["submit", "job_state", "insights", "summary_page"];

    fn knobs(&self) -> &Knobs {
        &self.knobs
    }
}

impl InsightsProvider for MemInsights {
    fn max_audio_secs(&self) -> f64 {
        self.max_audio_secs
    }

    async fn submit(&self, req: &InsightsRequest<'_>) -> Result<ProviderJob, ProviderError> {
        self.enter("submit")?;
        // A network call: lets another task (a second delivery) run meanwhile.
        tokio::task::yield_now().await;
        self.submitted.lock().unwrap().push(Submission {
            audio: req.audio.clone(),
            audio_url: req.audio_url.into(),
            callback_url: req.callback_url.into(),
            language: req.language.into(),
        });
        let refusal = {
            let mut script = self.submit_errors.lock().unwrap();
            (!script.is_empty()).then(|| script.remove(0))
        };
        match refusal {
            Some(e) => Err(e),
            None => Ok(self.job.clone()),
        }
    }

    async fn job_state(&self, job: JobRef<'_>) -> Result<JobState, ProviderError> {
        self.enter("job_state")?;
        self.status_asked.lock().unwrap().push(job.job_id.into());
        Ok(*self.status.lock().unwrap())
    }

    async fn insights(&self, _job: JobRef<'_>, _audio: &ProducedAudio) -> Result<InsightsReport, ProviderError> {
        self.enter("insights")?;
        let refusal = {
            let mut script = self.insights_errors.lock().unwrap();
            (!script.is_empty()).then(|| script.remove(0))
        };
        if let Some(e) = refusal {
            return Err(e);
        }
        Ok(self.insights.clone())
    }

    async fn summary_page(
        &self,
        conversation_id: &str,
        media_url: &str,
        _expires_in_secs: u64,
    ) -> Result<String, ProviderError> {
        self.enter("summary_page")?;
        self.pages
            .lock()
            .unwrap()
            .push((conversation_id.into(), media_url.into()));
        Ok(MemInsights::page_url(conversation_id))
    }
}
