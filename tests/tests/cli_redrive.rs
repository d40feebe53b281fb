//! `zoom-symbl redrive` moves a work item the consumer never managed to submit (dead-lettered
//! after its receives ran out) back onto the work queue, after showing it: one email.
//!
//! The consumer is kept from the work queue while the item is dead-lettered (its event source
//! mapping off), so this test has a file of its own.

use std::time::Duration;

use e2e::{deliver, eventually, llm, record, sandbox, zoom_symbl, Stack};
use zoom_sandbox::MeetingSpec;
use zoom_symbl_core::meeting_key::MeetingKey;

const WAIT: Duration = Duration::from_secs(240);

/// The consumer's mapping on the work queue, switched on or off.
async fn consumer_reads_work(stack: &Stack, on: bool) {
    let lambda = stack.lambda().await;
    let mappings = lambda
        .list_event_source_mappings()
        .event_source_arn(queue_arn(stack, "WorkQueueUrl").await)
        .send()
        .await
        .unwrap();
    for m in mappings.event_source_mappings() {
        lambda
            .update_event_source_mapping()
            .uuid(m.uuid().unwrap())
            .enabled(on)
            .send()
            .await
            .unwrap();
    }
    assert!(
        !mappings.event_source_mappings().is_empty(),
        "the consumer reads the work queue"
    );
}

async fn queue_arn(stack: &Stack, output: &str) -> String {
    stack
        .sqs()
        .await
        .get_queue_attributes()
        .queue_url(stack.output(output))
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn a_dead_lettered_work_item_is_shown_then_moved_back_to_one_email() {
    let stack = Stack::load_aws();
    llm();
    let mut spec = MeetingSpec::staggered(2, 10.0);
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    spec.topic = format!("Redrive {tag}");
    let m = record(spec).await;
    let key = MeetingKey::from_uuid(&m.spec.uuid).to_string();

    consumer_reads_work(&stack, false).await;
    let event = sandbox().recording_completed(&m, &sandbox().default_download_token());
    assert_eq!(deliver(&stack, &event).await.0, 200);
    stack.meeting_in(&m.spec.uuid, &["queued"], WAIT).await.unwrap();
    // What SQS does once the item's receives run out: it moves to the dead-letter queue.
    let sqs = stack.sqs().await;
    let item = eventually("the work item", WAIT, || async {
        let out = sqs
            .receive_message()
            .queue_url(stack.output("WorkQueueUrl"))
            .max_number_of_messages(10)
            .send()
            .await?;
        Ok(out
            .messages()
            .iter()
            .find(|msg| msg.body().is_some_and(|b| b.contains(&key)))
            .cloned())
    })
    .await
    .unwrap();
    sqs.send_message()
        .queue_url(stack.output("WorkDeadLetterQueueUrl"))
        .message_body(item.body().unwrap())
        .send()
        .await
        .unwrap();
    sqs.delete_message()
        .queue_url(stack.output("WorkQueueUrl"))
        .receipt_handle(item.receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    consumer_reads_work(&stack, true).await;

    let shown = zoom_symbl(&stack, &["redrive", "--queue", "work", "--dry-run"]).await;
    println!("$ zoom-symbl redrive --queue work --dry-run\n{}", shown.stdout);
    assert_eq!(shown.code, 0, "{shown:?}");
    assert!(
        shown.stdout.contains(&key) && shown.stdout.contains("Moved nothing"),
        "{}",
        shown.stdout
    );
    let moved = zoom_symbl(&stack, &["--json", "redrive", "--queue", "work"]).await;
    assert_eq!(moved.code, 0, "{moved:?}");
    let moved = moved.json();
    assert_eq!(moved["moved"], 1, "{moved:#}");
    assert_eq!(moved["dead_letters"][0]["meeting"], key.as_str());

    let mail = stack
        .one_mail(&format!("Redrive {tag}"), WAIT, Duration::from_secs(3))
        .await;
    assert!(mail.subject.contains(&format!("Redrive {tag}")));
    let empty = zoom_symbl(&stack, &["redrive", "--queue", "work"]).await;
    assert_eq!(empty.code, 0, "{empty:?}");
    assert!(empty.stdout.contains("No dead letters"), "{}", empty.stdout);
}
