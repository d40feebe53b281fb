//! `zoom-sandbox serve` runs the fake Zoom; `zoom-sandbox record` also generates a
//! meeting and delivers its signed `recording.completed` webhook.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use zoom_sandbox::{GeneratedMeeting, MeetingSpec, Sandbox, SandboxConfig};

#[derive(Parser)]
#[command(version, about = "A local stand-in for Zoom")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create (or keep) the sandbox CA in DIR, so trust stores can include it up front.
    Ca {
        #[arg(long)]
        cert_dir: std::path::PathBuf,
    },
    /// Serve downloads, OAuth and the recordings API until killed.
    Serve {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Generate a meeting, serve it, send its signed recording.completed, keep serving.
    Record(RecordArgs),
}

/// `record`: the server options plus the meeting to generate and the webhook to send.
#[derive(Args)]
struct RecordArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[arg(long, default_value_t = 3)]
    participants: usize,
    #[arg(long, default_value_t = 60.0)]
    duration_secs: f64,
    #[arg(long)]
    webhook_url: String,
    /// Where the audio files (and event.json) are written.
    #[arg(long)]
    data_dir: PathBuf,
    /// Lifetime of the webhook's download_token; negative sends an expired one.
    #[arg(long, default_value_t = 86_400, allow_hyphen_values = true)]
    token_ttl_secs: i64,
    /// Account setting "separate audio file per participant" off.
    #[arg(long)]
    no_participant_files: bool,
    /// Stop serving after this many seconds instead of running until killed.
    #[arg(long)]
    exit_after_secs: Option<u64>,
}

#[derive(Args)]
struct ServerArgs {
    #[arg(long, default_value = "127.0.0.1:8443")]
    bind: SocketAddr,
    #[arg(long, default_value = "localhost")]
    public_host: String,
    /// Where cert.pem is written; defaults to --data-dir for `record`.
    #[arg(long)]
    cert_dir: Option<PathBuf>,
    #[arg(long, env = "ZOOM_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: String,
    #[arg(long, env = "ZOOM_S2S_ACCOUNT_ID", hide_env_values = true)]
    s2s_account_id: String,
    #[arg(long, env = "ZOOM_S2S_CLIENT_ID", hide_env_values = true)]
    s2s_client_id: String,
    #[arg(long, env = "ZOOM_S2S_CLIENT_SECRET", hide_env_values = true)]
    s2s_client_secret: String,
    /// Requests per second allowed on the user and recording lists before 429 (0 = no limit).
    #[arg(long, default_value_t = 10)]
    list_requests_per_sec: u32,
}

impl ServerArgs {
    fn config(&self, default_cert_dir: Option<&PathBuf>) -> anyhow::Result<SandboxConfig> {
        let Some(cert_dir) = self.cert_dir.as_ref().or(default_cert_dir) else {
            bail!("--cert-dir is required");
        };
        Ok(SandboxConfig {
            bind: self.bind,
            public_host: self.public_host.clone(),
            webhook_secret: self.webhook_secret.clone(),
            s2s_account_id: self.s2s_account_id.clone(),
            s2s_client_id: self.s2s_client_id.clone(),
            s2s_client_secret: self.s2s_client_secret.clone(),
            download_token_ttl_secs: 86_400,
            cert_dir: cert_dir.clone(),
            list_requests_per_sec: self.list_requests_per_sec,
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    match Cli::parse().command {
        Command::Ca { cert_dir } => {
            let (_, _, path) = zoom_sandbox::tls::load_or_create_ca(&cert_dir)?;
            println!("{}", path.display());
        }
        Command::Serve { server } => serve(&server).await?,
        Command::Record(args) => record(args).await?,
    }
    Ok(())
}

/// Logs go to stderr: stdout carries the one JSON line callers parse.
fn init_tracing() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
}

async fn serve(server: &ServerArgs) -> anyhow::Result<()> {
    let sandbox = Sandbox::start(server.config(None)?).await?;
    println!(
        "{}",
        json!({ "base_url": sandbox.base_url, "ca_pem": sandbox.ca_pem_path })
    );
    wait(None).await;
    sandbox.shutdown().await;
    Ok(())
}

async fn record(args: RecordArgs) -> anyhow::Result<()> {
    let (participants, duration_secs) = (args.participants, args.duration_secs);
    // Checked here because `staggered` panics on these.
    if participants == 0 || duration_secs.is_nan() || duration_secs < 4.0 * participants as f64 {
        bail!("need at least one participant and 4 s of meeting per participant");
    }
    let mut spec = MeetingSpec::staggered(participants, duration_secs);
    spec.per_participant_files = !args.no_participant_files;
    let meeting = spec.generate(&args.data_dir).await?;
    let sandbox = Sandbox::start(args.server.config(Some(&args.data_dir))?).await?;
    sandbox.add_meeting(&meeting);

    let (event_path, status, response) = send_recording_completed(&sandbox, &meeting, &args).await?;
    let summary = json!({
        "webhook_status": status,
        "webhook_response": response,
        "uuid": meeting.spec.uuid,
        "meeting_id": meeting.spec.meeting_id,
        "host_email": meeting.spec.host_email,
        "duration_secs": meeting.spec.duration_secs,
        "mixed_file_id": meeting.mixed().map(|t| t.file_id.clone()),
        "participants": participants_json(&meeting),
        "base_url": sandbox.base_url,
        "ca_pem": sandbox.ca_pem_path,
        "event": event_path,
    });
    println!("{summary}");
    wait(args.exit_after_secs).await;
    sandbox.shutdown().await;
    Ok(())
}

/// Writes the signed event to `event.json` as well as POSTing it; returns that path and the
/// webhook's HTTP status and body.
async fn send_recording_completed(
    sandbox: &Sandbox,
    meeting: &GeneratedMeeting,
    args: &RecordArgs,
) -> anyhow::Result<(PathBuf, u16, String)> {
    let token = sandbox.issue_download_token(args.token_ttl_secs);
    let body = serde_json::to_vec(&sandbox.recording_completed(meeting, &token))?;
    let event_path = args.data_dir.join("event.json");
    tokio::fs::write(&event_path, &body)
        .await
        .context("writing event.json")?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let secret = &args.server.webhook_secret;
    let (status, response) = zoom_sandbox::webhook::send_signed(&client, &args.webhook_url, secret, &body, now).await?;
    Ok((event_path, status, response))
}

/// Each participant as generated, with the file_id of their own track (null without one).
fn participants_json(meeting: &GeneratedMeeting) -> Vec<serde_json::Value> {
    let own_file = |i: usize| {
        meeting
            .tracks
            .iter()
            .find(|t| t.participant == Some(i))
            .map(|t| t.file_id.clone())
    };
    meeting
        .spec
        .participants
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({ "name": p.name, "join_secs": p.join_secs, "leave_secs": p.leave_secs,
                    "speech": p.speech, "tone_hz": p.tone_hz, "file_id": own_file(i) })
        })
        .collect()
}

/// Until Ctrl-C, or the deadline if one is given.
async fn wait(exit_after_secs: Option<u64>) {
    match exit_after_secs {
        Some(secs) => {
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(secs)) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
