//! `zoom-symbl backfill --from --to [--user]`: recordings made before the stack was deployed
//! (or while it was down), fed to the pipeline exactly as their webhooks would have been:
//! a signed `recording.completed` with a fresh download token, to the stack's own webhook.
//! Idempotent by UUID: what the stack already has is skipped and counted.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use time::Date;
use zoom_symbl_core::config::secret_keys;
use zoom_symbl_core::meeting_key::MeetingKey;
use zoom_symbl_core::timefmt::unix_now;
use zoom_symbl_core::zoom::WebhookVerifier;

use crate::args::BackfillArgs;
use crate::error::{CliError, Result};
use crate::output::{fields, print_json, table};
use crate::stack::Stack;
use crate::zoom::{S2s, User, ZoomClient};

/// Zoom lists at most a month per request; 28 days is within a month whatever the month.
const WINDOW_DAYS: i64 = 28;
/// Deliveries the webhook refused for a moment (5xx, timeouts) are tried this many times.
const DELIVERY_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Started,
    WouldStart,
    Skipped(String),
    Failed(String),
}

pub async fn run(stack: &Stack, args: &BackfillArgs, as_json: bool) -> Result<()> {
    let (from, to) = (parse_date("--from", &args.from)?, parse_date("--to", &args.to)?);
    if from > to {
        return Err(CliError::Usage(format!("--from {from} is after --to {to}")));
    }
    let secrets = stack.secrets(&["ZoomApiSecretArn", "ZoomWebhookSecretArn"]).await?;
    let creds = match (
        secrets.optional(secret_keys::ZOOM_S2S_ACCOUNT_ID),
        secrets.optional(secret_keys::ZOOM_S2S_CLIENT_ID),
        secrets.optional(secret_keys::ZOOM_S2S_CLIENT_SECRET),
    ) {
        (Some(account), Some(client), Some(secret))
            if !account.is_empty() && !client.is_empty() && !secret.is_empty() =>
        {
            S2s {
                account_id: account.expose().to_owned(),
                client_id: client.expose().to_owned(),
                client_secret: secret,
            }
        }
        _ => {
            return Err(CliError::Refused(format!(
                "no Zoom Server-to-Server OAuth credentials are configured in stack {}: deploy it with \
                 ZoomS2SAccountId, ZoomS2SClientId and ZoomS2SClientSecret (README, \"Zoom app\")",
                stack.name
            )))
        }
    };
    let webhook = WebhookVerifier::new(secrets.require(secret_keys::ZOOM_WEBHOOK_SECRET)?, 300)?;
    let webhook_url = stack.output("ZoomWebhookUrl")?.to_owned();
    let zoom = ZoomClient::sign_in(
        stack.parameter("ZoomOAuthUrl").unwrap_or("https://zoom.us/oauth/token"),
        stack.parameter("ZoomApiBase").unwrap_or("https://api.zoom.us"),
        &creds,
    )
    .await?;

    let listing = spinner("listing the account's recordings");
    let users = match &args.user {
        Some(email) => vec![User {
            id: email.clone(),
            email: email.clone(),
        }],
        None => zoom.users().await?,
    };
    let mut found: Vec<(User, Value)> = Vec::new();
    for user in &users {
        for (a, b) in windows(from, to) {
            listing.set_message(format!("{}: {a} to {b}", user.email));
            for meeting in zoom.recordings(&user.id, &a.to_string(), &b.to_string()).await? {
                let uuid = meeting["uuid"].as_str().unwrap_or_default();
                if !uuid.is_empty() && !found.iter().any(|(_, m)| m["uuid"] == uuid) {
                    found.push((user.clone(), meeting));
                }
            }
        }
    }
    listing.finish_and_clear();

    let bar = bar(found.len() as u64);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| CliError::remote("HTTP client", e))?;
    let mut results = Vec::with_capacity(found.len());
    for (user, meeting) in &found {
        bar.set_message(meeting["topic"].as_str().unwrap_or_default().to_owned());
        let outcome = match feed(stack, &zoom, &http, &webhook, &webhook_url, user, meeting, args.dry_run).await {
            Ok(o) => o,
            Err(e) => Outcome::Failed(e.to_string()),
        };
        results.push((user, meeting, outcome));
        bar.inc(1);
    }
    bar.finish_and_clear();

    let count = |want: fn(&Outcome) -> bool| results.iter().filter(|(_, _, o)| want(o)).count();
    let started = count(|o| matches!(o, Outcome::Started | Outcome::WouldStart));
    let skipped = count(|o| matches!(o, Outcome::Skipped(_)));
    let failed = count(|o| matches!(o, Outcome::Failed(_)));
    let throttled = zoom.throttled.load(std::sync::atomic::Ordering::Relaxed);
    let rows: Vec<Value> = results
        .iter()
        .map(|(user, m, o)| {
            let (outcome, reason) = match o {
                Outcome::Started => ("started", None),
                Outcome::WouldStart => ("would start", None),
                Outcome::Skipped(r) => ("skipped", Some(r.as_str())),
                Outcome::Failed(r) => ("failed", Some(r.as_str())),
            };
            json!({
                "uuid": m["uuid"], "topic": m["topic"], "start_time": m["start_time"],
                "host_email": user.email, "outcome": outcome, "reason": reason,
            })
        })
        .collect();
    if as_json {
        print_json(&json!({
            "found": found.len(), "started": started, "skipped": skipped, "failed": failed,
            "dry_run": args.dry_run, "throttled": throttled, "meetings": rows,
        }));
    } else {
        if !rows.is_empty() {
            let cells = rows
                .iter()
                .map(|r| {
                    let t = |k: &str| r[k].as_str().unwrap_or("").to_owned();
                    vec![t("start_time"), t("host_email"), t("topic"), t("outcome"), t("reason")]
                })
                .collect();
            println!("{}\n", table(&["started", "host", "topic", "outcome", "why"], cells));
        }
        let verb = if args.dry_run { "Would start" } else { "Started" };
        println!(
            "{}",
            fields(&[
                (
                    "Found",
                    format!("{} meetings ({} users, {from} to {to})", found.len(), users.len())
                ),
                (verb, started.to_string()),
                ("Skipped", skipped.to_string()),
                ("Failed", failed.to_string()),
                ("Throttled", format!("{throttled} (Zoom's 429, waited out)")),
            ])
        );
    }
    if failed > 0 {
        return Err(CliError::Partial(format!(
            "{failed} of {} meetings could not be started",
            found.len()
        )));
    }
    Ok(())
}

/// One meeting: skipped if it has no audio or the stack has it, else delivered to the webhook.
#[allow(clippy::too_many_arguments)]
async fn feed(
    stack: &Stack,
    zoom: &ZoomClient,
    http: &reqwest::Client,
    webhook: &WebhookVerifier,
    webhook_url: &str,
    user: &User,
    listed: &Value,
    dry_run: bool,
) -> Result<Outcome> {
    if !has_audio(listed) {
        return Ok(Outcome::Skipped("no audio recording".into()));
    }
    let uuid = listed["uuid"].as_str().unwrap_or_default();
    if known(stack, &MeetingKey::from_uuid(uuid)).await? {
        return Ok(Outcome::Skipped("already processed".into()));
    }
    if dry_run {
        return Ok(Outcome::WouldStart);
    }
    let mut object = zoom.recording_with_token(uuid).await?;
    let token = object
        .as_object_mut()
        .and_then(|o| o.remove("download_access_token"))
        .and_then(|t| t.as_str().map(str::to_owned))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            CliError::remote(
                "Zoom",
                "no download_access_token for the recording (does the app have the recording:read scope?)",
            )
        })?;
    // The per-meeting API leaves out the host's email; the listing's user is the host.
    object["host_email"] = json!(user.email);
    for field in ["share_url", "timezone"] {
        if object.get(field).is_none() {
            if let Some(v) = listed.get(field) {
                object[field] = v.clone();
            }
        }
    }
    let event = json!({
        "event": "recording.completed",
        "event_ts": unix_now() * 1000,
        "payload": {"account_id": object["account_id"].clone(), "object": object},
        "download_token": token,
    });
    deliver(http, webhook, webhook_url, &event).await
}

/// Posts the event as Zoom signs it; 5xx and timeouts are delivered again, as Zoom would.
async fn deliver(http: &reqwest::Client, webhook: &WebhookVerifier, url: &str, event: &Value) -> Result<Outcome> {
    let body = serde_json::to_vec(event).map_err(|e| CliError::remote("the event", e))?;
    let mut last = String::new();
    for attempt in 1..=DELIVERY_ATTEMPTS {
        let ts = unix_now().to_string();
        let resp = http
            .post(url)
            .header("content-type", "application/json")
            .header("x-zm-request-timestamp", &ts)
            .header("x-zm-signature", webhook.sign(&ts, &body))
            .body(body.clone())
            .send()
            .await;
        match resp {
            Ok(r) if r.status().is_success() => {
                let reply: Value = r.json().await.unwrap_or(Value::Null);
                return Ok(match reply["status"].as_str() {
                    Some("duplicate") => Outcome::Skipped("already processed".into()),
                    _ => Outcome::Started,
                });
            }
            Ok(r) if r.status().is_client_error() => {
                let status = r.status();
                let reply: Value = r.json().await.unwrap_or(Value::Null);
                return Ok(Outcome::Failed(format!(
                    "the webhook refused it (HTTP {status}: {})",
                    reply["message"].as_str().or(reply["error"].as_str()).unwrap_or("")
                )));
            }
            Ok(r) => last = format!("HTTP {}", r.status()),
            Err(e) => {
                last = if e.is_timeout() {
                    "timed out".into()
                } else {
                    "unreachable".into()
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
    }
    Ok(Outcome::Failed(format!(
        "the webhook did not take it after {DELIVERY_ATTEMPTS} tries ({last})"
    )))
}

/// A meeting the stack already has a record of.
async fn known(stack: &Stack, key: &MeetingKey) -> Result<bool> {
    let out = stack
        .dynamodb()
        .get_item()
        .table_name(stack.output("MeetingsTableName")?)
        .key("meeting_key", AttributeValue::S(key.to_string()))
        .projection_expression("meeting_key")
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| CliError::aws("DynamoDB GetItem", e))?;
    Ok(out.item.is_some())
}

/// Per-participant audio, or a mixed audio-only (M4A) file.
fn has_audio(meeting: &Value) -> bool {
    let participants = meeting["participant_audio_files"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    let mixed = meeting["recording_files"].as_array().is_some_and(|files| {
        files.iter().any(|f| {
            f["file_type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("m4a"))
                || f["recording_type"].as_str() == Some("audio_only")
        })
    });
    participants || mixed
}

fn parse_date(flag: &str, raw: &str) -> Result<Date> {
    Date::parse(raw.trim(), time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| CliError::Usage(format!("{flag} {raw:?}: use a date such as 2026-11-01")))
}

/// `[from, to]` in windows Zoom accepts (at most a month each), oldest first.
fn windows(from: Date, to: Date) -> Vec<(Date, Date)> {
    let mut out = Vec::new();
    let mut start = from;
    while start <= to {
        let end = (start + time::Duration::days(WINDOW_DAYS - 1)).min(to);
        out.push((start, end));
        match end.next_day() {
            Some(next) => start = next,
            None => break,
        }
    }
    out
}

fn spinner(message: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}") {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn windows_cover_the_range_within_a_month_each() {
        let w = windows(date!(2026 - 01 - 15), date!(2026 - 03 - 20));
        assert_eq!(w.first().unwrap().0, date!(2026 - 01 - 15));
        assert_eq!(w.last().unwrap().1, date!(2026 - 03 - 20));
        for pair in w.windows(2) {
            assert_eq!(pair[0].1.next_day(), Some(pair[1].0), "no gap, no overlap");
        }
        assert!(w.iter().all(|(a, b)| (*b - *a).whole_days() < 28));
        assert_eq!(windows(date!(2026 - 02 - 01), date!(2026 - 02 - 01)).len(), 1);
    }

    #[test]
    fn what_has_audio() {
        assert!(has_audio(&json!({"participant_audio_files": [{"id": "a"}]})));
        assert!(has_audio(&json!({"recording_files": [{"file_type": "M4A"}]})));
        assert!(!has_audio(
            &json!({"recording_files": [{"file_type": "MP4"}], "participant_audio_files": []})
        ));
    }
}
