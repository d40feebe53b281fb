//! Faults on the whole pipeline, driven through the sandboxes' knobs. Each case asserts its
//! end state: exactly one correct email, or a failed meeting with its reason, a dead-letter
//! message and a failure email; and in every case no concurrency slot left held.
//!
//! Zoom faults are per file, so those cases run side by side; Symbl's, the SMTP server's and
//! the producer-killing case change shared behaviour and run alone.

use std::time::Duration;

use e2e::{
    attr_s, audio_of, eventually, function_processes, record, sandbox, start, submissions_of, symbl, Mail, Stack,
};
use symbl_sandbox::Faults;
use tokio::sync::RwLock;
use zoom_sandbox::{Fault, GeneratedMeeting, MeetingSpec};
use zoom_symbl_core::meeting_key::MeetingKey;

static SHARED: RwLock<()> = RwLock::const_new(());
const WAIT: Duration = Duration::from_secs(300);
/// Three producer attempts with the local stack's retry spacing, then the reconciler's round.
const FAILURE_WAIT: Duration = Duration::from_secs(480);
/// Longer than a notifier event's attempt and its two async retries take on the local stack
/// (LAMBDA_ASYNC_RETRY_BASE_SECONDS=35, MAX=70 in scripts/stack.sh; three SMTP tries each).
const EVENT_RETRIES_OVER: Duration = Duration::from_secs(300);

async fn meeting(participants: usize, minutes: f64, label: &str) -> (GeneratedMeeting, String) {
    let mut spec = MeetingSpec::staggered(participants, minutes * 60.0);
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    spec.topic = format!("Fault {tag} {label}");
    (record(spec).await, tag)
}

/// Waits for the first email for `tag`, then makes sure no second one follows.
async fn one_mail(stack: &Stack, tag: &str, wait: Duration) -> Mail {
    stack.one_mail(tag, wait, Duration::from_secs(5)).await
}

fn key_of(m: &GeneratedMeeting) -> String {
    MeetingKey::from_uuid(&m.spec.uuid).to_string()
}

async fn assert_slot_released(stack: &Stack, m: &GeneratedMeeting) {
    let key = key_of(m);
    assert!(
        !stack.slot_holders().await.unwrap().contains(&key),
        "{key} still holds a Symbl slot"
    );
}

async fn assert_no_dead_letters(stack: &Stack, m: &GeneratedMeeting) {
    let key = key_of(m);
    for q in [
        "ProducerFailureQueueUrl",
        "WorkDeadLetterQueueUrl",
        "NotifierFailureQueueUrl",
    ] {
        let found = stack.queued_bodies(q, &key).await.unwrap();
        assert!(found.is_empty(), "{q} holds {found:?}");
    }
}

/// An insights email naming every participant.
fn assert_insights_email(mail: &Mail, m: &GeneratedMeeting, names: &[&str]) {
    assert_eq!(
        mail.subject,
        format!("Meeting insights: {}", m.spec.topic),
        "the email says:\n{}",
        mail.text
    );
    for name in names {
        assert!(mail.text.contains(name), "{name} missing from:\n{}", mail.text);
    }
}

#[tokio::test]
async fn zoom_answering_503_then_serving_still_gives_one_complete_email() {
    let _shared = SHARED.read().await;
    let stack = Stack::load();
    let (m, tag) = meeting(3, 6.0, "flaky-zoom").await;
    for t in m.tracks.iter().filter(|t| t.participant.is_some()) {
        sandbox().set_fault(
            &t.file_id,
            Fault {
                fail_5xx_times: 2,
                ..Fault::default()
            },
        );
    }
    start(&stack, &m).await;
    let mail = one_mail(&stack, &tag, WAIT).await;
    assert_insights_email(&mail, &m, &["Dana Host", "Mary-Jane O", "李雷"]);
    let audio = audio_of(&stack.meeting(&m.spec.uuid).await.unwrap());
    assert_eq!(audio["channels"], 3, "every track made it after the retries: {audio}");
    assert_eq!(submissions_of(&m.spec.uuid).len(), 1);
    assert_slot_released(&stack, &m).await;
    assert_no_dead_letters(&stack, &m).await;
}

#[tokio::test]
async fn a_truncated_track_is_left_out_with_its_reason_and_the_others_keep_their_labels() {
    let _shared = SHARED.read().await;
    let stack = Stack::load();
    let (m, tag) = meeting(3, 6.0, "truncated").await;
    let cut = &m.tracks[1];
    sandbox().set_fault(
        &cut.file_id,
        Fault {
            truncate_to: Some(cut.size / 3),
            ..Fault::default()
        },
    );
    start(&stack, &m).await;
    let mail = one_mail(&stack, &tag, WAIT).await;
    assert_insights_email(&mail, &m, &["Dana Host", "李雷"]);
    let audio = audio_of(&stack.meeting(&m.spec.uuid).await.unwrap());
    assert_eq!(audio["channels"], 2, "{audio}");
    let failed = &audio["participants"][1];
    assert!(failed["channel"].is_null(), "the cut track has no channel: {failed}");
    assert!(
        failed["failure"].as_str().is_some_and(|f| f.contains("truncated")),
        "{failed}"
    );
    assert_eq!(
        audio["participants"][2]["channel"], 2,
        "the next participant is not shifted: {audio}"
    );
    assert_no_dead_letters(&stack, &m).await;
}

#[tokio::test]
async fn a_recording_nobody_can_download_fails_with_a_reason_and_one_failure_email_without_retries() {
    let _shared = SHARED.read().await;
    let stack = Stack::load();
    let (m, tag) = meeting(2, 3.0, "html-only").await;
    for t in &m.tracks {
        sandbox().set_fault(
            &t.file_id,
            Fault {
                html_200: true,
                ..Fault::default()
            },
        );
    }
    start(&stack, &m).await;

    let item = stack.meeting_in(&m.spec.uuid, &["failed"], FAILURE_WAIT).await.unwrap();
    let reason = attr_s(&item, "failure_reason").unwrap_or_default().to_owned();
    assert!(reason.contains("HTML"), "{reason}");
    // Failed for good on its first attempt: the event ends there (no Lambda retry, nothing
    // in the failure queue to alarm operators about what the host is told).
    assert_eq!(
        item.get("attempt").and_then(|a| a.as_n().ok()).map(String::as_str),
        Some("1"),
        "one attempt"
    );

    let mail = one_mail(&stack, &tag, FAILURE_WAIT).await;
    assert_eq!(mail.to, m.spec.host_email);
    assert_eq!(mail.subject, format!("We could not process: {}", m.spec.topic));
    assert!(mail.text.contains("HTML"), "the host is told why:\n{}", mail.text);
    let item = stack.meeting(&m.spec.uuid).await.unwrap();
    assert_eq!(attr_s(&item, "email_status"), Some("sent"));
    assert!(submissions_of(&m.spec.uuid).is_empty(), "nothing was sent to Symbl");
    assert_slot_released(&stack, &m).await;
    assert_no_dead_letters(&stack, &m).await;
}

#[tokio::test]
async fn symbl_rate_limits_and_5xx_for_a_while_delay_the_submission_but_not_the_email() {
    let _shared = SHARED.write().await;
    let stack = Stack::load();
    symbl().set_faults(Faults {
        submit_429_times: 3,
        submit_5xx_times: 2,
        ..Faults::default()
    });
    let (m, tag) = meeting(2, 3.0, "symbl-busy").await;
    start(&stack, &m).await;
    let mail = one_mail(&stack, &tag, WAIT).await;
    symbl().set_faults(Faults::default());
    assert_insights_email(&mail, &m, &["Dana Host"]);
    assert_eq!(
        submissions_of(&m.spec.uuid).len(),
        1,
        "submitted once, after the refusals"
    );
    assert_slot_released(&stack, &m).await;
    assert_no_dead_letters(&stack, &m).await;
}

#[tokio::test]
async fn a_submission_whose_answer_was_lost_is_adopted_not_submitted_again() {
    let _shared = SHARED.write().await;
    let stack = Stack::load();
    // The job is made, then the answer (with its conversation id) is lost: a 503.
    symbl().set_faults(Faults {
        submit_lose_answer_times: 1,
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    let (m, tag) = meeting(2, 3.0, "symbl-lost-answer").await;
    start(&stack, &m).await;
    let mail = one_mail(&stack, &tag, WAIT).await;
    symbl().set_faults(Faults::default());
    assert_eq!(mail.subject, format!("We could not process: {}", m.spec.topic));
    assert!(mail.text.contains("answer to our submission was lost"), "{}", mail.text);
    // Past the consumer's retry of the work item (ERROR_RETRY_SECS, 30 s): it found the
    // meeting adopted and submitted nothing.
    let retried = Duration::from_secs(45);
    if let Some(left) = retried.checked_sub(started.elapsed()) {
        tokio::time::sleep(left).await;
    }
    assert_eq!(submissions_of(&m.spec.uuid).len(), 1, "one job: billed once");
    let record = stack.meeting(&m.spec.uuid).await.expect("the meeting record");
    assert_eq!(attr_s(&record, "status"), Some("failed"));
    assert!(record.contains_key("adopted_at"), "{record:?}");
    assert_slot_released(&stack, &m).await;
    assert_no_dead_letters(&stack, &m).await;
}

#[tokio::test]
async fn symbl_tokens_expiring_mid_run_are_replaced() {
    let _shared = SHARED.write().await;
    let stack = Stack::load();
    let (m, tag) = meeting(2, 3.0, "symbl-token").await;
    start(&stack, &m).await;
    eventually("the submission", WAIT, || async {
        Ok(submissions_of(&m.spec.uuid).into_iter().next())
    })
    .await
    .unwrap();
    // The notifier's calls (status, insights, summary page) now meet 401 first.
    symbl().expire_tokens();
    let mail = one_mail(&stack, &tag, WAIT).await;
    assert_insights_email(&mail, &m, &["Dana Host"]);
    assert_slot_released(&stack, &m).await;
    assert_no_dead_letters(&stack, &m).await;
}

#[tokio::test]
async fn smtp_down_for_good_keeps_the_email_owed_and_sends_it_once_when_it_is_back() {
    let _shared = SHARED.write().await;
    let stack = Stack::load();
    stack.smtp_knob(".refuse", true);
    let (m, tag) = meeting(2, 3.0, "smtp-down").await;
    start(&stack, &m).await;

    // Every attempt is refused: the job is finished and its slot released, and the email is
    // still owed. The status event's retries end in the notifier's failure queue, unless the
    // reconciler (every 2 minutes) held the email's claim when one of them ran: that retry
    // stands down (the email is being sent) and leaves it to the reconciler, which keeps
    // trying. Which of the two happens is timing, so either is accepted once the event's
    // retries are over.
    let job_id = eventually("the submission", WAIT, || async {
        Ok(submissions_of(&m.spec.uuid).into_iter().next())
    })
    .await
    .unwrap()
    .job_id;
    let submitted = std::time::Instant::now();
    let dead_lettered = eventually(
        "the notifier's dead letter, or its retries over",
        FAILURE_WAIT,
        || async {
            if !stack
                .queued_bodies("NotifierFailureQueueUrl", &job_id)
                .await?
                .is_empty()
            {
                return Ok(Some(true));
            }
            Ok((submitted.elapsed() > EVENT_RETRIES_OVER).then_some(false))
        },
    )
    .await;
    let job = stack.job(&job_id).await.unwrap();
    stack.smtp_knob(".refuse", false);
    println!("the refused email's event was dead-lettered: {:?}", dead_lettered);
    dead_lettered.unwrap();
    assert_eq!(attr_s(&job, "status"), Some("completed"));
    assert_ne!(attr_s(&job, "email_state"), Some("sent"));
    assert!(stack.mails(&tag).is_empty());
    assert_slot_released(&stack, &m).await;

    // The relay is back: the reconciler sends the owed email, once.
    let mail = one_mail(&stack, &tag, WAIT).await;
    assert_insights_email(&mail, &m, &["Dana Host"]);
    assert_eq!(attr_s(&stack.job(&job_id).await.unwrap(), "email_state"), Some("sent"));
}

#[tokio::test]
async fn a_producer_killed_mid_merge_is_retried_and_the_host_gets_one_email() {
    let _shared = SHARED.write().await;
    let stack = Stack::load();
    let (m, tag) = meeting(4, 30.0, "killed").await;
    let function = stack.output("ProducerFunctionName").to_owned();
    start(&stack, &m).await;

    // The merge runs one ffmpeg decoder per track under the function's process.
    let victims = eventually("the producer's ffmpeg decoders", WAIT, || {
        let function = function.clone();
        async move {
            let procs = function_processes(&function);
            Ok(procs.iter().any(|(_, name)| name == "ffmpeg").then_some(procs))
        }
    })
    .await
    .unwrap();
    // One `kill` per process: a decoder may end between the snapshot and the signal, and
    // `kill` with several pids fails for any one that is gone. What must die is the
    // function's own process (the runtime that holds the invocation).
    let killed: Vec<&(u32, String)> = victims
        .iter()
        .filter(|(pid, _)| {
            std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    assert!(
        killed.iter().any(|(_, name)| name == "bootstrap"),
        "the producer's process was killed mid-merge: {victims:?}, killed {killed:?}"
    );

    let mail = one_mail(&stack, &tag, FAILURE_WAIT).await;
    assert_insights_email(&mail, &m, &["Dana Host"]);
    let item = stack.meeting(&m.spec.uuid).await.unwrap();
    let attempts: u32 = item
        .get("attempt")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(attempts >= 2, "the killed attempt was retried (attempt {attempts})");
    assert_eq!(audio_of(&item)["channels"], 4);
    assert_eq!(submissions_of(&m.spec.uuid).len(), 1);
    assert_slot_released(&stack, &m).await;
    assert_no_dead_letters(&stack, &m).await;
}
