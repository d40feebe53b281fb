//! The aws provider when something goes wrong, on its local stack: a Transcribe event that
//! never arrives (healed by the reconciler's poll), one participant's job failing (the others
//! go on), and a model that answers invalidly once (asked again).
//!
//! Each turns something shared off or on (the stack's EventBridge rule, its semaphore, the
//! LLM sandbox's faults), so they take turns.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use e2e::{attr_s, audio_of, eventually, llm, record, start, unix_now, Mail, Stack};
use llm_sandbox::Faults;
use tokio::sync::Mutex;
use zoom_sandbox::{GeneratedMeeting, MeetingSpec};
use zoom_symbl_core::aws::transcribe::TranscribeJobs;
use zoom_symbl_core::meeting_key::MeetingKey;
use zoom_symbl_core::ports::{Transcriber, TranscriptionState};
use zoom_symbl_core::transcript::jobs::{self, JobSubject};

static TURN: Mutex<()> = Mutex::const_new(());
const WAIT: Duration = Duration::from_secs(240);

async fn meeting(what: &str) -> (GeneratedMeeting, String) {
    let mut spec = MeetingSpec::staggered(3, 12.0);
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    spec.topic = format!("{what} {tag}");
    (record(spec).await, tag)
}

async fn one_mail(stack: &Stack, tag: &str) -> Mail {
    stack.one_mail(tag, WAIT, Duration::from_secs(3)).await
}

fn model_requests(tag: &str) -> Vec<String> {
    llm()
        .requests()
        .into_iter()
        .map(|r| r.body.to_string())
        .filter(|body| body.contains(tag))
        .collect()
}

async fn set_rule(stack: &Stack, rule: &str, on: bool) {
    let events = aws_sdk_eventbridge::Client::new(&stack.aws().await);
    if on {
        events.enable_rule().name(rule).send().await.unwrap();
    } else {
        events.disable_rule().name(rule).send().await.unwrap();
    }
}

/// Every slot of the stack's Transcribe semaphore held (`true`) by leases that never lapse,
/// or none held (`false`).
async fn hold_every_slot(stack: &Stack, held: bool) {
    let limit = 8;
    let holders: HashMap<String, AttributeValue> = if held {
        (0..limit)
            .map(|i| (format!("test-blocker-{i}"), AttributeValue::N(i64::MAX.to_string())))
            .collect()
    } else {
        HashMap::new()
    };
    stack
        .dynamodb()
        .await
        .put_item()
        .table_name(stack.output("SemaphoreTableName"))
        .item("name", AttributeValue::S(stack.semaphore_name().into()))
        .item("active", AttributeValue::N(holders.len().to_string()))
        .item("holders", AttributeValue::M(holders))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_lost_transcribe_event_is_healed_by_the_reconcilers_poll() {
    let _turn = TURN.lock().await;
    let stack = Stack::load_aws();
    llm();
    let rule = format!("{}-transcription-completed", stack.stack_name);
    set_rule(&stack, &rule, false).await;
    let (m, tag) = meeting("Lost event").await;
    start(&stack, &m).await;
    let key = MeetingKey::from_uuid(&m.spec.uuid);
    let run_job = jobs::run_job_id(&stack.stack_name, &key, 1);
    let transcribe = TranscribeJobs::new(&stack.aws().await);
    let job = eventually("every transcription to end", WAIT, || async {
        let Some(job) = stack.job(&run_job).await else {
            return Ok(None);
        };
        for k in 0..3 {
            let name = jobs::name_in(&run_job, JobSubject::Participant(k));
            if transcribe.state(&name).await.ok() != Some(TranscriptionState::Completed) {
                return Ok(None);
            }
        }
        Ok(Some(job))
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let item = stack.meeting(&m.spec.uuid).await.unwrap();
    let lost = attr_s(&item, "status") == Some("submitted") && stack.mails(&tag).is_empty();
    set_rule(&stack, &rule, true).await;
    assert!(
        lost,
        "with the rule off the event never came: the meeting waits for the poll"
    );

    // Once the job is past its deadline, the reconciler's run asks Transcribe and finishes it.
    let deadline: i64 = job["deadline"].as_n().unwrap().parse().unwrap();
    let wait = (deadline + 1 - unix_now()).max(0) as u64;
    tokio::time::sleep(Duration::from_secs(wait)).await;
    stack
        .lambda()
        .await
        .invoke()
        .function_name(stack.output("NotifierFunctionName"))
        .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
        .payload(aws_sdk_lambda::primitives::Blob::new(
            br#"{"detail-type":"Scheduled Event","source":"aws.events","detail":{}}"#.to_vec(),
        ))
        .send()
        .await
        .unwrap();
    let mail = one_mail(&stack, &tag).await;
    assert!(mail.subject.starts_with("Meeting insights:"), "{}", mail.subject);
    assert_eq!(model_requests(&tag).len(), 1);
}

#[tokio::test]
async fn one_failed_transcription_leaves_its_participant_out_and_the_others_go_on() {
    let _turn = TURN.lock().await;
    let stack = Stack::load_aws();
    llm();
    // The consumer waits for a slot while one participant's speech file goes missing.
    hold_every_slot(&stack, true).await;
    let (m, tag) = meeting("Failed job").await;
    start(&stack, &m).await;
    let produced = stack.produced(&m.spec.uuid, WAIT).await;
    let gone = match &produced {
        Ok(item) => audio_of(item)["speech"][2]["flac_key"].as_str().map(str::to_owned),
        Err(_) => None,
    };
    if let Some(key) = &gone {
        stack
            .s3()
            .await
            .delete_object()
            .bucket(stack.output("OutputBucketName"))
            .key(key)
            .send()
            .await
            .unwrap();
    }
    hold_every_slot(&stack, false).await;
    produced.unwrap();
    assert!(gone.is_some(), "李雷 spoke, so has a speech file");

    let mail = one_mail(&stack, &tag).await;
    assert!(mail.subject.starts_with("Meeting insights:"), "{}", mail.subject);
    assert!(
        mail.text.contains("Not transcribed, so not in these insights: 李雷 ("),
        "{}",
        mail.text
    );
    let transcript = stack.transcript(&m.spec.uuid).await.unwrap();
    assert!(!transcript.utterances.is_empty());
    assert!(
        transcript.utterances.iter().all(|u| u.speaker != "李雷"),
        "{transcript:?}"
    );
    let item = stack.meeting(&m.spec.uuid).await.unwrap();
    assert_eq!(attr_s(&item, "status"), Some("transcribed"));
}

#[tokio::test]
async fn an_invalid_answer_is_asked_again_and_the_valid_one_is_emailed() {
    let _turn = TURN.lock().await;
    let stack = Stack::load_aws();
    llm().set_faults(Faults {
        foreign_assignee_times: 1,
        ..Faults::default()
    });
    let (m, tag) = meeting("Invalid answer").await;
    start(&stack, &m).await;
    let mail = one_mail(&stack, &tag).await;
    llm().set_faults(Faults::default());
    assert!(mail.subject.starts_with("Meeting insights:"), "{}", mail.subject);
    assert!(!mail.text.contains(llm_sandbox::FOREIGN_ASSIGNEE), "{}", mail.text);
    let asked = model_requests(&tag);
    assert_eq!(asked.len(), 2, "asked once more after the invalid answer");
    assert!(asked[1].contains("Your previous answer was invalid"), "{}", asked[1]);
}

#[tokio::test]
async fn a_model_that_answers_invalidly_twice_fails_the_insights_with_one_email_saying_why() {
    let _turn = TURN.lock().await;
    let stack = Stack::load_aws();
    llm().set_faults(Faults {
        foreign_assignee_times: 2,
        also_retries: true,
        ..Faults::default()
    });
    let (m, tag) = meeting("Gave up").await;
    start(&stack, &m).await;
    let mail = one_mail(&stack, &tag).await;
    llm().set_faults(Faults::default());
    assert!(mail.subject.starts_with("We could not process:"), "{}", mail.subject);
    assert!(
        mail.text
            .contains("its insights could not be made: the model's insights were invalid twice"),
        "{}",
        mail.text
    );
    assert_eq!(model_requests(&tag).len(), 2, "asked once more, then given up");
    let item = stack.meeting(&m.spec.uuid).await.unwrap();
    assert_eq!(attr_s(&item, "status"), Some("failed"));
    assert!(
        attr_s(&item, "failure_reason").is_some_and(|r| r.contains("invalid twice")),
        "{item:?}"
    );
}
