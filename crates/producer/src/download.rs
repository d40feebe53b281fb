//! Downloading Zoom recordings straight into the archive bucket, with retries and checks
//! that what arrived is audio (docs/zoom.md, "Downloading recordings").

use std::time::Duration;

use futures_util::TryStreamExt;
use tokio::io::AsyncReadExt;
use tokio_util::io::StreamReader;

use zoom_symbl_core::ports::ObjectStore;
use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::zoom::HostAllowList;

/// Why a track could not be fetched. `Display` is what the meeting record keeps.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    #[error("download token rejected or expired (HTTP 401)")]
    TokenRejected,
    #[error("not audio: {0}")]
    NotAudio(String),
    #[error("truncated: {got} of {expected} bytes")]
    Truncated { got: u64, expected: u64 },
    #[error("HTTP {0}")]
    Status(u16),
    #[error("transfer failed: {0}")]
    Transfer(String),
    #[error("refused URL: {0}")]
    Refused(String),
}

impl FetchError {
    fn retryable(&self) -> bool {
        match self {
            FetchError::Status(s) => *s >= 500 || *s == 429 || *s == 408,
            FetchError::Transfer(_) | FetchError::Truncated { .. } => true,
            FetchError::TokenRejected | FetchError::NotAudio(_) | FetchError::Refused(_) => false,
        }
    }
}

/// Where one track goes.
pub struct Destination<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
}

#[derive(Clone)]
pub struct Downloader {
    http: reqwest::Client,
    allowed: HostAllowList,
    attempts: u32,
    backoff: Duration,
}

impl Downloader {
    pub fn new(http: reqwest::Client, allowed: HostAllowList, attempts: u32, backoff: Duration) -> Self {
        Downloader {
            http,
            allowed,
            attempts: attempts.max(1),
            backoff,
        }
    }

    /// Streams `url` into the object store, retrying transient failures with exponential
    /// backoff and jitter. Returns the bytes archived.
    pub async fn archive<O: ObjectStore>(
        &self,
        objects: &O,
        url: &str,
        token: &SecretString,
        expected_size: u64,
        dest: Destination<'_>,
    ) -> Result<u64, FetchError> {
        let url = self
            .allowed
            .check(url)
            .map_err(|e| FetchError::Refused(e.to_string()))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.once(objects, url.as_str(), token, expected_size, &dest).await {
                Err(e) if e.retryable() && attempt < self.attempts => {
                    let jitter = rand::random::<f64>() * 0.5 + 0.75;
                    let wait = self.backoff.mul_f64(2f64.powi(attempt as i32 - 1) * jitter);
                    tracing::warn!(error = %e, attempt, wait_ms = wait.as_millis() as u64, key = dest.key, "download failed; retrying");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    async fn once<O: ObjectStore>(
        &self,
        objects: &O,
        url: &str,
        token: &SecretString,
        expected_size: u64,
        dest: &Destination<'_>,
    ) -> Result<u64, FetchError> {
        let resp = self
            .http
            .get(url)
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(|e| FetchError::Transfer(transport(&e)))?;
        let status = resp.status().as_u16();
        if status == 401 {
            return Err(FetchError::TokenRejected);
        }
        if !(200..300).contains(&status) {
            return Err(FetchError::Status(status));
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("text/html") {
            return Err(FetchError::NotAudio("an HTML page instead of audio".into()));
        }
        if let Some(len) = resp.content_length() {
            if len < expected_size {
                return Err(FetchError::Truncated {
                    got: len,
                    expected: expected_size,
                });
            }
        }
        let stream = resp.bytes_stream().map_err(std::io::Error::other);
        let mut body = StreamReader::new(stream);
        let mut head = [0u8; 12];
        let got = crate::merge::read_full(&mut body, &mut head)
            .await
            .map_err(|e| FetchError::Transfer(e.to_string()))?;
        check_container(&head[..got])?;
        let written = objects
            .put_stream(dest.bucket, dest.key, "audio/mp4", (&head[..got]).chain(body))
            .await
            .map_err(|e| FetchError::Transfer(e.to_string()))?;
        if written < expected_size {
            return Err(FetchError::Truncated {
                got: written,
                expected: expected_size,
            });
        }
        Ok(written)
    }
}

/// An MP4/M4A file starts with a box whose type, at offset 4, is `ftyp`.
pub fn check_container(head: &[u8]) -> Result<(), FetchError> {
    if head.len() >= 8 && &head[4..8] == b"ftyp" {
        return Ok(());
    }
    let looks_html = head
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(1)
        .any(|b| *b == b'<');
    Err(FetchError::NotAudio(if looks_html {
        "an HTML page instead of audio".into()
    } else {
        "not an MP4/M4A container".into()
    }))
}

/// reqwest's errors print the URL, which may carry a token; keep only the kind.
fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_redirect() {
        "too many redirects".into()
    } else {
        "request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_check() {
        assert_eq!(check_container(b"\0\0\0\x20ftypM4A \0\0"), Ok(()));
        assert_eq!(
            check_container(b"  <!DOCTYPE html>"),
            Err(FetchError::NotAudio("an HTML page instead of audio".into()))
        );
        assert_eq!(
            check_container(b"ID3\x04"),
            Err(FetchError::NotAudio("not an MP4/M4A container".into()))
        );
        assert!(check_container(b"").is_err());
    }

    #[test]
    fn retry_classes() {
        assert!(FetchError::Status(503).retryable());
        assert!(FetchError::Status(429).retryable());
        assert!(!FetchError::Status(404).retryable());
        assert!(FetchError::Truncated { got: 1, expected: 2 }.retryable());
        assert!(!FetchError::TokenRejected.retryable());
        assert!(!FetchError::NotAudio(String::new()).retryable());
    }
}
