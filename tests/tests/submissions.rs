//! The consumer's submission claim against the deployed meetings table: of two copies of a
//! work item running at once only one may submit, a claim given back or lapsed can be taken,
//! and a meeting that has moved on cannot be claimed at all.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use e2e::Stack;
use zoom_symbl_core::aws::meetings::PK;
use zoom_symbl_core::aws::submissions::DynamoSubmissions;
use zoom_symbl_core::meeting_key::MeetingKey;
use zoom_symbl_core::ports::{SubmissionStore, SubmittedJob};
use zoom_symbl_core::timefmt::unix_now;

/// A queued meeting of its own (no audio: the claim never looks at it).
async fn queued_meeting(stack: &Stack) -> (DynamoSubmissions, MeetingKey) {
    let dynamodb = stack.dynamodb().await;
    let key = MeetingKey::from_uuid(&format!("claim-{}==", uuid::Uuid::new_v4().simple()));
    dynamodb
        .put_item()
        .table_name(stack.output("MeetingsTableName"))
        .item(PK, AttributeValue::S(key.to_string()))
        .item("status", AttributeValue::S("queued".into()))
        .send()
        .await
        .unwrap();
    let store = DynamoSubmissions::new(
        dynamodb,
        stack.output("MeetingsTableName"),
        stack.output("JobsTableName"),
    );
    (store, key)
}

#[tokio::test]
async fn of_many_concurrent_claims_exactly_one_wins() {
    let stack = Stack::load();
    let (store, key) = queued_meeting(&stack).await;
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move {
                store
                    .claim_submission(&key, &format!("c{i}"), unix_now() + 300)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
}

#[tokio::test]
async fn only_the_holder_gives_a_claim_back_and_a_lapsed_one_is_taken_over() {
    let stack = Stack::load();
    let (store, key) = queued_meeting(&stack).await;
    assert!(store.claim_submission(&key, "a", unix_now() + 300).await.unwrap());
    store.release_submission(&key, "b").await.unwrap();
    assert!(
        !store.claim_submission(&key, "b", unix_now() + 300).await.unwrap(),
        "not b's to give back"
    );
    store.release_submission(&key, "a").await.unwrap();
    // A holder that died: its lease is over.
    assert!(store.claim_submission(&key, "b", unix_now() - 1).await.unwrap());
    assert!(store.claim_submission(&key, "c", unix_now() + 300).await.unwrap());
}

#[tokio::test]
async fn a_submitted_meeting_cannot_be_claimed_again() {
    let stack = Stack::load();
    let (store, key) = queued_meeting(&stack).await;
    assert!(store.claim_submission(&key, "a", unix_now() + 300).await.unwrap());
    let job = SubmittedJob {
        job_id: format!("job-{}", uuid::Uuid::new_v4().simple()),
        conversation_id: "conv".into(),
        meeting_key: key.to_string(),
        submitted_at: "2026-01-01T00:00:00Z".into(),
        deadline: unix_now() + 600,
    };
    store.record_submission(&job).await.unwrap();
    // Even once the lease would have lapsed.
    assert!(!store.claim_submission(&key, "b", unix_now() - 1).await.unwrap());
    let item = stack
        .dynamodb()
        .await
        .get_item()
        .table_name(stack.output("MeetingsTableName"))
        .key(PK, AttributeValue::S(key.to_string()))
        .send()
        .await
        .unwrap();
    let item = item.item.unwrap();
    assert_eq!(
        item.get("status").and_then(|v| v.as_s().ok()).map(String::as_str),
        Some("submitted")
    );
    assert!(
        !item.contains_key("submit_claim"),
        "the claim is cleared with the submission"
    );
}
