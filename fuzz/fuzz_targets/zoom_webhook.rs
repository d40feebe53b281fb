//! zoom-webhook's public endpoint, end to end minus AWS: a lambda_http request built from
//! the input goes through the real `http_io::incoming`, `ZoomWebhook::handle` (size limit,
//! x-zm-signature check, event parse and classification, download-host allow list, claim,
//! producer job) and `http_io::respond`, with in-memory ports and a pinned clock.
//!
//! Input: `<mode><header lines>\n\n<body>`; each header line is `name: value`. With no
//! blank line the whole rest is the body. `mode % 3`:
//! - 0 (`'0'`): raw, the headers exactly as given;
//! - 1 (`'1'`): x-zm-signature replaced by the correct one for the given timestamp header;
//! - 2 (`'2'`): timestamp set to "now" and correctly signed, so every input reaches the parser.
//!
//! Every reply is checked against an independent oracle (own HMAC, own host rule).

#![no_main]

use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use lambda_http::Body;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use sha2::Sha256;
use zoom_symbl_core::meeting_key::MeetingKey;
use zoom_symbl_core::lifecycle::MeetingState;
use zoom_symbl_core::ports::ProducerJob;
use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::testkit::{MemMeetings, MemProducer};
use zoom_symbl_core::zoom::names::{disambiguate, display_name};
use zoom_symbl_core::zoom::{HostAllowList, WebhookVerifier, ZoomEvent};
use zoom_webhook::handler::{self, ZoomWebhook};
use zoom_webhook::http_io;

mod members;
use members::Members;

/// The secret and clock of events/zoom-webhook-apigw.json, whose signature is still valid at NOW.
const SECRET: &str = "zm_test_secret_token_123";
const NOW: i64 = 1_701_461_200;
const WINDOW_SECS: i64 = 300;
/// Smaller than production's 1 MiB (MAX_BODY_BYTES is configuration) so the fuzzer reaches it:
/// the compact recording.completed seeds are under it, the pretty-printed one (4.3 KB) is over.
const MAX_BODY: usize = 4 * 1024;
const ALLOWED: [&str; 3] = ["zoom.us", "zoom.com", "zoomgov.com"];
/// Production's claim lease; the clock is pinned, so a redelivery always finds it live.
const CLAIM_LEASE_SECS: u64 = 30;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio runtime")
    })
}

fn verifier() -> WebhookVerifier {
    WebhookVerifier::new(SecretString::new(SECRET), WINDOW_SECS as u64).expect("non-empty secret")
}

/// HMAC-SHA256 with the secret, written here rather than taken from the verifier.
fn hmac(parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn first<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// Zoom's rule (docs/zoom.md, "Webhook signature"), independently: decimal seconds within the window, and
/// `v0=` + hex of HMAC(secret, "v0:{ts}:{body}").
fn oracle_signature_ok(headers: &HeaderMap, body: &[u8]) -> bool {
    let (Some(ts), Some(sig)) = (
        first(headers, "x-zm-request-timestamp"),
        first(headers, "x-zm-signature"),
    ) else {
        return false;
    };
    if ts.is_empty() || ts.len() > 12 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(t) = ts.parse::<i64>() else { return false };
    if (NOW - t).abs() > WINDOW_SECS {
        return false;
    }
    let Some(hex_sig) = sig.strip_prefix("v0=") else {
        return false;
    };
    hex::decode(hex_sig).is_ok_and(|given| given == hmac(&[b"v0:", ts.as_bytes(), b":", body]))
}

/// The host rule, independently: https, no userinfo, host equal to or a subdomain of an
/// allowed domain (case-insensitive, trailing dot ignored).
fn oracle_url_allowed(raw: &str) -> bool {
    let Ok(url) = url::Url::parse(raw) else { return false };
    if url.scheme() != "https" || !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    ALLOWED.iter().any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// Splits `<header lines>\n\n<body>`; lines that are not valid headers are dropped.
fn split_input(rest: &[u8]) -> (HeaderMap, Vec<u8>) {
    let mut headers = HeaderMap::new();
    let Some(at) = rest.windows(2).position(|w| w == b"\n\n") else {
        return (headers, rest.to_vec());
    };
    for line in rest[..at].split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = &line[colon + 1..];
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(&line[..colon]), HeaderValue::from_bytes(value)) {
            headers.append(name, value);
        }
    }
    (headers, rest[at + 2..].to_vec())
}

fn sign_into(headers: &mut HeaderMap, ts: &str, body: &[u8]) {
    let sig = format!("v0={}", hex::encode(hmac(&[b"v0:", ts.as_bytes(), b":", body])));
    headers.insert("x-zm-signature", HeaderValue::from_str(&sig).unwrap());
}

fn request(headers: HeaderMap, body: Vec<u8>) -> lambda_http::Request {
    // As lambda_http hands it over: text when API Gateway sent text, bytes when it was base64.
    let body = match String::from_utf8(body) {
        Ok(text) if text.is_empty() => Body::Empty,
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    let mut req = lambda_http::Request::new(body);
    *req.method_mut() = http::Method::POST;
    *req.headers_mut() = headers;
    req
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (mut headers, body) = split_input(rest);
    match mode % 3 {
        0 => {}
        1 => {
            if let Some(ts) = first(&headers, "x-zm-request-timestamp").map(str::to_owned) {
                sign_into(&mut headers, &ts, &body);
            }
        }
        _ => {
            let ts = NOW.to_string();
            headers.insert("x-zm-request-timestamp", HeaderValue::from_str(&ts).unwrap());
            sign_into(&mut headers, &ts, &body);
        }
    }
    let signed_ok = oracle_signature_ok(&headers, &body);
    let tracking_id = first(&headers, "x-zm-trackingid").map(str::to_owned);

    let hook = ZoomWebhook {
        verifier: verifier(),
        allowed_hosts: HostAllowList::default(),
        max_body_bytes: MAX_BODY,
        claim_lease_secs: CLAIM_LEASE_SECS,
        claims: MemMeetings::default(),
        producer: MemProducer::default(),
        clock: || NOW,
    };
    let req = request(headers, body.clone());
    let (reply, response) = runtime().block_on(async {
        let reply = hook.handle(http_io::incoming(req)).await;
        let copy = handler::Reply {
            status: reply.status,
            body: reply.body.clone(),
        };
        (reply, http_io::respond(copy))
    });

    // The API Gateway response says what the handler decided.
    assert_eq!(response.status().as_u16(), reply.status);
    let Body::Text(text) = response.body() else {
        panic!("response body is not text")
    };
    assert_eq!(serde_json::from_str::<Value>(text).unwrap(), reply.body);

    let jobs = hook.producer.jobs.lock().unwrap().clone();
    if body.len() > MAX_BODY {
        assert_eq!(reply.status, 413, "oversized body not refused");
        assert_eq!(
            response.headers().get("connection").map(|v| v.as_bytes()),
            Some(&b"close"[..])
        );
        assert!(jobs.is_empty());
        return;
    }
    if !signed_ok {
        // Never accepted without Zoom's signature over exactly these bytes.
        assert_eq!(
            reply,
            error(401, "invalid or missing signature"),
            "unsigned or forged request got through"
        );
        assert!(jobs.is_empty() && hook.claims.rows.lock().unwrap().is_empty());
        return;
    }
    assert_ne!(reply.status, 401, "a correctly signed request was refused");

    match ZoomEvent::parse(&body) {
        Err(_) => {
            assert_eq!(reply, error(400, "malformed webhook body"));
            assert!(jobs.is_empty());
            // The envelope is `event` alone, so an object with exactly one string `event` that
            // names no special event must not be refused, whatever else it carries.
            if let Some(members) = Members::parse(&body, &["event"]) {
                let events = members.all("event");
                assert!(
                    !(events.len() == 1 && events[0].is_string() && !is_special(events[0])),
                    "refused an ignorable event: {}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
        Ok(ZoomEvent::UrlValidation { plain_token }) => {
            assert!(!plain_token.is_empty() && plain_token.len() <= 256);
            let encrypted = hex::encode(hmac(&[plain_token.as_bytes()]));
            assert_eq!(reply.status, 200);
            assert_eq!(
                reply.body,
                json!({ "plainToken": plain_token, "encryptedToken": encrypted })
            );
            assert!(jobs.is_empty());
        }
        Ok(ZoomEvent::Other { event }) => {
            assert!(!is_special(&Value::String(event.clone())));
            assert_eq!(
                reply,
                handler::Reply {
                    status: 200,
                    body: json!({ "status": "ignored", "event": event })
                }
            );
            assert!(jobs.is_empty());
        }
        Ok(ZoomEvent::RecordingCompleted(rec)) => {
            let object = &rec.payload.object;
            assert!(!object.uuid.is_empty());
            let urls: Vec<&str> = object.download_urls().collect();
            if !urls.iter().all(|u| oracle_url_allowed(u)) {
                // One URL off the allow list and the meeting is refused before any claim.
                assert_eq!(
                    reply,
                    error(400, "download URL is not https on an allowed host"),
                    "{urls:?}"
                );
                assert!(jobs.is_empty() && hook.claims.rows.lock().unwrap().is_empty());
                return;
            }
            assert_eq!(
                reply,
                handler::Reply {
                    status: 200,
                    body: json!({ "status": "accepted" })
                }
            );
            assert_eq!(jobs.len(), 1);
            let job = &jobs[0];
            // The producer gets the event as parsed, under a key that gives the UUID back.
            assert_eq!(job.event, *rec);
            assert_eq!(job.tracking_id, tracking_id);
            assert_eq!(job.meeting_key, MeetingKey::from_uuid(&object.uuid).to_string());
            assert_eq!(MeetingKey::parse(&job.meeting_key).unwrap().uuid(), object.uuid);
            // The async-invoke payload survives JSON both ways.
            let wire = serde_json::to_vec(job).unwrap();
            assert_eq!(serde_json::from_slice::<ProducerJob>(&wire).unwrap(), *job);
            assert_eq!(hook.claims.in_status(MeetingState::Dispatched).len(), 1);
            // What the producer later does with the participants: unique, non-empty names.
            if let Some(parts) = &object.participant_audio_files {
                let names = disambiguate(parts.iter().map(|p| display_name(&p.file_name)));
                assert_eq!(names.len(), parts.len());
                let unique: std::collections::HashSet<&String> = names.iter().collect();
                assert_eq!(unique.len(), names.len(), "{names:?}");
                assert!(names.iter().all(|n| !n.trim().is_empty()));
            }
            // Zoom's retry of the same delivery is a duplicate, not a second job.
            let again = request_signed_now(&body);
            let second = runtime().block_on(hook.handle(http_io::incoming(again)));
            assert_eq!(
                second,
                handler::Reply {
                    status: 200,
                    body: json!({ "status": "duplicate" })
                }
            );
            assert_eq!(hook.producer.jobs.lock().unwrap().len(), 1);
        }
    }
});

fn is_special(event: &Value) -> bool {
    matches!(event.as_str(), Some("endpoint.url_validation" | "recording.completed"))
}

fn error(status: u16, message: &str) -> handler::Reply {
    handler::Reply {
        status,
        body: json!({ "error": message }),
    }
}

fn request_signed_now(body: &[u8]) -> lambda_http::Request {
    let mut headers = HeaderMap::new();
    let ts = NOW.to_string();
    headers.insert("x-zm-request-timestamp", HeaderValue::from_str(&ts).unwrap());
    sign_into(&mut headers, &ts, body);
    request(headers, body.to_vec())
}
