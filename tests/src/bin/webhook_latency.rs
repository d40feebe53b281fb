//! Latency and throughput of both public webhooks through the local stack's API Gateway:
//! `cargo run -p e2e --bin webhook-latency -- [N] [--throughput M] [--clients 1,4,16] [--out PATH]`
//! (N = 500 sequential requests per kind, M = N requests per concurrency level; results also
//! go to `target/bench/webhooks.json`). A measurement tool, never a test.
//!
//! Run it alone on the stack (it starts the Zoom and Symbl sandboxes on the stack's ports):
//! `flock -o /tmp/zs-stack.lock cargo run -q -p e2e --bin webhook-latency -- 500`.
//!
//! Kinds, each measured over N sequential requests on one keep-alive client:
//!
//! * baselines, the floor any request to the local stack pays: ministack's health GET (no
//!   gateway), an API Gateway route that matches nothing (gateway, no Lambda), and
//!   symbl-webhook refusing a wrong token (gateway + one warm Lambda invocation, no AWS call
//!   made by the function);
//! * zoom-webhook: `endpoint.url_validation`; a duplicate `recording.completed` (signature
//!   check + one conditional put that fails); a smaller number (N/10, at least 10) of new
//!   meetings (put + async producer invoke + update; sample events: their producers fail
//!   a moment later, as the Zoom sandbox knows no such recording, and the hosts of these
//!   failed meetings are emailed by the reconciler);
//! * symbl-webhook with its real `?t=` callback URL (taken from what the Symbl sandbox was
//!   given for a short meeting run first): a job id we do not know (one GetItem, 200
//!   `ignored`), and a known job's repeated non-terminal status (GetItem + async notifier
//!   invoke, 200 `accepted`; the notifier then finds the job already ended);
//! * symbl-webhook's unknown-job callback handed to the function through the Lambda Invoke
//!   API instead (the API Gateway proxy event it would get, real token): the same work
//!   without the gateway, and without the gateway's throttle.
//!
//! Throughput: C concurrent clients (C = 1, 4, 16) share M requests; requests/s, the rate
//! sustained over the run's second half, and p99 for the health baseline, the Lambda floor,
//! zoom-webhook's duplicate delivery, symbl-webhook's unknown-job callback and its direct
//! invocation (the paths without background work, so that levels do not disturb each
//! other). The deployed stage throttles each route (template.yaml: 50 requests/s, bursts of
//! 100) and the local gateway enforces it: a 429 is counted and retried after 20 ms. One
//! discarded round of C requests first starts the extra Lambda workers the concurrency
//! needs (ministack runs one process per concurrent invocation), then a pause refills the
//! throttle's bucket, so the numbers describe warm workers and a full burst allowance.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use e2e::{
    attr_s, deliver, deployed_build, eventually, http, record, sample_recording_completed, sandbox, symbl, unix_now,
    Stack,
};
use serde::Serialize;
use serde_json::{json, Value};
use zoom_sandbox::webhook::{send_signed, url_validation_body};
use zoom_sandbox::MeetingSpec;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

struct Args {
    n: usize,
    throughput: usize,
    clients: Vec<usize>,
    out: PathBuf,
}

impl Args {
    fn parse() -> Result<Args> {
        let mut args = std::env::args().skip(1).peekable();
        let mut n = 500;
        if let Some(first) = args.peek().filter(|a| !a.starts_with("--")) {
            n = first.parse().with_context(|| format!("request count {first:?}"))?;
            args.next();
        }
        let mut parsed = Args {
            n,
            throughput: n,
            clients: vec![1, 4, 16],
            out: PathBuf::from(ROOT).join("target/bench/webhooks.json"),
        };
        while let Some(flag) = args.next() {
            let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--throughput" => parsed.throughput = value()?.parse()?,
                "--clients" => {
                    parsed.clients = value()?.split(',').map(|c| c.trim().parse()).collect::<Result<_, _>>()?;
                }
                "--out" => parsed.out = PathBuf::from(value()?),
                other => bail!("unknown argument {other}; usage: webhook-latency [N] [--throughput M] [--clients 1,4,16] [--out PATH]"),
            }
        }
        ensure!(
            parsed.n >= 1 && parsed.throughput >= 1 && parsed.clients.iter().all(|&c| c >= 1),
            "counts must be >= 1"
        );
        Ok(parsed)
    }
}

/// One kind of request, with what a correct answer looks like.
#[derive(Clone)]
enum Kind {
    Health,
    NoRoute,
    LambdaFloor,
    UrlValidation,
    Duplicate(Arc<Vec<u8>>),
    Fresh,
    SymblUnknown,
    /// The same callback handed to symbl-webhook through the Lambda Invoke API: no gateway.
    SymblDirect,
    SymblKnown,
}

impl Kind {
    fn key(&self) -> &'static str {
        match self {
            Kind::Health => "baseline.ministack_health",
            Kind::NoRoute => "baseline.gateway_no_route",
            Kind::LambdaFloor => "baseline.lambda_floor",
            Kind::UrlValidation => "zoom.url_validation",
            Kind::Duplicate(_) => "zoom.duplicate_recording_completed",
            Kind::Fresh => "zoom.new_meeting",
            Kind::SymblUnknown => "symbl.unknown_job",
            Kind::SymblDirect => "symbl.unknown_job_direct_invoke",
            Kind::SymblKnown => "symbl.known_job_non_terminal",
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Kind::Health => "ministack health GET (no gateway, no Lambda)",
            Kind::NoRoute => "API Gateway, unmatched route (no Lambda)",
            Kind::LambdaFloor => "symbl-webhook, wrong token (gateway + Lambda, no AWS call)",
            Kind::UrlValidation => "zoom: endpoint.url_validation",
            Kind::Duplicate(_) => "zoom: recording.completed, duplicate (conditional put)",
            Kind::Fresh => "zoom: recording.completed, new meeting (put + invoke + update)",
            Kind::SymblUnknown => "symbl: callback, unknown job (GetItem, ignored)",
            Kind::SymblDirect => "symbl: the same, Lambda Invoke API (no gateway, no throttle)",
            Kind::SymblKnown => "symbl: callback, known job, in_progress again (GetItem + invoke)",
        }
    }
}

struct Ctx {
    client: reqwest::Client,
    stack: Stack,
    health_url: String,
    no_route_url: String,
    /// symbl-webhook's URL with its real token.
    symbl_url: String,
    job_id: String,
    lambda: aws_sdk_lambda::Client,
    symbl_function: String,
    /// An API Gateway proxy event for the unknown-job callback, with the real token.
    direct_event: Arc<Vec<u8>>,
}

impl Ctx {
    /// Sends one request of `kind`; milliseconds from sending to the whole answer read.
    async fn send(&self, kind: &Kind) -> Result<f64> {
        let zoom = |body: Vec<u8>| async move {
            let t = Instant::now();
            let (status, text) = send_signed(
                &self.client,
                &self.stack.zoom_webhook_url,
                &self.stack.zoom_webhook_secret,
                &body,
                unix_now(),
            )
            .await?;
            let ms = elapsed_ms(t);
            answered(status, status == 200, || {
                format!("zoom-webhook answered {status}: {text}")
            })?;
            Ok(ms)
        };
        let symbl = |body: Value, wanted: &'static str| async move {
            let t = Instant::now();
            let r = self.client.post(&self.symbl_url).json(&body).send().await?;
            let status = r.status().as_u16();
            let text = r.text().await?;
            let ms = elapsed_ms(t);
            answered(status, status == 200 && text.contains(wanted), || {
                format!("symbl-webhook answered {status}: {text} (wanted {wanted})")
            })?;
            Ok(ms)
        };
        match kind {
            Kind::Health => {
                let t = Instant::now();
                let r = self.client.get(&self.health_url).send().await?;
                let status = r.status().as_u16();
                r.bytes().await?;
                let ms = elapsed_ms(t);
                answered(status, status == 200, || format!("health answered {status}"))?;
                Ok(ms)
            }
            Kind::NoRoute => {
                let t = Instant::now();
                let r = self.client.post(&self.no_route_url).body("{}").send().await?;
                let status = r.status().as_u16();
                r.bytes().await?;
                let ms = elapsed_ms(t);
                answered(status, matches!(status, 403 | 404), || {
                    format!("unmatched route answered {status}")
                })?;
                Ok(ms)
            }
            Kind::LambdaFloor => {
                let url = self.stack.symbl_webhook_url() + "?t=not-the-token";
                let t = Instant::now();
                let r = self
                    .client
                    .post(url)
                    .body(r#"{"id":"x","status":"completed"}"#)
                    .send()
                    .await?;
                let status = r.status().as_u16();
                r.bytes().await?;
                let ms = elapsed_ms(t);
                answered(status, status == 401, || format!("wrong token answered {status}"))?;
                Ok(ms)
            }
            Kind::UrlValidation => {
                zoom(url_validation_body(
                    &format!("t{}", uuid::Uuid::new_v4().simple()),
                    unix_now() * 1000,
                ))
                .await
            }
            Kind::Duplicate(body) => zoom(body.to_vec()).await,
            Kind::Fresh => zoom(serde_json::to_vec(&sample_recording_completed().1)?).await,
            Kind::SymblUnknown => {
                symbl(
                    json!({"jobId": "00000000-0000-0000-0000-000000000000", "status": "completed"}),
                    "ignored",
                )
                .await
            }
            Kind::SymblDirect => {
                let t = Instant::now();
                let out = self
                    .lambda
                    .invoke()
                    .function_name(&self.symbl_function)
                    .payload(aws_sdk_lambda::primitives::Blob::new(self.direct_event.to_vec()))
                    .send()
                    .await
                    .map_err(|e| match e.as_service_error() {
                        Some(s) if s.is_too_many_requests_exception() => anyhow::Error::new(Throttled),
                        _ => anyhow::Error::new(e).context("Lambda Invoke"),
                    })?;
                let ms = elapsed_ms(t);
                let reply: Value = serde_json::from_slice(out.payload().map(|b| b.as_ref()).unwrap_or_default())?;
                let ok = reply["statusCode"] == 200 && reply["body"].as_str().is_some_and(|b| b.contains("ignored"));
                answered(200, ok, || format!("symbl-webhook (direct) answered {reply}"))?;
                Ok(ms)
            }
            Kind::SymblKnown => symbl(json!({"id": self.job_id, "status": "in_progress"}), "accepted").await,
        }
    }
}

/// The gateway's throttle answered 429: the caller backs off and tries again.
#[derive(Debug)]
struct Throttled;

impl std::fmt::Display for Throttled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("throttled (429)")
    }
}

impl std::error::Error for Throttled {}

fn answered(status: u16, ok: bool, what: impl FnOnce() -> String) -> Result<()> {
    if status == 429 {
        return Err(Throttled.into());
    }
    ensure!(ok, "{}", what());
    Ok(())
}

fn elapsed_ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

#[derive(Clone, Serialize)]
struct Stats {
    n: usize,
    median_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
    min_ms: f64,
    max_ms: f64,
}

fn stats(mut ms: Vec<f64>) -> Stats {
    ms.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    Stats {
        n: ms.len(),
        median_ms: pct(0.5),
        p99_ms: pct(0.99),
        mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
        min_ms: ms[0],
        max_ms: ms[ms.len() - 1],
    }
}

#[derive(Serialize)]
struct Throughput {
    endpoint: &'static str,
    clients: usize,
    /// Requests answered as wanted (a throttled one is retried until it is).
    requests: usize,
    wall_s: f64,
    requests_per_s: f64,
    /// Answered requests per second over the second half of the run: the sustained rate,
    /// once the gateway's burst allowance is spent.
    sustained_per_s: f64,
    /// 429s from the gateway's throttle, each retried after a short pause.
    throttled: usize,
    median_ms: f64,
    p99_ms: f64,
}

/// Pause before a throttled request is tried again.
const BACKOFF: Duration = Duration::from_millis(20);

async fn sequential(ctx: &Ctx, kind: &Kind, n: usize) -> Result<Stats> {
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        ms.push(ctx.send(kind).await.with_context(|| kind.label())?);
    }
    Ok(stats(ms))
}

/// `clients` tasks share `requests` requests of `kind`, after one discarded round of
/// `clients` concurrent requests and a pause that refills the gateway's token bucket.
async fn throughput(ctx: &Arc<Ctx>, kind: &Kind, clients: usize, requests: usize) -> Result<Throughput> {
    let warm: Vec<_> = (0..clients).map(|_| ctx.send(kind)).collect();
    for r in futures_util::future::join_all(warm).await {
        if let Err(e) = r {
            if e.downcast_ref::<Throttled>().is_none() {
                return Err(e.context(format!("warm-up of {}", kind.label())));
            }
        }
    }
    // The template's stage throttle: 50 requests/s, bursts of 100, per route.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (ctx, kind, next) = (ctx.clone(), kind.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ms, mut done_at, mut throttled) = (Vec::new(), Vec::new(), 0);
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                loop {
                    match ctx.send(&kind).await {
                        Ok(v) => {
                            ms.push(v);
                            done_at.push(start.elapsed().as_secs_f64());
                            break;
                        }
                        Err(e) if e.downcast_ref::<Throttled>().is_some() => {
                            throttled += 1;
                            tokio::time::sleep(BACKOFF).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok::<_, anyhow::Error>((ms, done_at, throttled))
        }));
    }
    let (mut all, mut done_at, mut throttled) = (Vec::with_capacity(requests), Vec::with_capacity(requests), 0);
    for t in tasks {
        let (ms, at, th) = t.await?.with_context(|| kind.label())?;
        all.extend(ms);
        done_at.extend(at);
        throttled += th;
    }
    let wall_s = start.elapsed().as_secs_f64();
    let half = wall_s / 2.0;
    let s = stats(all);
    Ok(Throughput {
        endpoint: kind.key(),
        clients,
        requests,
        wall_s,
        requests_per_s: requests as f64 / wall_s,
        sustained_per_s: done_at.iter().filter(|&&t| t > half).count() as f64 / half,
        throttled,
        median_ms: s.median_ms,
        p99_ms: s.p99_ms,
    })
}

/// Runs one short meeting through the pipeline and returns symbl-webhook's real callback
/// URL (with its token) and the meeting's Symbl job id, once the pipeline is quiet again.
async fn callback_url_and_job(stack: &Stack) -> Result<(String, String)> {
    let mut spec = MeetingSpec::staggered(2, 12.0);
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    spec.topic = format!("Webhook bench {tag}");
    let m = record(spec).await;
    let (status, reply) = deliver(
        stack,
        &sandbox().recording_completed(&m, &sandbox().default_download_token()),
    )
    .await;
    ensure!(status == 200, "zoom-webhook answered {status}: {reply}");
    let item = stack
        .meeting_in(&m.spec.uuid, &["transcribed", "failed"], Duration::from_secs(300))
        .await?;
    ensure!(
        attr_s(&item, "status") == Some("transcribed"),
        "the set-up meeting failed: {:?}",
        attr_s(&item, "failure_reason")
    );
    let job_id = attr_s(&item, "job_id")
        .context("transcribed meeting without job_id")?
        .to_owned();
    let url = symbl()
        .webhooks_sent()
        .into_iter()
        .map(|(u, _, _)| u)
        .find(|u| u.contains("/symbl/webhook?t="))
        .context("the Symbl sandbox was given no callback URL")?;
    // Let the email go out so that the measurements start on a quiet pipeline.
    if let Err(e) = eventually("the set-up meeting's email", Duration::from_secs(120), || async {
        Ok(stack.mails(&tag).into_iter().next())
    })
    .await
    {
        eprintln!("warning: {e:#}; measuring anyway");
    }
    let _ = std::fs::remove_dir_all(m.tracks[0].path.parent().unwrap_or(&std::env::temp_dir()));
    Ok((url, job_id))
}

/// The API Gateway proxy event the gateway would hand symbl-webhook for the unknown-job
/// callback, with the token from the real callback URL.
fn direct_event(callback_url: &str) -> Result<Vec<u8>> {
    let url = reqwest::Url::parse(callback_url)?;
    let token = url
        .query_pairs()
        .find(|(k, _)| k == "t")
        .map(|(_, v)| v.into_owned())
        .context("callback URL without t=")?;
    let mut event: Value = serde_json::from_str(include_str!("../../../events/symbl-webhook-apigw.json"))?;
    event["queryStringParameters"]["t"] = json!(token);
    event["multiValueQueryStringParameters"]["t"] = json!([token]);
    event["body"] = json!(json!({"jobId": "00000000-0000-0000-0000-000000000000", "status": "completed"}).to_string());
    Ok(serde_json::to_vec(&event)?)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse()?;
    let stack = Stack::load();
    let client = http();
    client
        .get(format!("{}/_ministack/health", stack.endpoint))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .context("the local stack is not answering; deploy it first (make deploy)")?;

    eprintln!("running a short meeting for symbl-webhook's callback URL ...");
    let (symbl_url, job_id) = callback_url_and_job(&stack).await?;
    let lambda = stack.lambda().await;
    let symbl_function = lambda
        .list_functions()
        .send()
        .await?
        .functions()
        .iter()
        .filter_map(|f| f.function_name())
        .find(|n| n.contains("SymblWebhookFunction"))
        .context("no SymblWebhookFunction deployed")?
        .to_owned();
    let direct_event = Arc::new(direct_event(&symbl_url)?);
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        lambda,
        symbl_function,
        direct_event,
        health_url: format!("{}/_ministack/health", stack.endpoint),
        no_route_url: stack.zoom_webhook_url.replace("/zoom/webhook", "/bench/no-such-route"),
        symbl_url,
        job_id,
        stack: stack.clone(),
    });

    // The first request may include a cold start; reported apart, like before.
    let cold = ctx.send(&Kind::UrlValidation).await?;
    let build = deployed_build("ZoomWebhookFunction");

    let (_, event) = sample_recording_completed();
    let dup_body = Arc::new(serde_json::to_vec(&event)?);
    ctx.send(&Kind::Duplicate(dup_body.clone())).await?; // the first delivery claims the meeting
    let duplicate = Kind::Duplicate(dup_body);
    ctx.send(&Kind::SymblUnknown).await?;
    ctx.send(&Kind::LambdaFloor).await?;
    ctx.send(&Kind::SymblDirect).await?;

    let n = args.n;
    let fresh_n = (n / 10).max(10);
    let mut seq: BTreeMap<&'static str, (String, Stats)> = BTreeMap::new();
    let first_kinds = [
        Kind::Health,
        Kind::NoRoute,
        Kind::LambdaFloor,
        Kind::UrlValidation,
        duplicate.clone(),
        Kind::SymblUnknown,
        Kind::SymblDirect,
    ];
    for kind in first_kinds {
        eprintln!("{}: {n} sequential requests ...", kind.label());
        let s = sequential(&ctx, &kind, n).await?;
        seq.insert(kind.key(), (kind.label().to_owned(), s));
    }

    let mut tput = Vec::new();
    for kind in [
        Kind::Health,
        Kind::LambdaFloor,
        duplicate.clone(),
        Kind::SymblUnknown,
        Kind::SymblDirect,
    ] {
        for &c in &args.clients {
            eprintln!(
                "{}: {} requests over {c} concurrent clients ...",
                kind.label(),
                args.throughput
            );
            tput.push(throughput(&ctx, &kind, c, args.throughput).await?);
        }
    }

    // Last: these leave work behind them (notifier invocations, producers).
    for (kind, count) in [(Kind::SymblKnown, n), (Kind::Fresh, fresh_n)] {
        eprintln!("{}: {count} sequential requests ...", kind.label());
        let s = sequential(&ctx, &kind, count).await?;
        seq.insert(kind.key(), (kind.label().to_owned(), s));
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    // ---- report
    let med = |k: &str| seq[k].1.median_ms;
    let (floor_health, floor_gw, floor_lambda) = (
        med("baseline.ministack_health"),
        med("baseline.gateway_no_route"),
        med("baseline.lambda_floor"),
    );
    println!();
    println!("Webhooks through the local API Gateway (ministack), deployed functions: {build} build");
    println!("first request (may include a cold start): {cold:.1} ms");
    println!();
    println!("Sequential requests, one keep-alive client (ms)");
    println!(
        "{:<66} {:>5} {:>8} {:>8} {:>8} {:>8} {:>12}",
        "kind", "n", "median", "p99", "mean", "max", "floor share"
    );
    let display = [
        "baseline.ministack_health",
        "baseline.gateway_no_route",
        "baseline.lambda_floor",
        "zoom.url_validation",
        "zoom.duplicate_recording_completed",
        "zoom.new_meeting",
        "symbl.unknown_job",
        "symbl.unknown_job_direct_invoke",
        "symbl.known_job_non_terminal",
    ];
    for key in display {
        let (label, s) = &seq[key];
        let share = if key.starts_with("baseline.") {
            String::new()
        } else {
            format!("{:.0}%", 100.0 * floor_lambda / s.median_ms)
        };
        println!(
            "{label:<66} {:>5} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {share:>12}",
            s.n, s.median_ms, s.p99_ms, s.mean_ms, s.max_ms
        );
    }
    println!();
    println!(
        "Throughput: C concurrent clients share M requests (a 429 from the gateway's throttle is retried after {} ms)",
        BACKOFF.as_millis()
    );
    println!(
        "{:<36} {:>3} {:>6} {:>9} {:>11} {:>6} {:>8} {:>8}",
        "endpoint", "C", "M", "req/s", "sustained/s", "429s", "median", "p99"
    );
    for t in &tput {
        println!(
            "{:<36} {:>3} {:>6} {:>9.1} {:>11.1} {:>6} {:>8.1} {:>8.1}",
            t.endpoint, t.clients, t.requests, t.requests_per_s, t.sustained_per_s, t.throttled, t.median_ms, t.p99_ms
        );
    }
    let throttled: usize = tput.iter().map(|t| t.throttled).sum();
    if throttled > 0 {
        println!(
            "429s: the template's stage throttle (WebhookApi MethodSettings: 50 requests/s, bursts of 100, per route), \
             which the local gateway enforces; the direct-invoke rows show the stack without it"
        );
    }

    let endpoints = [
        "zoom.url_validation",
        "zoom.duplicate_recording_completed",
        "symbl.unknown_job",
        "symbl.known_job_non_terminal",
    ];
    let worst_share = endpoints
        .iter()
        .map(|k| floor_lambda / med(k))
        .fold(f64::INFINITY, f64::min);
    let verdict = if worst_share >= 0.5 {
        format!(
            "ministack dominates: a warm Lambda invocation that makes no AWS call already costs {floor_lambda:.1} ms \
             (gateway alone {floor_gw:.1} ms, health GET {floor_health:.1} ms), at least {:.0}% of every webhook's median",
            100.0 * worst_share
        )
    } else {
        format!(
            "the functions' own work is the larger part: the Lambda floor ({floor_lambda:.1} ms) is {:.0}% of the slowest webhook's median",
            100.0 * worst_share
        )
    };
    let gateway = med("symbl.unknown_job") - med("symbl.unknown_job_direct_invoke");
    println!();
    println!("floor share: the Lambda floor's median (a warm invocation through the gateway that makes no AWS call) / the row's median");
    println!("gateway's part of symbl-webhook's unknown-job callback: {gateway:.1} ms (through the gateway minus Lambda Invoke API)");
    println!("{verdict}");

    let out = json!({
        "generated_at": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?,
        "build": build,
        "stack": "ministack (local), API Gateway URL",
        "sequential_requests": n,
        "new_meeting_requests": fresh_n,
        "throughput_requests": args.throughput,
        "first_request_ms": cold,
        "sequential": seq.iter().map(|(k, (label, s))| (k.to_string(), json!({"label": label, "stats": s}))).collect::<serde_json::Map<_, _>>(),
        "throughput": tput,
        "floors_ms": {"ministack_health": floor_health, "gateway_no_route": floor_gw, "lambda_invocation": floor_lambda},
        "verdict": verdict,
    });
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&out)? + "\n")?;
    println!("wrote {}", args.out.display());
    Ok(())
}
