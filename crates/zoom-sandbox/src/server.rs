//! The HTTPS stand-in for zoom.us / api.zoom.us: downloads with a 302 to a signed CDN
//! path, S2S OAuth, the recordings API, the user and recording lists a backfill walks,
//! fault knobs and a request log.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawPathParams, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::listing::{self, Pager, RateLimit, User};
use crate::meeting::GeneratedMeeting;
use crate::payload::{self, Flavor};
use crate::tokens::{Keys, TokenKind};

/// Lifetime of a CDN link handed out by a 302.
const CDN_LINK_SECS: i64 = 300;
const S2S_TOKEN_SECS: i64 = 3600;
const MAX_API_TTL: i64 = 604_800;

pub struct SandboxConfig {
    /// 127.0.0.1:0 for a random port.
    pub bind: SocketAddr,
    /// Host name used in the URLs it hands out.
    pub public_host: String,
    /// Zoom app Secret Token used to sign webhooks.
    pub webhook_secret: String,
    pub s2s_account_id: String,
    pub s2s_client_id: String,
    pub s2s_client_secret: String,
    pub download_token_ttl_secs: i64,
    /// Where cert.pem (the CA to trust) is written.
    pub cert_dir: PathBuf,
    /// Zoom's "Medium" per-second limit, shared by `GET /v2/users` and
    /// `GET /v2/users/{id}/recordings`: the request after this many within one second gets 429.
    /// 0 = unlimited.
    pub list_requests_per_sec: u32,
}

impl SandboxConfig {
    /// Random port on loopback, "localhost" URLs, fixed well-known sandbox credentials.
    pub fn local(cert_dir: impl Into<PathBuf>) -> SandboxConfig {
        SandboxConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_host: "localhost".into(),
            webhook_secret: "sandbox-webhook-secret".into(),
            s2s_account_id: "sandbox-account".into(),
            s2s_client_id: "sandbox-client-id".into(),
            s2s_client_secret: "sandbox-client-secret".into(),
            download_token_ttl_secs: 86_400,
            cert_dir: cert_dir.into(),
            list_requests_per_sec: 10,
        }
    }
}

/// Misbehaviour of one file's download.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Fault {
    /// Answer 503 this many times first, then serve.
    pub fail_5xx_times: u32,
    pub status_429_times: u32,
    /// 200 text/html "Only the host can download this recording" page.
    pub html_200: bool,
    /// Serve only the first N bytes, without a Content-Length.
    pub truncate_to: Option<u64>,
    /// Slow response.
    pub delay_ms: u64,
}

#[derive(Debug, PartialEq, Eq)]
enum Action {
    Unavailable,
    RateLimited,
    HtmlPage,
    Redirect,
}

impl Fault {
    /// Consumes one unit of the counters, in the order a flaky service would show them.
    fn next_action(&mut self) -> Action {
        if self.fail_5xx_times > 0 {
            self.fail_5xx_times -= 1;
            Action::Unavailable
        } else if self.status_429_times > 0 {
            self.status_429_times -= 1;
            Action::RateLimited
        } else if self.html_200 {
            Action::HtmlPage
        } else {
            Action::Redirect
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RequestRecord {
    pub method: String,
    /// Path only: query strings can carry tokens.
    pub path: String,
    pub status: u16,
    /// A valid token was presented (downloads, recordings API) or valid client credentials (OAuth).
    pub authorized: bool,
    pub at_ms: i64,
}

struct Shared {
    base_url: String,
    account_id: String,
    client_id: String,
    client_secret: String,
    download_token_ttl_secs: i64,
    keys: Keys,
    meetings: Mutex<Vec<GeneratedMeeting>>,
    files: Mutex<HashMap<String, PathBuf>>,
    faults: Mutex<HashMap<String, Fault>>,
    requests: Mutex<Vec<RequestRecord>>,
    /// Users added with `add_user`, by lowercased email; hosts of meetings are added on the fly.
    users: Mutex<BTreeMap<String, User>>,
    pager: Mutex<Pager>,
    list_limit: Mutex<RateLimit>,
}

// A panic while holding a lock must not take the whole sandbox down with poisoning.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

pub struct Sandbox {
    /// https://localhost:PORT
    pub base_url: String,
    /// The CA certificate clients must trust.
    pub ca_pem_path: PathBuf,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Sandbox {
    /// Serves HTTPS in a background task until shut down or dropped.
    pub async fn start(config: SandboxConfig) -> anyhow::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let local_addr = listener.local_addr()?;
        let base_url = format!("https://{}:{}", config.public_host, local_addr.port());
        let (tls, ca_pem_path) = crate::tls::server_config(&config.public_host, &config.cert_dir)?;
        let shared = Arc::new(Shared {
            base_url: base_url.clone(),
            account_id: config.s2s_account_id,
            client_id: config.s2s_client_id,
            client_secret: config.s2s_client_secret,
            download_token_ttl_secs: config.download_token_ttl_secs,
            keys: Keys::random(),
            meetings: Mutex::default(),
            files: Mutex::default(),
            faults: Mutex::default(),
            requests: Mutex::default(),
            users: Mutex::default(),
            pager: Mutex::default(),
            list_limit: Mutex::new(RateLimit::new(config.list_requests_per_sec)),
        });
        let app = routes(shared.clone());
        let task = tokio::spawn(crate::tls::serve(listener, tokio_rustls::TlsAcceptor::from(tls), app));
        tracing::info!(%base_url, "zoom sandbox listening");
        Ok(Sandbox {
            base_url,
            ca_pem_path,
            local_addr,
            shared,
            task: Some(task),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Registers the meeting's files for download and the recordings API.
    pub fn add_meeting(&self, meeting: &GeneratedMeeting) {
        let mut files = lock(&self.shared.files);
        for t in &meeting.tracks {
            files.insert(t.file_id.clone(), t.path.clone());
        }
        lock(&self.shared.meetings).push(meeting.clone());
    }

    /// Lists a user in `GET /v2/users` (hosts of added meetings are listed anyway; this sets
    /// their names, or adds a user without meetings). Returns their id, `zoom_sandbox::user_id(email)`.
    pub fn add_user(&self, email: &str, first_name: &str, last_name: &str) -> String {
        let user = User::new(email, first_name, last_name);
        let id = user.id.clone();
        lock(&self.shared.users).insert(user.key(), user);
        id
    }

    /// The next `n` requests to the list endpoints answer 429 (replacing any count left), so a
    /// test can prove a client backs off without racing the clock.
    pub fn throttle_next(&self, n: u32) {
        lock(&self.shared.list_limit).force_next(n);
    }

    /// JWT-shaped token with an `exp` claim; a negative ttl gives an already expired one.
    pub fn issue_download_token(&self, ttl_secs: i64) -> String {
        self.shared.keys.issue(TokenKind::Download, ttl_secs, now())
    }

    /// The default-lifetime token Zoom would put in a fresh webhook.
    pub fn default_download_token(&self) -> String {
        self.issue_download_token(self.shared.download_token_ttl_secs)
    }

    /// A full `recording.completed` body whose links point at this sandbox.
    pub fn recording_completed(&self, meeting: &GeneratedMeeting, download_token: &str) -> serde_json::Value {
        payload::recording_completed(meeting, &self.base_url, &self.shared.account_id, download_token)
    }

    pub fn set_fault(&self, file_id: &str, fault: Fault) {
        lock(&self.shared.faults).insert(file_id.to_owned(), fault);
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.requests).clone()
    }

    /// Stops serving and waits until the port is released.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/rec/webhook_download/{file_id}", get(download))
        .route("/rec/download/{file_id}", get(download))
        .route("/cdn/{file_id}", get(cdn))
        .route("/oauth/token", post(oauth_token))
        .route("/v2/meetings/{meeting_id}/recordings", get(recordings))
        .route("/v2/users", get(list_users))
        .route("/v2/users/{user_id}/recordings", get(user_recordings))
        .route("/_sandbox/faults/{file_id}", post(set_fault))
        .route("/_sandbox/requests", get(list_requests))
        .route("/_sandbox/download_token", post(admin_token))
        .route("/_sandbox/throttle", post(admin_throttle))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), record))
        .with_state(shared)
}

/// Marks a response as answering an authorized request, for the request log.
#[derive(Clone, Copy)]
struct Authorized;

fn authorized(mut r: Response) -> Response {
    r.extensions_mut().insert(Authorized);
    r
}

async fn record(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let at_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let (method, path) = (req.method().to_string(), req.uri().path().to_owned());
    let res = next.run(req).await;
    let rec = RequestRecord {
        method,
        path,
        status: res.status().as_u16(),
        authorized: res.extensions().get::<Authorized>().is_some(),
        at_ms,
    };
    lock(&s.requests).push(rec);
    res
}

fn zoom_error(status: StatusCode, code: u32, message: &str) -> Response {
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}

fn invalid_token() -> Response {
    zoom_error(StatusCode::UNAUTHORIZED, 124, "Invalid access token.")
}

fn not_found() -> Response {
    zoom_error(StatusCode::NOT_FOUND, 3301, "This recording does not exist.")
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn query_pairs(raw: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

async fn download(
    State(s): State<Arc<Shared>>,
    Path(file_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query_pairs(raw.as_deref());
    let token = bearer(&headers).or(query.get("access_token").map(String::as_str));
    if token.map(|t| s.keys.check(t, now())).and_then(Result::ok).is_none() {
        return invalid_token();
    }
    if !lock(&s.files).contains_key(&file_id) {
        return authorized(not_found());
    }
    let (action, delay_ms) = match lock(&s.faults).get_mut(&file_id) {
        Some(f) => (f.next_action(), f.delay_ms),
        None => (Action::Redirect, 0),
    };
    if delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
    }
    authorized(match action {
        Action::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response(),
        Action::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            Json(json!({"code": 429, "message": "You have reached the maximum per-second rate limit for this API."})),
        )
            .into_response(),
        Action::HtmlPage => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!DOCTYPE html><html><head><title>Zoom</title></head>\
             <body><p>Only the host can download this recording.</p></body></html>",
        )
            .into_response(),
        Action::Redirect => {
            let exp = now() + CDN_LINK_SECS;
            let sig = s.keys.cdn_sig(&file_id, exp);
            let location = format!("{}/cdn/{file_id}?exp={exp}&sig={sig}", s.base_url);
            (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
        }
    })
}

async fn cdn(State(s): State<Arc<Shared>>, Path(file_id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let query = query_pairs(raw.as_deref());
    let exp = query.get("exp").and_then(|e| e.parse::<i64>().ok());
    let sig = query.get("sig").map(String::as_str).unwrap_or("");
    if !exp.is_some_and(|exp| s.keys.cdn_ok(&file_id, exp, sig, now())) {
        return (
            StatusCode::FORBIDDEN,
            "Request has expired or its signature does not match",
        )
            .into_response();
    }
    let Some(path) = lock(&s.files).get(&file_id).cloned() else {
        return (StatusCode::NOT_FOUND, "NoSuchKey").into_response();
    };
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => Bytes::from(b),
        Err(e) => {
            tracing::error!(error = %e, path = %path.display(), "cannot read recording");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let truncate_to = lock(&s.faults).get(&file_id).and_then(|f| f.truncate_to);
    let mp4 = HeaderValue::from_static("audio/mp4");
    match truncate_to {
        Some(n) if n < bytes.len() as u64 => {
            // A stream has no size hint, so no Content-Length is sent: the body just ends short.
            let part = bytes.slice(..n as usize);
            let body = Body::from_stream(futures_util::stream::iter([Ok::<_, std::io::Error>(part)]));
            ([(header::CONTENT_TYPE, mp4)], body).into_response()
        }
        _ => ([(header::CONTENT_TYPE, mp4)], bytes).into_response(),
    }
}

#[derive(Deserialize)]
struct TtlQuery {
    ttl_secs: Option<i64>,
}

async fn admin_token(
    State(s): State<Arc<Shared>>,
    axum::extract::Query(q): axum::extract::Query<TtlQuery>,
) -> Response {
    let ttl = q.ttl_secs.unwrap_or(s.download_token_ttl_secs);
    Json(json!({ "token": s.keys.issue(TokenKind::Download, ttl, now()) })).into_response()
}

async fn set_fault(State(s): State<Arc<Shared>>, Path(file_id): Path<String>, Json(fault): Json<Fault>) -> StatusCode {
    lock(&s.faults).insert(file_id, fault);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Throttle {
    next: u32,
}

async fn admin_throttle(State(s): State<Arc<Shared>>, Json(t): Json<Throttle>) -> StatusCode {
    lock(&s.list_limit).force_next(t.next);
    StatusCode::NO_CONTENT
}

async fn list_requests(State(s): State<Arc<Shared>>) -> Json<Vec<RequestRecord>> {
    Json(lock(&s.requests).clone())
}

fn oauth_error(status: StatusCode, reason: &str, error: &str) -> Response {
    (status, Json(json!({ "reason": reason, "error": error }))).into_response()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let (id, secret) = String::from_utf8(decoded)
        .ok()?
        .split_once(':')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))?;
    Some((id, secret))
}

fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

async fn oauth_token(
    State(s): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let credentials_ok = basic_credentials(&headers)
        .is_some_and(|(id, secret)| same(&id, &s.client_id) & same(&secret, &s.client_secret));
    if !credentials_ok {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "Invalid client_id or client_secret",
            "invalid_client",
        );
    }
    // Zoom's docs use the query string, its samples a form body: accept both.
    let mut params = query_pairs(raw.as_deref());
    params.extend(url::form_urlencoded::parse(&body).into_owned());
    let response = match (params.get("grant_type").map(String::as_str), params.get("account_id")) {
        (Some("account_credentials"), Some(account)) if same(account, &s.account_id) => Json(json!({
            "access_token": s.keys.issue(TokenKind::S2s, S2S_TOKEN_SECS, now()),
            "token_type": "bearer",
            "expires_in": S2S_TOKEN_SECS,
            "scope": "cloud_recording:read:list_recording_files:admin",
            "api_url": s.base_url,
        }))
        .into_response(),
        (Some("account_credentials"), _) => {
            oauth_error(StatusCode::BAD_REQUEST, "Invalid account_id", "invalid_request")
        }
        (None, _) => oauth_error(StatusCode::BAD_REQUEST, "Missing grant type", "invalid_request"),
        (Some(_), _) => oauth_error(
            StatusCode::BAD_REQUEST,
            "Unsupported grant type",
            "unsupported_grant_type",
        ),
    };
    authorized(response)
}

/// Decodes a path segment once, and again if that still left `%XX` escapes
/// (UUIDs starting with '/' or holding "//" must be double-encoded).
pub fn decode_meeting_id(segment: &str) -> String {
    let once = percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned();
    if has_escape(&once) {
        percent_encoding::percent_decode_str(&once)
            .decode_utf8_lossy()
            .into_owned()
    } else {
        once
    }
}

fn has_escape(s: &str) -> bool {
    s.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

/// The API takes the S2S bearer header only (query tokens were refused from 2023).
fn api_token_ok(s: &Shared, headers: &HeaderMap) -> bool {
    bearer(headers).map(|t| s.keys.check(t, now())) == Some(Ok(TokenKind::S2s))
}

async fn recordings(
    State(s): State<Arc<Shared>>,
    params: RawPathParams,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    if !api_token_ok(&s, &headers) {
        return invalid_token();
    }
    let segment = params
        .iter()
        .find(|(k, _)| *k == "meeting_id")
        .map(|(_, v)| v)
        .unwrap_or("");
    let id = decode_meeting_id(segment);
    // A meeting number means its latest instance.
    let found = lock(&s.meetings)
        .iter()
        .rev()
        .find(|m| m.spec.uuid == id || m.spec.meeting_id.to_string() == id)
        .cloned();
    let Some(meeting) = found else {
        return authorized(not_found());
    };
    let query = query_pairs(raw.as_deref());
    let ttl = match query.get("ttl").map(|t| t.parse::<i64>()) {
        None => s.download_token_ttl_secs,
        Some(Ok(t)) if (0..=MAX_API_TTL).contains(&t) => t,
        Some(_) => {
            return authorized(zoom_error(
                StatusCode::BAD_REQUEST,
                300,
                "Invalid ttl: 0 to 604800 seconds.",
            ))
        }
    };
    let mut object = payload::recording_object(&meeting, &s.base_url, &s.account_id, Flavor::Api);
    let wants_token = query
        .get("include_fields")
        .is_some_and(|f| f.split(',').any(|f| f.trim() == "download_access_token"));
    if wants_token {
        object["download_access_token"] = json!(s.keys.issue(TokenKind::Download, ttl, now()));
    }
    authorized(Json(object).into_response())
}

/// Auth, then the shared "Medium" rate limit: what both list endpoints check first.
/// Some = answer this instead.
fn list_gate(s: &Shared, headers: &HeaderMap) -> Option<Response> {
    if !api_token_ok(s, headers) {
        return Some(invalid_token());
    }
    if !lock(&s.list_limit).admit(std::time::Instant::now()) {
        return Some(authorized(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "1")],
                Json(json!({
                    "code": 429,
                    "message": "You have reached the maximum per-second rate limit for this API. Try again later.",
                })),
            )
                .into_response(),
        ));
    }
    None
}

fn bad_request(message: &str) -> Response {
    authorized(zoom_error(StatusCode::BAD_REQUEST, 300, message))
}

/// Explicit users plus every meeting host, by lowercased email.
fn all_users(s: &Shared) -> Vec<User> {
    let mut users: BTreeMap<String, User> = lock(&s.meetings)
        .iter()
        .map(|m| User::from_email(&m.spec.host_email))
        .map(|u| (u.key(), u))
        .collect();
    users.extend(lock(&s.users).iter().map(|(k, u)| (k.clone(), u.clone())));
    users.into_values().collect()
}

/// One page of `items` from the token's offset, and the token for the next page ("" on the last).
/// The error is the message of a 400 with code 300.
struct Page<T> {
    items: Vec<T>,
    page_size: usize,
    page_count: usize,
    page_number: usize,
    total_records: usize,
    next_page_token: String,
}

fn page<T: Clone>(s: &Shared, scope: &str, items: &[T], query: &HashMap<String, String>) -> Result<Page<T>, String> {
    let page_size = listing::page_size(query.get("page_size").map(String::as_str))?;
    let token = query.get("next_page_token").map(String::as_str);
    let mut pager = lock(&s.pager);
    let Some(offset) = pager.resume(scope, token, now()) else {
        return Err("The next page token is invalid or expired.".into());
    };
    let end = offset.saturating_add(page_size).min(items.len());
    let next_page_token = if end < items.len() {
        pager.issue(scope, end, now())
    } else {
        String::new()
    };
    Ok(Page {
        items: items.get(offset..end).unwrap_or_default().to_vec(),
        page_size,
        page_count: items.len().div_ceil(page_size),
        page_number: offset / page_size + 1,
        total_records: items.len(),
        next_page_token,
    })
}

/// `GET /v2/users`: every user is active, so `status=inactive|pending` lists nobody.
async fn list_users(State(s): State<Arc<Shared>>, RawQuery(raw): RawQuery, headers: HeaderMap) -> Response {
    if let Some(r) = list_gate(&s, &headers) {
        return r;
    }
    let query = query_pairs(raw.as_deref());
    let status = query.get("status").map_or("active", String::as_str);
    let users = match status {
        "active" => all_users(&s),
        "inactive" | "pending" => Vec::new(),
        other => return bad_request(&format!("Invalid field: status ({other}).")),
    };
    let page = match page(&s, &format!("users:{status}"), &users, &query) {
        Ok(p) => p,
        Err(m) => return bad_request(&m),
    };
    authorized(
        Json(json!({
            "page_count": page.page_count,
            "page_number": page.page_number,
            "page_size": page.page_size,
            "total_records": page.total_records,
            "next_page_token": page.next_page_token,
            "users": page.items.iter().map(User::json).collect::<Vec<_>>(),
        }))
        .into_response(),
    )
}

/// `GET /v2/users/{userId}/recordings`: the user's meetings whose UTC start date lies in
/// [from, to], newest first, each as `/v2/meetings/{id}/recordings` shows it minus the
/// download_access_token (a client asks that endpoint for one per meeting).
async fn user_recordings(
    State(s): State<Arc<Shared>>,
    Path(user_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = list_gate(&s, &headers) {
        return r;
    }
    let Some(user) = all_users(&s).into_iter().find(|u| u.is(&user_id)) else {
        let message = format!("User does not exist: {user_id}.");
        return authorized(zoom_error(StatusCode::NOT_FOUND, 1001, &message));
    };
    let query = query_pairs(raw.as_deref());
    let today = OffsetDateTime::now_utc().date();
    let window = listing::date_window(
        query.get("from").map(String::as_str),
        query.get("to").map(String::as_str),
        today,
    );
    let (from, to) = match window {
        Ok(w) => w,
        Err(m) => return bad_request(&m),
    };
    let mut meetings: Vec<GeneratedMeeting> = {
        // The last registration of an instance wins, as in /v2/meetings/{id}/recordings.
        let mut seen = HashSet::new();
        lock(&s.meetings)
            .iter()
            .rev()
            .filter(|m| seen.insert(m.spec.uuid.clone()))
            .filter(|m| m.spec.host_email.trim().eq_ignore_ascii_case(&user.email))
            .filter(|m| (from..=to).contains(&m.spec.start.to_offset(time::UtcOffset::UTC).date()))
            .cloned()
            .collect()
    };
    meetings.sort_by(|a, b| {
        b.spec
            .start
            .cmp(&a.spec.start)
            .then_with(|| a.spec.uuid.cmp(&b.spec.uuid))
    });
    let (from, to) = (listing::format_date(from), listing::format_date(to));
    let page = match page(&s, &format!("recordings:{}:{from}:{to}", user.id), &meetings, &query) {
        Ok(p) => p,
        Err(m) => return bad_request(&m),
    };
    let objects: Vec<serde_json::Value> = page
        .items
        .iter()
        .map(|m| payload::recording_object(m, &s.base_url, &s.account_id, Flavor::Api))
        .collect();
    authorized(
        Json(json!({
            "from": from,
            "to": to,
            "page_count": page.page_count,
            "page_size": page.page_size,
            "total_records": page.total_records,
            "next_page_token": page.next_page_token,
            "meetings": objects,
        }))
        .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meeting_ids_are_decoded_once_or_twice() {
        assert_eq!(
            decode_meeting_id("%252FajXp112QmuoKj4854875%253D%253D"),
            "/ajXp112QmuoKj4854875=="
        );
        assert_eq!(decode_meeting_id("abc%252F%252Fdef%253D%253D"), "abc//def==");
        assert_eq!(
            decode_meeting_id("WEz4RT2lSyKx2MD9Z%2BlYfA%3D%3D"),
            "WEz4RT2lSyKx2MD9Z+lYfA=="
        );
        assert_eq!(
            decode_meeting_id("WEz4RT2lSyKx2MD9Z%252BlYfA%253D%253D"),
            "WEz4RT2lSyKx2MD9Z+lYfA=="
        );
        assert_eq!(decode_meeting_id("84512345678"), "84512345678");
        // Only two rounds, never more.
        assert_eq!(decode_meeting_id("%25252F"), "%2F");
    }

    #[test]
    fn fault_counters_run_down_in_order() {
        let mut f = Fault {
            fail_5xx_times: 2,
            status_429_times: 1,
            ..Fault::default()
        };
        let seq: Vec<Action> = (0..5).map(|_| f.next_action()).collect();
        use Action::*;
        assert_eq!(seq, [Unavailable, Unavailable, RateLimited, Redirect, Redirect]);
        let mut html = Fault {
            html_200: true,
            fail_5xx_times: 1,
            ..Fault::default()
        };
        assert_eq!(html.next_action(), Unavailable);
        assert_eq!(html.next_action(), HtmlPage);
        assert_eq!(html.next_action(), HtmlPage);
    }

    #[test]
    fn fault_json_defaults_missing_fields() {
        let f: Fault = serde_json::from_str(r#"{"status_429_times":3}"#).unwrap();
        assert_eq!(
            (f.status_429_times, f.fail_5xx_times, f.html_200, f.truncate_to),
            (3, 0, false, None)
        );
    }

    #[test]
    fn bearer_and_basic_parsing() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer abc.def.ghi"));
        assert_eq!(bearer(&h), Some("abc.def.ghi"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic aWQ6c2VjOnJldA=="),
        );
        assert_eq!(basic_credentials(&h), Some(("id".into(), "sec:ret".into())));
        assert_eq!(bearer(&h), None);
    }
}
