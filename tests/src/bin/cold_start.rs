//! Cold start of every function binary, measured on this machine without the network:
//! `scripts/bench_cold_start.sh`, or
//! `cargo run -p e2e --release --bin cold-start -- [--runs 20] [--json PATH] [--bin-dir target/release] [NAME=PATH ...]`.
//!
//! One loopback stub plays both sides a function talks to while it starts:
//!
//! * the Lambda Runtime API (`AWS_LAMBDA_RUNTIME_API`): the instant of the first
//!   `GET /2018-06-01/runtime/invocation/next` is the end of the cold start; the request is
//!   then held unanswered, so the process idles like a function waiting for work;
//! * AWS (`AWS_ENDPOINT_URL`): `secretsmanager.GetSecretValue` answers a deployment secret
//!   with every key the functions read (fake values). Any other AWS call, or any other
//!   request, is answered with an error and reported, so start-up stays loopback-only and
//!   an unexpected call is visible.
//!
//! Each function gets the environment `template.yaml` gives it plus what Lambda itself sets
//! (function name, memory, region, credentials as env vars), in an otherwise empty
//! environment; IMDS is disabled as a safety net (`AWS_EC2_METADATA_DISABLED`).
//! Cold start = `spawn()` of the process to the first `/next`. Starts are interleaved
//! across functions, one warm-up start per binary is discarded (the binary is then in the
//! page cache, as it is on a warm Lambda host), and each process is SIGKILLed once measured.
//!
//! Baselines in the same run: `/bin/true` spawn to exit, and a minimal Rust process (this
//! binary re-executed with `--baseline-runtime-client`: std only, one blocking GET /next).
//!
//! Sizes: the binary as built, after `strip --strip-all` (equal when the release profile
//! already strips), and the deployment zip (`bootstrap` deflated at level 9 by `zip -9`).
//! Prints a table and, with `--json PATH`, the same numbers for BENCHMARKS.md.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use zoom_symbl_core::config::secret_keys;

const FUNCTIONS: &[&str] = &["zoom-webhook", "producer", "consumer", "symbl-webhook", "notifier"];
const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";
const TARGET_MS: f64 = 30.0;
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "000000000000";

fn main() -> Result<()> {
    if std::env::args().nth(1).as_deref() == Some("--baseline-runtime-client") {
        return baseline_runtime_client();
    }
    let args = Args::parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let (events_tx, events) = mpsc::channel();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    runtime.spawn(serve(listener, events_tx, Arc::new(secret_string())));
    bench(&args, addr, &events)
}

// ---------------------------------------------------------------------------------------
// Command line

struct Args {
    runs: usize,
    json: Option<PathBuf>,
    timeout: Duration,
    binaries: Vec<(String, PathBuf)>,
    /// `--env K=V`: added to every function's environment (what-if runs).
    extra_env: Vec<(String, String)>,
}

impl Args {
    fn parse() -> Result<Args> {
        let mut runs = 20;
        let mut json = None;
        let mut timeout = Duration::from_secs(10);
        let mut bin_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release");
        let mut explicit = Vec::new();
        let mut extra_env = Vec::new();
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            let mut value = |flag: &str| it.next().with_context(|| format!("{flag} needs a value"));
            match a.as_str() {
                "--runs" => runs = value("--runs")?.parse().context("--runs")?,
                "--json" => json = Some(PathBuf::from(value("--json")?)),
                "--bin-dir" => bin_dir = PathBuf::from(value("--bin-dir")?),
                "--env" => match value("--env")?.split_once('=') {
                    Some((k, v)) => extra_env.push((k.to_owned(), v.to_owned())),
                    None => bail!("--env needs KEY=VALUE"),
                },
                "--timeout-ms" => {
                    timeout = Duration::from_millis(value("--timeout-ms")?.parse().context("--timeout-ms")?)
                }
                "-h" | "--help" => {
                    println!(
                        "cold-start [--runs N] [--json PATH] [--bin-dir DIR] [--timeout-ms MS] [--env K=V ...] [NAME=PATH ...]\n\
                         NAME is one of {FUNCTIONS:?}; without NAME=PATH every function is taken from --bin-dir \
                         (default target/release). --env adds a variable to every function's environment."
                    );
                    std::process::exit(0);
                }
                other => match other.split_once('=') {
                    Some((name, path)) if FUNCTIONS.contains(&name) => {
                        explicit.push((name.to_owned(), PathBuf::from(path)))
                    }
                    _ => bail!("unexpected argument {other:?} (try --help)"),
                },
            }
        }
        if runs == 0 {
            bail!("--runs must be at least 1");
        }
        let binaries = if explicit.is_empty() {
            FUNCTIONS.iter().map(|f| (f.to_string(), bin_dir.join(f))).collect()
        } else {
            explicit
        };
        let binaries = binaries
            .into_iter()
            .map(|(name, path)| match path.canonicalize() {
                // Absolute: the processes start in `/`.
                Ok(abs) if abs.is_file() => Ok((name, abs)),
                _ => bail!(
                    "{name}: {} not found; build it with `cargo build --release -p {name}`",
                    path.display()
                ),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Args {
            runs,
            json,
            timeout,
            binaries,
            extra_env,
        })
    }
}

// ---------------------------------------------------------------------------------------
// The stub: Lambda Runtime API + AWS endpoint on one loopback port

#[derive(Debug)]
enum Event {
    /// First line of a `GET .../invocation/next` arrived.
    Next(Instant),
    /// An AWS JSON-protocol call, by `X-Amz-Target`, and how long the stub took to answer it.
    Aws {
        at: Instant,
        target: String,
        stubbed: bool,
        served: Duration,
    },
    /// Anything else (an init error report, a REST-protocol AWS call, ...).
    Other { what: String },
}

async fn serve(listener: tokio::net::TcpListener, events: mpsc::Sender<Event>, secret: Arc<String>) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            continue;
        };
        let _ = sock.set_nodelay(true);
        tokio::spawn(connection(sock, events.clone(), secret.clone()));
    }
}

struct Request {
    at: Instant,
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

async fn connection(sock: tokio::net::TcpStream, events: mpsc::Sender<Event>, secret: Arc<String>) {
    let (rd, mut wr) = sock.into_split();
    let mut rd = BufReader::new(rd);
    while let Some(req) = read_request(&mut rd).await {
        let mut aws = None;
        let (status, content_type, body) = if req.method == "GET" && req.path.starts_with(NEXT_PATH) {
            let _ = events.send(Event::Next(req.at));
            // Hold the request: the process idles waiting for work until it is killed.
            let mut sink = [0u8; 1024];
            while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {}
            return;
        } else if let Some(target) = req.headers.get("x-amz-target") {
            let stubbed = target == "secretsmanager.GetSecretValue";
            aws = Some((target.clone(), stubbed));
            if stubbed {
                let id = serde_json::from_slice::<Value>(&req.body)
                    .ok()
                    .and_then(|v| v["SecretId"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                let reply = json!({
                    "ARN": id,
                    "Name": "DeploymentSecret-bench",
                    "VersionId": "00000000-0000-4000-8000-000000000000",
                    "SecretString": secret.as_str(),
                    "VersionStages": ["AWSCURRENT"],
                    "CreatedDate": 1_700_000_000.0,
                });
                ("200 OK", "application/x-amz-json-1.1", reply.to_string())
            } else {
                let reply =
                    json!({"__type": "UnknownOperationException", "message": "not stubbed by the cold-start bench"});
                ("400 Bad Request", "application/x-amz-json-1.1", reply.to_string())
            }
        } else {
            let mut what = format!("{} {}", req.method, req.path);
            if !req.body.is_empty() {
                what.push_str(&format!(
                    " {}",
                    String::from_utf8_lossy(&req.body[..req.body.len().min(300)])
                ));
            }
            let _ = events.send(Event::Other { what });
            let status = if req.path.starts_with("/2018-06-01/runtime/") {
                "202 Accepted"
            } else {
                "404 Not Found"
            };
            (status, "application/json", "{}".to_owned())
        };
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nx-amzn-requestid: cold-start-bench\r\n\r\n",
            body.len()
        );
        let written = wr.write_all(format!("{head}{body}").as_bytes()).await;
        if let Some((target, stubbed)) = aws {
            let _ = events.send(Event::Aws {
                at: req.at,
                target,
                stubbed,
                served: req.at.elapsed(),
            });
        }
        if written.is_err() {
            return;
        }
    }
}

/// One HTTP/1.1 request (content-length or chunked body); `None` at end of stream.
async fn read_request<R: tokio::io::AsyncBufRead + Unpin>(rd: &mut R) -> Option<Request> {
    let mut line = String::new();
    if rd.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let at = Instant::now();
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = BTreeMap::new();
    loop {
        line.clear();
        if rd.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            line.clear();
            rd.read_line(&mut line).await.ok()?;
            let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            rd.read_exact(&mut chunk).await.ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = headers.get("content-length").and_then(|n| n.parse::<usize>().ok()) {
        body.resize(n, 0);
        rd.read_exact(&mut body).await.ok()?;
    }
    Some(Request {
        at,
        method,
        path,
        headers,
        body,
    })
}

/// The deployment secret as template.yaml builds it, with every optional key filled in so
/// that every start-up path that reads one runs (S2S OAuth, SMTP credentials).
fn secret_string() -> String {
    json!({
        secret_keys::ZOOM_WEBHOOK_SECRET: "bench-zoom-webhook-secret-token",
        secret_keys::ZOOM_S2S_ACCOUNT_ID: "bench-account",
        secret_keys::ZOOM_S2S_CLIENT_ID: "bench-client",
        secret_keys::ZOOM_S2S_CLIENT_SECRET: "bench-client-secret",
        secret_keys::SYMBL_APP_ID: "bench-symbl-app-id",
        secret_keys::SYMBL_APP_SECRET: "bench-symbl-app-secret",
        secret_keys::SYMBL_WEBHOOK_TOKEN: "benchSymblWebhookToken0123456789abcdefghijklmnop",
        secret_keys::SMTP_USERNAME: "bench-smtp-user",
        secret_keys::SMTP_PASSWORD: "bench-smtp-password",
    })
    .to_string()
}

// ---------------------------------------------------------------------------------------
// Environments

/// What Lambda sets for a `provided.al2023` function (the parts the code or the runtime
/// read, plus PATH/LANG/TZ), pointed at the stub.
fn lambda_env(function: &str, addr: std::net::SocketAddr) -> Vec<(String, String)> {
    let name = format!("zoom-symbl-{function}-bench");
    [
        ("AWS_LAMBDA_RUNTIME_API", addr.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2025/01/01/[$LATEST]00000000000000000000000000000000".into(),
        ),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_REGION", REGION.into()),
        ("AWS_DEFAULT_REGION", REGION.into()),
        ("AWS_ACCESS_KEY_ID", "ASIABENCHBENCHBENCH00".into()),
        (
            "AWS_SECRET_ACCESS_KEY",
            "benchbenchbenchbenchbenchbenchbenchbench".into(),
        ),
        ("AWS_SESSION_TOKEN", "bench-session-token".into()),
        ("_HANDLER", "bootstrap".into()),
        ("LAMBDA_TASK_ROOT", "/var/task".into()),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime".into()),
        ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".into()),
        (
            "LD_LIBRARY_PATH",
            "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib".into(),
        ),
        ("LANG", "en_US.UTF-8".into()),
        ("TZ", ":UTC".into()),
        // Bench only: every AWS call goes to the stub, and never to IMDS.
        ("AWS_ENDPOINT_URL", format!("http://{addr}")),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The function's `Environment.Variables` from template.yaml, with the parameter defaults
/// and names shaped like the deployed ones.
fn function_env(function: &str) -> Vec<(&'static str, String)> {
    let table = |t: &str| format!("zoom-symbl-{t}-BENCH0000000");
    let secret = format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:DeploymentSecret-bench-AbCdEf");
    let queue = format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/zoom-symbl-WorkQueue-BENCH0000000");
    let api = format!("https://abcdef1234.execute-api.{REGION}.amazonaws.com/Prod");
    let vars: Vec<(&'static str, String)> = match function {
        "zoom-webhook" => vec![
            ("MEETINGS_TABLE", table("MeetingsTable")),
            ("PRODUCER_FUNCTION", "zoom-symbl-ProducerFunction-BENCH0000000".into()),
            ("SECRET_ARNS", secret),
            ("ZOOM_ALLOWED_HOSTS", "zoom.us,zoom.com,zoomgov.com".into()),
            ("ZOOM_SIGNATURE_WINDOW_SECS", "300".into()),
        ],
        "producer" => vec![
            ("MEETINGS_TABLE", table("MeetingsTable")),
            ("WORK_QUEUE_URL", queue),
            ("SECRET_ARNS", secret),
            ("INPUT_BUCKET", "zoom-symbl-inputbucket-bench0000000".into()),
            ("OUTPUT_BUCKET", "zoom-symbl-outputbucket-bench0000000".into()),
            ("ZOOM_ALLOWED_HOSTS", "zoom.us,zoom.com,zoomgov.com".into()),
            ("ZOOM_OAUTH_URL", "https://zoom.us/oauth/token".into()),
            ("ZOOM_API_BASE", "https://api.zoom.us".into()),
            ("OUTPUT_FORMAT", "wav".into()),
        ],
        "consumer" => vec![
            ("MEETINGS_TABLE", table("MeetingsTable")),
            ("JOBS_TABLE", table("JobsTable")),
            ("SEMAPHORE_TABLE", table("SemaphoreTable")),
            ("WORK_QUEUE_URL", queue),
            ("SECRET_ARNS", secret),
            ("SYMBL_BASE_URL", "https://api.symbl.ai".into()),
            ("SYMBL_CONCURRENCY_LIMIT", "50".into()),
            ("SYMBL_LANGUAGE", "en-US".into()),
            ("BUSY_RETRY_SECS", "120".into()),
            ("JOB_DEADLINE_SLACK_SECS", "1800".into()),
            ("SYMBL_WEBHOOK_URL", format!("{api}/symbl/webhook")),
        ],
        "symbl-webhook" => vec![
            ("JOBS_TABLE", table("JobsTable")),
            ("NOTIFIER_FUNCTION", "zoom-symbl-NotifierFunction-BENCH0000000".into()),
            ("SECRET_ARNS", secret),
        ],
        "notifier" => vec![
            ("MEETINGS_TABLE", table("MeetingsTable")),
            ("JOBS_TABLE", table("JobsTable")),
            ("SEMAPHORE_TABLE", table("SemaphoreTable")),
            ("SECRET_ARNS", secret),
            ("SYMBL_BASE_URL", "https://api.symbl.ai".into()),
            ("SYMBL_CONCURRENCY_LIMIT", "50".into()),
            ("SMTP_HOST", "email-smtp.us-east-1.amazonaws.com".into()),
            ("SMTP_PORT", "587".into()),
            ("SMTP_SECURITY", "starttls".into()),
            ("SMTP_FROM", "Meeting insights <insights@example.com>".into()),
            ("SUMMARY_PAGE_DAYS", "30".into()),
        ],
        _ => Vec::new(),
    };
    vars
}

// ---------------------------------------------------------------------------------------
// Measuring

#[derive(Clone, Copy)]
enum Kind {
    Function,
    /// This binary with `--baseline-runtime-client`.
    MinimalClient,
}

struct Target {
    name: String,
    path: PathBuf,
    kind: Kind,
    log: PathBuf,
    samples: Vec<Sample>,
    failures: Vec<String>,
    aws_calls: BTreeMap<String, usize>,
    unexpected: BTreeMap<String, usize>,
    /// Time the stub took to answer each AWS call (harness overhead inside the measurement).
    stub_ms: Vec<f64>,
    extra_env: Vec<(String, String)>,
}

struct Sample {
    /// spawn -> first GET /next
    total_ms: f64,
    /// spawn -> first AWS call (when there is one)
    first_aws_ms: Option<f64>,
    /// CPU time of all the process's threads when /next arrived.
    cpu_ms: Option<f64>,
    /// Peak RSS when /next arrived.
    rss_kib: Option<u64>,
}

fn bench(args: &Args, addr: std::net::SocketAddr, events: &mpsc::Receiver<Event>) -> Result<()> {
    let scratch = std::env::temp_dir().join(format!("cold-start-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let host = host_info();
    eprintln!(
        "cold-start: {} starts per binary, stub at {addr}, {} CPUs, load average {}",
        args.runs, host["cpus"], host["loadavg"]
    );

    let mut targets: Vec<Target> = args
        .binaries
        .iter()
        .map(|(name, path)| {
            let mut t = Target::new(name, path.clone(), Kind::Function, &scratch);
            t.extra_env = args.extra_env.clone();
            t
        })
        .collect();
    let (client_path, client_how) = minimal_client(&scratch)?;
    eprintln!("baseline client: {client_how}");
    targets.push(Target::new(
        "minimal-runtime-client",
        client_path,
        Kind::MinimalClient,
        &scratch,
    ));

    // Warm-up (discarded): page cache, dynamic loader caches, and a first check that every
    // binary reaches /next at all.
    for t in &mut targets {
        if let Err(e) = t.start_once(addr, events, args.timeout) {
            let _ = std::fs::remove_dir_all(&scratch);
            bail!("{}: warm-up start failed: {e:#}", t.name);
        }
        t.samples.clear();
        t.aws_calls.clear();
        t.unexpected.clear();
        t.stub_ms.clear();
    }
    let mut true_ms = Vec::with_capacity(args.runs);
    for round in 0..args.runs {
        for t in targets.iter_mut() {
            if t.failures.len() >= 3 {
                continue;
            }
            if let Err(e) = t.start_once(addr, events, args.timeout) {
                eprintln!("{}: start {round} failed: {e:#}", t.name);
                t.failures.push(format!("{e:#}"));
            }
        }
        let t0 = Instant::now();
        let status = Command::new("/bin/true").status().context("running /bin/true")?;
        true_ms.push(ms(t0.elapsed()));
        if !status.success() {
            bail!("/bin/true failed");
        }
    }

    let mut rows = Vec::new();
    for t in targets.iter().filter(|t| matches!(t.kind, Kind::Function)) {
        let sizes = sizes(&t.path, &scratch.join(&t.name))?;
        rows.push((t, sizes));
    }
    let client = targets
        .iter()
        .find(|t| matches!(t.kind, Kind::MinimalClient))
        .expect("baseline target");
    let client_stats = Stats::of(&client.samples.iter().map(|s| s.total_ms).collect::<Vec<_>>());
    let true_stats = Stats::of(&true_ms);

    // --- table
    println!();
    println!(
        "Cold start: process spawn -> first GET {NEXT_PATH} ({} starts each, interleaved, 1 warm-up discarded;",
        args.runs
    );
    println!("loopback stubs for the Runtime API and Secrets Manager, no network). Target: median < {TARGET_MS} ms.");
    println!();
    println!(
        "{:<15} {:>8} {:>8} {:>8} {:>8} {:>10} {:>8} {:>8}  {:>22}  {:>22}  target",
        "function", "median", "p90", "min", "max", "1st AWS", "CPU", "RSS", "binary (stripped)", "zip -9"
    );
    println!(
        "{:<15} {:>8} {:>8} {:>8} {:>8} {:>10} {:>8} {:>8}  {:>22}  {:>22}",
        "", "ms", "ms", "ms", "ms", "call ms", "ms", "MiB", "bytes (MiB)", "bytes (MiB)"
    );
    let mut all_ok = true;
    let mut functions_json = Vec::new();
    for (t, size) in &rows {
        let totals: Vec<f64> = t.samples.iter().map(|s| s.total_ms).collect();
        let st = Stats::of(&totals);
        let first_aws = Stats::of(&t.samples.iter().filter_map(|s| s.first_aws_ms).collect::<Vec<_>>());
        let cpu = Stats::of(&t.samples.iter().filter_map(|s| s.cpu_ms).collect::<Vec<_>>());
        let rss = t.samples.iter().filter_map(|s| s.rss_kib).max();
        let ok = !totals.is_empty() && t.failures.is_empty() && st.median < TARGET_MS;
        all_ok &= ok;
        println!(
            "{:<15} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>10} {:>8} {:>8}  {:>22}  {:>22}  {}",
            t.name,
            st.median,
            st.p90,
            st.min,
            st.max,
            opt(first_aws.n > 0, first_aws.median),
            opt(cpu.n > 0, cpu.median),
            rss.map(|k| format!("{:.1}", k as f64 / 1024.0))
                .unwrap_or_else(|| "-".into()),
            format!("{} ({:.2})", size.stripped, mib(size.stripped)),
            format!("{} ({:.2})", size.zip, mib(size.zip)),
            if totals.is_empty() {
                "FAILED"
            } else if ok {
                "ok"
            } else {
                "OVER"
            },
        );
        functions_json.push(json!({
            "name": t.name,
            "binary": t.path,
            "starts": totals.len(),
            "failures": t.failures,
            "median_ms": st.median,
            "p90_ms": st.p90,
            "min_ms": st.min,
            "max_ms": st.max,
            "mean_ms": st.mean,
            "samples_ms": totals,
            "first_aws_call_median_ms": (first_aws.n > 0).then_some(first_aws.median),
            "cpu_median_ms": (cpu.n > 0).then_some(cpu.median),
            "peak_rss_kib": rss,
            "ratio_to_minimal_client": st.median / client_stats.median,
            "binary_bytes": size.built,
            "stripped_bytes": size.stripped,
            "already_stripped": size.built == size.stripped,
            "zip_bytes": size.zip,
            "aws_calls_per_start": per_start(&t.aws_calls, totals.len()),
            "stub_answer_median_ms": Stats::of(&t.stub_ms).median,
            "unexpected_requests_per_start": per_start(&t.unexpected, totals.len()),
            "meets_target": ok,
        }));
    }
    println!();
    println!(
        "baseline /bin/true, spawn -> exit:                          median {:.2} ms, p90 {:.2} ms, min {:.2} ms",
        true_stats.median, true_stats.p90, true_stats.min
    );
    println!(
        "baseline minimal Rust process (std only), spawn -> GET /next: median {:.2} ms, p90 {:.2} ms, min {:.2} ms",
        client_stats.median, client_stats.p90, client_stats.min
    );
    println!("  ({client_how})");
    for (t, _) in &rows {
        let st = Stats::of(&t.samples.iter().map(|s| s.total_ms).collect::<Vec<_>>());
        let calls: Vec<String> = per_start(&t.aws_calls, t.samples.len())
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k} x{}", v.as_f64().unwrap_or(0.0)))
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "  {:<15} {:>6.1}x the minimal process; AWS calls per start: {} (stub answered in {:.2} ms median)",
            t.name,
            st.median / client_stats.median,
            if calls.is_empty() {
                "none".to_owned()
            } else {
                calls.join(", ")
            },
            Stats::of(&t.stub_ms).median,
        );
        for (what, n) in &t.unexpected {
            println!("  {:<15} UNEXPECTED request during start-up ({n}x): {what}", t.name);
        }
    }
    println!(
        "p90 is the nearest-rank 90th percentile ({} of {}); 1st AWS call = spawn to the GetSecretValue request; \
         CPU = on-CPU time of all threads at /next; RSS = peak RSS at /next.",
        ((0.9 * args.runs as f64).ceil() as usize).clamp(1, args.runs),
        args.runs
    );

    if let Some(path) = &args.json {
        let doc = json!({
            "benchmark": "cold-start",
            "definition": format!("process spawn -> first GET {NEXT_PATH} from a loopback stub Runtime API; \
                Secrets Manager stubbed on loopback; no network"),
            "generated_at": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?,
            "runs": args.runs,
            "warmup_runs_discarded": 1,
            "extra_env": args.extra_env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "target_median_ms": TARGET_MS,
            "all_meet_target": all_ok,
            "host": host,
            "baseline": {
                "bin_true_spawn_to_exit": true_stats.to_json(&true_ms),
                "minimal_runtime_client": client_stats.to_json(&client.samples.iter().map(|s| s.total_ms).collect::<Vec<_>>()),
                "minimal_runtime_client_binary": client_how,
                "minimal_runtime_client_bytes": std::fs::metadata(&client.path).map(|m| m.len()).ok(),
            },
            "functions": functions_json,
        });
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")?;
        eprintln!("wrote {}", path.display());
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if rows.iter().any(|(t, _)| t.samples.is_empty()) {
        bail!("some function never reached /next");
    }
    Ok(())
}

impl Target {
    fn new(name: &str, path: PathBuf, kind: Kind, scratch: &Path) -> Target {
        Target {
            name: name.to_owned(),
            path,
            kind,
            log: scratch.join(format!("{name}.log")),
            samples: Vec::new(),
            failures: Vec::new(),
            aws_calls: BTreeMap::new(),
            unexpected: BTreeMap::new(),
            stub_ms: Vec::new(),
            extra_env: Vec::new(),
        }
    }

    fn command(&self, addr: std::net::SocketAddr) -> Result<Command> {
        let mut cmd = Command::new(&self.path);
        cmd.env_clear().current_dir("/");
        match self.kind {
            Kind::Function => {
                cmd.envs(lambda_env(&self.name, addr))
                    .envs(function_env(&self.name))
                    .envs(self.extra_env.iter().cloned());
            }
            Kind::MinimalClient => {
                if self.path == std::env::current_exe()? {
                    cmd.arg("--baseline-runtime-client");
                }
                cmd.envs(lambda_env(&self.name, addr));
            }
        }
        let log = std::fs::File::create(&self.log)?;
        cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        Ok(cmd)
    }

    /// One start: spawn, wait for its first /next, record, kill.
    fn start_once(
        &mut self,
        addr: std::net::SocketAddr,
        events: &mpsc::Receiver<Event>,
        timeout: Duration,
    ) -> Result<()> {
        while events.try_recv().is_ok() {}
        let mut cmd = self.command(addr)?;
        let spawned = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", self.path.display()))?;
        let result = self.watch(&mut child, spawned, events, timeout);
        let _ = child.kill();
        let _ = child.wait();
        result
    }

    fn watch(
        &mut self,
        child: &mut Child,
        spawned: Instant,
        events: &mpsc::Receiver<Event>,
        timeout: Duration,
    ) -> Result<()> {
        let mut first_aws = None;
        loop {
            match events.recv_timeout(Duration::from_millis(2)) {
                Ok(Event::Next(at)) => {
                    let (cpu_ms, rss_kib) = (cpu_ms(child.id()), peak_rss_kib(child.id()));
                    self.samples.push(Sample {
                        total_ms: ms(at.saturating_duration_since(spawned)),
                        first_aws_ms: first_aws.map(|a: Instant| ms(a.saturating_duration_since(spawned))),
                        cpu_ms,
                        rss_kib,
                    });
                    return Ok(());
                }
                Ok(Event::Aws {
                    at,
                    target,
                    stubbed,
                    served,
                }) => {
                    first_aws.get_or_insert(at);
                    self.stub_ms.push(ms(served));
                    if stubbed {
                        *self.aws_calls.entry(target).or_default() += 1;
                    } else {
                        *self.unexpected.entry(format!("AWS {target}")).or_default() += 1;
                    }
                }
                Ok(Event::Other { what }) => *self.unexpected.entry(what).or_default() += 1,
                Err(mpsc::RecvTimeoutError::Disconnected) => bail!("stub server stopped"),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = child.try_wait()? {
                        bail!(
                            "exited ({status}) before asking for work\n--- log tail ---\n{}",
                            tail(&self.log)
                        );
                    }
                    if spawned.elapsed() > timeout {
                        bail!("no GET /next within {timeout:?}\n--- log tail ---\n{}", tail(&self.log));
                    }
                }
            }
        }
    }
}

/// The least a Lambda process can do: one blocking GET /next, std only.
const MINIMAL_CLIENT: &str = r#"
use std::io::{Read, Write};
fn main() {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").expect("AWS_LAMBDA_RUNTIME_API");
    let mut sock = std::net::TcpStream::connect(&api).expect("connect");
    let req = format!("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: {api}\r\n\r\n");
    sock.write_all(req.as_bytes()).expect("write");
    let mut buf = [0u8; 1024];
    let _ = sock.read(&mut buf);
}
"#;

/// [`MINIMAL_CLIENT`] built like the functions (opt-level 3, stripped, panic=abort) with
/// `rustc`; without rustc, this binary re-executed with `--baseline-runtime-client`.
fn minimal_client(scratch: &Path) -> Result<(PathBuf, String)> {
    let src = scratch.join("minimal_runtime_client.rs");
    let bin = scratch.join("minimal-runtime-client");
    std::fs::write(&src, MINIMAL_CLIENT)?;
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let built = Command::new(&rustc)
        .args([
            "--edition",
            "2021",
            "-C",
            "opt-level=3",
            "-C",
            "panic=abort",
            "-C",
            "strip=symbols",
            "-C",
            "codegen-units=1",
            "-o",
        ])
        .arg(&bin)
        .arg(&src)
        .status();
    match built {
        Ok(s) if s.success() => Ok((
            bin,
            "std-only binary built with rustc -C opt-level=3 -C strip=symbols".into(),
        )),
        _ => Ok((
            std::env::current_exe()?,
            "this binary re-executed with --baseline-runtime-client (rustc unavailable)".into(),
        )),
    }
}

/// `--baseline-runtime-client`: [`MINIMAL_CLIENT`] inside this binary.
fn baseline_runtime_client() -> Result<()> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")?;
    let mut sock = std::net::TcpStream::connect(&api)?;
    sock.write_all(format!("GET {NEXT_PATH} HTTP/1.1\r\nhost: {api}\r\n\r\n").as_bytes())?;
    let mut buf = [0u8; 1024];
    let _ = sock.read(&mut buf)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Sizes

struct Sizes {
    built: u64,
    stripped: u64,
    zip: u64,
}

/// The binary as built, stripped (`strip --strip-all` on a copy named `bootstrap`, as
/// Lambda wants it), and zipped at level 9.
fn sizes(binary: &Path, dir: &Path) -> Result<Sizes> {
    std::fs::create_dir_all(dir)?;
    let bootstrap = dir.join("bootstrap");
    std::fs::copy(binary, &bootstrap).with_context(|| format!("copying {}", binary.display()))?;
    let built = std::fs::metadata(binary)?.len();
    match Command::new("strip").arg("--strip-all").arg(&bootstrap).status() {
        Ok(s) if s.success() => {}
        Ok(s) => bail!("strip {} failed: {s}", bootstrap.display()),
        Err(e) => eprintln!("strip not available ({e}); reporting the size as built"),
    }
    let stripped = std::fs::metadata(&bootstrap)?.len();
    let zip = dir.join("bootstrap.zip");
    let _ = std::fs::remove_file(&zip);
    let zipped = match Command::new("zip")
        .args(["-9", "-q", "-X", "-j"])
        .arg(&zip)
        .arg(&bootstrap)
        .status()
    {
        Ok(s) => s.success(),
        Err(_) => Command::new("python3")
            .args([
                "-c",
                "import sys, zipfile\n\
                 with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:\n    \
                 z.write(sys.argv[2], 'bootstrap')",
            ])
            .arg(&zip)
            .arg(&bootstrap)
            .status()
            .context("neither zip nor python3 is available to zip the binary")?
            .success(),
    };
    if !zipped {
        bail!("zipping {} failed", bootstrap.display());
    }
    Ok(Sizes {
        built,
        stripped,
        zip: std::fs::metadata(&zip)?.len(),
    })
}

// ---------------------------------------------------------------------------------------
// Small helpers

struct Stats {
    n: usize,
    median: f64,
    p90: f64,
    min: f64,
    max: f64,
    mean: f64,
}

impl Stats {
    fn of(samples: &[f64]) -> Stats {
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n == 0 {
            return Stats {
                n,
                median: f64::NAN,
                p90: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
                mean: f64::NAN,
            };
        }
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        let rank = ((0.9 * n as f64).ceil() as usize).clamp(1, n);
        Stats {
            n,
            median,
            p90: v[rank - 1],
            min: v[0],
            max: v[n - 1],
            mean: v.iter().sum::<f64>() / n as f64,
        }
    }

    fn to_json(&self, samples: &[f64]) -> Value {
        json!({ "median_ms": self.median, "p90_ms": self.p90, "min_ms": self.min, "max_ms": self.max,
                "mean_ms": self.mean, "samples_ms": samples })
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn opt(present: bool, v: f64) -> String {
    if present {
        format!("{v:.1}")
    } else {
        "-".into()
    }
}

fn per_start(counts: &BTreeMap<String, usize>, starts: usize) -> Value {
    let starts = starts.max(1) as f64;
    Value::Object(
        counts
            .iter()
            .map(|(k, n)| (k.clone(), json!(*n as f64 / starts)))
            .collect(),
    )
}

/// On-CPU time of every thread of `pid` (schedstat, ns), falling back to utime+stime ticks.
fn cpu_ms(pid: u32) -> Option<f64> {
    let mut ns = 0u64;
    let mut any = false;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Some(v) = std::fs::read_to_string(t.path().join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()))
            {
                ns += v;
                any = true;
            }
        }
    }
    if any {
        return Some(ns as f64 / 1e6);
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 * 10.0)
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn host_info() -> Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default().trim().to_owned();
    let cpu_model = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_default();
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": cpu_model,
        "kernel": read("/proc/sys/kernel/osrelease"),
        "loadavg": read("/proc/loadavg"),
        "arch": std::env::consts::ARCH,
    })
}
