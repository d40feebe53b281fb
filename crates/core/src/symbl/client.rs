//! The Symbl HTTP client: one token per warm container, refreshed before expiry or after a
//! 401; every call bounded by timeouts; 429 and 5xx told apart from 4xx.

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::insights::RawInsights;
use super::model::{JobStatus, SubmitAudio, Submitted, TokenResponse};
use super::request::submit_request;
use crate::insights::InsightsReport;
use crate::lifecycle::JobState;
use crate::ports::{InsightsProvider, InsightsRequest, ProviderError, ProviderJob};
use crate::secret::SecretString;
use crate::Error;

/// Refresh this long before the token's stated expiry.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SymblError {
    /// The concurrent-job limit: not now, later.
    #[error("Symbl is at its concurrent-job limit (429)")]
    RateLimited,
    #[error("Symbl unavailable: {0}")]
    Unavailable(String),
    #[error("Symbl rejected the credentials (401)")]
    Unauthorized,
    #[error("Symbl refused the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("Symbl has no such {0} (404)")]
    NotFound(&'static str),
}

struct Cached {
    token: SecretString,
    refresh_at: Instant,
}

pub struct SymblClient {
    http: reqwest::Client,
    base_url: String,
    app_id: String,
    app_secret: SecretString,
    token: Mutex<Option<Cached>>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    message: String,
}

impl SymblClient {
    pub fn new(
        base_url: impl Into<String>,
        app_id: impl Into<String>,
        app_secret: SecretString,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("http client: {e}")))?;
        Ok(SymblClient {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            app_id: app_id.into(),
            app_secret,
            token: Mutex::new(None),
        })
    }

    /// `POST /v1/process/audio/url`.
    pub async fn submit_audio_url(&self, req: &SubmitAudio) -> Result<Submitted, SymblError> {
        self.authorized(
            |token| {
                self.http
                    .post(format!("{}/v1/process/audio/url", self.base_url))
                    .bearer_auth(token)
                    .json(req)
            },
            "job",
        )
        .await
    }

    /// `GET /v1/job/{id}`.
    pub async fn job_status(&self, job_id: &str) -> Result<JobStatus, SymblError> {
        #[derive(Deserialize)]
        struct Job {
            status: JobStatus,
        }
        let job: Job = self
            .authorized(
                |token| {
                    self.http
                        .get(format!("{}/v1/job/{job_id}", self.base_url))
                        .bearer_auth(token)
                },
                "job",
            )
            .await?;
        Ok(job.status)
    }

    /// `GET /v1/conversations/{id}/{what}` with real query parameters.
    pub async fn conversation(
        &self,
        conversation_id: &str,
        what: &str,
        query: &[(&str, &str)],
    ) -> Result<serde_json::Value, SymblError> {
        let url = format!("{}/v1/conversations/{conversation_id}/{what}", self.base_url);
        self.authorized(
            |token| self.http.get(&url).query(query).bearer_auth(token),
            "conversation",
        )
        .await
    }

    /// Summary, topics (with sentiment), questions, action items and follow-ups.
    pub async fn insights(&self, conversation_id: &str) -> Result<RawInsights, SymblError> {
        let (summary, topics, questions, action_items, follow_ups) = tokio::try_join!(
            self.conversation(conversation_id, "summary", &[]),
            self.conversation(conversation_id, "topics", &[("sentiment", "true")]),
            self.conversation(conversation_id, "questions", &[]),
            self.conversation(conversation_id, "action-items", &[]),
            self.conversation(conversation_id, "follow-ups", &[]),
        )?;
        Ok(RawInsights {
            summary,
            topics,
            questions,
            action_items,
            follow_ups,
        })
    }

    /// `POST /v1/conversations/{id}/experiences` for the `video-summary` page; its URL.
    pub async fn video_summary(
        &self,
        conversation_id: &str,
        media_url: &str,
        expires_in_secs: u64,
    ) -> Result<String, SymblError> {
        #[derive(Deserialize)]
        struct Experience {
            url: String,
        }
        let url = format!("{}/v1/conversations/{conversation_id}/experiences", self.base_url);
        let body = serde_json::json!({
            "name": "video-summary",
            "videoUrl": media_url,
            "summaryURLExpiresIn": expires_in_secs,
            "readOnly": true,
        });
        let exp: Experience = self
            .authorized(
                |token| self.http.post(&url).bearer_auth(token).json(&body),
                "conversation",
            )
            .await?;
        Ok(exp.url)
    }

    /// Sends with the cached token; after a 401, once more with a fresh one.
    async fn authorized<T, F>(&self, build: F, what: &'static str) -> Result<T, SymblError>
    where
        T: DeserializeOwned,
        F: Fn(&str) -> reqwest::RequestBuilder,
    {
        let token = self.token(false).await?;
        match send(build(token.expose()), what).await {
            Err(SymblError::Unauthorized) => {
                let fresh = self.token(true).await?;
                send(build(fresh.expose()), what).await
            }
            other => other,
        }
    }

    async fn token(&self, force: bool) -> Result<SecretString, SymblError> {
        let mut cached = self.token.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| !force && Instant::now() < c.refresh_at) {
            return Ok(c.token.clone());
        }
        let body =
            serde_json::json!({ "type": "application", "appId": self.app_id, "appSecret": self.app_secret.expose() });
        let resp: TokenResponse = send(
            self.http
                .post(format!("{}/oauth2/token:generate", self.base_url))
                .json(&body),
            "application",
        )
        .await?;
        // The server returns the remaining lifetime of a cached token, never assume a fresh day.
        let lifetime = Duration::from_secs(resp.expires_in.unwrap_or(0));
        let refresh_at = Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN);
        *cached = Some(Cached {
            token: resp.access_token.clone(),
            refresh_at,
        });
        Ok(resp.access_token)
    }
}

async fn send<T: DeserializeOwned>(req: reqwest::RequestBuilder, what: &'static str) -> Result<T, SymblError> {
    let resp = req.send().await.map_err(|e| {
        SymblError::Unavailable(if e.is_timeout() {
            "timed out".into()
        } else {
            "request failed".into()
        })
    })?;
    let status = resp.status().as_u16();
    match status {
        200..=299 => resp
            .json()
            .await
            .map_err(|e| SymblError::Unavailable(format!("unreadable response: {e}"))),
        401 => Err(SymblError::Unauthorized),
        404 => Err(SymblError::NotFound(what)),
        429 => Err(SymblError::RateLimited),
        500..=599 => Err(SymblError::Unavailable(format!("HTTP {status}"))),
        _ => {
            let message = resp.json::<Message>().await.map(|m| m.message).unwrap_or_default();
            Err(SymblError::Rejected {
                status,
                message: message.chars().take(300).collect(),
            })
        }
    }
}

impl From<SymblError> for ProviderError {
    fn from(e: SymblError) -> Self {
        match e {
            SymblError::RateLimited => ProviderError::AtCapacity(e.to_string()),
            SymblError::Unavailable(_) => ProviderError::Unavailable(e.to_string()),
            SymblError::Unauthorized | SymblError::Rejected { .. } | SymblError::NotFound(_) => {
                ProviderError::Refused(e.to_string())
            }
        }
    }
}

impl InsightsProvider for SymblClient {
    fn max_audio_secs(&self) -> f64 {
        super::MAX_AUDIO_SECS
    }

    async fn submit(&self, req: &InsightsRequest<'_>) -> Result<ProviderJob, ProviderError> {
        let submitted = self.submit_audio_url(&submit_request(req)).await?;
        Ok(ProviderJob {
            job_id: submitted.job_id,
            conversation_id: submitted.conversation_id,
        })
    }

    async fn job_state(&self, job_id: &str) -> Result<JobState, ProviderError> {
        Ok(SymblClient::job_status(self, job_id).await?.into())
    }

    async fn insights(&self, conversation_id: &str) -> Result<InsightsReport, ProviderError> {
        Ok(SymblClient::insights(self, conversation_id).await?.into_report())
    }

    async fn summary_page(
        &self,
        conversation_id: &str,
        media_url: &str,
        expires_in_secs: u64,
    ) -> Result<String, ProviderError> {
        Ok(self.video_summary(conversation_id, media_url, expires_in_secs).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Retry;

    #[test]
    fn retry_classes() {
        let retry = |e: SymblError| ProviderError::from(e).retry();
        assert_eq!(retry(SymblError::RateLimited), Retry::Retryable);
        assert!(matches!(
            ProviderError::from(SymblError::RateLimited),
            ProviderError::AtCapacity(_)
        ));
        assert_eq!(retry(SymblError::Unavailable("HTTP 503".into())), Retry::Retryable);
        assert_eq!(
            retry(SymblError::Rejected {
                status: 400,
                message: "x".into()
            }),
            Retry::Permanent
        );
        assert_eq!(retry(SymblError::Unauthorized), Retry::Permanent);
        assert_eq!(retry(SymblError::NotFound("job")), Retry::Permanent);
        assert!(!Error::from(ProviderError::from(SymblError::Unauthorized)).is_retryable());
    }
}
