//! The whole pipeline on the local stack, driven like Zoom and Symbl drive it: from the
//! signed recording.completed to the host's email in the local SMTP server.
//!
//! The tests change the sandboxes' and the SMTP server's behaviour, so they take turns.

use std::time::Duration;

use e2e::{attr_s, deliver, http, record, sandbox, start, symbl, Mail, Stack};
use symbl_sandbox::{Faults, WebhookPlan};
use tokio::sync::Mutex;
use zoom_sandbox::{GeneratedMeeting, MeetingSpec};

static TURN: Mutex<()> = Mutex::const_new(());
const WAIT: Duration = Duration::from_secs(300);

/// A meeting whose topic is unique (the emails are found by it), with `suffix` in it.
async fn meeting(suffix: &str) -> (GeneratedMeeting, String) {
    let mut spec = MeetingSpec::staggered(3, 12.0);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    spec.topic = format!("Launch review {} {suffix}", &tag[..8]);
    let topic_tag = tag[..8].to_owned();
    (record(spec).await, topic_tag)
}

async fn one_mail(stack: &Stack, tag: &str) -> Mail {
    stack.one_mail(tag, WAIT, Duration::from_secs(3)).await
}

fn reset() {
    symbl().set_faults(Faults::default());
    symbl().set_webhooks(WebhookPlan::default());
}

#[tokio::test]
async fn a_meeting_ends_in_one_well_formed_email_to_its_host() {
    let _turn = TURN.lock().await;
    let stack = Stack::load();
    reset();
    let (m, tag) = meeting("<script>alert(1)</script>").await;
    start(&stack, &m).await;
    let mail = one_mail(&stack, &tag).await;

    assert_eq!(mail.to, "host@example.com");
    assert_eq!(
        mail.subject,
        format!("Meeting insights: {}", m.spec.topic),
        "the email says:\n{}",
        mail.text
    );
    assert_eq!(mail.content_type, "multipart/alternative");
    // Both parts: the meeting, its people, Symbl's insights and the summary page.
    for part in [&mail.text, &mail.html] {
        for needle in ["Dana Host", "Mary-Jane O", "李雷", "Participants"] {
            assert!(part.contains(needle), "{needle} missing from:\n{part}");
        }
        assert!(
            part.contains("https://meetinginsights.symbl.ai/meeting/#/"),
            "no summary page link:\n{part}"
        );
    }
    assert!(
        mail.text.contains("<script>alert(1)</script>"),
        "the text part keeps the topic as written"
    );
    assert!(!mail.html.contains("<script>"), "unescaped script in the HTML part");
    assert!(mail.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(mail
        .html
        .contains("<a href=\"https://meetinginsights.symbl.ai/meeting/#/"));
    for section in ["Summary", "Action items", "Questions", "Topics"] {
        assert!(
            mail.html.contains(&format!(">{section}</h2>")),
            "{section} section missing"
        );
    }

    let item = stack.meeting(&m.spec.uuid).await.unwrap();
    assert_eq!(attr_s(&item, "email_status"), Some("sent"));
    assert_eq!(attr_s(&item, "status"), Some("transcribed"));
    let job = stack.job(attr_s(&item, "job_id").unwrap()).await.unwrap();
    assert!(
        job.get("expires_at").and_then(|v| v.as_n().ok()).is_some(),
        "the job record expires (TTL)"
    );
    let insights = item
        .get("insights")
        .and_then(|v| v.as_m().ok())
        .expect("insights indexed");
    // The provider's five documents, ours (what an email sent again is rendered from), and the
    // transcript from Symbl's messages (for the meeting page).
    assert_eq!(insights.len(), 7, "{insights:?}");
    let transcript: zoom_symbl_core::transcript::Transcript = serde_json::from_slice(
        &stack
            .object(stack.output("OutputBucketName"), insights["transcript"].as_s().unwrap())
            .await
            .unwrap(),
    )
    .unwrap();
    for name in ["Dana Host", "李雷"] {
        assert!(
            transcript
                .utterances
                .iter()
                .any(|u| u.speaker == name && !u.text.is_empty()),
            "{name} is not in {transcript:?}"
        );
    }
    let ours: serde_json::Value = serde_json::from_slice(
        &stack
            .object(stack.output("OutputBucketName"), insights["insights"].as_s().unwrap())
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(ours["summary"].as_array().is_some_and(|a| !a.is_empty()), "{ours}");
    let summary_key = insights["summary"].as_s().unwrap();
    let summary: serde_json::Value = serde_json::from_slice(
        &stack
            .object(stack.output("OutputBucketName"), summary_key)
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(
        summary["summary"].as_array().is_some_and(|a| !a.is_empty()),
        "{summary}"
    );
    let exp = symbl().experiences();
    assert!(
        exp.iter().any(|e| e.to_string().contains("mixdown.mp3")),
        "the summary page plays the mixdown"
    );

    render_to_png(&mail.html, "email.png");
}

#[tokio::test]
async fn a_failed_symbl_job_releases_its_slot_and_tells_the_host_why() {
    let _turn = TURN.lock().await;
    let stack = Stack::load();
    reset();
    symbl().set_faults(Faults {
        fail_jobs: true,
        ..Faults::default()
    });
    let (m, tag) = meeting("failing").await;
    start(&stack, &m).await;
    let mail = one_mail(&stack, &tag).await;
    reset();
    assert!(mail.subject.starts_with("We could not process: "), "{}", mail.subject);
    assert!(mail.text.contains("could not be turned into insights"));
    let item = stack.meeting(&m.spec.uuid).await.unwrap();
    assert_eq!(attr_s(&item, "status"), Some("failed"));
    assert!(attr_s(&item, "failure_reason").is_some_and(|r| r.contains("insights provider")));
    let key = zoom_symbl_core::meeting_key::MeetingKey::from_uuid(&m.spec.uuid).to_string();
    assert!(!stack.slot_holders().await.unwrap().contains(&key));
}

#[tokio::test]
async fn a_richer_second_delivery_restarts_the_meeting_and_gives_one_email_with_everyone() {
    let _turn = TURN.lock().await;
    let stack = Stack::load();
    reset();
    let (m, tag) = meeting("restarted").await;
    let whole = sandbox().recording_completed(&m, &sandbox().default_download_token());
    // Zoom's first delivery, while one participant's file was still processing.
    let mut early = whole.clone();
    let files = early["payload"]["object"]["participant_audio_files"]
        .as_array_mut()
        .expect("participant files");
    let last = files.last_mut().expect("a participant file");
    last["status"] = "processing".into();
    let (status, reply) = deliver(&stack, &early).await;
    assert_eq!((status, reply), (200, serde_json::json!({ "status": "accepted" })));
    let key = zoom_symbl_core::meeting_key::MeetingKey::from_uuid(&m.spec.uuid).to_string();
    let first = stack.meeting(&m.spec.uuid).await.expect("the meeting record");
    assert!(
        first.contains_key("unfinished_files"),
        "the file still processing is listed: {first:?}"
    );
    // The delivery with every file completed is the meeting's second run, not a duplicate.
    let (status, reply) = deliver(&stack, &whole).await;
    assert_eq!(
        (status, reply),
        (200, serde_json::json!({ "status": "restarted", "run": 2 }))
    );
    let (status, reply) = deliver(&stack, &whole).await;
    assert_eq!((status, reply), (200, serde_json::json!({ "status": "duplicate" })));
    let mail = one_mail(&stack, &tag).await;
    for name in ["Dana Host", "Mary-Jane O", "李雷"] {
        assert!(mail.text.contains(name), "{name} missing from:\n{}", mail.text);
    }
    let record = stack.meeting(&m.spec.uuid).await.expect("the meeting record");
    assert_eq!(attr_s(&record, "status"), Some("transcribed"));
    assert_eq!(
        record.get("run").and_then(|v| v.as_n().ok()).map(String::as_str),
        Some("2")
    );
    assert!(!record.contains_key("unfinished_files"), "{record:?}");
    assert!(!stack.slot_holders().await.unwrap().contains(&key));
}

#[tokio::test]
async fn duplicated_and_out_of_order_webhooks_still_give_one_email() {
    let _turn = TURN.lock().await;
    let stack = Stack::load();
    reset();
    symbl().set_webhooks(WebhookPlan {
        duplicate_every: true,
        out_of_order: true,
        ..WebhookPlan::default()
    });
    let (m, tag) = meeting("dupes").await;
    start(&stack, &m).await;
    one_mail(&stack, &tag).await;
    reset();
}

#[tokio::test]
async fn a_forged_symbl_webhook_is_refused_and_changes_nothing() {
    let _turn = TURN.lock().await;
    let stack = Stack::load();
    reset();
    // A job held running so that a forged "completed" would matter.
    symbl().set_webhooks(WebhookPlan {
        lose_statuses: vec!["completed".into()],
        ..WebhookPlan::default()
    });
    let (m, _tag) = meeting("forged").await;
    start(&stack, &m).await;
    let item = stack
        .meeting_in(&m.spec.uuid, &["submitted", "transcribed"], WAIT)
        .await
        .unwrap();
    let job_id = attr_s(&item, "job_id").unwrap().to_owned();
    let url = stack.symbl_webhook_url();
    for token in ["", "wrong-token"] {
        let resp = http()
            .post(format!("{url}?t={token}"))
            .json(&serde_json::json!({"jobId": job_id, "status": "completed"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401);
    }
    let resp = http()
        .post(&url)
        .json(&serde_json::json!({"id": job_id, "status": "failed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let job = stack.job(&job_id).await.unwrap();
    assert_ne!(
        attr_s(&job, "status"),
        Some("failed"),
        "a forged status changed the job"
    );
    reset();
}

#[tokio::test]
async fn a_lost_completed_webhook_is_healed_by_the_reconciler() {
    let _turn = TURN.lock().await;
    let stack = Stack::load();
    reset();
    symbl().set_webhooks(WebhookPlan {
        lose_statuses: vec!["completed".into()],
        ..WebhookPlan::default()
    });
    let (m, tag) = meeting("lost").await;
    start(&stack, &m).await;
    let mail = one_mail(&stack, &tag).await;
    reset();
    assert!(mail.subject.starts_with("Meeting insights: "));
    // Symbl never called back with "completed" for this job: the reconciler found it.
    let item = stack.meeting(&m.spec.uuid).await.unwrap();
    let job_id = attr_s(&item, "job_id").unwrap();
    assert!(!symbl()
        .webhooks_sent()
        .iter()
        .any(|(_, body, _)| body["status"] == "completed" && (body["id"] == job_id || body["jobId"] == job_id)));
}

#[tokio::test]
async fn smtp_refusing_for_a_while_delays_the_email_but_sends_it_once() {
    let _turn = TURN.lock().await;
    let stack = Stack::load();
    reset();
    stack.smtp_knob(".refuse", true);
    let (m, tag) = meeting("smtp-down").await;
    start(&stack, &m).await;
    stack.meeting_in(&m.spec.uuid, &["transcribed"], WAIT).await.unwrap();
    // The relay answers 421 for as long as the knob is set: no email yet.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let pending = stack.mails(&tag).len();
    stack.smtp_knob(".refuse", false);
    assert_eq!(pending, 0);
    one_mail(&stack, &tag).await;
    assert_eq!(
        attr_s(&stack.meeting(&m.spec.uuid).await.unwrap(), "email_status"),
        Some("sent")
    );
}

/// Renders the HTML part with headless Chromium and keeps the picture as a test artifact
/// (target/test-artifacts/), for a person to look at.
fn render_to_png(html: &str, name: &str) {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("email.html");
    std::fs::write(&page, html).unwrap();
    let png = dir.join(name);
    let _ = std::fs::remove_file(&png);
    let profile = std::env::temp_dir().join(format!("zs-chromium-{}", uuid::Uuid::new_v4().simple()));
    let status = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=760,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .status()
        .expect("running chromium (installed by scripts/tools.sh)");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(status.success(), "chromium failed");
    let bytes = std::fs::read(&png).expect("chromium wrote no screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "not a real screenshot"
    );
}
