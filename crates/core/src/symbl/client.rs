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
use crate::meeting::ProducedAudio;
use crate::ports::{InsightsProvider, InsightsRequest, JobRef, ProviderError, ProviderJob};
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

    /// Summary, topics (with sentiment), questions, action items and follow-ups, each fetched on
    /// its own: a section Symbl refuses is left out and named, so the host still gets the rest;
    /// a retryable failure (or refused credentials) fails the whole fetch, to be tried again.
    pub async fn insights(&self, conversation_id: &str) -> Result<RawInsights, SymblError> {
        let (summary, topics, questions, action_items, follow_ups, messages) = tokio::join!(
            self.conversation(conversation_id, "summary", &[]),
            self.conversation(conversation_id, "topics", &[("sentiment", "true")]),
            self.conversation(conversation_id, "questions", &[]),
            self.conversation(conversation_id, "action-items", &[]),
            self.conversation(conversation_id, "follow-ups", &[]),
            self.conversation(conversation_id, "messages", &[]),
        );
        // The transcript is for the meeting page: refused, the insights still go without it.
        let messages = match messages {
            Ok(doc) => doc,
            Err(e) if e.is_refusal_of_the_request() => {
                tracing::warn!(error = %e, "Symbl refused the transcript; sending the insights without it");
                serde_json::Value::Null
            }
            Err(e) => return Err(e),
        };
        let mut sections = Sections::default();
        let mut raw = RawInsights {
            summary: sections.take("summary", summary)?,
            topics: sections.take("topics", topics)?,
            questions: sections.take("questions", questions)?,
            action_items: sections.take("action-items", action_items)?,
            follow_ups: sections.take("follow-ups", follow_ups)?,
            missing: Vec::new(),
            messages,
        };
        sections.finish(&mut raw)?;
        Ok(raw)
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

/// The insight sections as they come back: which ones Symbl refused, and why the first did.
#[derive(Default)]
struct Sections {
    missing: Vec<&'static str>,
    refusal: Option<SymblError>,
}

impl Sections {
    /// The section's document; `null` (and its name kept) when Symbl refused just this one.
    fn take(
        &mut self,
        name: &'static str,
        got: Result<serde_json::Value, SymblError>,
    ) -> Result<serde_json::Value, SymblError> {
        match got {
            Ok(doc) => Ok(doc),
            Err(e) if e.is_refusal_of_the_request() => {
                tracing::warn!(section = name, error = %e, "Symbl refused this insight section; sending the others");
                self.missing.push(name);
                self.refusal.get_or_insert(e);
                Ok(serde_json::Value::Null)
            }
            Err(e) => Err(e),
        }
    }

    /// Every section refused: nothing to send, the conversation itself is refused.
    fn finish(self, raw: &mut RawInsights) -> Result<(), SymblError> {
        match self.refusal {
            Some(e) if self.missing.len() == raw.documents().len() => Err(e),
            _ => {
                raw.missing = self.missing;
                Ok(())
            }
        }
    }
}

impl SymblError {
    /// A 4xx for this request alone (not 401, 429): asking again gives the same answer, and
    /// other requests may still succeed.
    fn is_refusal_of_the_request(&self) -> bool {
        matches!(self, SymblError::Rejected { .. } | SymblError::NotFound(_))
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

    async fn job_state(&self, job: JobRef<'_>) -> Result<JobState, ProviderError> {
        Ok(SymblClient::job_status(self, job.job_id).await?.into())
    }

    async fn insights(&self, job: JobRef<'_>, _audio: &ProducedAudio) -> Result<InsightsReport, ProviderError> {
        Ok(SymblClient::insights(self, job.conversation_id).await?.into_report())
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

    /// One route of the Symbl stand-in: path, status, JSON body.
    type Route = (&'static str, u16, &'static str);

    const SUMMARY: Route = (
        "/v1/conversations/c/summary",
        200,
        r#"{"summary":[{"text":"Agreed."}]}"#,
    );
    const TOPICS: Route = ("/v1/conversations/c/topics", 200, r#"{"topics":[{"text":"launch"}]}"#);
    const QUESTIONS: Route = ("/v1/conversations/c/questions", 200, r#"{"questions":[]}"#);
    const ACTIONS: Route = ("/v1/conversations/c/action-items", 200, r#"{"actionItems":[]}"#);
    const FOLLOW_UPS: Route = ("/v1/conversations/c/follow-ups", 200, r#"{"followUps":[]}"#);

    /// A Symbl stand-in on a local port: a token for anyone, each route's answer, 404 elsewhere.
    async fn symbl(routes: Vec<Route>) -> SymblClient {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let routes = std::sync::Arc::new(routes);
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let routes = routes.clone();
                tokio::spawn(async move {
                    let request = read_request(&mut conn).await;
                    let target = request.split_whitespace().nth(1).unwrap_or_default();
                    let path = target.split('?').next().unwrap_or_default();
                    let (status, body) = match routes.iter().find(|(p, ..)| *p == path) {
                        _ if path == "/oauth2/token:generate" => (200, r#"{"accessToken":"t","expiresIn":86400}"#),
                        Some((_, status, body)) => (*status, *body),
                        None => (404, r#"{"message":"no such conversation"}"#),
                    };
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(reply.as_bytes()).await;
                });
            }
        });
        SymblClient::new(base, "app", SecretString::new("secret"), Duration::from_secs(5)).unwrap()
    }

    /// The request head and body (read whole, so closing the connection never resets the reply).
    async fn read_request(conn: &mut tokio::net::TcpStream) -> String {
        use tokio::io::AsyncReadExt;
        let mut buf = Vec::new();
        let mut chunk = [0; 4096];
        loop {
            let n = conn.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        let l = l.to_ascii_lowercase();
                        l.strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    break;
                }
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    #[tokio::test]
    async fn a_refused_section_is_left_out_and_named() {
        let client = symbl(vec![
            SUMMARY,
            TOPICS,
            ("/v1/conversations/c/questions", 404, r#"{"message":"not found"}"#),
            ACTIONS,
            (
                "/v1/conversations/c/follow-ups",
                400,
                r#"{"message":"not in this plan"}"#,
            ),
        ])
        .await;
        let raw = client.insights("c").await.unwrap();
        assert_eq!(raw.missing, ["questions", "follow-ups"]);
        assert_eq!(raw.questions, serde_json::Value::Null);
        let report = raw.into_report();
        assert_eq!(report.insights.summary, ["Agreed."]);
        assert_eq!(report.insights.topics[0].text, "launch");
        assert_eq!(report.insights.missing, ["questions", "follow-ups"]);
        assert_eq!(report.documents.len(), 3);
    }

    #[tokio::test]
    async fn every_section_answered_means_nothing_missing() {
        let client = symbl(vec![SUMMARY, TOPICS, QUESTIONS, ACTIONS, FOLLOW_UPS]).await;
        let raw = client.insights("c").await.unwrap();
        assert!(raw.missing.is_empty());
        assert_eq!(raw.into_report().documents.len(), 5);
    }

    #[tokio::test]
    async fn a_retryable_failure_of_any_section_fails_the_fetch() {
        for (status, expected) in [
            (503, SymblError::Unavailable("HTTP 503".into())),
            (429, SymblError::RateLimited),
        ] {
            let client = symbl(vec![
                SUMMARY,
                ("/v1/conversations/c/topics", 404, "{}"),
                QUESTIONS,
                ACTIONS,
                ("/v1/conversations/c/follow-ups", status, "{}"),
            ])
            .await;
            let err = client.insights("c").await.unwrap_err();
            assert_eq!(err, expected);
            assert_eq!(ProviderError::from(err).retry(), Retry::Retryable);
        }
    }

    #[tokio::test]
    async fn a_conversation_refused_whole_is_an_error() {
        let client = symbl(vec![]).await;
        assert_eq!(
            client.insights("c").await.unwrap_err(),
            SymblError::NotFound("conversation")
        );
    }

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
