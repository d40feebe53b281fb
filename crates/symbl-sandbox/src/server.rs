//! The plain-HTTP stand-in for api.symbl.ai: token endpoint, async audio URL jobs that
//! really fetch and probe the audio, job status and status webhooks, conversation
//! insights, the experience API, a concurrency limit, fault knobs, admin endpoints and
//! a request log.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::insights::{Conversation, Speaker};
use crate::probe;

/// Seed of the rng that decides lost and duplicated webhooks (reset by `set_webhooks`).
const WEBHOOK_SEED: u64 = 0x5eed_5b1d;
/// How long a `scheduled` webhook sent after the reply waits, so that it really comes after.
const AFTER_REPLY_DELAY: Duration = Duration::from_millis(50);

#[derive(Clone, Debug)]
pub struct SymblConfig {
    /// 127.0.0.1:0 for a random port.
    pub bind: SocketAddr,
    pub app_id: String,
    pub app_secret: String,
    /// Lifetime of an access token; default 86400.
    pub token_ttl_secs: u64,
    /// Concurrent jobs (scheduled or in_progress) per account; default 50.
    pub concurrency_limit: usize,
    /// Time from scheduled to completed when auto-completing; default 2000.
    pub job_duration_ms: u64,
    /// true: jobs progress on their own; false: only via complete_job / fail_job.
    pub auto_complete: bool,
}

impl SymblConfig {
    /// Random loopback port, well-known sandbox credentials, paid-plan limit, 2 s jobs.
    pub fn local() -> Self {
        SymblConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            app_id: "sandbox-app-id".into(),
            app_secret: "sandbox-app-secret".into(),
            token_ttl_secs: 86_400,
            concurrency_limit: 50,
            job_duration_ms: 2000,
            auto_complete: true,
        }
    }
}

/// Which key the status webhook carries the job id under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdKey {
    /// `{"id": …}` (Symbl's blog, the original integration).
    #[serde(alias = "id")]
    Id,
    /// `{"jobId": …}` (Symbl's docs).
    #[serde(alias = "jobId", alias = "job_id")]
    JobId,
    /// `id`, then `jobId`, then `id`… across all webhooks the sandbox sends.
    #[serde(alias = "alternate", alias = "alternating")]
    Alternate,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookPlan {
    /// Default Alternate.
    pub id_key: IdKey,
    /// Send each status twice.
    pub duplicate_every: bool,
    /// Send `in_progress` after the terminal status.
    pub out_of_order: bool,
    /// POST the `scheduled` webhook before answering the 201 (default true).
    pub scheduled_before_reply: bool,
    /// Statuses never sent, e.g. ["completed"].
    pub lose_statuses: Vec<String>,
    /// 0..1: drop each webhook with this probability (seeded rng, deterministic).
    pub lose_fraction: f64,
    /// 0..1: send an extra copy with this probability.
    pub duplicate_fraction: f64,
}

impl Default for WebhookPlan {
    fn default() -> Self {
        WebhookPlan {
            id_key: IdKey::Alternate,
            duplicate_every: false,
            out_of_order: false,
            scheduled_before_reply: true,
            lose_statuses: Vec::new(),
            lose_fraction: 0.0,
            duplicate_fraction: 0.0,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// The next N submits answer 429 (documented body) regardless of load.
    pub submit_429_times: u32,
    /// The next N submits answer 503.
    pub submit_5xx_times: u32,
    /// The next N submits schedule the job and then answer 503: the job exists, its answer
    /// (with the conversation id) is lost, as when a timeout or a 5xx comes after the POST.
    pub submit_lose_answer_times: u32,
    /// Every API call answers 503 until cleared.
    pub down: bool,
    /// Jobs end `failed` instead of `completed`.
    pub fail_jobs: bool,
}

/// Every accepted `POST /v1/process/audio/url`.
#[derive(Clone, Debug, Serialize)]
pub struct Submission {
    pub job_id: String,
    pub conversation_id: String,
    pub name: Option<String>,
    pub url: String,
    pub webhook_url: Option<String>,
    /// The request body as received.
    pub body: Value,
    pub probe_format: String,
    pub probe_channels: u32,
    pub probe_duration_secs: f64,
    pub at_ms: i64,
}

impl Submission {
    fn accepted(
        job_id: &str,
        conversation_id: &str,
        req: &SubmitRequest,
        body: Map<String, Value>,
        probed: &probe::Probe,
        at_ms: i64,
    ) -> Submission {
        Submission {
            job_id: job_id.to_owned(),
            conversation_id: conversation_id.to_owned(),
            name: req.name.clone(),
            url: req.url.clone(),
            webhook_url: req.webhook_url.clone(),
            body: Value::Object(body),
            probe_format: probed.format.clone(),
            probe_channels: probed.channels,
            probe_duration_secs: probed.duration_secs,
            at_ms,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct JobRecord {
    pub job_id: String,
    pub conversation_id: String,
    pub status: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct RequestRecord {
    pub method: String,
    /// Path only.
    pub path: String,
    pub status: u16,
    pub at_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Scheduled,
    InProgress,
    Completed,
    Failed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Scheduled => "scheduled",
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Failed => "failed",
        }
    }

    fn terminal(self) -> bool {
        matches!(self, Status::Completed | Status::Failed)
    }
}

/// What a job is asked to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Start,
    /// Completed, or failed when `Faults::fail_jobs` is set.
    Finish,
    Complete,
    Fail,
}

#[derive(Clone, Debug, PartialEq)]
struct Outgoing {
    url: String,
    body: Value,
}

struct Job {
    job_id: String,
    conversation_id: String,
    status: Status,
    webhook_url: Option<String>,
    /// Webhooks held back by `out_of_order` until the terminal one is out.
    held: Vec<Outgoing>,
    /// Serialises a job's webhook deliveries, so they leave in the order decided.
    sender: Arc<tokio::sync::Mutex<()>>,
    conversation: Conversation,
}

struct Inner {
    limit: usize,
    faults: Faults,
    plan: WebhookPlan,
    rng: StdRng,
    key_counter: u64,
    /// The cached token and when it expires (ms).
    current_token: Option<(String, i64)>,
    tokens: HashMap<String, i64>,
    jobs: Vec<Job>,
    by_job: HashMap<String, usize>,
    by_conversation: HashMap<String, usize>,
    /// Slots held by submits whose audio is being fetched.
    reserved: usize,
    peak: usize,
    rejected_429: usize,
    submissions: Vec<Submission>,
    webhooks_sent: Vec<(String, Value, u16)>,
    experiences: Vec<Value>,
    requests: Vec<RequestRecord>,
}

impl Inner {
    fn new(limit: usize) -> Inner {
        Inner {
            limit,
            faults: Faults::default(),
            plan: WebhookPlan::default(),
            rng: StdRng::seed_from_u64(WEBHOOK_SEED),
            key_counter: 0,
            current_token: None,
            tokens: HashMap::new(),
            jobs: Vec::new(),
            by_job: HashMap::new(),
            by_conversation: HashMap::new(),
            reserved: 0,
            peak: 0,
            rejected_429: 0,
            submissions: Vec::new(),
            webhooks_sent: Vec::new(),
            experiences: Vec::new(),
            requests: Vec::new(),
        }
    }

    fn running(&self) -> usize {
        self.jobs.iter().filter(|j| !j.status.terminal()).count()
    }

    /// Stores and indexes a new job; returns its index.
    fn add_job(&mut self, job: Job) -> usize {
        let i = self.jobs.len();
        self.by_job.insert(job.job_id.clone(), i);
        self.by_conversation.insert(job.conversation_id.clone(), i);
        self.jobs.push(job);
        self.peak = self.peak.max(self.running());
        i
    }

    fn set_webhooks(&mut self, plan: WebhookPlan) {
        self.plan = plan;
        self.rng = StdRng::seed_from_u64(WEBHOOK_SEED);
        self.key_counter = 0;
    }

    fn roll(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    /// The webhooks for one status change of job `i`, per the plan.
    fn emit(&mut self, i: usize, status: Status, out: &mut Vec<Outgoing>) {
        let Some(url) = self.jobs[i].webhook_url.clone() else {
            return;
        };
        let plan = self.plan.clone();
        if plan.lose_statuses.iter().any(|s| s == status.as_str()) || self.roll(plan.lose_fraction) {
            return;
        }
        let key = match plan.id_key {
            IdKey::Id => "id",
            IdKey::JobId => "jobId",
            IdKey::Alternate => {
                self.key_counter += 1;
                if self.key_counter % 2 == 1 {
                    "id"
                } else {
                    "jobId"
                }
            }
        };
        let mut body = Map::new();
        body.insert(key.into(), json!(self.jobs[i].job_id));
        body.insert("status".into(), json!(status.as_str()));
        let message = Outgoing {
            url,
            body: Value::Object(body),
        };
        let copies = 1 + usize::from(plan.duplicate_every) + usize::from(self.roll(plan.duplicate_fraction));
        let target = if plan.out_of_order && status == Status::InProgress {
            &mut self.jobs[i].held
        } else {
            out
        };
        target.extend(std::iter::repeat_n(message, copies));
    }

    /// Moves a job on and returns the webhooks to send, in order.
    fn advance(&mut self, job_id: &str, step: Step) -> Result<Vec<Outgoing>, String> {
        let i = *self
            .by_job
            .get(job_id)
            .ok_or_else(|| format!("Job with jobId {job_id} not found"))?;
        let target = match step {
            Step::Start => Status::InProgress,
            Step::Complete => Status::Completed,
            Step::Fail => Status::Failed,
            Step::Finish if self.faults.fail_jobs => Status::Failed,
            Step::Finish => Status::Completed,
        };
        let current = self.jobs[i].status;
        let mut out = Vec::new();
        if current.terminal() {
            return match step {
                Step::Start | Step::Finish => Ok(out),
                _ if current == target => Ok(out),
                _ => Err(format!("job {job_id} is already {}", current.as_str())),
            };
        }
        if current == Status::Scheduled {
            self.jobs[i].status = Status::InProgress;
            self.emit(i, Status::InProgress, &mut out);
        }
        if target.terminal() {
            self.jobs[i].status = target;
            self.emit(i, target, &mut out);
            out.append(&mut self.jobs[i].held);
        }
        Ok(out)
    }

    fn completed(&self, conversation_id: &str) -> Result<&Conversation, ApiError> {
        let Some(&i) = self.by_conversation.get(conversation_id) else {
            return Err(ApiError::not_found(format!(
                "Conversation with conversationId {conversation_id} not found"
            )));
        };
        let job = &self.jobs[i];
        if job.status != Status::Completed {
            return Err(ApiError::not_found(format!(
                "Insights for conversationId {conversation_id} are not available: its job is {}",
                job.status.as_str()
            )));
        }
        Ok(&job.conversation)
    }
}

struct Shared {
    app_id: String,
    app_secret: String,
    token_ttl_secs: u64,
    job_duration_ms: u64,
    auto_complete: bool,
    /// Fetches submitted audio; never follows redirects.
    fetcher: reqwest::Client,
    /// Sends status webhooks; never retries.
    notifier: reqwest::Client,
    state: Mutex<Inner>,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

// A panic while holding a lock must not take the whole sandbox down with poisoning.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Shared {
    fn spawn(self: &Arc<Self>, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task).abort_handle();
        let mut tasks = lock(&self.tasks);
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle);
    }

    async fn deliver(&self, out: Vec<Outgoing>) {
        for o in out {
            let status = match self.notifier.post(&o.url).json(&o.body).send().await {
                Ok(r) => r.status().as_u16(),
                Err(e) => {
                    tracing::warn!(url = %o.url, error = %e, "webhook delivery failed");
                    0
                }
            };
            lock(&self.state).webhooks_sent.push((o.url, o.body, status));
        }
    }

    async fn drive(&self, job_id: &str, step: Step) -> Result<(), String> {
        let sender = {
            let st = lock(&self.state);
            let i = *st
                .by_job
                .get(job_id)
                .ok_or_else(|| format!("Job with jobId {job_id} not found"))?;
            st.jobs[i].sender.clone()
        };
        let _order = sender.lock().await;
        let out = lock(&self.state).advance(job_id, step)?;
        self.deliver(out).await;
        Ok(())
    }

    fn abort_tasks(&self) {
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }
}

pub struct SymblSandbox {
    /// http://127.0.0.1:PORT
    pub base_url: String,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SymblSandbox {
    /// Serves plain HTTP in a background task until shut down or dropped.
    pub async fn start(config: SymblConfig) -> anyhow::Result<SymblSandbox> {
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let local_addr = listener.local_addr()?;
        let base_url = format!("http://{local_addr}");
        let fetcher = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            .build()?;
        let notifier = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        let shared = Arc::new(Shared {
            app_id: config.app_id,
            app_secret: config.app_secret,
            token_ttl_secs: config.token_ttl_secs,
            job_duration_ms: config.job_duration_ms,
            auto_complete: config.auto_complete,
            fetcher,
            notifier,
            state: Mutex::new(Inner::new(config.concurrency_limit)),
            tasks: Mutex::default(),
        });
        let app = routes(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "symbl sandbox server stopped");
            }
        });
        tracing::info!(%base_url, "symbl sandbox listening");
        Ok(SymblSandbox {
            base_url,
            local_addr,
            shared,
            task: Some(task),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn set_limit(&self, n: usize) {
        lock(&self.shared.state).limit = n;
    }

    pub fn set_faults(&self, f: Faults) {
        lock(&self.shared.state).faults = f;
    }

    /// Also reseeds the rng behind `lose_fraction` / `duplicate_fraction` and restarts
    /// the `Alternate` sequence with `id`.
    pub fn set_webhooks(&self, w: WebhookPlan) {
        lock(&self.shared.state).set_webhooks(w);
    }

    /// Every issued token becomes invalid (401) at once.
    pub fn expire_tokens(&self) {
        let mut st = lock(&self.shared.state);
        st.tokens.clear();
        st.current_token = None;
    }

    pub fn submissions(&self) -> Vec<Submission> {
        lock(&self.shared.state).submissions.clone()
    }

    pub fn jobs(&self) -> Vec<JobRecord> {
        job_records(&lock(&self.shared.state))
    }

    /// Most jobs ever scheduled/in_progress at the same time.
    pub fn peak_concurrency(&self) -> usize {
        lock(&self.shared.state).peak
    }

    /// Jobs scheduled/in_progress now.
    pub fn running(&self) -> usize {
        lock(&self.shared.state).running()
    }

    /// How many submits got 429 (limit reached or `submit_429_times`).
    pub fn rejected_429(&self) -> usize {
        lock(&self.shared.state).rejected_429
    }

    /// (url, body, HTTP status or 0 when the request failed), in the order sent.
    pub fn webhooks_sent(&self) -> Vec<(String, Value, u16)> {
        lock(&self.shared.state).webhooks_sent.clone()
    }

    /// Every accepted experience request: conversation_id, query, body, url, at_ms.
    pub fn experiences(&self) -> Vec<Value> {
        lock(&self.shared.state).experiences.clone()
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.state).requests.clone()
    }

    /// Drives a job to `completed` now (through `in_progress` if needed), sending its webhooks.
    pub async fn complete_job(&self, job_id: &str) -> anyhow::Result<()> {
        self.shared
            .drive(job_id, Step::Complete)
            .await
            .map_err(anyhow::Error::msg)
    }

    /// Drives a job to `failed` now (through `in_progress` if needed), sending its webhooks.
    pub async fn fail_job(&self, job_id: &str) -> anyhow::Result<()> {
        self.shared.drive(job_id, Step::Fail).await.map_err(anyhow::Error::msg)
    }

    /// Stops serving and job progression, and waits until the port is released.
    pub async fn shutdown(mut self) {
        self.shared.abort_tasks();
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for SymblSandbox {
    fn drop(&mut self) {
        self.shared.abort_tasks();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn job_records(st: &Inner) -> Vec<JobRecord> {
    st.jobs
        .iter()
        .map(|j| JobRecord {
            job_id: j.job_id.clone(),
            conversation_id: j.conversation_id.clone(),
            status: j.status.as_str().into(),
        })
        .collect()
}

fn routes(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/oauth2/token:generate", post(token))
        .route("/v1/process/audio/url", post(submit))
        .route("/v1/job/{job_id}", get(job_status))
        .route("/v1/conversations/{conversation_id}/experiences", post(experience))
        .route("/v1/conversations/{conversation_id}/{kind}", get(conversation))
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), down));
    let admin = Router::new()
        .route("/_sandbox/limit/{n}", post(admin_limit))
        .route("/_sandbox/faults", post(admin_faults))
        .route("/_sandbox/webhooks", post(admin_webhooks))
        .route("/_sandbox/expire-tokens", post(admin_expire))
        .route("/_sandbox/submissions", get(admin_submissions))
        .route("/_sandbox/jobs", get(admin_jobs))
        .route("/_sandbox/jobs/{job_id}/complete", post(admin_complete))
        .route("/_sandbox/jobs/{job_id}/fail", post(admin_fail))
        .route("/_sandbox/stats", get(admin_stats))
        .route("/_sandbox/webhooks-sent", get(admin_webhooks_sent))
        .route("/_sandbox/experiences", get(admin_experiences))
        .route("/_sandbox/requests", get(admin_requests));
    api.merge(admin)
        .fallback(|| async { message(StatusCode::NOT_FOUND, "Not Found") })
        .layer(axum::middleware::from_fn_with_state(shared.clone(), record))
        .with_state(shared)
}

async fn record(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let at_ms = now_ms();
    let (method, path) = (req.method().to_string(), req.uri().path().to_owned());
    let res = next.run(req).await;
    let rec = RequestRecord {
        method,
        path,
        status: res.status().as_u16(),
        at_ms,
    };
    lock(&s.state).requests.push(rec);
    res
}

async fn down(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if lock(&s.state).faults.down {
        return message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    }
    next.run(req).await
}

/// A `{"message": …}` error answer, small enough to travel in a `Result`.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl ApiError {
    fn bad_request(text: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, text.into())
    }

    fn not_found(text: impl Into<String>) -> ApiError {
        ApiError(StatusCode::NOT_FOUND, text.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        message(self.0, &self.1)
    }
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "message": text }))).into_response()
}

fn bad_request(text: impl AsRef<str>) -> Response {
    message(StatusCode::BAD_REQUEST, text.as_ref())
}

fn too_many(limit: usize) -> Response {
    let text = format!(
        "This API has a limit of maximum of `{limit}` number of concurrent jobs per account. If you are looking to \
         scale, and need more concurrent jobs than this limit, please contact us at support@symbl.ai"
    );
    (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({ "statusCode": 429, "message": text })),
    )
        .into_response()
}

fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// JWT-shaped, like Symbl's, but only its presence in the token table counts.
fn new_token(app_id: &str, now_ms: i64, exp_ms: i64) -> String {
    let header = b64url(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = json!({ "appId": app_id, "iat": now_ms / 1000, "exp": exp_ms / 1000,
                         "jti": uuid::Uuid::new_v4().to_string() });
    let sig: [u8; 32] = rand::rng().random();
    format!("{header}.{}.{}", b64url(claims.to_string().as_bytes()), b64url(&sig))
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request("The request body must be a JSON object.")),
        Err(e) => Err(ApiError::bad_request(format!("Invalid JSON in request body: {e}"))),
    }
}

async fn token(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let body = match json_object(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    match body.get("type").and_then(Value::as_str) {
        Some("application") => {}
        None => return bad_request("\"type\" is required"),
        Some(_) => return bad_request("\"type\" must be one of [application, user]"),
    }
    let id = body.get("appId").and_then(Value::as_str).unwrap_or("");
    let secret = body.get("appSecret").and_then(Value::as_str).unwrap_or("");
    if !(same(id, &s.app_id) & same(secret, &s.app_secret)) {
        return message(StatusCode::UNAUTHORIZED, "Invalid appId or appSecret.");
    }
    let now = now_ms();
    let mut st = lock(&s.state);
    let (token, exp) = match &st.current_token {
        Some((t, exp)) if *exp > now => (t.clone(), *exp),
        _ => {
            let exp = now + (s.token_ttl_secs as i64).saturating_mul(1000);
            let t = new_token(&s.app_id, now, exp);
            st.tokens.insert(t.clone(), exp);
            st.current_token = Some((t.clone(), exp));
            (t, exp)
        }
    };
    Json(json!({ "accessToken": token, "expiresIn": (exp - now) / 1000 })).into_response()
}

fn presented_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim)
}

fn authorize(s: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    let now = now_ms();
    let valid = presented_token(headers).is_some_and(|t| lock(&s.state).tokens.get(t).is_some_and(|exp| *exp > now));
    if valid {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "Token validation failed for provided token.".into(),
        ))
    }
}

fn query_pairs(raw: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// Options read from the JSON body first, then from the query string.
struct Options<'a> {
    body: &'a Map<String, Value>,
    query: &'a HashMap<String, String>,
}

impl Options<'_> {
    fn string(&self, key: &str) -> Result<Option<String>, String> {
        match self.body.get(key) {
            Some(Value::String(v)) if v.is_empty() => Err(format!("\"{key}\" is not allowed to be empty")),
            Some(Value::String(v)) => Ok(Some(v.clone())),
            Some(Value::Null) | None => match self.query.get(key) {
                Some(v) if v.is_empty() => Err(format!("\"{key}\" is not allowed to be empty")),
                v => Ok(v.cloned()),
            },
            Some(_) => Err(format!("\"{key}\" must be a string")),
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, String> {
        match self.body.get(key) {
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Null) | None => match self.query.get(key).map(String::as_str) {
                None => Ok(None),
                Some("true") => Ok(Some(true)),
                Some("false") => Ok(Some(false)),
                Some(_) => Err(format!("\"{key}\" must be a boolean")),
            },
            Some(_) => Err(format!("\"{key}\" must be a boolean")),
        }
    }

    /// Lists and objects come JSON-encoded in the query string.
    fn value(&self, key: &str) -> Result<Option<Value>, String> {
        match self.body.get(key) {
            Some(Value::Null) | None => match self.query.get(key) {
                None => Ok(None),
                Some(v) => serde_json::from_str(v)
                    .map(Some)
                    .map_err(|_| format!("\"{key}\" must be valid JSON")),
            },
            Some(v) => Ok(Some(v.clone())),
        }
    }
}

fn http_url(key: &str, v: &str) -> Result<(), String> {
    match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(()),
        _ => Err(format!(
            "\"{key}\" must be a valid uri with a scheme matching the http|https pattern"
        )),
    }
}

#[derive(Debug)]
struct SubmitRequest {
    url: String,
    name: Option<String>,
    webhook_url: Option<String>,
    separate_channels: bool,
    channel_metadata: Option<Vec<Value>>,
}

impl SubmitRequest {
    fn parse(body: &Map<String, Value>, query: &HashMap<String, String>) -> Result<SubmitRequest, String> {
        let o = Options { body, query };
        let url = o.string("url")?.ok_or("\"url\" is required")?;
        http_url("url", &url)?;
        let name = o.string("name")?;
        let webhook_url = o.string("webhookUrl")?;
        if let Some(w) = &webhook_url {
            http_url("webhookUrl", w)?;
        }
        for key in [
            "enableSpeakerDiarization",
            "detectPhrases",
            "detectEntities",
            "enableAllTrackers",
            "enableSummary",
        ] {
            o.boolean(key)?;
        }
        let separate_channels = o.boolean("enableSeparateRecognitionPerChannel")?.unwrap_or(false);
        let channel_metadata = match o.value("channelMetadata")? {
            None => None,
            Some(Value::Array(items)) if items.iter().all(Value::is_object) => Some(items),
            Some(_) => return Err("\"channelMetadata\" must be an array of objects".into()),
        };
        if let Some(c) = o.value("confidenceThreshold")? {
            let c = c.as_f64().or_else(|| c.as_str().and_then(|s| s.parse().ok()));
            if !c.is_some_and(|c| (0.5..=1.0).contains(&c)) {
                return Err("\"confidenceThreshold\" must be a number from 0.5 to 1.0".into());
            }
        }
        if let Some(mode) = o.string("mode")? {
            if mode != "phone" && mode != "default" {
                return Err("\"mode\" must be one of [phone, default]".into());
            }
        }
        if let Some(v) = o.value("customVocabulary")? {
            if !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
                return Err("\"customVocabulary\" must be an array of strings".into());
            }
        }
        Ok(SubmitRequest {
            url,
            name,
            webhook_url,
            separate_channels,
            channel_metadata,
        })
    }

    /// The conversation a job for this request holds; named after its id when unnamed.
    fn conversation(&self, conversation_id: &str, channels: u32, start_ms: i64) -> Conversation {
        Conversation {
            conversation_id: conversation_id.to_owned(),
            name: self.name.clone().unwrap_or_else(|| conversation_id.to_owned()),
            speakers: self.speakers(channels),
            start_ms,
        }
    }

    /// Per-channel speakers when Symbl would honour them, generic labels otherwise.
    fn speakers(&self, channels: u32) -> Vec<Speaker> {
        match (&self.channel_metadata, self.separate_channels) {
            (Some(md), true) if !md.is_empty() => {
                let mut entries: Vec<(u64, Speaker)> = md
                    .iter()
                    .map(|e| {
                        let channel = e.get("channel").and_then(Value::as_u64).unwrap_or(0);
                        let speaker = e.get("speaker");
                        let field = |k: &str| {
                            speaker
                                .and_then(|s| s.get(k))
                                .and_then(Value::as_str)
                                .filter(|s| !s.is_empty())
                        };
                        let name = field("name")
                            .map(str::to_owned)
                            .unwrap_or_else(|| format!("Speaker {channel}"));
                        (
                            channel,
                            Speaker {
                                name,
                                email: field("email").map(str::to_owned),
                            },
                        )
                    })
                    .collect();
                entries.sort_by_key(|(c, _)| *c);
                entries.into_iter().map(|(_, s)| s).collect()
            }
            _ => (1..=channels.max(1))
                .map(|k| Speaker {
                    name: format!("Speaker {k}"),
                    email: None,
                })
                .collect(),
        }
    }
}

/// A concurrency slot held while the audio is fetched; released on any early return,
/// including the client going away.
struct Reservation {
    shared: Arc<Shared>,
    held: bool,
}

impl Reservation {
    fn take(shared: &Arc<Shared>) -> Result<Reservation, usize> {
        let mut st = lock(&shared.state);
        if st.running() + st.reserved >= st.limit {
            st.rejected_429 += 1;
            return Err(st.limit);
        }
        st.reserved += 1;
        Ok(Reservation {
            shared: shared.clone(),
            held: true,
        })
    }

    fn consume(mut self, st: &mut Inner) {
        st.reserved -= 1;
        self.held = false;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.held {
            lock(&self.shared.state).reserved -= 1;
        }
    }
}

fn new_conversation_id(st: &Inner) -> String {
    let mut rng = rand::rng();
    loop {
        let id = rng
            .random_range(1_000_000_000_000_000u64..10_000_000_000_000_000)
            .to_string();
        if !st.by_conversation.contains_key(&id) {
            return id;
        }
    }
}

async fn submit(
    State(s): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    authorize(&s, &headers).map_err(IntoResponse::into_response)?;
    if let Some(fault) = injected_submit_fault(&s) {
        return Err(fault);
    }
    let body = json_object(&body).map_err(IntoResponse::into_response)?;
    let req = SubmitRequest::parse(&body, &query_pairs(raw.as_deref())).map_err(bad_request)?;
    let reservation = Reservation::take(&s).map_err(too_many)?;
    let probed = probe::fetch_and_probe(&s.fetcher, &req.url)
        .await
        .map_err(|e| match e {
            probe::ProbeError::Refused(text) => bad_request(text),
            probe::ProbeError::Internal(detail) => {
                tracing::error!(%detail, "could not probe a submitted file");
                message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        })?;
    probe::check(&probed, req.separate_channels, req.channel_metadata.as_deref()).map_err(bad_request)?;

    let ScheduledJob {
        job_id,
        conversation_id,
        order,
        webhooks,
        before_reply,
    } = schedule_job(&s, reservation, &req, body, &probed);
    tracing::info!(%job_id, %conversation_id, channels = probed.channels, "job scheduled");
    send_scheduled_webhook(&s, order, webhooks, before_reply).await;
    if s.auto_complete {
        spawn_auto_complete(&s, job_id.clone());
    }
    if take_lost_answer(&s) {
        tracing::info!(%job_id, "job scheduled; its answer is lost (fault)");
        return Err(message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"));
    }
    let reply = json!({ "conversationId": conversation_id, "jobId": job_id });
    Ok((StatusCode::CREATED, Json(reply)).into_response())
}

/// Uses up one queued `submit_lose_answer_times` fault.
fn take_lost_answer(s: &Shared) -> bool {
    let mut st = lock(&s.state);
    let lose = st.faults.submit_lose_answer_times > 0;
    st.faults.submit_lose_answer_times = st.faults.submit_lose_answer_times.saturating_sub(1);
    lose
}

/// Uses up one queued `submit_5xx_times` or `submit_429_times` fault, 5xx first, and
/// returns the answer it gives instead of this submit.
fn injected_submit_fault(s: &Shared) -> Option<Response> {
    let mut st = lock(&s.state);
    if st.faults.submit_5xx_times > 0 {
        st.faults.submit_5xx_times -= 1;
        return Some(message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"));
    }
    if st.faults.submit_429_times > 0 {
        st.faults.submit_429_times -= 1;
        st.rejected_429 += 1;
        return Some(too_many(st.limit));
    }
    None
}

/// A job just scheduled, and what the submit still has to send for it.
struct ScheduledJob {
    job_id: String,
    conversation_id: String,
    /// The job's webhook order, held until its `scheduled` webhook is out, so that a fast
    /// job's later statuses cannot overtake it.
    order: tokio::sync::OwnedMutexGuard<()>,
    /// The `scheduled` webhooks, per the plan.
    webhooks: Vec<Outgoing>,
    before_reply: bool,
}

/// Turns the reserved slot into a `scheduled` job and records the submission.
fn schedule_job(
    s: &Shared,
    reservation: Reservation,
    req: &SubmitRequest,
    body: Map<String, Value>,
    probed: &probe::Probe,
) -> ScheduledJob {
    let job_id = uuid::Uuid::new_v4().to_string();
    let at_ms = now_ms();
    let mut st = lock(&s.state);
    reservation.consume(&mut st);
    let conversation_id = new_conversation_id(&st);
    let conversation = req.conversation(&conversation_id, probed.channels, at_ms);
    let sender = Arc::new(tokio::sync::Mutex::new(()));
    #[allow(clippy::expect_used, reason = "a mutex made on the line above is free")]
    let order = sender.clone().try_lock_owned().expect("a new mutex is free");
    let i = st.add_job(Job {
        job_id: job_id.clone(),
        conversation_id: conversation_id.clone(),
        status: Status::Scheduled,
        webhook_url: req.webhook_url.clone(),
        held: Vec::new(),
        sender,
        conversation,
    });
    let submission = Submission::accepted(&job_id, &conversation_id, req, body, probed, at_ms);
    st.submissions.push(submission);
    let mut webhooks = Vec::new();
    st.emit(i, Status::Scheduled, &mut webhooks);
    let before_reply = st.plan.scheduled_before_reply;
    ScheduledJob {
        job_id,
        conversation_id,
        order,
        webhooks,
        before_reply,
    }
}

/// Sends the `scheduled` webhooks before the reply, or just after it when the plan says so;
/// `order` is released once they are out.
async fn send_scheduled_webhook(
    s: &Arc<Shared>,
    order: tokio::sync::OwnedMutexGuard<()>,
    webhooks: Vec<Outgoing>,
    before_reply: bool,
) {
    if before_reply {
        s.deliver(webhooks).await;
        drop(order);
    } else {
        let shared = s.clone();
        s.spawn(async move {
            let _order = order;
            tokio::time::sleep(AFTER_REPLY_DELAY).await;
            shared.deliver(webhooks).await;
        });
    }
}

/// `in_progress` half way through `job_duration_ms`, the terminal status at its end.
fn spawn_auto_complete(s: &Arc<Shared>, job_id: String) {
    let (shared, half) = (s.clone(), s.job_duration_ms / 2);
    let rest = s.job_duration_ms - half;
    s.spawn(async move {
        tokio::time::sleep(Duration::from_millis(half)).await;
        let _ = shared.drive(&job_id, Step::Start).await;
        tokio::time::sleep(Duration::from_millis(rest)).await;
        let _ = shared.drive(&job_id, Step::Finish).await;
    });
}

async fn job_status(State(s): State<Arc<Shared>>, Path(job_id): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&s, &headers) {
        return r.into_response();
    }
    let st = lock(&s.state);
    match st.by_job.get(&job_id) {
        Some(&i) => Json(json!({ "id": job_id, "status": st.jobs[i].status.as_str() })).into_response(),
        None => message(StatusCode::NOT_FOUND, &format!("Job with jobId {job_id} not found")),
    }
}

/// Boolean query flags: exactly `true` or `false`, anything else (such as a
/// JSON-encoded `"true"`) is a 400 like Symbl's validator gives.
fn flags(query: &HashMap<String, String>, allowed: &[&str]) -> Result<HashMap<String, bool>, ApiError> {
    let mut out = HashMap::new();
    for key in allowed {
        match query.get(*key).map(String::as_str) {
            None => {}
            Some("true") => {
                out.insert((*key).to_owned(), true);
            }
            Some("false") => {
                out.insert((*key).to_owned(), false);
            }
            Some(_) => return Err(ApiError::bad_request(format!("\"{key}\" must be a boolean"))),
        }
    }
    Ok(out)
}

async fn conversation(
    State(s): State<Arc<Shared>>,
    Path((conversation_id, kind)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&s, &headers) {
        return r.into_response();
    }
    let allowed: &[&str] = match kind.as_str() {
        "summary" => &["refresh"],
        "topics" => &["sentiment", "parentRefs", "customTopicVocabulary", "refresh"],
        "messages" => &["verbose", "sentiment"],
        "questions" | "action-items" | "follow-ups" => &[],
        _ => return message(StatusCode::NOT_FOUND, "Not Found"),
    };
    let flags = match flags(&query_pairs(raw.as_deref()), allowed) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let on = |k: &str| flags.get(k).copied().unwrap_or(false);
    let st = lock(&s.state);
    let c = match st.completed(&conversation_id) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let body = match kind.as_str() {
        "summary" => c.summary(),
        "topics" => c.topics(on("sentiment"), on("parentRefs")),
        "questions" => c.questions(),
        "action-items" => c.action_items(),
        "follow-ups" => c.follow_ups(),
        _ => c.messages(on("verbose"), on("sentiment")),
    };
    Json(body).into_response()
}

async fn experience(
    State(s): State<Arc<Shared>>,
    Path(conversation_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    authorize(&s, &headers).map_err(IntoResponse::into_response)?;
    let body = json_object(&body).map_err(IntoResponse::into_response)?;
    let req = ExperienceRequest::parse(&body).map_err(bad_request)?;
    let mut st = lock(&s.state);
    st.completed(&conversation_id).map_err(IntoResponse::into_response)?;
    let url = req.url(&conversation_id);
    st.experiences.push(json!({
        "conversation_id": conversation_id,
        "query": raw,
        "body": Value::Object(body),
        "url": url,
        "at_ms": now_ms(),
    }));
    Ok(Json(json!({ "name": req.name, "url": url })).into_response())
}

/// A validated `POST /v1/conversations/{id}/experiences` body.
struct ExperienceRequest {
    name: String,
    video_url: Option<String>,
}

impl ExperienceRequest {
    /// The first problem found becomes the 400's message: name, then videoUrl, then the rest.
    fn parse(body: &Map<String, Value>) -> Result<ExperienceRequest, String> {
        let name = match body.get("name") {
            None => return Err("\"name\" is required".into()),
            Some(Value::String(n)) if n == "video-summary" || n == "verbose-text-summary" => n.clone(),
            Some(_) => return Err("\"name\" must be one of [video-summary, verbose-text-summary]".into()),
        };
        let video_url = match body.get("videoUrl") {
            None | Some(Value::Null) if name == "video-summary" => {
                return Err("\"videoUrl\" is required for video-summary".into())
            }
            None | Some(Value::Null) => None,
            Some(Value::String(u)) => {
                http_url("videoUrl", u)?;
                Some(u.clone())
            }
            Some(_) => return Err("\"videoUrl\" must be a string".into()),
        };
        if body.get("summaryURLExpiresIn").is_some_and(|v| v.as_u64().is_none()) {
            return Err("\"summaryURLExpiresIn\" must be an integer greater than or equal to 0".into());
        }
        for key in ["readOnly", "enableCustomDomain"] {
            if body.get(key).is_some_and(|v| !v.is_boolean()) {
                return Err(format!("\"{key}\" must be a boolean"));
            }
        }
        Ok(ExperienceRequest { name, video_url })
    }

    /// The Meeting Insights page: Symbl puts the session, base64 JSON, in the fragment.
    fn url(&self, conversation_id: &str) -> String {
        let mut session = json!({ "sessionId": conversation_id, "name": self.name });
        if let Some(u) = &self.video_url {
            session["videoUrl"] = json!(u);
        }
        let encoded = base64::engine::general_purpose::STANDARD.encode(session.to_string());
        if self.video_url.is_some() {
            format!("https://meetinginsights.symbl.ai/meeting/#/{encoded}?showVideoSummary=true")
        } else {
            format!("https://meetinginsights.symbl.ai/meeting/#/{encoded}")
        }
    }
}

async fn admin_limit(State(s): State<Arc<Shared>>, Path(n): Path<usize>) -> Json<Value> {
    lock(&s.state).limit = n;
    Json(json!({ "limit": n }))
}

async fn admin_faults(State(s): State<Arc<Shared>>, Json(f): Json<Faults>) -> Json<Faults> {
    lock(&s.state).faults = f.clone();
    Json(f)
}

async fn admin_webhooks(State(s): State<Arc<Shared>>, Json(w): Json<WebhookPlan>) -> Json<WebhookPlan> {
    lock(&s.state).set_webhooks(w.clone());
    Json(w)
}

async fn admin_expire(State(s): State<Arc<Shared>>) -> Json<Value> {
    let mut st = lock(&s.state);
    let n = st.tokens.len();
    st.tokens.clear();
    st.current_token = None;
    Json(json!({ "expired": n }))
}

async fn admin_submissions(State(s): State<Arc<Shared>>) -> Json<Vec<Submission>> {
    Json(lock(&s.state).submissions.clone())
}

async fn admin_jobs(State(s): State<Arc<Shared>>) -> Json<Vec<JobRecord>> {
    Json(job_records(&lock(&s.state)))
}

async fn admin_drive(s: &Shared, job_id: &str, step: Step) -> Response {
    match s.drive(job_id, step).await {
        Ok(()) => {
            let st = lock(&s.state);
            let status = st.by_job.get(job_id).map(|&i| st.jobs[i].status.as_str());
            Json(json!({ "id": job_id, "status": status })).into_response()
        }
        Err(m) if m.contains("not found") => message(StatusCode::NOT_FOUND, &m),
        Err(m) => message(StatusCode::CONFLICT, &m),
    }
}

async fn admin_complete(State(s): State<Arc<Shared>>, Path(job_id): Path<String>) -> Response {
    admin_drive(&s, &job_id, Step::Complete).await
}

async fn admin_fail(State(s): State<Arc<Shared>>, Path(job_id): Path<String>) -> Response {
    admin_drive(&s, &job_id, Step::Fail).await
}

async fn admin_stats(State(s): State<Arc<Shared>>) -> Json<Value> {
    let st = lock(&s.state);
    Json(json!({
        "peak_concurrency": st.peak,
        "running": st.running(),
        "rejected_429": st.rejected_429,
        "limit": st.limit,
        "submissions": st.submissions.len(),
        "webhooks_sent": st.webhooks_sent.len(),
    }))
}

async fn admin_webhooks_sent(State(s): State<Arc<Shared>>) -> Json<Value> {
    let st = lock(&s.state);
    let sent: Vec<Value> = st
        .webhooks_sent
        .iter()
        .map(|(url, body, status)| json!({ "url": url, "body": body, "status": status }))
        .collect();
    Json(Value::Array(sent))
}

async fn admin_experiences(State(s): State<Arc<Shared>>) -> Json<Vec<Value>> {
    Json(lock(&s.state).experiences.clone())
}

async fn admin_requests(State(s): State<Arc<Shared>>) -> Json<Vec<RequestRecord>> {
    Json(lock(&s.state).requests.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with_job(plan: WebhookPlan) -> Inner {
        let mut st = Inner::new(50);
        st.set_webhooks(plan);
        st.jobs.push(Job {
            job_id: "j1".into(),
            conversation_id: "1000000000000001".into(),
            status: Status::Scheduled,
            webhook_url: Some("http://hook".into()),
            held: Vec::new(),
            sender: Arc::default(),
            conversation: Conversation {
                conversation_id: "1000000000000001".into(),
                name: "n".into(),
                speakers: vec![Speaker {
                    name: "A".into(),
                    email: None,
                }],
                start_ms: 0,
            },
        });
        st.by_job.insert("j1".into(), 0);
        st.by_conversation.insert("1000000000000001".into(), 0);
        st
    }

    fn statuses(out: &[Outgoing]) -> Vec<&str> {
        out.iter().map(|o| o.body["status"].as_str().unwrap()).collect()
    }

    #[test]
    fn alternating_keys_and_progression() {
        let mut st = state_with_job(WebhookPlan::default());
        let mut out = Vec::new();
        st.emit(0, Status::Scheduled, &mut out);
        out.extend(st.advance("j1", Step::Start).unwrap());
        assert_eq!(st.running(), 1);
        out.extend(st.advance("j1", Step::Finish).unwrap());
        assert_eq!(st.running(), 0);
        assert_eq!(statuses(&out), ["scheduled", "in_progress", "completed"]);
        assert_eq!(out[0].body, json!({"id": "j1", "status": "scheduled"}));
        assert_eq!(out[1].body, json!({"jobId": "j1", "status": "in_progress"}));
        assert_eq!(out[2].body, json!({"id": "j1", "status": "completed"}));
        // Terminal jobs stay terminal.
        assert!(st.advance("j1", Step::Finish).unwrap().is_empty());
        assert!(st.advance("j1", Step::Complete).unwrap().is_empty());
        assert!(st.advance("j1", Step::Fail).is_err());
        assert!(st.advance("nope", Step::Fail).is_err());
    }

    #[test]
    fn out_of_order_duplicates_and_losses() {
        let plan = WebhookPlan {
            id_key: IdKey::JobId,
            out_of_order: true,
            duplicate_every: true,
            ..Default::default()
        };
        let mut st = state_with_job(plan);
        let out = st.advance("j1", Step::Complete).unwrap();
        assert_eq!(statuses(&out), ["completed", "completed", "in_progress", "in_progress"]);
        assert!(out
            .iter()
            .all(|o| o.body.get("jobId").is_some() && o.url == "http://hook"));

        let plan = WebhookPlan {
            lose_statuses: vec!["completed".into()],
            ..Default::default()
        };
        let mut st = state_with_job(plan);
        st.faults.fail_jobs = true;
        let out = st.advance("j1", Step::Finish).unwrap();
        assert_eq!(statuses(&out), ["in_progress", "failed"]);
    }

    #[test]
    fn fractions_are_deterministic() {
        let plan = WebhookPlan {
            lose_fraction: 0.3,
            duplicate_fraction: 0.3,
            ..Default::default()
        };
        let run = || {
            let mut st = state_with_job(plan.clone());
            let mut out = Vec::new();
            for _ in 0..200 {
                st.emit(0, Status::Scheduled, &mut out);
            }
            out.len()
        };
        let n = run();
        assert_eq!(n, run());
        assert!(n > 100 && n < 250, "{n}");
    }

    #[test]
    fn plan_and_faults_json_default_missing_fields() {
        let p: WebhookPlan = serde_json::from_str(r#"{"id_key":"jobId","out_of_order":true}"#).unwrap();
        assert_eq!(p.id_key, IdKey::JobId);
        assert!(p.out_of_order && p.scheduled_before_reply && p.lose_statuses.is_empty());
        let p: WebhookPlan = serde_json::from_str(r#"{"id_key":"Alternate"}"#).unwrap();
        assert_eq!(p.id_key, IdKey::Alternate);
        let f: Faults = serde_json::from_str(r#"{"down":true}"#).unwrap();
        assert!(f.down && !f.fail_jobs && f.submit_429_times == 0);
    }

    #[test]
    fn options_come_from_body_then_query() {
        let body = json!({"url": "https://s3.example/a.wav", "enableSeparateRecognitionPerChannel": true})
            .as_object()
            .unwrap()
            .clone();
        let query = query_pairs(Some(
            "name=Q3%20sync&url=https://ignored/&channelMetadata=%5B%7B%22channel%22%3A1%7D%5D\
             &webhookUrl=https%3A%2F%2Fhook.example%2Fw%3Ft%3Dx",
        ));
        let r = SubmitRequest::parse(&body, &query).unwrap();
        assert_eq!(r.url, "https://s3.example/a.wav");
        assert_eq!(r.name.as_deref(), Some("Q3 sync"));
        assert_eq!(r.webhook_url.as_deref(), Some("https://hook.example/w?t=x"));
        assert!(r.separate_channels);
        assert_eq!(r.channel_metadata.unwrap(), vec![json!({"channel": 1})]);

        let empty = HashMap::new();
        let parse = |b: Value| SubmitRequest::parse(b.as_object().unwrap(), &empty).map(|_| ());
        assert!(parse(json!({})).unwrap_err().contains("\"url\" is required"));
        assert!(parse(json!({"url": ""})).is_err());
        assert!(parse(json!({"url": "ftp://x/a.wav"})).is_err());
        assert!(parse(json!({"url": "https://x/a.wav", "channelMetadata": {"channel": 1}})).is_err());
        assert!(parse(json!({"url": "https://x/a.wav", "enableSeparateRecognitionPerChannel": "yes"})).is_err());
        assert!(parse(json!({"url": "https://x/a.wav", "confidenceThreshold": 0.2})).is_err());
        assert!(parse(json!({"url": "https://x/a.wav", "confidenceThreshold": 0.6, "mode": "phone"})).is_ok());
    }

    #[test]
    fn speakers_in_channel_order_only_when_per_channel() {
        let md = vec![
            json!({"channel": 2, "speaker": {"name": "Mary-Jane O'Neil"}}),
            json!({"channel": 1, "speaker": {"name": "Dana Host", "email": "host@example.com"}}),
        ];
        let mut r = SubmitRequest {
            url: "u".into(),
            name: None,
            webhook_url: None,
            separate_channels: true,
            channel_metadata: Some(md),
        };
        let s = r.speakers(2);
        assert_eq!(
            s[0],
            Speaker {
                name: "Dana Host".into(),
                email: Some("host@example.com".into())
            }
        );
        assert_eq!(s[1].name, "Mary-Jane O'Neil");
        r.separate_channels = false;
        assert_eq!(r.speakers(2)[1].name, "Speaker 2");
    }

    #[tokio::test]
    async fn documented_429_body() {
        let r = too_many(2);
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"statusCode": 429, "message": "This API has a limit of maximum of `2` number of concurrent jobs per \
                   account. If you are looking to scale, and need more concurrent jobs than this limit, please \
                   contact us at support@symbl.ai"})
        );
    }

    #[test]
    fn tokens_from_bearer_or_api_key() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_token(&h), None);
        h.insert("x-api-key", "abc".parse().unwrap());
        assert_eq!(presented_token(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Bearer def".parse().unwrap());
        assert_eq!(presented_token(&h), Some("def"));
        h.insert(header::AUTHORIZATION, "Basic def".parse().unwrap());
        assert_eq!(presented_token(&h), None);
        let t = new_token("app", 1_000_000, 2_000_000);
        assert_eq!(t.split('.').count(), 3);
        assert!(t.starts_with("eyJ"));
    }
}
