//! The operators' command line (`zoom-symbl`, crates/cli) against the aws provider's local
//! stack, run as a separate process the way an operator runs it: `status` and `list` on a
//! finished, a failed and a stuck meeting; the failed one replayed to one email; `resend`;
//! a `backfill` of five past meetings of two users, one of which the stack already had.
//!
//! A failed meeting is made by the LLM sandbox answering invalidly twice, a knob shared by
//! everything that reaches the model, so the phases that reach it take turns (`TURN`).

use std::time::Duration;

use e2e::{attr_s, eventually, llm, record, sandbox, start, unix_now, zoom_symbl, Mail, Stack};
use llm_sandbox::Faults;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::Mutex;
use zoom_sandbox::{GeneratedMeeting, MeetingSpec};
use zoom_symbl_core::aws::meetings::DynamoMeetings;
use zoom_symbl_core::ports::{ClaimOutcome, MeetingClaim, MeetingClaims};
use zoom_symbl_core::zoom::RecordingCompleted;

static TURN: Mutex<()> = Mutex::const_new(());
const WAIT: Duration = Duration::from_secs(240);

fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

async fn meeting(what: &str, host: &str, start: Option<OffsetDateTime>) -> GeneratedMeeting {
    let mut spec = MeetingSpec::staggered(2, 10.0);
    spec.topic = what.to_owned();
    spec.host_email = host.to_owned();
    if let Some(start) = start {
        spec.start = start;
    }
    record(spec).await
}

async fn one_mail(stack: &Stack, needle: &str) -> Mail {
    stack.one_mail(needle, WAIT, Duration::from_secs(3)).await
}

/// Zoom downloads of the meeting's files so far.
fn downloads_of(m: &GeneratedMeeting) -> usize {
    sandbox()
        .requests()
        .iter()
        .filter(|r| r.path.contains("/rec/") && m.tracks.iter().any(|t| r.path.ends_with(&t.file_id)))
        .count()
}

#[tokio::test]
async fn status_list_resend_and_replay_speak_of_a_finished_a_failed_and_a_stuck_meeting() {
    let stack = Stack::load_aws();
    llm();
    let run = tag();

    // Finished: the host's insights email.
    let finished = meeting(&format!("Finished {run}"), "dana@example.com", None).await;
    let failed = meeting(&format!("Failing {run}"), "dana@example.com", None).await;
    {
        let _turn = TURN.lock().await;
        start(&stack, &finished).await;
        one_mail(&stack, &format!("Finished {run}")).await;
        // Failed: the model answers invalidly twice; the host hears why.
        llm().set_faults(Faults {
            invalid_json_times: 2,
            also_retries: true,
            ..Faults::default()
        });
        start(&stack, &failed).await;
        let failure = one_mail(&stack, &format!("Failing {run}")).await;
        llm().set_faults(Faults::default());
        assert!(failure.text.contains("invalid twice"), "{}", failure.text);
    }
    // Stuck: a delivery that died right after its claim, its lease long lapsed. The healers are
    // paused while it is looked at, or their next run (every 2 minutes) may move it first.
    let stuck = meeting(&format!("Stuck {run}"), "dana@example.com", None).await;
    let reconcile = format!("{}-reconcile", stack.stack_name);
    set_rule(&stack, &reconcile, false).await;
    // A run that began just before is over by then.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let event: RecordingCompleted =
        serde_json::from_value(sandbox().recording_completed(&stuck, &sandbox().default_download_token())).unwrap();
    let now = unix_now();
    let dead = MeetingClaim {
        claim_id: "killed-delivery".into(),
        lease_until: now - 1,
        ..MeetingClaim::of_delivery(&event, None, now, 0)
    };
    let claims = DynamoMeetings::new(stack.dynamodb().await, stack.output("MeetingsTableName"));
    assert_eq!(claims.claim(&dead, now).await.unwrap(), ClaimOutcome::Claimed);
    let stuck_status = zoom_symbl(&stack, &["--json", "status", &stuck.spec.uuid]).await;
    let stuck_list = zoom_symbl(&stack, &["--json", "list", "--stuck"]).await;
    let table = zoom_symbl(&stack, &["list", "--since", "1h"]).await;
    let in_flight = zoom_symbl(&stack, &["resend", &stuck.spec.uuid]).await;
    set_rule(&stack, &reconcile, true).await;
    assert_eq!(in_flight.code, 4, "{in_flight:?}");
    assert!(in_flight.stderr.contains("no email yet"), "{}", in_flight.stderr);
    let st = stuck_status.json();
    assert_eq!(st["state"], "received", "{st:#}");
    assert_eq!(st["deadline"]["overdue"], true, "{st:#}");
    let stuck_rows = stuck_list.json();
    let stuck_rows = stuck_rows.as_array().unwrap();
    assert!(listed(stuck_rows, &stuck.spec.uuid).is_some(), "{stuck_rows:?}");
    assert!(listed(stuck_rows, &finished.spec.uuid).is_none());
    println!("$ zoom-symbl list --since 1h\n{}", table.stdout);
    assert!(table.stdout.starts_with("RECEIVED"), "{}", table.stdout);
    assert!(table.stdout.contains(&format!("Stuck {run}")), "{}", table.stdout);

    // status, by UUID, meeting number and share link alike.
    let by_uuid = zoom_symbl(&stack, &["--json", "status", &finished.spec.uuid]).await;
    assert_eq!(by_uuid.code, 0, "{by_uuid:?}");
    let s = by_uuid.json();
    assert_eq!(
        (s["state"].as_str(), s["run"].as_u64()),
        (Some("transcribed"), Some(1)),
        "{s:#}"
    );
    assert_eq!(s["email"]["status"], "sent", "{s:#}");
    assert!(s["deadline"].is_null(), "nothing owed on a finished meeting: {s:#}");
    let steps: Vec<&str> = s["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["step"].as_str())
        .collect();
    for step in [
        "received",
        "dispatched",
        "producing",
        "produced",
        "queued",
        "submitted",
        "transcribed",
    ] {
        assert!(steps.contains(&step), "{step} in {steps:?}");
    }
    let jobs = s["jobs"].as_array().unwrap();
    assert_eq!(
        jobs.iter().filter(|j| j["kind"] == "transcribe").count(),
        2,
        "one per speaker: {jobs:?}"
    );
    assert!(
        jobs.iter()
            .filter(|j| j["kind"] == "transcribe")
            .all(|j| j["status"] == "completed"),
        "{jobs:?}"
    );
    for file in ["originals", "audio", "transcript", "insights"] {
        assert!(
            s["files"][file].as_str().is_some_and(|f| f.starts_with("s3://")),
            "{file}: {s:#}"
        );
    }
    let page = s["page_link"].as_str().expect("a page link");
    let shown = e2e::http().get(page).send().await.unwrap();
    assert_eq!(shown.status(), 200, "the fresh link opens the page");
    assert!(shown.text().await.unwrap().contains(&format!("Finished {run}")));

    let number = finished.spec.meeting_id.to_string();
    let share = event_share_url(&finished);
    for other in [number.as_str(), share.as_str()] {
        let again = zoom_symbl(&stack, &["--json", "status", other]).await;
        assert_eq!(again.code, 0, "{other}: {again:?}");
        assert_eq!(again.json()["uuid"], finished.spec.uuid.as_str(), "{other}");
    }
    let human = zoom_symbl(&stack, &["status", &finished.spec.uuid]).await;
    println!("$ zoom-symbl status {}\n{}", finished.spec.uuid, human.stdout);
    assert_eq!(human.code, 0, "{human:?}");
    for text in [
        "transcribed (run 1)",
        "Page",
        "transcribe",
        "completed",
        &format!("Finished {run}"),
    ] {
        assert!(human.stdout.contains(text), "{text:?} in\n{}", human.stdout);
    }

    let f = zoom_symbl(&stack, &["--json", "status", &failed.spec.uuid])
        .await
        .json();
    assert_eq!(f["state"], "failed", "{f:#}");
    assert!(
        f["failure_reason"]
            .as_str()
            .is_some_and(|r| r.contains("invalid twice")),
        "{f:#}"
    );
    assert_eq!(f["email"]["status"], "sent");
    assert!(f["page_link"].is_null(), "no page without insights");

    // list: newest first, by state, and the stuck ones.
    let all = zoom_symbl(&stack, &["--json", "list", "--since", "1h", "--limit", "500"]).await;
    assert_eq!(all.code, 0, "{all:?}");
    let rows = all.json().as_array().unwrap().clone();
    let (a, b, c) = (
        listed(&rows, &finished.spec.uuid).expect("finished listed"),
        listed(&rows, &failed.spec.uuid).expect("failed listed"),
        listed(&rows, &stuck.spec.uuid).expect("stuck listed"),
    );
    assert!(c < b && b < a, "newest first: stuck {c}, failed {b}, finished {a}");
    let received: Vec<&str> = rows.iter().filter_map(|r| r["received_at"].as_str()).collect();
    assert!(received.windows(2).all(|w| w[0] >= w[1]), "{received:?}");
    let failures = zoom_symbl(&stack, &["--json", "list", "--state", "failed", "--since", "1h"])
        .await
        .json();
    let failures = failures.as_array().unwrap();
    assert!(listed(failures, &failed.spec.uuid).is_some() && listed(failures, &finished.spec.uuid).is_none());
    assert!(failures.iter().all(|r| r["state"] == "failed"));

    // resend: the same email, to another address, each time asked.
    let resent = zoom_symbl(&stack, &["resend", &finished.spec.uuid, "--to", "ops@example.com"]).await;
    println!(
        "$ zoom-symbl resend {} --to ops@example.com\n{}",
        finished.spec.uuid, resent.stdout
    );
    assert_eq!(resent.code, 0, "{resent:?}");
    assert!(resent.stdout.contains("ops@example.com"), "{}", resent.stdout);
    let mails = eventually("the resent email", WAIT, || async {
        let m = stack.mails(&format!("Finished {run}"));
        Ok((m.len() == 2).then_some(m))
    })
    .await
    .unwrap();
    let to_ops: Vec<&Mail> = mails.iter().filter(|m| m.to == "ops@example.com").collect();
    assert_eq!(to_ops.len(), 1);
    let first = mails.iter().find(|m| m.to == "dana@example.com").unwrap();
    assert_eq!(to_ops[0].subject, first.subject);
    // replay: the failed meeting again from its archived originals, to one insights email.
    let fetched = downloads_of(&failed);
    assert!(fetched > 0);
    let replayed = {
        let _turn = TURN.lock().await;
        let replay = zoom_symbl(&stack, &["--json", "replay", &failed.spec.uuid]).await;
        println!("$ zoom-symbl --json replay {}\n{}", failed.spec.uuid, replay.stdout);
        assert_eq!(replay.code, 0, "{replay:?}");
        let r = replay.json();
        assert_eq!(
            (r["run"].as_u64(), r["originals"].as_u64()),
            (Some(2), Some(2)),
            "{r:#}"
        );
        let twice = zoom_symbl(&stack, &["replay", &failed.spec.uuid]).await;
        println!(
            "$ zoom-symbl replay {} (again)\n{}{}",
            failed.spec.uuid, twice.stdout, twice.stderr
        );
        assert_eq!(twice.code, 4, "a run in flight is not replaced: {twice:?}");
        assert!(twice.stderr.contains("in flight"), "{}", twice.stderr);
        eventually("the replayed run's email", WAIT, || async {
            let m = stack.mails(&format!("Failing {run}"));
            Ok((m.len() == 2).then_some(m))
        })
        .await
        .unwrap()
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        stack.mails(&format!("Failing {run}")).len(),
        2,
        "one email for the replay"
    );
    assert!(
        replayed
            .iter()
            .any(|m| m.text.contains("Action items") || m.text.contains("Summary")),
        "insights this time"
    );
    assert_eq!(downloads_of(&failed), fetched, "nothing downloaded from Zoom again");
    let item = stack.meeting(&failed.spec.uuid).await.unwrap();
    assert_eq!(attr_s(&item, "status"), Some("transcribed"));
    let again = zoom_symbl(&stack, &["--json", "status", &failed.spec.uuid])
        .await
        .json();
    assert_eq!(
        (again["state"].as_str(), again["run"].as_u64()),
        (Some("transcribed"), Some(2))
    );

    // Plain words and exit codes for what is not there.
    let nobody = zoom_symbl(&stack, &["status", "no-such-meeting=="]).await;
    assert_eq!(nobody.code, 3, "{nobody:?}");
    assert!(
        nobody.stderr.contains("no meeting no-such-meeting=="),
        "{}",
        nobody.stderr
    );
    let no_stack = zoom_symbl(&stack, &["--stack", "no-such-stack", "list"]).await;
    assert_eq!(no_stack.code, 3, "{no_stack:?}");
    assert!(
        no_stack.stderr.contains("no stack named no-such-stack"),
        "{}",
        no_stack.stderr
    );
    let bad = zoom_symbl(&stack, &["list", "--state", "done"]).await;
    assert_eq!(bad.code, 2, "{bad:?}");
}

async fn set_rule(stack: &Stack, rule: &str, on: bool) {
    let events = aws_sdk_eventbridge::Client::new(&stack.aws().await);
    if on {
        events.enable_rule().name(rule).send().await.unwrap();
    } else {
        events.disable_rule().name(rule).send().await.unwrap();
    }
}

/// Where the meeting is in `list`'s rows.
fn listed(rows: &[Value], uuid: &str) -> Option<usize> {
    rows.iter().position(|r| r["uuid"] == uuid)
}

fn event_share_url(m: &GeneratedMeeting) -> String {
    let event = sandbox().recording_completed(m, "t");
    event["payload"]["object"]["share_url"]
        .as_str()
        .expect("a share link")
        .to_owned()
}

#[tokio::test]
async fn a_backfill_of_five_past_meetings_starts_four_skips_the_one_processed_and_waits_out_throttling() {
    let stack = Stack::load_aws();
    llm();
    let run = tag();
    let (alice, bob) = (format!("alice-{run}@example.com"), format!("bob-{run}@example.com"));
    let days = |n: i64| time::Duration::days(n);
    let now = OffsetDateTime::now_utc();
    let mut meetings = Vec::new();
    for (i, (host, ago)) in [(&alice, 20), (&alice, 14), (&alice, 9), (&bob, 12), (&bob, 8)]
        .into_iter()
        .enumerate()
    {
        meetings.push(meeting(&format!("Backfill {run} #{i}"), host, Some(now - days(ago))).await);
    }
    let _turn = TURN.lock().await;
    // One of them reached the stack when it happened.
    start(&stack, &meetings[3]).await;
    one_mail(&stack, &format!("Backfill {run} #3")).await;

    sandbox().throttle_next(2);
    let (from, to) = ((now - days(25)).date().to_string(), (now - days(5)).date().to_string());
    let out = zoom_symbl(&stack, &["backfill", "--from", &from, "--to", &to]).await;
    println!("$ zoom-symbl backfill --from {from} --to {to}\n{}", out.stdout);
    assert_eq!(out.code, 0, "{out:?}");
    let line = |topic: &str| {
        out.stdout
            .lines()
            .find(|l| l.contains(topic))
            .unwrap_or_else(|| panic!("{topic} not listed:\n{}", out.stdout))
            .to_owned()
    };
    assert!(
        line(&format!("Backfill {run} #3")).contains("skipped  already processed"),
        "{}",
        out.stdout
    );
    for i in [0, 1, 2, 4] {
        let l = line(&format!("Backfill {run} #{i}"));
        assert!(l.contains("started") && l.contains(&meetings[i].spec.host_email), "{l}");
    }
    // Only this test's meetings lie that far back in this sandbox.
    for summary in ["Found      5 meetings", "Started    4", "Skipped    1", "Failed     0"] {
        assert!(out.stdout.contains(summary), "{summary:?} in\n{}", out.stdout);
    }
    let throttled: u32 = line("Throttled").split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(throttled >= 2, "the 429s were waited out: {}", out.stdout);

    for (i, m) in meetings.iter().enumerate() {
        let mail = one_mail(&stack, &format!("Backfill {run} #{i}")).await;
        assert_eq!(mail.to, m.spec.host_email, "#{i}");
    }
    // Idempotent: a second backfill starts nothing.
    let again = zoom_symbl(
        &stack,
        &["--json", "backfill", "--from", &from, "--to", &to, "--user", &alice],
    )
    .await;
    assert_eq!(again.code, 0, "{again:?}");
    let again = again.json();
    assert_eq!(
        (
            again["found"].as_u64(),
            again["started"].as_u64(),
            again["skipped"].as_u64()
        ),
        (Some(3), Some(0), Some(3)),
        "{again:#}"
    );
    assert!(again["meetings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["reason"] == "already processed"));
}
