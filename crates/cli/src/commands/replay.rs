//! `zoom-symbl replay <meeting>`: the meeting's next run, made from the originals an earlier
//! run archived (no Zoom download), after a fix or with another provider.

use std::time::Duration;

use serde_json::json;
use zoom_symbl_core::aws::lambda::LambdaProducer;
use zoom_symbl_core::aws::meetings::{DynamoMeetings, ReplayStart};
use zoom_symbl_core::lifecycle::MeetingState;
use zoom_symbl_core::meeting::ORIGINAL_EVENT;
use zoom_symbl_core::meeting_key::run_prefix;
use zoom_symbl_core::ports::{MeetingClaim, MeetingClaims, ProducerInvoker, ProducerJob, Replay};
use zoom_symbl_core::timefmt::{now_rfc3339, unix_now};
use zoom_symbl_core::zoom::RecordingCompleted;

use crate::args::MeetingArg;
use crate::error::{CliError, Result};
use crate::meeting_ref::MeetingRef;
use crate::output::{fields, print_json};
use crate::records::{self, MeetingRecord};
use crate::stack::Stack;

/// As long as a delivery's claim: the reconciler starts the producer if this command dies
/// between the claim and the start.
const CLAIM_LEASE_SECS: i64 = 30;

pub async fn run(stack: &Stack, args: &MeetingArg, as_json: bool) -> Result<()> {
    let meeting = MeetingRef::parse(&args.meeting)?;
    let key = meeting.resolve(stack).await?;
    let record = MeetingRecord::load(stack, &key)
        .await?
        .ok_or_else(|| CliError::NoSuchMeeting(meeting.to_string()))?;
    let state = record.state();
    if !state.is_some_and(|s| matches!(s, MeetingState::Transcribed | MeetingState::Failed)) {
        return Err(CliError::Refused(format!(
            "meeting {meeting} is {} (run {}): a run is in flight; replay it once it is transcribed or failed",
            state.map_or("in an unknown state", |s| s.as_str()),
            record.run()
        )));
    }
    // Its email is part of the run: a replay now would leave it to go out after the new run's.
    if !email_settled(stack, &record).await? {
        return Err(CliError::Refused(format!(
            "meeting {meeting}'s email of run {} is not settled yet (the reconciler sends an owed email within \
             minutes); replay it after",
            record.run()
        )));
    }
    // Where the earlier run's originals are: as its record says, or (a run that failed before
    // its audio was saved) where that run archives them.
    let originals_prefix = record
        .audio()
        .map(|a| a.originals_prefix)
        .unwrap_or_else(|| format!("{}originals/", run_prefix(key.as_str(), record.run())));
    let input = stack.output("InputBucketName")?;
    let (event, originals) = archived(stack, input, &originals_prefix).await.map_err(|e| match e {
        CliError::NoSuchMeeting(_) => CliError::Refused(format!(
            "meeting {meeting} has no archived originals to replay (s3://{input}/{originals_prefix} holds no {ORIGINAL_EVENT}): \
             it failed before its recording was archived{}",
            record.text("failure_reason").map(|r| format!(" ({r})")).unwrap_or_default()
        )),
        other => other,
    })?;
    let now = unix_now();
    let claim = MeetingClaim {
        claim_id: format!("replay-{}", uuid::Uuid::new_v4().simple()),
        received_at: now_rfc3339(),
        replay: Some(Replay {
            originals_prefix: originals_prefix.clone(),
        }),
        ..MeetingClaim::of_delivery(&event, None, now, CLAIM_LEASE_SECS as u64)
    };
    let retention = stack
        .parameter("RetentionDays")
        .and_then(|d| d.parse::<u64>().ok())
        .map(|d| Duration::from_secs(d * 86_400));
    let mut meetings = DynamoMeetings::new(stack.dynamodb(), stack.output("MeetingsTableName")?);
    if let Some(retention) = retention {
        meetings = meetings.expiring_after(retention);
    }
    let run = match meetings.replay(&claim).await? {
        ReplayStart::Started { run } => run,
        ReplayStart::InFlight(state) => {
            return Err(CliError::Refused(format!(
                "meeting {meeting} is {state} now: a run is in flight; replay it once it is transcribed or failed"
            )))
        }
        ReplayStart::NoSuchMeeting => return Err(CliError::NoSuchMeeting(meeting.to_string())),
    };
    let job = ProducerJob {
        meeting_key: key.to_string(),
        claim_id: claim.claim_id.clone(),
        received_at: claim.received_at.clone(),
        tracking_id: None,
        event,
        run,
        replay: claim.replay.clone(),
    };
    LambdaProducer::new(stack.lambda(), stack.output("ProducerFunctionName")?)
        .invoke(&job)
        .await?;
    meetings.mark_dispatched(&claim).await?;
    let source = format!("s3://{input}/{originals_prefix}");
    let topic = &claim.topic;
    if as_json {
        print_json(&json!({
            "meeting_key": key.to_string(),
            "uuid": claim.uuid,
            "topic": topic,
            "run": run,
            "originals": originals,
            "from": source,
            "state": "dispatched",
        }));
    } else {
        println!(
            "{}",
            fields(&[
                ("Replaying", format!("{topic} ({})", claim.uuid)),
                (
                    "Run",
                    format!("{run} (was {state})", state = state.map_or("", |s| s.as_str()))
                ),
                ("From", format!("{source} ({originals} originals)")),
                (
                    "Started",
                    "the producer; the host gets this run's email when it is done".into()
                ),
            ])
        );
    }
    Ok(())
}

/// The run's email was sent or failed for good (on the meeting before any job, else on its job).
async fn email_settled(stack: &Stack, record: &MeetingRecord) -> Result<bool> {
    let settled = |state: Option<String>| state.is_some_and(|s| s == "sent" || s == "failed");
    if let Some(status) = record.text("email_status") {
        return Ok(settled(Some(status)));
    }
    let Some(job_id) = record.text("job_id") else {
        return Ok(false);
    };
    Ok(settled(
        records::job(stack, &job_id)
            .await?
            .and_then(|j| records::text(&j, "email_state")),
    ))
}

/// The earlier run's delivery and how many originals lie beside it.
async fn archived(stack: &Stack, bucket: &str, prefix: &str) -> Result<(RecordingCompleted, usize)> {
    let s3 = stack.s3();
    let key = format!("{prefix}{ORIGINAL_EVENT}");
    let body = match s3.get_object().bucket(bucket).key(&key).send().await {
        Ok(out) => out
            .body
            .collect()
            .await
            .map_err(|e| CliError::remote("S3 GetObject", e))?
            .into_bytes(),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
            return Err(CliError::NoSuchMeeting(key));
        }
        Err(e) => return Err(CliError::aws("S3 GetObject", e)),
    };
    let event: RecordingCompleted = serde_json::from_slice(&body).map_err(|e| {
        CliError::remote(
            "the archived delivery",
            format!("s3://{bucket}/{key} does not parse: {e}"),
        )
    })?;
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .map_err(|e| CliError::aws("S3 ListObjectsV2", e))?;
    let originals = listed
        .contents()
        .iter()
        .filter(|o| o.key().is_some_and(|k| k.ends_with(".m4a")))
        .count();
    Ok((event, originals))
}
