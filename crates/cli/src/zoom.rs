//! Zoom's API as `backfill` uses it: Server-to-Server OAuth, the account's users and their
//! cloud recordings (paged, at most a month per request), each meeting's fresh download
//! token; Zoom's 429 is waited out (docs/zoom.md, "Backfill").

use std::time::Duration;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::Value;
use zoom_symbl_core::secret::SecretString;

use crate::error::{CliError, Result};

/// Attempts at a request Zoom throttles (429) or fails with a 5xx.
const ATTEMPTS: u32 = 6;
/// The longest wait between two attempts.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub struct S2s {
    pub account_id: String,
    pub client_id: String,
    pub client_secret: SecretString,
}

pub struct ZoomClient {
    http: reqwest::Client,
    api_base: String,
    token: SecretString,
    /// 429s waited out, for the summary.
    pub throttled: std::sync::atomic::AtomicU32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    #[serde(default)]
    api_url: Option<String>,
}

impl ZoomClient {
    /// Signs in with the account's S2S app.
    pub async fn sign_in(oauth_url: &str, default_api_base: &str, creds: &S2s) -> Result<ZoomClient> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| CliError::remote("HTTP client", e))?;
        let resp = http
            .post(oauth_url)
            .basic_auth(&creds.client_id, Some(creds.client_secret.expose()))
            .form(&[
                ("grant_type", "account_credentials"),
                ("account_id", creds.account_id.as_str()),
            ])
            .send()
            .await
            .map_err(|e| CliError::remote("Zoom OAuth", format!("could not reach {oauth_url}: {}", short(&e))))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(CliError::remote(
                "Zoom OAuth",
                format!("HTTP {status}: the S2S app's account id, client id or secret was refused"),
            ));
        }
        let token: TokenResponse = resp
            .json()
            .await
            .map_err(|e| CliError::remote("Zoom OAuth", format!("unexpected answer: {}", short(&e))))?;
        Ok(ZoomClient {
            http,
            api_base: token
                .api_url
                .unwrap_or_else(|| default_api_base.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            token: token.access_token,
            throttled: Default::default(),
        })
    }

    /// Every active user of the account, all pages.
    pub async fn users(&self) -> Result<Vec<User>> {
        let mut users = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .get(&format!(
                    "/v2/users?status=active&page_size=300&next_page_token={}",
                    enc(&token)
                ))
                .await?;
            for u in page["users"].as_array().into_iter().flatten() {
                if let Ok(user) = serde_json::from_value::<User>(u.clone()) {
                    users.push(user);
                }
            }
            match page["next_page_token"].as_str().filter(|t| !t.is_empty()) {
                Some(next) => token = next.to_owned(),
                None => return Ok(users),
            }
        }
    }

    /// The user's recorded meetings that started in `[from, to]` (at most a month), all pages.
    pub async fn recordings(&self, user: &str, from: &str, to: &str) -> Result<Vec<Value>> {
        let mut meetings = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .get(&format!(
                    "/v2/users/{}/recordings?from={from}&to={to}&page_size=300&next_page_token={}",
                    enc(user),
                    enc(&token)
                ))
                .await?;
            meetings.extend(page["meetings"].as_array().into_iter().flatten().cloned());
            match page["next_page_token"].as_str().filter(|t| !t.is_empty()) {
                Some(next) => token = next.to_owned(),
                None => return Ok(meetings),
            }
        }
    }

    /// The meeting instance's recording with a download token valid for a day.
    pub async fn recording_with_token(&self, uuid: &str) -> Result<Value> {
        // Zoom requires UUIDs that start with `/` or hold `//` double-encoded, and takes it for all.
        let once = utf8_percent_encode(uuid, NON_ALPHANUMERIC).to_string();
        self.get(&format!(
            "/v2/meetings/{}/recordings?include_fields=download_access_token&ttl=86400",
            enc(&once)
        ))
        .await
    }

    async fn get(&self, path: &str) -> Result<Value> {
        let url = format!("{}{path}", self.api_base);
        // The path without its query: page tokens are not for error messages.
        let what = format!("Zoom GET {}", path.split('?').next().unwrap_or(path));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp = self.http.get(&url).bearer_auth(self.token.expose()).send().await;
            let wait = match resp {
                Ok(r) if r.status().is_success() => {
                    return r
                        .json()
                        .await
                        .map_err(|e| CliError::remote(&what, format!("unexpected answer: {}", short(&e))))
                }
                Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                    if r.status().as_u16() == 429 {
                        self.throttled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    retry_after(&r).unwrap_or_else(|| backoff(attempt))
                }
                Ok(r) => {
                    let status = r.status();
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    let message = body["message"].as_str().unwrap_or("").to_owned();
                    return Err(CliError::Remote {
                        what,
                        reason: format!("HTTP {status}: {message}"),
                        retry: zoom_symbl_core::error::Retry::Permanent,
                    });
                }
                Err(_) => backoff(attempt),
            };
            if attempt >= ATTEMPTS {
                return Err(CliError::remote(
                    &what,
                    format!("still throttled or failing after {ATTEMPTS} attempts"),
                ));
            }
            tokio::time::sleep(wait.min(MAX_WAIT)).await;
        }
    }
}

/// Zoom's `Retry-After` in seconds, when it sends one.
fn retry_after(r: &reqwest::Response) -> Option<Duration> {
    let secs: u64 = r.headers().get("retry-after")?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs.max(1)))
}

/// 1 s, 2 s, 4 s, ... with jitter, so parallel clients do not retry in step.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_secs(1u64 << attempt.saturating_sub(1).min(5));
    base.mul_f64(0.75 + rand::random::<f64>() * 0.5)
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// An HTTP error in a few words, without its URL (a query may carry a token).
fn short(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection refused or TLS failed"
    } else if e.is_decode() {
        "the body did not parse"
    } else {
        "request failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_jitter() {
        for attempt in 1..=4 {
            let b = backoff(attempt).as_secs_f64();
            let base = f64::from(1u32 << (attempt - 1));
            assert!((base * 0.75..=base * 1.25).contains(&b), "{attempt}: {b}");
        }
        assert!(backoff(30) <= Duration::from_secs(40), "capped");
    }
}
