//! The HTTP side: `POST /v1/chat/completions` in OpenAI's shape, `GET /health`, the fault
//! knobs and the request record under `/admin`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::insights::{self, content_text, Insights, Item, RETRY_PREFIX};

/// The tool our insights code declares.
pub const TOOL_NAME: &str = "record_insights";
/// The assignee `foreign_assignee_times` puts on an action item: never a participant.
pub const FOREIGN_ASSIGNEE: &str = "Someone Else";

/// Fault knobs. Each `_times` counter is decremented by every request it affects. The
/// answer knobs (`invalid_json`, `missing_field`, `foreign_assignee`) affect first answers
/// only, never a retry, unless `also_retries`; `throttle`, `server_error` and `delay_ms`
/// affect every request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// The next N answers' `arguments` are not valid JSON (the valid text cut in half).
    pub invalid_json_times: u32,
    /// The next N answers omit `follow_ups`.
    pub missing_field_times: u32,
    /// The next N answers assign an action item to "Someone Else" (the first one, or an
    /// added one when there is none).
    pub foreign_assignee_times: u32,
    /// The next N requests answer 429 with OpenAI's `rate_limit_exceeded` body.
    pub throttle_times: u32,
    /// The next N requests answer 500 with OpenAI's `server_error` body.
    pub server_error_times: u32,
    /// Sleep this long before every answer (errors included).
    pub delay_ms: u64,
    /// The answer knobs affect retries too: a model that stays wrong when told why.
    pub also_retries: bool,
}

/// One received `POST /v1/chat/completions`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RequestRecord {
    /// 1, 2, … in order of arrival (not reset by clearing).
    pub seq: u64,
    /// When it was received, unix milliseconds.
    pub at_ms: i64,
    /// The same instant, RFC 3339.
    pub at: String,
    pub path: String,
    /// The body as received: JSON, or a string when it was not JSON.
    pub body: Value,
    /// What the sandbox made of it: `transcript`, `part`, `combine`, `retry` or `invalid`.
    pub kind: String,
    /// The HTTP status answered; 0 while the answer is still being made (`delay_ms`).
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    faults: Faults,
    requests: Vec<RequestRecord>,
    seq: u64,
}

// A panic while holding the lock must not take the whole sandbox down with poisoning.
fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub struct LlmSandbox {
    url: String,
    local_addr: SocketAddr,
    shared: Arc<Mutex<Inner>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl LlmSandbox {
    /// Serves plain HTTP on `addr` (port 0: a free one) in a background task until shut
    /// down or dropped.
    pub async fn start(addr: SocketAddr) -> anyhow::Result<LlmSandbox> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let url = format!("http://{local_addr}");
        let shared = Arc::new(Mutex::new(Inner::default()));
        let app = routes(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "llm sandbox server stopped");
            }
        });
        tracing::info!(%url, "llm sandbox listening");
        Ok(LlmSandbox {
            url,
            local_addr,
            shared,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`, what `MINISTACK_BEDROCK_PROXY_URL` takes.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Replaces every knob (counters not given are 0).
    pub fn set_faults(&self, f: Faults) {
        lock(&self.shared).faults = f;
    }

    /// The knobs now, counters as decremented so far.
    pub fn faults(&self) -> Faults {
        lock(&self.shared).faults.clone()
    }

    /// Every chat completion request received since the last clear, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared).requests.clone()
    }

    /// Forgets the recorded requests; returns how many there were.
    pub fn clear_requests(&self) -> usize {
        std::mem::take(&mut lock(&self.shared).requests).len()
    }

    /// Stops serving and waits until the port is released.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for LlmSandbox {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

type Shared = Arc<Mutex<Inner>>;

fn routes(shared: Shared) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        .route("/health", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/admin/faults", get(get_faults).post(post_faults))
        .route("/admin/requests", get(get_requests).delete(delete_requests))
        .fallback(|method: Method, uri: Uri| async move {
            error(
                StatusCode::NOT_FOUND,
                &format!("Unknown request URL: {method} {}.", uri.path()),
                "invalid_request_error",
                Some("unknown_url"),
            )
        })
        .with_state(shared)
}

async fn get_faults(State(s): State<Shared>) -> Json<Faults> {
    Json(lock(&s).faults.clone())
}

async fn post_faults(State(s): State<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(f) => {
            lock(&s).faults = f.clone();
            Json(f).into_response()
        }
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            &format!("faults: {e}"),
            "invalid_request_error",
            None,
        ),
    }
}

async fn get_requests(State(s): State<Shared>) -> Json<Vec<RequestRecord>> {
    Json(lock(&s).requests.clone())
}

async fn delete_requests(State(s): State<Shared>) -> Json<Value> {
    let n = std::mem::take(&mut lock(&s).requests).len();
    Json(json!({ "cleared": n }))
}

/// OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`.
fn error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    let body = json!({ "error": { "message": message, "type": kind, "param": null, "code": code } });
    (status, Json(body)).into_response()
}

/// What the request asks for, read from its messages.
struct Reading {
    kind: &'static str,
    retry: bool,
    /// The answer, or why there is none.
    insights: Result<Insights, String>,
}

fn read(body: &Value) -> Reading {
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return Reading {
            kind: "invalid",
            retry: false,
            insights: Err("`messages` must be an array".into()),
        };
    };
    let texts: Vec<(&str, String)> = messages
        .iter()
        .map(|m| {
            let role = m.get("role").and_then(Value::as_str).unwrap_or("");
            (role, content_text(m.get("content").unwrap_or(&Value::Null)))
        })
        .collect();
    let retry = texts
        .iter()
        .any(|(role, text)| *role == "assistant" || text.trim_start().starts_with(RETRY_PREFIX));
    let prompt = texts
        .iter()
        .rev()
        .find(|(role, text)| *role == "user" && text.trim_start().starts_with("Meeting:"));
    let Some((_, prompt)) = prompt else {
        return Reading {
            kind: "invalid",
            retry,
            insights: Err("no user message starts with `Meeting:`".into()),
        };
    };
    match insights::parse_prompt(prompt) {
        Ok(p) => {
            let kind = match (&p, retry) {
                (_, true) => "retry",
                (insights::Prompt::Combine { .. }, _) => "combine",
                (insights::Prompt::Transcript { part: Some(_), .. }, _) => "part",
                (insights::Prompt::Transcript { .. }, _) => "transcript",
            };
            Reading {
                kind,
                retry,
                insights: Ok(insights::answer(&p)),
            }
        }
        Err(e) => Reading {
            kind: "invalid",
            retry,
            insights: Err(e),
        },
    }
}

/// Takes one from a counter when it is set.
fn take(counter: &mut u32) -> bool {
    let hit = *counter > 0;
    *counter = counter.saturating_sub(1);
    hit
}

/// The tool the request lets the model call: the named `tool_choice`, else `record_insights`
/// when declared, else the first tool; None without tools or with `tool_choice: "none"`.
fn tool_name(body: &Value) -> Option<String> {
    let names: Vec<&str> = body
        .get("tools")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str))
        .collect();
    match body.get("tool_choice") {
        Some(Value::String(s)) if s == "none" => return None,
        Some(choice) => {
            if let Some(name) = choice.pointer("/function/name").and_then(Value::as_str) {
                return Some(name.to_owned());
            }
        }
        None => {}
    }
    names
        .iter()
        .find(|n| **n == TOOL_NAME)
        .or(names.first())
        .map(|n| (*n).to_owned())
}

/// FNV-1a: a stable id for a body, so that the same request gets the same answer.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Rough token count (4 characters a token, at least 1).
fn tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4).max(1)
}

async fn chat(State(s): State<Shared>, uri: Uri, _headers: HeaderMap, raw: Bytes) -> Response {
    let received = now();
    let parsed: Result<Value, _> = serde_json::from_slice(&raw);
    let reading = match &parsed {
        Ok(body) => read(body),
        Err(e) => Reading {
            kind: "invalid",
            retry: false,
            insights: Err(format!("the body is not JSON: {e}")),
        },
    };
    let (seq, delay_ms) = {
        let mut st = lock(&s);
        st.seq += 1;
        let seq = st.seq;
        let record = RequestRecord {
            seq,
            at_ms: (received.unix_timestamp_nanos() / 1_000_000) as i64,
            at: received
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            path: uri.path().to_owned(),
            body: match &parsed {
                Ok(v) => v.clone(),
                Err(_) => Value::String(String::from_utf8_lossy(&raw).into_owned()),
            },
            kind: reading.kind.into(),
            status: 0,
        };
        st.requests.push(record);
        (seq, st.faults.delay_ms)
    };
    if delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    let response = respond(&s, parsed.as_ref().ok(), &raw, reading, received);
    let mut st = lock(&s);
    if let Some(r) = st.requests.iter_mut().find(|r| r.seq == seq) {
        r.status = response.status().as_u16();
    }
    response
}

fn respond(s: &Shared, body: Option<&Value>, raw: &[u8], reading: Reading, received: OffsetDateTime) -> Response {
    let mut st = lock(s);
    let faults = &mut st.faults;
    if take(&mut faults.throttle_times) {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "Rate limit reached for requests. Please try again later.",
            "rate_limit_exceeded",
            Some("rate_limit_exceeded"),
        );
    }
    if take(&mut faults.server_error_times) {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        );
    }
    let (body, mut insights) = match (body, reading.insights) {
        (Some(body), Ok(i)) => (body, i),
        (_, Err(e)) => return error(StatusCode::BAD_REQUEST, &e, "invalid_request_error", None),
        (None, Ok(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "the body is not JSON",
                "invalid_request_error",
                None,
            );
        }
    };
    let mut invalid = false;
    let mut missing = false;
    if !reading.retry || faults.also_retries {
        invalid = take(&mut faults.invalid_json_times);
        if !invalid {
            missing = take(&mut faults.missing_field_times);
            if take(&mut faults.foreign_assignee_times) {
                match insights.action_items.first_mut() {
                    Some(item) => item.assignee = Some(FOREIGN_ASSIGNEE.into()),
                    None => insights.action_items.push(Item {
                        text: format!("{FOREIGN_ASSIGNEE} will handle the rest."),
                        assignee: Some(FOREIGN_ASSIGNEE.into()),
                        due_date: None,
                    }),
                }
            }
        }
    }
    drop(st);
    let mut value = serde_json::to_value(&insights).unwrap_or(Value::Null);
    if missing {
        if let Value::Object(o) = &mut value {
            o.remove("follow_ups");
        }
    }
    let mut arguments = value.to_string();
    if invalid {
        // A proper prefix of a JSON object is never valid JSON.
        let mut cut = arguments.len() / 2;
        while !arguments.is_char_boundary(cut) {
            cut -= 1;
        }
        arguments.truncate(cut);
    }
    let id = format!("{:016x}", fnv(raw));
    let model = body.get("model").and_then(Value::as_str).unwrap_or("llm-sandbox");
    let prompt_chars: usize = body
        .get("messages")
        .and_then(Value::as_array)
        .map(|ms| {
            ms.iter()
                .map(|m| content_text(m.get("content").unwrap_or(&Value::Null)).len())
                .sum()
        })
        .unwrap_or(0);
    let (prompt_tokens, completion_tokens) = (tokens(prompt_chars), tokens(arguments.len()));
    let (message, finish_reason) = match tool_name(body) {
        Some(name) => (
            json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": format!("call_{id}"),
                    "type": "function",
                    "function": { "name": name, "arguments": arguments },
                }],
            }),
            "tool_calls",
        ),
        // No tool to call: the JSON as text, as a model answering a schema in prose would.
        None => (json!({ "role": "assistant", "content": arguments }), "stop"),
    };
    Json(json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion",
        "created": received.unix_timestamp(),
        "model": model,
        "choices": [{ "index": 0, "message": message, "finish_reason": finish_reason }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_choice_decides_the_tool() {
        let tools = json!([{"type": "function", "function": {"name": "other"}},
                           {"type": "function", "function": {"name": TOOL_NAME}}]);
        assert_eq!(tool_name(&json!({"tools": tools})).as_deref(), Some(TOOL_NAME));
        assert_eq!(
            tool_name(&json!({"tools": tools, "tool_choice": "required"})).as_deref(),
            Some(TOOL_NAME)
        );
        let named = json!({"tools": tools, "tool_choice": {"type": "function", "function": {"name": "other"}}});
        assert_eq!(tool_name(&named).as_deref(), Some("other"));
        assert_eq!(tool_name(&json!({"tools": tools, "tool_choice": "none"})), None);
        assert_eq!(tool_name(&json!({})), None);
    }

    #[test]
    fn take_decrements_to_zero() {
        let mut n = 2;
        assert!(take(&mut n));
        assert!(take(&mut n));
        assert!(!take(&mut n));
        assert_eq!(n, 0);
    }

    #[test]
    fn retry_is_seen_from_an_assistant_turn_or_the_prefix() {
        let first = json!({"messages": [{"role": "user", "content": "Meeting: M\nDate: 2026-01-01 (UTC)\nParticipants: A\nTranscript:\n"}]});
        let r = read(&first);
        assert_eq!((r.kind, r.retry), ("transcript", false));
        let again = json!({"messages": [
            {"role": "user", "content": "Meeting: M\nDate: 2026-01-01 (UTC)\nParticipants: A\nTranscript:\n"},
            {"role": "assistant", "content": "{}"},
            {"role": "user", "content": "Your previous answer was invalid: follow_ups is missing"}
        ]});
        let r = read(&again);
        assert_eq!((r.kind, r.retry), ("retry", true));
        assert!(r.insights.is_ok());
    }
}
