//! Webhook deliveries as Zoom makes them (docs/zoom.md, "Webhook signature", "URL validation").

use anyhow::Context;
use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::zoom::WebhookVerifier;

/// An `endpoint.url_validation` challenge body.
pub fn url_validation_body(plain_token: &str, event_ts_ms: i64) -> Vec<u8> {
    let body = serde_json::json!({
        "payload": { "plainToken": plain_token },
        "event_ts": event_ts_ms,
        "event": "endpoint.url_validation",
    });
    body.to_string().into_bytes()
}

/// POSTs `body` signed over its exact bytes with `secret`, with Zoom's headers.
/// Returns (status, response body text).
pub async fn send_signed(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    body: &[u8],
    timestamp: i64,
) -> anyhow::Result<(u16, String)> {
    let ts = timestamp.to_string();
    let signature = WebhookVerifier::new(SecretString::new(secret), 0)
        .context("webhook secret")?
        .sign(&ts, body);
    let response = client
        .post(url)
        .header("content-type", "application/json; charset=utf-8")
        .header("user-agent", "Zoom Marketplace/1.0a")
        .header("x-zm-request-timestamp", ts)
        .header("x-zm-signature", signature)
        .header(
            "x-zm-trackingid",
            format!("v=2.0;clid=sandbox;rid={}", uuid::Uuid::new_v4().simple()),
        )
        .body(body.to_vec())
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status().as_u16();
    let text = response.text().await.context("reading webhook response")?;
    Ok((status, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;
    use std::sync::{Arc, Mutex};
    use zoom_symbl_core::zoom::ZoomEvent;

    #[test]
    fn validation_body_parses_as_the_challenge() {
        let body = url_validation_body("qgg8vlvZRS6UYooatFL8Aw", 1_701_461_195_123);
        assert_eq!(
            ZoomEvent::parse(&body).unwrap(),
            ZoomEvent::UrlValidation {
                plain_token: "qgg8vlvZRS6UYooatFL8Aw".into()
            }
        );
    }

    #[tokio::test]
    async fn signature_verifies_with_the_core_verifier() {
        type Seen = Arc<Mutex<Option<(HeaderMap, Vec<u8>)>>>;
        let seen: Seen = Arc::default();
        let app = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(
                    |axum::extract::State(seen): axum::extract::State<Seen>,
                     headers: HeaderMap,
                     body: axum::body::Bytes| async move {
                        *seen.lock().unwrap() = Some((headers, body.to_vec()));
                        "ok"
                    },
                ),
            )
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        // Deliberately non-canonical JSON: the signature must cover the bytes as sent.
        let body = br#"{ "event":"recording.completed",  "payload":{"object":{"uuid":"/a+b=="}}}"#;
        let (status, text) = send_signed(
            &reqwest::Client::new(),
            &format!("http://{addr}/hook"),
            "s3cret",
            body,
            1_701_461_194,
        )
        .await
        .unwrap();
        assert_eq!((status, text.as_str()), (200, "ok"));

        let (headers, received) = seen.lock().unwrap().take().unwrap();
        assert_eq!(received, body);
        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        assert_eq!(h("user-agent"), Some("Zoom Marketplace/1.0a"));
        assert!(h("x-zm-trackingid").is_some());
        assert!(h("content-type").unwrap().starts_with("application/json"));
        let verifier = WebhookVerifier::new(SecretString::new("s3cret"), 300).unwrap();
        verifier
            .verify(
                h("x-zm-request-timestamp"),
                h("x-zm-signature"),
                &received,
                1_701_461_194,
            )
            .unwrap();
        let wrong = WebhookVerifier::new(SecretString::new("other"), 300).unwrap();
        assert!(wrong
            .verify(
                h("x-zm-request-timestamp"),
                h("x-zm-signature"),
                &received,
                1_701_461_194
            )
            .is_err());
        server.abort();
    }

    #[tokio::test]
    async fn empty_secret_is_refused() {
        let r = send_signed(&reqwest::Client::new(), "http://127.0.0.1:9/", "", b"{}", 0).await;
        assert!(r.is_err());
    }
}
