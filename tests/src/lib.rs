//! Harness for the end-to-end suite: the deployed local stack's outputs, AWS clients
//! pointed at it, and Zoom-shaped requests.
//!
//! The suite needs `make test` (or `scripts/stack.sh deploy`) to have deployed
//! `template.yaml` to the local stack first; without `.local/stack.json` every test
//! fails with a message saying so, rather than passing vacuously.

pub mod audio;
pub mod browser;
pub mod speech_meeting;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;
use serde_json::Value;
use symbl_sandbox::{SymblConfig, SymblSandbox};
use zoom_sandbox::webhook::send_signed;
use zoom_sandbox::{GeneratedMeeting, MeetingSpec, Sandbox, SandboxConfig};
use zoom_symbl_core::meeting_key::MeetingKey;

#[derive(Debug, Clone, Deserialize)]
pub struct Stack {
    #[serde(default)]
    pub stack_name: String,
    pub endpoint: String,
    pub region: String,
    pub outputs: std::collections::HashMap<String, String>,
    pub zoom_webhook_url: String,
    pub zoom_webhook_secret: String,
    pub zoom_sandbox_port: u16,
    pub zoom_sandbox_ca_dir: PathBuf,
    pub symbl_sandbox_port: u16,
    /// Where the local stack's Bedrock forwards Converse (the LLM sandbox).
    #[serde(default)]
    pub llm_sandbox_port: u16,
    pub mail_dir: PathBuf,
}

impl Stack {
    /// Loads `.local/stack.json` (or `$ZS_STACK_FILE`), written by `scripts/stack.sh deploy`.
    pub fn load() -> Stack {
        Stack::load_from("ZS_STACK_FILE", "stack.json")
    }

    /// The stack deployed with the aws provider: `.local/stack-aws.json` (or `$ZS_AWS_STACK_FILE`).
    pub fn load_aws() -> Stack {
        Stack::load_from("ZS_AWS_STACK_FILE", "stack-aws.json")
    }

    fn load_from(var: &str, file: &str) -> Stack {
        let path = std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.local").join(file));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}. Deploy the local stack first: `make test` or `scripts/stack.sh deploy`",
                path.display()
            )
        });
        serde_json::from_str(&text).expect("stack.json is malformed; redeploy with scripts/stack.sh deploy")
    }

    pub fn output(&self, name: &str) -> &str {
        self.outputs
            .get(name)
            .unwrap_or_else(|| panic!("stack output {name} missing; redeploy"))
    }

    pub async fn aws(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(self.region.clone()))
            .credentials_provider(Credentials::new("test", "test", None, None, "local-stack"))
            .load()
            .await
    }

    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.aws().await)
    }

    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.aws().await)
    }

    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.aws().await)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub async fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.aws().await)
    }

    /// The meeting's record, read consistently.
    pub async fn meeting(&self, uuid: &str) -> Option<Item> {
        self.dynamodb()
            .await
            .get_item()
            .table_name(self.output("MeetingsTableName"))
            .key(
                "meeting_key",
                AttributeValue::S(MeetingKey::from_uuid(uuid).to_string()),
            )
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem on the meetings table")
            .item
    }

    /// Waits until the meeting's status is one of `wanted`, returning the record.
    pub async fn meeting_in(&self, uuid: &str, wanted: &[&str], deadline: Duration) -> Result<Item> {
        eventually(&format!("meeting status in {wanted:?}"), deadline, || async {
            Ok(self
                .meeting(uuid)
                .await
                .filter(|m| wanted.contains(&attr_s(m, "status").unwrap_or(""))))
        })
        .await
    }

    /// Waits until the producer has done its part (the meeting is queued or further along);
    /// a failed meeting is an error carrying its reason.
    pub async fn produced(&self, uuid: &str, deadline: Duration) -> Result<Item> {
        let item = self
            .meeting_in(uuid, &[PRODUCED_STATES, &["failed"]].concat(), deadline)
            .await?;
        match attr_s(&item, "status") {
            Some("failed") => anyhow::bail!("meeting failed: {:?}", attr_s(&item, "failure_reason")),
            _ => Ok(item),
        }
    }

    /// The provider this stack was deployed with.
    pub fn provider(&self) -> &str {
        self.outputs.get("InsightsProvider").map_or("symbl", String::as_str)
    }

    /// The semaphore item that counts this stack's provider jobs.
    pub fn semaphore_name(&self) -> &'static str {
        match self.provider() {
            "aws" => zoom_symbl_core::transcribed::SEMAPHORE_NAME,
            _ => zoom_symbl_core::symbl::SEMAPHORE_NAME,
        }
    }

    /// Holders of the provider's concurrency slots right now.
    pub async fn slot_holders(&self) -> Result<Vec<String>> {
        let out = self
            .dynamodb()
            .await
            .get_item()
            .table_name(self.output("SemaphoreTableName"))
            .key("name", AttributeValue::S(self.semaphore_name().into()))
            .consistent_read(true)
            .send()
            .await?;
        Ok(out
            .item
            .and_then(|i| {
                i.get("holders")
                    .and_then(|h| h.as_m().ok())
                    .map(|m| m.keys().cloned().collect())
            })
            .unwrap_or_default())
    }

    /// The meeting's transcript as the notifier stored it (`transcript.json` of its first run).
    pub async fn transcript(&self, uuid: &str) -> Result<zoom_symbl_core::transcript::Transcript> {
        let key = MeetingKey::from_uuid(uuid).s3_prefix();
        let json = self
            .object(
                self.output("OutputBucketName"),
                &zoom_symbl_core::transcript::Transcript::key(&key),
            )
            .await?;
        Ok(serde_json::from_slice(&json)?)
    }

    pub async fn object(&self, bucket: &str, key: &str) -> Result<Vec<u8>> {
        let out = self.s3().await.get_object().bucket(bucket).key(key).send().await?;
        Ok(out.body.collect().await?.into_bytes().to_vec())
    }
}

pub type Item = std::collections::HashMap<String, AttributeValue>;

/// A message the local SMTP server accepted.
pub struct Mail {
    pub raw: Vec<u8>,
    pub to: String,
    pub subject: String,
    pub content_type: String,
    pub text: String,
    pub html: String,
}

impl Stack {
    /// Waits up to `wait` for the first email whose subject has `tag`, then `quiet` for a
    /// duplicate to show up, and returns the one there must be.
    pub async fn one_mail(&self, tag: &str, wait: Duration, quiet: Duration) -> Mail {
        eventually("the host's email", wait, || async {
            Ok(self.mails(tag).into_iter().next())
        })
        .await
        .unwrap();
        tokio::time::sleep(quiet).await;
        let mut mails = self.mails(tag);
        assert_eq!(mails.len(), 1, "expected exactly one email for {tag}");
        mails.remove(0)
    }

    /// Every message in the local SMTP server whose subject contains `needle`.
    pub fn mails(&self, needle: &str) -> Vec<Mail> {
        let Ok(entries) = std::fs::read_dir(&self.mail_dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            if !e.file_name().to_string_lossy().ends_with(".eml") || e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let Ok(raw) = std::fs::read(e.path()) else { continue };
            let Some(msg) = mail_parser::MessageParser::default().parse(&raw) else {
                continue;
            };
            use mail_parser::MimeHeaders;
            let subject = msg.subject().unwrap_or_default().to_owned();
            if !subject.contains(needle) {
                continue;
            }
            let to = msg
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_owned();
            let content_type = msg
                .content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default()))
                .unwrap_or_default();
            let text = msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
            let html = msg.body_html(0).map(|t| t.into_owned()).unwrap_or_default();
            out.push(Mail {
                raw,
                to,
                subject,
                content_type,
                text,
                html,
            });
        }
        out
    }

    /// symbl-webhook's URL on the local stack (without its token).
    pub fn symbl_webhook_url(&self) -> String {
        self.zoom_webhook_url.replace("/zoom/webhook", "/symbl/webhook")
    }

    pub async fn job(&self, job_id: &str) -> Option<Item> {
        self.dynamodb()
            .await
            .get_item()
            .table_name(self.output("JobsTableName"))
            .key("job_id", AttributeValue::S(job_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem on the jobs table")
            .item
    }

    /// A knob file in the SMTP server's directory (`.refuse`: answer 421).
    pub fn smtp_knob(&self, name: &str, on: bool) {
        let path = self.mail_dir.join(name);
        if on {
            std::fs::write(&path, b"").expect("creating SMTP knob");
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Meeting statuses from the producer's success onwards.
pub const PRODUCED_STATES: &[&str] = &["queued", "submitted", "transcribed"];

/// Symbl sandbox submissions of this meeting's merged audio.
pub fn submissions_of(uuid: &str) -> Vec<symbl_sandbox::Submission> {
    let needle = format!("meetings/{}/", MeetingKey::from_uuid(uuid));
    symbl()
        .submissions()
        .into_iter()
        .filter(|s| s.url.contains(&needle))
        .collect()
}

pub fn attr_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// The producer's record of the meeting's audio, as JSON.
pub fn audio_of(item: &Item) -> Value {
    serde_dynamo::from_attribute_value(item.get("audio").cloned().expect("record has no audio"))
        .expect("audio attribute")
}

/// Starts a server on a thread of its own, so it outlives each test's runtime, and keeps it
/// for the whole test binary.
fn background<T, F, Fut>(start: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let _ = tx.send(start().await);
            std::future::pending::<()>().await;
        });
    });
    rx.recv()
        .expect("server thread")
        .unwrap_or_else(|e| panic!("server failed to start: {e:#}"))
}

/// One Zoom sandbox per test binary, on the port the deployed producer's OAuth and API URLs
/// name, trusted by the functions through the local stack's CA bundle.
pub fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let stack = Stack::load();
        background(move || async move {
            let mut config = SandboxConfig::local(&stack.zoom_sandbox_ca_dir);
            config.bind = std::net::SocketAddr::from(([127, 0, 0, 1], stack.zoom_sandbox_port));
            config.webhook_secret = stack.zoom_webhook_secret.clone();
            Sandbox::start(config).await
        })
    })
}

/// One Symbl sandbox per test binary, on the port the deployed consumer and notifier call.
pub fn symbl() -> &'static SymblSandbox {
    static SYMBL: OnceLock<SymblSandbox> = OnceLock::new();
    SYMBL.get_or_init(|| {
        let stack = Stack::load();
        background(move || async move {
            let mut config = SymblConfig::local();
            config.bind = std::net::SocketAddr::from(([127, 0, 0, 1], stack.symbl_sandbox_port));
            config.job_duration_ms = 1500;
            SymblSandbox::start(config).await
        })
    })
}

/// One LLM sandbox per test binary, on the port the local stack's Bedrock forwards to.
pub fn llm() -> &'static llm_sandbox::LlmSandbox {
    static LLM: OnceLock<llm_sandbox::LlmSandbox> = OnceLock::new();
    LLM.get_or_init(|| {
        let stack = Stack::load_aws();
        background(move || async move {
            llm_sandbox::LlmSandbox::start(std::net::SocketAddr::from(([127, 0, 0, 1], stack.llm_sandbox_port))).await
        })
    })
}

/// Generates the meeting's audio with ffmpeg and registers it with the sandbox.
pub async fn record(spec: MeetingSpec) -> GeneratedMeeting {
    let dir = meetings_dir().join(uuid::Uuid::new_v4().simple().to_string());
    let meeting = spec.generate(&dir).await.expect("generating meeting audio");
    sandbox().add_meeting(&meeting);
    meeting
}

/// Where generated meetings' audio lives: `target/e2e-meetings/`, inside the checkout, not
/// the machine's temp dir (a full suite writes hundreds of megabytes, and nothing runs after
/// a test binary to delete them). Each test binary, on its first meeting, deletes what runs
/// before it left more than an hour ago; the files run one after another.
fn meetings_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-meetings");
        let stale = std::time::SystemTime::now() - Duration::from_secs(3600);
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let old = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < stale);
            if old {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        dir
    })
}

/// Delivers the meeting's `recording.completed` (with a valid download token) as Zoom would,
/// requires the webhook's 200, and returns its answer.
pub async fn start(stack: &Stack, m: &GeneratedMeeting) -> Value {
    let event = sandbox().recording_completed(m, &sandbox().default_download_token());
    let (status, reply) = deliver(stack, &event).await;
    assert_eq!(status, 200, "{reply}");
    reply
}

/// Sends the sandbox's signed recording.completed for the meeting to the deployed webhook.
pub async fn deliver(stack: &Stack, body: &Value) -> (u16, Value) {
    try_deliver(stack, body).await.expect("POST to the zoom webhook")
}

/// One signed delivery; a timeout or a refused connection is an error, not a panic (Zoom
/// treats both as a failed delivery and delivers again).
pub async fn try_deliver(stack: &Stack, body: &Value) -> anyhow::Result<(u16, Value)> {
    // The meeting will reach Symbl: its sandbox must be listening by then.
    symbl();
    let bytes = serde_json::to_vec(body)?;
    let (status, text) = send_signed(
        &http(),
        &stack.zoom_webhook_url,
        &stack.zoom_webhook_secret,
        &bytes,
        unix_now(),
    )
    .await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client")
}

pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The sample `recording.completed` (events/), made unique with a fresh meeting UUID that
/// contains the characters Zoom UUIDs do (`/`, `+`, `=`).
pub fn sample_recording_completed() -> (String, Value) {
    let mut event: Value =
        serde_json::from_str(include_str!("../../events/zoom-recording-completed.json")).expect("sample event");
    let uuid = format!("e2e/{}+x==", uuid::Uuid::new_v4().simple());
    event["payload"]["object"]["uuid"] = Value::String(uuid.clone());
    (uuid, event)
}

/// Polls `probe` until it returns `Some`, for eventually-consistent effects (async invokes,
/// queues). Not a timing assertion: the deadline only bounds how long a broken run waits.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = probe().await.with_context(|| format!("while waiting for {what}"))? {
            return Ok(v);
        }
        if start.elapsed() > deadline {
            anyhow::bail!("gave up waiting for {what} after {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl Stack {
    /// Bodies of the messages waiting in the queue behind stack output `queue_output` that
    /// mention `needle`, without consuming them (they become visible again at once).
    pub async fn queued_bodies(&self, queue_output: &str, needle: &str) -> Result<Vec<String>> {
        let sqs = self.sqs().await;
        let url = self.output(queue_output);
        let mut seen = std::collections::BTreeMap::new();
        // Several receives: each returns at most 10, in no particular order.
        for _ in 0..5 {
            let out = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .send()
                .await
                .context("ReceiveMessage")?;
            for m in out.messages() {
                if let (Some(id), Some(body)) = (m.message_id(), m.body()) {
                    seen.insert(id.to_owned(), body.to_owned());
                }
            }
        }
        Ok(seen.into_values().filter(|b| b.contains(needle)).collect())
    }
}

/// A deployed function's processes on this machine (the local stack runs each function as a
/// native `bootstrap` process, with its children, such as the producer's ffmpeg decoders).
pub fn function_processes(function: &str) -> Vec<(u32, String)> {
    let needle = format!("AWS_LAMBDA_FUNCTION_NAME={function}");
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut parent = std::collections::HashMap::new();
    let mut roots = Vec::new();
    let mut comm = std::collections::HashMap::new();
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The fields after the parenthesised command name: state, ppid, ...
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok());
        let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        if name == "bootstrap"
            && std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
        {
            roots.push(pid);
        }
        parent.insert(pid, ppid.unwrap_or(0));
        comm.insert(pid, name);
    }
    let under_root = |mut p: u32| {
        for _ in 0..64 {
            if roots.contains(&p) {
                return true;
            }
            match parent.get(&p) {
                Some(&pp) if pp != 0 && pp != p => p = pp,
                _ => return false,
            }
        }
        false
    };
    comm.into_iter().filter(|(pid, _)| under_root(*pid)).collect()
}

/// "debug" or "release": whether the deployed function binary running `function` (a part of
/// its name) carries DWARF (the dev profile keeps line tables; release strips symbols).
pub fn deployed_build(function: &str) -> String {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return "unknown".into();
    };
    for entry in dir.flatten() {
        let pid = entry.file_name();
        let Some(pid) = pid.to_str().filter(|p| p.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        if std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim() != "bootstrap")
            .unwrap_or(true)
        {
            continue;
        }
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let ours = env
            .split(|b| *b == 0)
            .any(|v| v.starts_with(b"AWS_LAMBDA_FUNCTION_NAME=") && String::from_utf8_lossy(v).contains(function));
        if ours {
            if let Ok(exe) = std::fs::read(format!("/proc/{pid}/exe")) {
                return if exe.windows(11).any(|w| w == b".debug_info") {
                    "debug"
                } else {
                    "release"
                }
                .into();
            }
        }
    }
    "unknown".into()
}

/// What one run of the operators' command line printed, and its exit code.
#[derive(Debug)]
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    /// `--json`'s output.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// Runs `zoom-symbl --local --stack <this stack> <args>` (the binary `make e2e` builds) as an
/// operator would, trusting the Zoom sandbox's CA for backfill's Zoom calls.
pub async fn zoom_symbl(stack: &Stack, args: &[&str]) -> CliRun {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("zoom-symbl")))
        .filter(|b| b.exists())
        .expect("target/debug/zoom-symbl is missing: `cargo build -p zoom-symbl-cli` (make e2e does)");
    // A test that names another stack means it.
    let stack_args: &[&str] = if args.contains(&"--stack") {
        &["--local"]
    } else {
        &["--local", "--stack", &stack.stack_name]
    };
    let out = tokio::process::Command::new(bin)
        .args(stack_args)
        .args(args)
        .env("ZOOM_SYMBL_LOCAL_ENDPOINT", &stack.endpoint)
        .env("SSL_CERT_FILE", root.join(".local/ca-bundle.pem"))
        .kill_on_drop(true)
        .output()
        .await
        .expect("running zoom-symbl");
    CliRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
