//! `zoom-symbl status <meeting>`: everything an operator asks about one meeting.

use serde_json::{json, Value};
use zoom_symbl_core::config::secret_keys;
use zoom_symbl_core::lifecycle::MeetingState;
use zoom_symbl_core::meeting::AudioMode;
use zoom_symbl_core::page_link::PageLinks;
use zoom_symbl_core::timefmt::unix_now;
use zoom_symbl_core::transcript::jobs::{name_in, JobSubject};

use crate::args::StatusArgs;
use crate::error::{CliError, Result};
use crate::meeting_ref::MeetingRef;
use crate::output::{fields, print_json, relative, table, when, when_text};
use crate::records::{self, MeetingRecord};
use crate::stack::Stack;

/// The record's timestamps, in the order a run passes them.
const TIMELINE: &[(&str, &str)] = &[
    ("received", "received_at"),
    ("restarted", "restarted_at"),
    ("dispatched", "dispatched_at"),
    ("producing", "production_started_at"),
    ("produced", "produced_at"),
    ("queued", "queued_at"),
    ("submitted", "submitted_at"),
    ("transcribed", "transcribed_at"),
    ("failed", "failed_at"),
    ("healed", "healed_at"),
    ("emailed", "emailed_at"),
];

pub async fn run(stack: &Stack, args: &StatusArgs, as_json: bool) -> Result<()> {
    let meeting = MeetingRef::parse(&args.meeting.meeting)?;
    let key = meeting.resolve(stack).await?;
    let record = MeetingRecord::load(stack, &key)
        .await?
        .ok_or_else(|| CliError::NoSuchMeeting(meeting.to_string()))?;
    let view = view(stack, &record).await?;
    if as_json {
        print_json(&view);
    } else {
        println!("{}", render(&view));
    }
    Ok(())
}

/// The meeting as JSON: what `--json` prints and what the table shows.
async fn view(stack: &Stack, r: &MeetingRecord) -> Result<Value> {
    let now = unix_now();
    let state = r.state();
    let timeline: Vec<Value> = TIMELINE
        .iter()
        .filter_map(|(what, attr)| Some(json!({"step": what, "at": r.text(attr)?})))
        .collect();
    let deadline = r
        .number("due_at")
        .map(|due| json!({"due_at": due, "when": when(due), "relative": relative(due, now), "overdue": due < now}));
    let jobs = jobs(stack, r).await?;
    let email = email(stack, r).await?;
    let files = files(stack, r)?;
    let page = page_link(stack, r, now).await?;
    Ok(json!({
        "meeting_key": r.key.to_string(),
        "uuid": r.text("uuid"),
        "meeting_id": r.text("meeting_id"),
        "topic": r.text("topic"),
        "host_email": r.text("host_email"),
        "start_time": r.text("start_time"),
        "provider": stack.provider(),
        "state": state.map(|s| s.as_str()),
        "run": r.run(),
        "heals": r.number("heals").unwrap_or(0),
        "timeline": timeline,
        "deadline": deadline,
        "failure_reason": r.text("failure_reason"),
        "jobs": jobs,
        "email": email,
        "files": files,
        "page_link": page,
    }))
}

/// The provider's jobs: the run's job record and, for `aws`, each Transcribe job as
/// Transcribe reports it.
async fn jobs(stack: &Stack, r: &MeetingRecord) -> Result<Vec<Value>> {
    let Some(job_id) = r.text("job_id") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let record = records::job(stack, &job_id).await?;
    out.push(json!({
        "job": job_id,
        "kind": if stack.provider() == "aws" { "run" } else { "symbl" },
        "status": record.as_ref().and_then(|j| records::text(j, "status")),
        // Symbl's conversation; the aws run job's is only its participants' labels.
        "detail": record
            .as_ref()
            .and_then(|j| records::text(j, "conversation_id"))
            .filter(|_| stack.provider() != "aws"),
    }));
    if stack.provider() != "aws" {
        return Ok(out);
    }
    let Some(audio) = r.audio() else { return Ok(out) };
    let subjects: Vec<(JobSubject, String)> = match audio.mode {
        AudioMode::MixedDiarization => vec![(JobSubject::Mixed, "everyone (mixed track)".into())],
        _ => audio
            .speech
            .iter()
            .filter(|t| t.flac_key.is_some())
            .map(|t| (JobSubject::Participant(t.index), t.name.clone()))
            .collect(),
    };
    let transcribe = stack.transcribe();
    for (subject, who) in subjects {
        let name = name_in(&job_id, subject);
        let (status, reason) = match transcribe
            .get_transcription_job()
            .transcription_job_name(&name)
            .send()
            .await
        {
            Ok(out) => {
                let job = out.transcription_job();
                (
                    job.and_then(|j| j.transcription_job_status())
                        .map(|s| s.as_str().to_lowercase()),
                    job.and_then(|j| j.failure_reason()).map(str::to_owned),
                )
            }
            // Transcribe forgets jobs after 90 days; the record still says how it ended.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found_exception()) => (Some("gone".into()), None),
            Err(e) => return Err(CliError::aws("Transcribe GetTranscriptionJob", e)),
        };
        out.push(json!({"job": name, "kind": "transcribe", "participant": who, "status": status, "detail": reason}));
    }
    Ok(out)
}

/// Where the host's email stands: on the job record for an insights email, on the meeting
/// record for a failure before any job.
async fn email(stack: &Stack, r: &MeetingRecord) -> Result<Value> {
    if let Some(status) = r.text("email_status") {
        return Ok(json!({"status": status, "detail": r.text("email_detail"), "at": r.text("emailed_at")}));
    }
    if let Some(job_id) = r.text("job_id") {
        if let Some(job) = records::job(stack, &job_id).await? {
            if let Some(state) = records::text(&job, "email_state") {
                return Ok(json!({
                    "status": state,
                    "detail": records::text(&job, "email_message_id").or_else(|| records::text(&job, "email_failure")),
                    "at": records::text(&job, "email_settled_at"),
                }));
            }
        }
    }
    let owed = matches!(r.state(), Some(MeetingState::Transcribed | MeetingState::Failed));
    Ok(json!({"status": if owed { "owed" } else { "not yet" }}))
}

fn files(stack: &Stack, r: &MeetingRecord) -> Result<Value> {
    let mut files = serde_json::Map::new();
    if let Some(audio) = r.audio() {
        let input = stack.output("InputBucketName")?;
        files.insert(
            "originals".into(),
            json!(format!("s3://{input}/{}", audio.originals_prefix)),
        );
        files.insert(
            "audio".into(),
            json!(format!("s3://{}/{}", audio.merged_bucket, audio.mixdown_key)),
        );
        if audio.merged_key != audio.mixdown_key {
            files.insert(
                "merged".into(),
                json!(format!("s3://{}/{}", audio.merged_bucket, audio.merged_key)),
            );
        }
        if let Some(docs) = r.item.get("insights").and_then(|v| v.as_m().ok()) {
            for (name, key) in docs {
                if let (true, Ok(key)) = (["insights", "transcript"].contains(&name.as_str()), key.as_s()) {
                    files.insert(name.clone(), json!(format!("s3://{}/{key}", audio.merged_bucket)));
                }
            }
        }
    }
    Ok(Value::Object(files))
}

/// A link to the meeting page signed now, once there is a page to see.
async fn page_link(stack: &Stack, r: &MeetingRecord, now: i64) -> Result<Option<String>> {
    if r.state() != Some(MeetingState::Transcribed) || !r.item.contains_key("insights") {
        return Ok(None);
    }
    let (Ok(base), Ok(_)) = (stack.output("MeetingPageBaseUrl"), stack.output("PageLinkSecretArn")) else {
        return Ok(None);
    };
    let secrets = stack.secrets(&["PageLinkSecretArn"]).await?;
    let Some(key) = secrets.optional(secret_keys::PAGE_LINK_KEY) else {
        return Ok(None);
    };
    let days = stack
        .parameter("SummaryPageDays")
        .and_then(|d| d.parse().ok())
        .unwrap_or(30);
    Ok(Some(PageLinks::new(&key).url(base, r.key.as_str(), now, days)?))
}

fn render(v: &Value) -> String {
    let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
    let mut rows = vec![
        ("Meeting", format!("{} ({})", s("topic"), s("meeting_id"))),
        ("UUID", s("uuid")),
        ("Host", s("host_email")),
        ("Provider", s("provider")),
        ("State", format!("{} (run {})", s("state"), v["run"])),
    ];
    rows.push((
        "Deadline",
        match &v["deadline"] {
            Value::Null => "none: nothing is owed on it".into(),
            d => format!(
                "{} ({})",
                d["when"].as_str().unwrap_or(""),
                d["relative"].as_str().unwrap_or("")
            ),
        },
    ));
    if let Some(reason) = v["failure_reason"].as_str() {
        rows.push(("Failure", reason.to_owned()));
    }
    let email = &v["email"];
    rows.push((
        "Email",
        [
            email["status"].as_str(),
            email["at"].as_str().map(when_text).as_deref(),
            email["detail"].as_str(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", "),
    ));
    let files = [
        ("originals", "Originals"),
        ("audio", "Audio"),
        ("merged", "Merged"),
        ("transcript", "Transcript"),
        ("insights", "Insights"),
    ];
    for (name, label) in files {
        if let Some(path) = v["files"][name].as_str() {
            rows.push((label, path.to_owned()));
        }
    }
    if let Some(link) = v["page_link"].as_str() {
        rows.push(("Page", link.to_owned()));
    }
    let mut out = fields(&rows);
    let steps: Vec<Vec<String>> = v["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            vec![
                t["step"].as_str().unwrap_or("").to_owned(),
                when_text(t["at"].as_str().unwrap_or("")),
            ]
        })
        .collect();
    if !steps.is_empty() {
        out.push_str("\n\n");
        out.push_str(&table(&["step", "at"], steps));
    }
    let jobs: Vec<Vec<String>> = v["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|j| {
            let t = |k: &str| j[k].as_str().unwrap_or("").to_owned();
            vec![t("kind"), t("job"), t("participant"), t("status"), t("detail")]
        })
        .collect();
    if !jobs.is_empty() {
        out.push_str("\n\n");
        out.push_str(&table(&["job", "id", "participant", "status", "detail"], jobs));
    }
    out
}
