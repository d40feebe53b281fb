//! Zoom's recording downloads over HTTPS, and why a track could not be fetched
//! (docs/zoom.md, "Downloading recordings"). The retries and the checks that what arrived is
//! audio are the archive's ([`crate::archive`]).

use futures_util::TryStreamExt;
use tokio_util::io::StreamReader;
use url::Url;

use zoom_symbl_core::error::Retry;
use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::Error;

use crate::ports::{RecordingBody, Recordings};

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
    /// Downloaded whole, but no audio decodes from it (no audio stream, cut before its index).
    #[error("not decodable audio: {0}")]
    Undecodable(String),
    /// A replay found no original where the earlier run archived it.
    #[error("not in the archive of the earlier run")]
    NotArchived,
}

impl FetchError {
    /// Which fetch failures may succeed later: what the HTTP rule says of a status
    /// ([`Retry::of_http_status`]) and a transfer that broke off.
    pub fn retry(&self) -> Retry {
        match self {
            FetchError::Status(s) => Retry::of_http_status(*s),
            FetchError::Transfer(_) | FetchError::Truncated { .. } => Retry::Retryable,
            FetchError::TokenRejected
            | FetchError::NotAudio(_)
            | FetchError::Refused(_)
            | FetchError::Undecodable(_)
            | FetchError::NotArchived => Retry::Permanent,
        }
    }
}

impl From<FetchError> for Error {
    fn from(e: FetchError) -> Self {
        Error::Dependency {
            dependency: "zoom download",
            retry: e.retry(),
            message: e.to_string(),
        }
    }
}

/// [`Recordings`] over HTTPS with the bearer download token.
#[derive(Clone)]
pub struct ZoomDownloads {
    http: reqwest::Client,
}

impl ZoomDownloads {
    pub fn new(http: reqwest::Client) -> Self {
        ZoomDownloads { http }
    }
}

impl Recordings for ZoomDownloads {
    async fn open(&self, url: &Url, token: &SecretString) -> Result<RecordingBody, FetchError> {
        let resp = self
            .http
            .get(url.as_str())
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(|e| request_error(&e))?;
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
        let length = resp.content_length();
        let body = StreamReader::new(resp.bytes_stream().map_err(std::io::Error::other));
        Ok(RecordingBody {
            content_type,
            length,
            body: Box::new(body),
        })
    }
}

/// A refused redirect (see `HostAllowList::redirect_policy`) never passes by retrying; any
/// other failure to get an answer may.
fn request_error(e: &reqwest::Error) -> FetchError {
    if e.is_redirect() {
        // The policy's own message names the rule and the host, never the URL or its query.
        let mut reason = None;
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason = Some(s.to_string());
            source = s.source();
        }
        return FetchError::Refused(reason.unwrap_or_else(|| "redirect refused".into()));
    }
    FetchError::Transfer(transport(e))
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
    fn retry_classes() {
        assert_eq!(FetchError::Status(503).retry(), Retry::Retryable);
        assert_eq!(FetchError::Status(429).retry(), Retry::Retryable);
        assert_eq!(FetchError::Status(408).retry(), Retry::Retryable);
        assert_eq!(FetchError::Status(404).retry(), Retry::Permanent);
        assert_eq!(FetchError::Truncated { got: 1, expected: 2 }.retry(), Retry::Retryable);
        assert_eq!(FetchError::Transfer("timed out".into()).retry(), Retry::Retryable);
        assert_eq!(FetchError::TokenRejected.retry(), Retry::Permanent);
        assert_eq!(FetchError::NotAudio(String::new()).retry(), Retry::Permanent);
        assert_eq!(FetchError::Refused(String::new()).retry(), Retry::Permanent);
    }

    /// One HTTP exchange on a local port: answers `response`, hands back the request's head.
    async fn serve_once(response: &'static str) -> (Url, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!(
            "http://{}/rec/webhook_download/x",
            listener.local_addr().unwrap()
        ))
        .unwrap();
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut head = vec![0u8; 4096];
            let n = conn.read(&mut head).await.unwrap();
            conn.write_all(response.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&head[..n]).into_owned()
        });
        (url, server)
    }

    #[tokio::test]
    async fn zoom_downloads_send_the_bearer_token_and_sort_the_answers() {
        use tokio::io::AsyncReadExt;
        let zoom = ZoomDownloads::new(reqwest::Client::new());
        let token = SecretString::new("tok");

        let (url, server) =
            serve_once("HTTP/1.1 200 OK\r\nContent-Type: Audio/MP4\r\nContent-Length: 5\r\n\r\nhello").await;
        let mut file = zoom.open(&url, &token).await.unwrap();
        assert_eq!((file.content_type.as_str(), file.length), ("audio/mp4", Some(5)));
        let mut body = String::new();
        file.body.read_to_string(&mut body).await.unwrap();
        assert_eq!(body, "hello");
        let request = server.await.unwrap().to_ascii_lowercase();
        assert!(request.contains("authorization: bearer tok"), "{request}");

        let (url, _server) = serve_once("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n").await;
        assert_eq!(zoom.open(&url, &token).await.err(), Some(FetchError::TokenRejected));
        let (url, server) = serve_once("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n").await;
        assert_eq!(zoom.open(&url, &token).await.err(), Some(FetchError::Status(503)));
        server.await.unwrap();
        // Nothing listens there any more (and a new client has no pooled connection to it):
        // a transfer failure, without the URL.
        let fresh = ZoomDownloads::new(reqwest::Client::new());
        assert_eq!(
            fresh.open(&url, &token).await.err(),
            Some(FetchError::Transfer("connection failed".into()))
        );
    }

    #[test]
    fn a_fetch_error_keeps_its_class_and_reason_as_a_pipeline_error() {
        let later = Error::from(FetchError::Status(503));
        assert!(later.is_retryable());
        assert_eq!(later.to_string(), "zoom download: HTTP 503");
        assert!(!Error::from(FetchError::NotAudio("an HTML page instead of audio".into())).is_retryable());
    }

    #[tokio::test]
    async fn a_redirect_off_the_allow_list_is_refused_for_good_without_its_url() {
        let list = zoom_symbl_core::zoom::HostAllowList::parse("zoom.us");
        let client = reqwest::Client::builder()
            .redirect(list.redirect_policy())
            .build()
            .unwrap();
        let zoom = ZoomDownloads::new(client);
        let (url, server) = serve_once(
            "HTTP/1.1 302 Found\r\nLocation: https://evil.example/x?sig=S3CRET\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        let Err(err) = zoom.open(&url, &SecretString::new("tok")).await else {
            panic!("the redirect was followed")
        };
        server.await.unwrap();
        assert_eq!(err.retry(), Retry::Permanent, "{err}");
        let text = err.to_string();
        assert!(text.contains("evil.example") && !text.contains("S3CRET"), "{text}");
    }
}
