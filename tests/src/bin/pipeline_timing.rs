//! End to end on the local stack: from the signed Zoom `recording.completed` to the host's
//! email in the local SMTP server's directory, and what part each stage takes:
//! `cargo run -p e2e --bin pipeline-timing -- [N] [--participants 3] [--minutes 5] [--symbl-ms MS] [--out PATH]`
//! (N = 3 meetings, one at a time; results also go to `target/bench/pipeline.json`).
//! A measurement tool, never a test.
//!
//! Run it alone on the stack: it serves the Zoom and Symbl sandboxes on the stack's ports
//! (`flock -o /tmp/zs-stack.lock cargo run -q -p e2e --bin pipeline-timing`).
//!
//! The meeting's audio (`MeetingSpec::staggered(participants, minutes * 60)`) is generated
//! once; each run registers it again under a fresh meeting UUID and fresh file ids.
//!
//! Symbl "completes at once": this binary runs its own Symbl sandbox (not the test suite's
//! shared one, whose jobs take 1.5 s) with auto-completion off, and completes the job as soon
//! as the consumer has recorded it in the jobs table (polled every 10 ms). Completing it
//! earlier would race the consumer's bookkeeping: a `completed` callback for a job not yet
//! recorded is acknowledged and ignored, and only the reconciler would heal it, after the
//! job's deadline. `--symbl-ms MS` instead lets the sandbox complete jobs on its own after
//! MS (what the test suite does, with 1500).
//!
//! Stages come from the meeting record's timestamps (`received_at`, `production_started_at`,
//! `produced_at`, `queued_at`, `submitted_at`, `transcribed_at`, `emailed_at`), split further
//! by what the Symbl sandbox saw (its request log, with times) and by the SMTP sink's file
//! name (nanoseconds at which it accepted the message). All clocks are this machine's.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use e2e::{deployed_build, http, sandbox, unix_now, Item, Stack};
use serde_json::{json, Value};
use symbl_sandbox::{SymblConfig, SymblSandbox};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use zoom_sandbox::webhook::send_signed;
use zoom_sandbox::{GeneratedMeeting, MeetingSpec};
use zoom_symbl_core::meeting_key::MeetingKey;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const DEADLINE: Duration = Duration::from_secs(600);

struct Args {
    meetings: usize,
    participants: usize,
    minutes: f64,
    symbl_ms: Option<u64>,
    out: PathBuf,
}

impl Args {
    fn parse() -> Result<Args> {
        let mut args = std::env::args().skip(1).peekable();
        let mut meetings = 3;
        if let Some(first) = args.peek().filter(|a| !a.starts_with("--")) {
            meetings = first.parse().with_context(|| format!("meeting count {first:?}"))?;
            args.next();
        }
        let mut parsed = Args {
            meetings,
            participants: 3,
            minutes: 5.0,
            symbl_ms: None,
            out: PathBuf::from(ROOT).join("target/bench/pipeline.json"),
        };
        while let Some(flag) = args.next() {
            let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--participants" => parsed.participants = value()?.parse()?,
                "--minutes" => parsed.minutes = value()?.parse()?,
                "--symbl-ms" => parsed.symbl_ms = Some(value()?.parse()?),
                "--out" => parsed.out = PathBuf::from(value()?),
                other => bail!(
                    "unknown argument {other}; usage: pipeline-timing [N] [--participants 3] [--minutes 5] [--symbl-ms MS] [--out PATH]"
                ),
            }
        }
        ensure!(
            parsed.meetings >= 1 && parsed.participants >= 1 && parsed.minutes > 0.0,
            "counts must be positive"
        );
        Ok(parsed)
    }
}

/// Stages in the order they are printed: key, label, indented (a part of the row above).
const STAGES: &[(&str, &str, bool)] = &[
    (
        "webhook_to_claimed",
        "webhook sent -> claimed (gateway, zoom-webhook; received_at)",
        false,
    ),
    (
        "zoom_webhook_answer",
        "zoom-webhook's HTTP answer, as the client saw it",
        true,
    ),
    (
        "claimed_to_production_start",
        "claimed -> production start (async producer invoke)",
        false,
    ),
    (
        "production",
        "production (download, archive, ffmpeg merge, upload)",
        false,
    ),
    ("produced_to_queued", "produced -> queued (SQS send, record)", false),
    ("queued_to_submitted", "queued -> submitted (consumer)", false),
    (
        "queued_to_symbl_submit",
        "queued -> Symbl submit arrives (SQS -> consumer, slot, presign)",
        true,
    ),
    (
        "symbl_fetch_probe",
        "Symbl sandbox fetches and probes the merged audio",
        true,
    ),
    (
        "symbl_reply_to_submitted",
        "scheduled callback + 201 reply -> submitted_at",
        true,
    ),
    (
        "submitted_to_transcribed",
        "submitted -> transcribed (Symbl + callback + notifier confirm)",
        false,
    ),
    (
        "symbl_processing",
        "Symbl processing (sandbox; job recorded, then completed at once)",
        true,
    ),
    (
        "completed_to_confirm",
        "completed -> notifier's confirm at Symbl (callbacks, symbl-webhook, invoke)",
        true,
    ),
    (
        "confirm_to_transcribed",
        "confirm -> transcribed (job finished, slot released, record)",
        true,
    ),
    (
        "transcribed_to_emailed",
        "transcribed -> emailed (insights, page, SMTP; emailed_at)",
        false,
    ),
    (
        "transcribed_to_insights",
        "transcribed -> first insights request at Symbl",
        true,
    ),
    (
        "insights_to_page",
        "insights fetched + stored in S3 -> summary page request",
        true,
    ),
    ("page_to_smtp", "summary page -> SMTP sink accepted the email", true),
    ("smtp_to_emailed_at", "SMTP accepted -> emailed_at recorded", true),
    ("total", "TOTAL: webhook sent -> email in the SMTP mail dir", false),
    ("total_without_symbl", "TOTAL without Symbl processing (sandbox)", true),
];

/// Unix milliseconds of an RFC 3339 attribute.
fn at(item: &Item, name: &str) -> Option<f64> {
    let s = item.get(name)?.as_s().ok()?;
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    Some(t.unix_timestamp_nanos() as f64 / 1e6)
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

struct Probe {
    ddb: aws_sdk_dynamodb::Client,
    meetings_table: String,
    jobs_table: String,
}

impl Probe {
    async fn meeting(&self, uuid: &str) -> Result<Option<Item>> {
        Ok(self
            .ddb
            .get_item()
            .table_name(&self.meetings_table)
            .key(
                "meeting_key",
                AttributeValue::S(MeetingKey::from_uuid(uuid).to_string()),
            )
            .consistent_read(true)
            .send()
            .await?
            .item)
    }

    /// Whether the consumer has recorded the job (its record names the meeting).
    async fn job_recorded(&self, job_id: &str) -> Result<bool> {
        let item = self
            .ddb
            .get_item()
            .table_name(&self.jobs_table)
            .key("job_id", AttributeValue::S(job_id.to_owned()))
            .consistent_read(true)
            .send()
            .await?
            .item;
        Ok(item.is_some_and(|i| i.contains_key("meeting_key")))
    }
}

/// New `.eml` files in the SMTP sink's directory whose subject contains `tag`: the time the
/// sink accepted the message (nanoseconds in its name) in Unix ms, and the subject.
fn new_mail(dir: &Path, before: &HashSet<String>, tag: &str) -> Option<(f64, String)> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".eml") || name.starts_with('.') || before.contains(&name) {
            continue;
        }
        let Ok(raw) = std::fs::read(e.path()) else { continue };
        let Some(msg) = mail_parser::MessageParser::default().parse(&raw) else {
            continue;
        };
        let subject = msg.subject().unwrap_or_default().to_owned();
        if subject.contains(tag) {
            let ns: f64 = name.split('-').next().and_then(|n| n.parse().ok()).unwrap_or(0.0);
            return Some((ns / 1e6, subject));
        }
    }
    None
}

fn mail_names(dir: &Path) -> HashSet<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The generated meeting under a fresh UUID, meeting id, topic and file ids (same audio files).
fn fresh_copy(base: &GeneratedMeeting, participants: usize, topic: String) -> GeneratedMeeting {
    let mut m = base.clone();
    let ids = MeetingSpec::staggered(participants, base.spec.duration_secs);
    m.spec.uuid = ids.uuid;
    m.spec.meeting_id = ids.meeting_id;
    m.spec.topic = topic;
    for t in &mut m.tracks {
        t.file_id = uuid::Uuid::new_v4().to_string();
    }
    m
}

struct Run {
    uuid: String,
    stages: BTreeMap<&'static str, f64>,
    facts: Value,
}

async fn one_meeting(
    stack: &Stack,
    probe: &Probe,
    symbl: &SymblSandbox,
    args: &Args,
    meeting: &GeneratedMeeting,
    tag: &str,
) -> Result<Run> {
    let key = MeetingKey::from_uuid(&meeting.spec.uuid).to_string();
    sandbox().add_meeting(meeting);
    let body = serde_json::to_vec(&sandbox().recording_completed(meeting, &sandbox().default_download_token()))?;
    let mails_before = mail_names(&stack.mail_dir);
    let client = http();

    let t0 = now_ms();
    let started = Instant::now();
    let (status, reply) = send_signed(
        &client,
        &stack.zoom_webhook_url,
        &stack.zoom_webhook_secret,
        &body,
        unix_now(),
    )
    .await?;
    let answer_ms = started.elapsed().as_secs_f64() * 1000.0;
    ensure!(status == 200, "zoom-webhook answered {status}: {reply}");

    // The Symbl job: complete it as soon as the consumer has recorded it (or let it run).
    let needle = format!("meetings/{key}/");
    let submission = loop {
        if let Some(s) = symbl.submissions().into_iter().find(|s| s.url.contains(&needle)) {
            break s;
        }
        if started.elapsed() > DEADLINE {
            let item = probe.meeting(&meeting.spec.uuid).await?;
            bail!("no Symbl submission after {DEADLINE:?}; meeting record: {item:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let completed_at = match args.symbl_ms {
        None => {
            while !probe.job_recorded(&submission.job_id).await? {
                ensure!(started.elapsed() < DEADLINE, "job {} never recorded", submission.job_id);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let t = now_ms();
            symbl.complete_job(&submission.job_id).await?;
            t
        }
        Some(ms) => submission.at_ms as f64 + ms as f64,
    };

    let (smtp_ms, subject) = loop {
        if let Some(found) = new_mail(&stack.mail_dir, &mails_before, tag) {
            break found;
        }
        if started.elapsed() > DEADLINE {
            let item = probe.meeting(&meeting.spec.uuid).await?;
            bail!("no email after {DEADLINE:?}; meeting record: {item:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    ensure!(
        subject.starts_with("Meeting insights: "),
        "the host was told of a failure: {subject}"
    );
    // emailed_at is written after the SMTP sink accepted the message.
    let item = loop {
        let item = probe
            .meeting(&meeting.spec.uuid)
            .await?
            .context("meeting record vanished")?;
        if item.contains_key("emailed_at") {
            break item;
        }
        ensure!(started.elapsed() < DEADLINE, "emailed_at never recorded");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };

    let requests = symbl.requests();
    let first = |pred: &dyn Fn(&symbl_sandbox::RequestRecord) -> bool| {
        requests
            .iter()
            .filter(|r| r.at_ms as f64 >= t0 && pred(r))
            .map(|r| r.at_ms as f64)
            .reduce(f64::min)
    };
    let submit_req = requests
        .iter()
        .filter(|r| {
            r.method == "POST"
                && r.path == "/v1/process/audio/url"
                && r.at_ms <= submission.at_ms
                && r.at_ms as f64 >= t0
        })
        .map(|r| r.at_ms as f64)
        .reduce(f64::max);
    let job_path = format!("/v1/job/{}", submission.job_id);
    let confirm = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path == job_path && r.at_ms as f64 >= completed_at - 1.0)
        .map(|r| r.at_ms as f64)
        .reduce(f64::min);
    let conv = format!("/v1/conversations/{}/", submission.conversation_id);
    let insights = first(&|r| r.method == "GET" && r.path.starts_with(&conv));
    let page = first(&|r| r.method == "POST" && r.path.starts_with(&conv) && r.path.ends_with("/experiences"));

    let (received, started_p, produced, queued, submitted, transcribed, emailed) = (
        at(&item, "received_at"),
        at(&item, "production_started_at"),
        at(&item, "produced_at"),
        at(&item, "queued_at"),
        at(&item, "submitted_at"),
        at(&item, "transcribed_at"),
        at(&item, "emailed_at"),
    );
    let d = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
    let sub_at = Some(submission.at_ms as f64);
    let mut stages = BTreeMap::new();
    let mut put = |k: &'static str, v: Option<f64>| {
        if let Some(v) = v {
            stages.insert(k, v);
        }
    };
    put("webhook_to_claimed", d(Some(t0), received));
    put("zoom_webhook_answer", Some(answer_ms));
    put("claimed_to_production_start", d(received, started_p));
    put("production", d(started_p, produced));
    put("produced_to_queued", d(produced, queued));
    put("queued_to_submitted", d(queued.or(produced), submitted));
    put("queued_to_symbl_submit", d(queued.or(produced), submit_req));
    put("symbl_fetch_probe", d(submit_req, sub_at));
    put("symbl_reply_to_submitted", d(sub_at, submitted));
    put("submitted_to_transcribed", d(submitted, transcribed));
    put("symbl_processing", d(submitted, Some(completed_at)));
    put("completed_to_confirm", d(Some(completed_at), confirm));
    put("confirm_to_transcribed", d(confirm, transcribed));
    put("transcribed_to_emailed", d(transcribed, emailed));
    put("transcribed_to_insights", d(transcribed, insights));
    put("insights_to_page", d(insights, page));
    put("page_to_smtp", d(page, Some(smtp_ms)));
    put("smtp_to_emailed_at", d(Some(smtp_ms), emailed));
    put("total", Some(smtp_ms - t0));
    put(
        "total_without_symbl",
        d(submitted, Some(completed_at)).map(|s| smtp_ms - t0 - s),
    );

    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let num = |k: &str| item.get(k).and_then(|v| v.as_n().ok()).cloned();
    let facts = json!({
        "uuid": meeting.spec.uuid,
        "meeting_key": key,
        "job_id": submission.job_id,
        "attempt": num("attempt"),
        "mode": text("mode"),
        "duration_secs": num("duration_secs"),
        "status": text("status"),
        "email_status": text("email_status"),
        "queued_at_recorded": queued.is_some(),
    });
    Ok(Run {
        uuid: meeting.spec.uuid.clone(),
        stages,
        facts,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse()?;
    let stack = Stack::load();
    http()
        .get(format!("{}/_ministack/health", stack.endpoint))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .context("the local stack is not answering; deploy it first (make deploy)")?;
    ensure!(
        !stack.mail_dir.join(".refuse").exists(),
        "the SMTP sink is set to refuse mail ({}/.refuse)",
        stack.mail_dir.display()
    );

    // Our own Symbl sandbox on the port the deployed consumer and notifier call.
    let mut config = SymblConfig::local();
    config.bind = std::net::SocketAddr::from(([127, 0, 0, 1], stack.symbl_sandbox_port));
    config.auto_complete = args.symbl_ms.is_some();
    config.job_duration_ms = args.symbl_ms.unwrap_or(0);
    let symbl = SymblSandbox::start(config).await.with_context(|| {
        format!(
            "starting the Symbl sandbox on port {} (is a test using it?)",
            stack.symbl_sandbox_port
        )
    })?;
    sandbox();

    let ddb = stack.dynamodb().await;
    let probe = Probe {
        ddb,
        meetings_table: stack.output("MeetingsTableName").to_owned(),
        jobs_table: stack.output("JobsTableName").to_owned(),
    };

    let secs = args.minutes * 60.0;
    eprintln!("generating a {} x {} min meeting ...", args.participants, args.minutes);
    let dir = std::env::temp_dir().join(format!("zs-pipeline-timing-{}", uuid::Uuid::new_v4().simple()));
    let base = MeetingSpec::staggered(args.participants, secs)
        .generate(&dir)
        .await
        .context("generating the meeting audio")?;

    let symbl_mode = match args.symbl_ms {
        None => "completed at once, as soon as the consumer has recorded the job".to_owned(),
        Some(ms) => format!("auto-completes {ms} ms after submission"),
    };
    let mut runs = Vec::new();
    for i in 0..args.meetings {
        let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        let m = fresh_copy(&base, args.participants, format!("Pipeline timing {tag} #{}", i + 1));
        eprintln!("meeting {}/{} ({}) ...", i + 1, args.meetings, m.spec.uuid);
        let run = one_meeting(&stack, &probe, &symbl, &args, &m, &tag).await;
        let run = match run {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e.context(format!("meeting {}", m.spec.uuid)));
            }
        };
        eprintln!("  total {:.0} ms", run.stages["total"]);
        runs.push(run);
        // Let the notifier's last writes settle before the next meeting.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let build = deployed_build("ProducerFunction");

    let mut medians = BTreeMap::new();
    for (k, _, _) in STAGES {
        let v: Vec<f64> = runs.iter().filter_map(|r| r.stages.get(k).copied()).collect();
        if !v.is_empty() {
            medians.insert(*k, median(v));
        }
    }
    let total = medians.get("total").copied().unwrap_or(f64::NAN);

    println!();
    println!(
        "Zoom webhook -> email on the local stack (ministack), {} meeting(s) of {} x {} min, one at a time; deployed functions: {build} build",
        args.meetings, args.participants, args.minutes
    );
    println!("Symbl sandbox: {symbl_mode}");
    println!();
    print!("{:<84} {:>9} {:>6}", "stage (median over the meetings)", "ms", "share");
    for i in 0..runs.len() {
        print!(" {:>8}", format!("#{}", i + 1));
    }
    println!();
    for (k, label, sub) in STAGES {
        let Some(m) = medians.get(k) else { continue };
        let label = if *sub {
            format!("  {label}")
        } else {
            (*label).to_owned()
        };
        print!("{label:<84} {m:>9.0} {:>5.1}%", 100.0 * m / total);
        for r in &runs {
            match r.stages.get(k) {
                Some(v) => print!(" {v:>8.0}"),
                None => print!(" {:>8}", "-"),
            }
        }
        println!();
    }
    if runs.iter().any(|r| !r.stages.contains_key("produced_to_queued")) {
        println!("(-: queued_at missing, the consumer moved the meeting on first; queued -> submitted then starts at produced_at)");
    }

    let out = json!({
        "generated_at": OffsetDateTime::now_utc().format(&Rfc3339)?,
        "build": build,
        "stack": "ministack (local)",
        "meetings": args.meetings,
        "participants": args.participants,
        "minutes": args.minutes,
        "symbl": symbl_mode,
        "stages": STAGES.iter().map(|(k, label, sub)| json!({"key": k, "label": label, "part_of_previous": sub})).collect::<Vec<_>>(),
        "median_ms": medians,
        "runs": runs.iter().map(|r| json!({"uuid": r.uuid, "stages_ms": r.stages, "record": r.facts})).collect::<Vec<_>>(),
    });
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&out)? + "\n")?;
    println!("wrote {}", args.out.display());
    Ok(())
}
