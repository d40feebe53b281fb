//! A richer second delivery against the deployed meetings table: while the provider works on
//! the earlier audio it is kept, and once that job's email is settled it becomes the next run,
//! due at once; an adopted job is taken only by a meeting waiting for its submission.

use aws_sdk_dynamodb::types::AttributeValue;
use e2e::{attr_s, Stack};
use zoom_symbl_core::aws::meetings::{DynamoMeetings, PK};
use zoom_symbl_core::aws::submissions::DynamoSubmissions;
use zoom_symbl_core::ports::{ClaimOutcome, MeetingClaim, MeetingClaims, MeetingOutcomes, SubmittedJob};
use zoom_symbl_core::testkit::samples;
use zoom_symbl_core::timefmt::unix_now;
use zoom_symbl_core::zoom::RecordingCompleted;

/// The sample recording under a fresh UUID: whole, and as first delivered with one file
/// still processing.
fn deliveries() -> (RecordingCompleted, RecordingCompleted) {
    let mut whole = samples::recording_completed();
    whole.payload.object.uuid = format!("redeliver-{}==", uuid::Uuid::new_v4().simple());
    let mut early = whole.clone();
    if let Some(file) = early
        .payload
        .object
        .participant_audio_files
        .as_mut()
        .and_then(|f| f.last_mut())
    {
        file.status = "processing".into();
    }
    (whole, early)
}

async fn set(stack: &Stack, key: &str, attrs: &[(&str, &str)]) {
    for (name, value) in attrs {
        stack
            .dynamodb()
            .await
            .update_item()
            .table_name(stack.output("MeetingsTableName"))
            .key(PK, AttributeValue::S(key.to_owned()))
            .update_expression("SET #a = :v")
            .expression_attribute_names("#a", *name)
            .expression_attribute_values(":v", AttributeValue::S((*value).to_owned()))
            .send()
            .await
            .unwrap();
    }
}

fn stores(stack: &Stack, dynamodb: aws_sdk_dynamodb::Client) -> (DynamoMeetings, DynamoSubmissions) {
    (
        DynamoMeetings::new(dynamodb.clone(), stack.output("MeetingsTableName")),
        DynamoSubmissions::new(
            dynamodb,
            stack.output("MeetingsTableName"),
            stack.output("JobsTableName"),
        ),
    )
}

#[tokio::test]
async fn a_richer_delivery_while_submitted_is_kept_and_restarted_after_the_email() {
    let stack = Stack::load();
    let (meetings, outcomes) = stores(&stack, stack.dynamodb().await);
    let (whole, early) = deliveries();
    let now = unix_now();
    let first = MeetingClaim::of_delivery(&early, None, now, 30);
    let key = first.key.to_string();
    assert_eq!(meetings.claim(&first, now).await.unwrap(), ClaimOutcome::Claimed);
    let record = stack.meeting(&whole.payload.object.uuid).await.unwrap();
    assert!(record.contains_key("unfinished_files"), "{record:?}");
    set(&stack, &key, &[("status", "submitted")]).await;

    let richer = MeetingClaim::of_delivery(&whole, None, now, 30);
    assert_eq!(meetings.claim(&richer, now).await.unwrap(), ClaimOutcome::Deferred);
    assert_eq!(
        meetings.claim(&richer, now).await.unwrap(),
        ClaimOutcome::AlreadyClaimed,
        "kept once"
    );
    // The job ends and its email is owed: nothing restarts before it is settled.
    set(&stack, &key, &[("status", "transcribed")]).await;
    assert_eq!(outcomes.restart_deferred(&key, now).await.unwrap(), None);
    set(&stack, &key, &[("email_status", "sent")]).await;
    assert_eq!(outcomes.restart_deferred(&key, now).await.unwrap(), Some(2));
    assert_eq!(outcomes.restart_deferred(&key, now).await.unwrap(), None, "once");
    let record = stack.meeting(&whole.payload.object.uuid).await.unwrap();
    assert_eq!(attr_s(&record, "status"), Some("received"));
    assert_eq!(record["run"].as_n().unwrap(), "2");
    assert_eq!(record["due_at"].as_n().unwrap(), &now.to_string(), "due at once");
    assert!(!record.contains_key("unfinished_files"), "the richer delivery has none");
    assert!(!record.contains_key("email_status"), "the new run owes its own email");
}

#[tokio::test]
async fn a_richer_delivery_before_submission_restarts_at_once_and_a_poorer_one_is_a_duplicate() {
    let stack = Stack::load();
    let (meetings, _) = stores(&stack, stack.dynamodb().await);
    let (whole, early) = deliveries();
    let now = unix_now();
    let first = MeetingClaim::of_delivery(&early, None, now, 30);
    assert_eq!(meetings.claim(&first, now).await.unwrap(), ClaimOutcome::Claimed);
    let richer = MeetingClaim::of_delivery(&whole, None, now, 30);
    assert_eq!(
        meetings.claim(&richer, now).await.unwrap(),
        ClaimOutcome::Restarted { run: 2 }
    );
    let again = MeetingClaim::of_delivery(&early, None, now, 30);
    assert_eq!(meetings.claim(&again, now).await.unwrap(), ClaimOutcome::AlreadyClaimed);
}

#[tokio::test]
async fn a_job_is_adopted_only_by_a_meeting_waiting_for_its_submission() {
    let stack = Stack::load();
    let (meetings, outcomes) = stores(&stack, stack.dynamodb().await);
    let (whole, _) = deliveries();
    let now = unix_now();
    let claim = MeetingClaim::of_delivery(&whole, None, now, 30);
    let key = claim.key.to_string();
    meetings.claim(&claim, now).await.unwrap();
    let job = SubmittedJob {
        job_id: format!("lost-{}", uuid::Uuid::new_v4().simple()),
        conversation_id: String::new(),
        meeting_key: key.clone(),
        submitted_at: zoom_symbl_core::timefmt::now_rfc3339(),
        deadline: now + 600,
    };
    assert!(!outcomes.adopt_job(&job, now).await.unwrap(), "not before it is queued");
    set(&stack, &key, &[("status", "queued")]).await;
    stack
        .dynamodb()
        .await
        .update_item()
        .table_name(stack.output("MeetingsTableName"))
        .key(PK, AttributeValue::S(key.clone()))
        .update_expression("SET submit_claim_until = :later")
        .expression_attribute_values(":later", AttributeValue::N((now + 300).to_string()))
        .send()
        .await
        .unwrap();
    assert!(
        !outcomes.adopt_job(&job, now).await.unwrap(),
        "a submission is under way"
    );
    assert!(outcomes.adopt_job(&job, now + 301).await.unwrap(), "its claim lapsed");
    assert!(outcomes.adopt_job(&job, now + 301).await.unwrap(), "the same job again");
    let other = SubmittedJob {
        job_id: "another".into(),
        ..job.clone()
    };
    assert!(
        !outcomes.adopt_job(&other, now + 301).await.unwrap(),
        "one job per meeting"
    );
    let record = stack.meeting(&whole.payload.object.uuid).await.unwrap();
    assert_eq!(attr_s(&record, "status"), Some("submitted"));
    assert_eq!(attr_s(&record, "job_id"), Some(job.job_id.as_str()));
}
