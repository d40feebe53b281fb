//! The consumer on the local stack with both sandboxes: meetings reach Symbl exactly once,
//! within Symbl's concurrency limit, whatever Symbl answers. Symbl's status webhooks come
//! back through the deployed symbl-webhook and notifier, which release the slots.
//!
//! Every test here changes the Symbl sandbox's behaviour, so they take turns.

use std::time::Duration;

use e2e::{attr_s, record, start, submissions_of, symbl, Stack};
use symbl_sandbox::Faults;
use tokio::sync::Mutex;
use zoom_sandbox::MeetingSpec;
use zoom_symbl_core::meeting_key::MeetingKey;

static TURN: Mutex<()> = Mutex::const_new(());
const WAIT: Duration = Duration::from_secs(240);

/// Submitted, transcribed (statuses applied by the notifier), and the slot given back.
async fn transcribed(stack: &Stack, uuid: &str) {
    let item = stack.meeting_in(uuid, &["transcribed", "failed"], WAIT).await.unwrap();
    assert_eq!(
        attr_s(&item, "status"),
        Some("transcribed"),
        "{:?}",
        attr_s(&item, "failure_reason")
    );
    let key = MeetingKey::from_uuid(uuid).to_string();
    e2e::eventually("the slot's release", WAIT, || async {
        Ok((!stack.slot_holders().await?.contains(&key)).then_some(()))
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_meeting_is_submitted_with_channel_metadata_that_matches_the_audio() {
    let _turn = TURN.lock().await;
    let stack = Stack::load();
    symbl().set_faults(Faults::default());
    let meeting = record(MeetingSpec::staggered(3, 24.0)).await;
    start(&stack, &meeting).await;
    transcribed(&stack, &meeting.spec.uuid).await;

    let subs = submissions_of(&meeting.spec.uuid);
    assert_eq!(subs.len(), 1);
    let s = &subs[0];
    assert_eq!(s.body["enableSeparateRecognitionPerChannel"], true);
    assert_eq!(
        s.body["channelMetadata"],
        serde_json::json!([
            {"channel": 1, "speaker": {"name": "Dana Host"}},
            {"channel": 2, "speaker": {"name": "Mary-Jane O'Neil"}},
            {"channel": 3, "speaker": {"name": "李雷"}},
        ])
    );
    assert_eq!(
        (s.probe_channels, s.name.as_deref()),
        (3, Some("Sandbox planning sync"))
    );
    assert!((s.probe_duration_secs - 24.0).abs() < 0.1, "{}", s.probe_duration_secs);
    assert!(s
        .webhook_url
        .as_deref()
        .is_some_and(|u| u.contains("/symbl/webhook?t=")));
    assert_eq!(s.body["languageCode"], "en-US");
    let item = stack.meeting(&meeting.spec.uuid).await.unwrap();
    assert_eq!(attr_s(&item, "job_id"), Some(s.job_id.as_str()));
}

#[tokio::test]
async fn symbl_429s_and_outages_delay_a_meeting_but_never_lose_or_duplicate_it() {
    let _turn = TURN.lock().await;
    let stack = Stack::load();

    // 429 for a while.
    symbl().set_faults(Faults {
        submit_429_times: 3,
        ..Faults::default()
    });
    let busy = record(MeetingSpec::staggered(2, 12.0)).await;
    start(&stack, &busy).await;
    transcribed(&stack, &busy.spec.uuid).await;
    assert_eq!(submissions_of(&busy.spec.uuid).len(), 1);

    // Down (5xx) then back.
    symbl().set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let down = record(MeetingSpec::staggered(2, 12.0)).await;
    start(&stack, &down).await;
    stack.meeting_in(&down.spec.uuid, &["queued"], WAIT).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(submissions_of(&down.spec.uuid).is_empty());
    assert_eq!(
        attr_s(&stack.meeting(&down.spec.uuid).await.unwrap(), "status"),
        Some("queued")
    );
    symbl().set_faults(Faults::default());
    transcribed(&stack, &down.spec.uuid).await;
    assert_eq!(submissions_of(&down.spec.uuid).len(), 1);
}

#[tokio::test]
async fn an_expired_symbl_token_is_replaced() {
    let _turn = TURN.lock().await;
    let stack = Stack::load();
    symbl().set_faults(Faults::default());
    // Warm the consumer's token cache, then invalidate every token Symbl issued.
    let first = record(MeetingSpec::staggered(2, 12.0)).await;
    start(&stack, &first).await;
    transcribed(&stack, &first.spec.uuid).await;
    symbl().expire_tokens();
    let second = record(MeetingSpec::staggered(2, 12.0)).await;
    start(&stack, &second).await;
    transcribed(&stack, &second.spec.uuid).await;
    assert_eq!(submissions_of(&second.spec.uuid).len(), 1);
}

#[tokio::test]
async fn a_duplicate_sqs_delivery_does_not_submit_again() {
    let _turn = TURN.lock().await;
    let stack = Stack::load();
    symbl().set_faults(Faults::default());
    let meeting = record(MeetingSpec::staggered(2, 12.0)).await;
    start(&stack, &meeting).await;
    transcribed(&stack, &meeting.spec.uuid).await;
    // SQS is at-least-once: deliver the same work item again.
    let body = serde_json::json!({
        "meeting_key": MeetingKey::from_uuid(&meeting.spec.uuid).to_string(),
        "produced_at": "2026-01-01T00:00:00Z",
    });
    let sqs = stack.sqs().await;
    sqs.send_message()
        .queue_url(stack.output("WorkQueueUrl"))
        .message_body(body.to_string())
        .send()
        .await
        .unwrap();
    // The consumer takes it and deletes it without submitting.
    e2e::eventually("the duplicate to be consumed", WAIT, || async {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(stack.output("WorkQueueUrl"))
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await?;
        let count = |name| {
            attrs
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let pending = count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            + count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
        Ok((pending == 0).then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(submissions_of(&meeting.spec.uuid).len(), 1);
}
