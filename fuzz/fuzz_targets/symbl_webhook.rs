//! symbl-webhook's public endpoint minus AWS: a lambda_http request whose `?t=` query
//! parameter and body come from the input goes through the real `handler::incoming` and
//! `SymblWebhook::handle` (constant-time token check, body size limit, JSON parse of the
//! status callback, job lookup, notifier hand-off), with in-memory ports.
//!
//! Input: `<mode><t values separated by TAB>\n<body>` (no newline: all of it is the token
//! line). `mode % 4`:
//! - 0 (`'0'`): raw, `t` exactly as given (several values: the first counts; none: no `t`);
//! - 1 (`'1'`): the right token, so every body reaches the parser;
//! - 2 (`'2'`): no query string at all;
//! - 3 (`'3'`): the right token and the body padded with whitespace past the size limit.
//!
//! Every reply is checked against an independent oracle of the callback format.

#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use lambda_http::{Body, RequestExt};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use symbl_webhook::handler::{self, Reply, SymblWebhook, MAX_BODY_BYTES};
use zoom_symbl_core::ports::StatusEvent;
use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::lifecycle::JobState;
use zoom_symbl_core::testkit::{samples, MemJobs, MemNotifier};

mod members;
use members::Members;

/// The token of events/symbl-webhook-apigw.json.
const TOKEN: &str = "sample-token";
/// Jobs we "submitted": the sample event's and one short id.
const KNOWN: [&str; 2] = ["9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", "known"];

/// The jobs table: only the KNOWN jobs are ours.
fn jobs() -> MemJobs {
    KNOWN.iter().fold(MemJobs::default(), |jobs, id| {
        jobs.with_job(samples::scheduled_job(id, "bWVldGluZw"))
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio runtime")
    })
}

/// Symbl's four statuses, as JobState's derived Deserialize reads them: a string, or
/// serde_json's externally tagged form of a unit variant, `{"completed": null}`.
fn status_of(v: &Value) -> Option<JobState> {
    let name = match v {
        Value::String(s) => s.as_str(),
        Value::Object(o) if o.len() == 1 && o.values().all(Value::is_null) => o.keys().next()?.as_str(),
        _ => return None,
    };
    match name {
        "scheduled" => Some(JobState::Scheduled),
        "in_progress" => Some(JobState::InProgress),
        "completed" => Some(JobState::Completed),
        "failed" => Some(JobState::Failed),
        _ => None,
    }
}

fn error(status: u16, message: &str) -> Reply {
    Reply {
        status,
        body: json!({ "error": message }),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (token_line, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], rest[at + 1..].to_vec()),
        None => (rest, Vec::new()),
    };
    // API Gateway hands over `t` decoded, as text.
    let given: Vec<String> = String::from_utf8_lossy(token_line)
        .split('\t')
        .map(str::to_owned)
        .collect();
    let (values, body): (Option<Vec<String>>, Vec<u8>) = match mode % 4 {
        0 => (Some(given), body),
        1 => (Some(vec![TOKEN.to_owned()]), body),
        2 => (None, body),
        _ => {
            let mut padded = body;
            let len = padded.len().max(MAX_BODY_BYTES + 1);
            padded.resize(len, b' ');
            (Some(vec![TOKEN.to_owned()]), padded)
        }
    };
    let presented = values.as_ref().and_then(|v| v.first()).cloned().unwrap_or_default();

    let mut req = lambda_http::Request::new(match String::from_utf8(body.clone()) {
        Ok(text) if text.is_empty() => Body::Empty,
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    });
    *req.method_mut() = http::Method::POST;
    if let Some(values) = values {
        req = req.with_query_string_parameters(HashMap::from([("t".to_owned(), values)]));
    }

    let hook = SymblWebhook {
        token: SecretString::new(TOKEN),
        jobs: jobs(),
        notifier: MemNotifier::default(),
    };
    let incoming = handler::incoming(req);
    assert_eq!(
        incoming.token.as_deref().unwrap_or(""),
        presented,
        "the first `t` is the token"
    );
    assert_eq!(incoming.body, body, "body bytes reach the handler unchanged");
    let reply = runtime().block_on(hook.handle(incoming));
    let seen = hook.notifier.events.lock().unwrap().clone();

    if presented != TOKEN {
        // Nothing gets past a wrong, empty or missing token: not even the size check.
        assert_eq!(reply, error(401, "unauthorized"), "token {presented:?} was accepted");
        assert!(seen.is_empty());
        return;
    }
    if body.len() > MAX_BODY_BYTES {
        assert_eq!(reply, error(413, "request body too large"));
        assert!(seen.is_empty());
        return;
    }
    assert!(matches!(reply.status, 200 | 400), "{reply:?}");

    // What the handler accepted, it handed on as parsed, and the payload survives JSON.
    match reply.body.get("status").and_then(Value::as_str) {
        Some("accepted") => {
            assert_eq!(seen.len(), 1);
            let event = &seen[0];
            assert!(KNOWN.contains(&event.job_id.as_str()));
            assert_eq!(event.source, "webhook");
            let wire = serde_json::to_vec(event).unwrap();
            assert_eq!(serde_json::from_slice::<StatusEvent>(&wire).unwrap(), *event);
        }
        Some("ignored") => assert!(seen.is_empty()),
        _ => assert!(seen.is_empty() && reply.status == 400, "{reply:?}"),
    }

    // The callback format, independently: an object with exactly one of `id`/`jobId` (a
    // string of 1 to 128 bytes) and exactly one `status` among Symbl's four; anything else
    // in it is ignored. serde's derive also reads a struct from a positional array, so
    // `["<id>","<status>"]` is accepted like `{"id":"<id>","status":"<status>"}` (harmless:
    // behind the token; see fuzz/README.md). A body of neither shape is never accepted.
    // Of the members it ignores, only the JSON syntax counts (their strings may be invalid
    // UTF-8), which is why Members skips them.
    let callback: Option<(Option<&str>, Option<JobState>)>;
    let members = Members::parse(&body, &["id", "jobId", "status"]);
    let array = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.as_array().cloned());
    if let Some(members) = &members {
        let ids: Vec<&Value> = members.all("id").into_iter().chain(members.all("jobId")).collect();
        let statuses = members.all("status");
        callback = Some((
            (ids.len() == 1).then(|| ids[0].as_str()).flatten(),
            (statuses.len() == 1).then(|| status_of(statuses[0])).flatten(),
        ));
    } else if let Some([id, status]) = array.as_deref() {
        callback = Some((id.as_str(), status_of(status)));
    } else {
        callback = None;
    }
    let expected = match callback {
        Some((Some(id), Some(status))) if !id.is_empty() && id.len() <= 128 => {
            if KNOWN.contains(&id) {
                assert_eq!(
                    seen,
                    [StatusEvent {
                        job_id: id.into(),
                        status,
                        source: "webhook".into(),
                        // No `m` in the query: nothing to adopt.
                        meeting_key: None,
                    }]
                );
                Reply {
                    status: 200,
                    body: json!({ "status": "accepted" }),
                }
            } else {
                Reply {
                    status: 200,
                    body: json!({ "status": "ignored" }),
                }
            }
        }
        Some((Some(_), Some(_))) => error(400, "malformed job id"),
        _ => error(400, "malformed callback body"),
    };
    if members.is_some() {
        assert_eq!(reply, expected, "body {}", String::from_utf8_lossy(&body));
    } else if reply.status == 200 {
        // Not an object: accepted only in the positional form, and then as that form says.
        assert_eq!(reply, expected, "non-object body {}", String::from_utf8_lossy(&body));
    }
});
