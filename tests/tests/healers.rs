//! The reconciler's healers on the local stack: each test drives a meeting into a state that
//! nothing else would leave (a delivery killed between its claim and the producer's invoke, a
//! producer that never started, a work item dead-lettered, healers run out) and runs the
//! reconciler as its schedule does. Each ends in exactly one email with the slot released.
//!
//! The tests change no shared knob, so they run side by side.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use e2e::{attr_s, deliver, eventually, record, sandbox, symbl, unix_now, Stack};
use zoom_sandbox::{GeneratedMeeting, MeetingSpec};
use zoom_symbl_core::aws::meetings::DynamoMeetings;
use zoom_symbl_core::meeting_key::MeetingKey;
use zoom_symbl_core::ports::{ClaimOutcome, MeetingClaim, MeetingClaims};
use zoom_symbl_core::zoom::RecordingCompleted;

const WAIT: Duration = Duration::from_secs(300);

/// A recorded meeting whose topic carries a unique tag (its emails are found by it).
async fn meeting() -> (GeneratedMeeting, String) {
    let mut spec = MeetingSpec::staggered(2, 12.0);
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    spec.topic = format!("Healer check {tag}");
    (record(spec).await, tag)
}

fn event_of(m: &GeneratedMeeting) -> serde_json::Value {
    sandbox().recording_completed(m, &sandbox().default_download_token())
}

/// What a delivery killed right after its claim leaves: a `received` claim whose lease has
/// lapsed, the event kept with it, no producer started.
async fn dead_delivery(stack: &Stack, m: &GeneratedMeeting) -> MeetingClaim {
    let event: RecordingCompleted = serde_json::from_value(event_of(m)).unwrap();
    let now = unix_now();
    let claim = MeetingClaim {
        claim_id: "killed-delivery".into(),
        lease_until: now - 1,
        ..MeetingClaim::of_delivery(&event, None, now, 0)
    };
    let claims = DynamoMeetings::new(stack.dynamodb().await, stack.output("MeetingsTableName"));
    assert_eq!(claims.claim(&claim, now).await.unwrap(), ClaimOutcome::Claimed);
    claim
}

/// Sets attributes of a meeting's record, as a step that happened long ago would have left them.
async fn set(stack: &Stack, key: &str, attrs: &[(&str, AttributeValue)]) {
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let mut sets = Vec::new();
    for (i, (name, value)) in attrs.iter().enumerate() {
        names.insert(format!("#a{i}"), (*name).to_owned());
        values.insert(format!(":v{i}"), value.clone());
        sets.push(format!("#a{i} = :v{i}"));
    }
    stack
        .dynamodb()
        .await
        .update_item()
        .table_name(stack.output("MeetingsTableName"))
        .key("meeting_key", AttributeValue::S(key.to_owned()))
        .update_expression(format!("SET {}", sets.join(", ")))
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .send()
        .await
        .unwrap();
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// One run of the reconciler, as its schedule starts it (the schedule's own runs may overlap:
/// every heal is conditional on what it saw).
async fn reconcile(stack: &Stack) -> String {
    let out = stack
        .lambda()
        .await
        .invoke()
        .function_name(stack.output("NotifierFunctionName"))
        .payload(aws_sdk_lambda::primitives::Blob::new(
            br#"{"detail-type":"Scheduled Event","source":"aws.events"}"#.to_vec(),
        ))
        .send()
        .await
        .unwrap();
    let reply = String::from_utf8_lossy(out.payload().map(|b| b.as_ref()).unwrap_or_default()).into_owned();
    assert!(out.function_error().is_none(), "{reply}");
    reply
}

/// Exactly one email whose subject has `tag`, and the meeting's slot released.
async fn one_email(stack: &Stack, tag: &str, uuid: &str) -> e2e::Mail {
    let mail = stack.one_mail(tag, WAIT, Duration::from_secs(3)).await;
    let key = MeetingKey::from_uuid(uuid).to_string();
    eventually("the slot released", Duration::from_secs(30), || async {
        Ok((!stack.slot_holders().await?.contains(&key)).then_some(()))
    })
    .await
    .unwrap();
    mail
}

fn heals(item: &HashMap<String, AttributeValue>) -> i64 {
    item.get("heals")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_delivery_killed_between_claim_and_invoke_is_started_by_the_reconciler() {
    let stack = Stack::load();
    symbl();
    let (m, tag) = meeting().await;
    dead_delivery(&stack, &m).await;
    reconcile(&stack).await;
    let mail = one_email(&stack, &tag, &m.spec.uuid).await;
    assert!(mail.subject.starts_with("Meeting insights: "), "{}", mail.subject);
    let item = stack.meeting(&m.spec.uuid).await.unwrap();
    assert_eq!(heals(&item), 1, "started once, by the healer");
    // Zoom delivering again now is a duplicate: the healer started the meeting.
    let (status, reply) = deliver(&stack, &event_of(&m)).await;
    assert_eq!((status, reply["status"].as_str()), (200, Some("duplicate")), "{reply}");
}

#[tokio::test]
async fn a_producer_that_never_started_is_started_again() {
    let stack = Stack::load();
    symbl();
    let (m, tag) = meeting().await;
    let claim = dead_delivery(&stack, &m).await;
    let claims = DynamoMeetings::new(stack.dynamodb().await, stack.output("MeetingsTableName"));
    claims.mark_dispatched(&claim).await.unwrap();
    // The async invoke was accepted but the producer never ran (a cold-start failure, the
    // event aged out): its deadline passed long ago.
    set(&stack, claim.key.as_str(), &[("due_at", n(unix_now() - 1))]).await;
    reconcile(&stack).await;
    one_email(&stack, &tag, &m.spec.uuid).await;
    assert_eq!(heals(&stack.meeting(&m.spec.uuid).await.unwrap()), 1);
}

#[tokio::test]
async fn a_meeting_whose_healers_ran_out_fails_with_one_failure_email() {
    let stack = Stack::load();
    let (m, tag) = meeting().await;
    let claim = dead_delivery(&stack, &m).await;
    let claims = DynamoMeetings::new(stack.dynamodb().await, stack.output("MeetingsTableName"));
    claims.mark_dispatched(&claim).await.unwrap();
    set(
        &stack,
        claim.key.as_str(),
        &[("due_at", n(unix_now() - 1)), ("heals", n(3))],
    )
    .await;
    reconcile(&stack).await;
    let item = stack
        .meeting_in(&m.spec.uuid, &["failed"], Duration::from_secs(30))
        .await
        .unwrap();
    let reason = attr_s(&item, "failure_reason").unwrap_or_default().to_owned();
    assert!(reason.contains("did not start after 3 restarts"), "{reason}");
    let mail = one_email(&stack, &tag, &m.spec.uuid).await;
    assert!(mail.text.contains(&reason), "the email says why: {}", mail.text);
    assert!(!item.contains_key("audio"), "no producer ran");
}

/// A meeting in `state` since long ago, with the audio of one made the ordinary way (its
/// topic its own, so its email is found by it). Returns it and its email's tag.
async fn stuck_with_audio(stack: &Stack, state: &str) -> (GeneratedMeeting, String) {
    let (done, _) = meeting().await;
    let (status, reply) = deliver(stack, &event_of(&done)).await;
    assert_eq!(status, 200, "{reply}");
    let produced = stack.produced(&done.spec.uuid, WAIT).await.unwrap();
    let Some(AttributeValue::M(mut audio)) = produced.get("audio").cloned() else {
        panic!("no audio on {produced:?}")
    };
    let (m, tag) = meeting().await;
    audio.insert("topic".into(), AttributeValue::S(m.spec.topic.clone()));
    let key = MeetingKey::from_uuid(&m.spec.uuid).to_string();
    stack
        .dynamodb()
        .await
        .put_item()
        .table_name(stack.output("MeetingsTableName"))
        .item("meeting_key", AttributeValue::S(key))
        .item("uuid", AttributeValue::S(m.spec.uuid.clone()))
        .item("status", AttributeValue::S(state.into()))
        .item("topic", AttributeValue::S(m.spec.topic.clone()))
        .item("host_email", AttributeValue::S(m.spec.host_email.clone()))
        .item("audio", AttributeValue::M(audio))
        .item("due_at", n(unix_now() - 1))
        .send()
        .await
        .unwrap();
    (m, tag)
}

/// The `Message-ID` header of a received email.
fn message_id(mail: &e2e::Mail) -> String {
    String::from_utf8_lossy(&mail.raw)
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(name, _)| name.eq_ignore_ascii_case("message-id"))
                .map(|(_, v)| v.trim().to_owned())
        })
        .expect("a Message-ID header")
}

/// `text` with every link token (`?t=...` up to the next space or line end) left out.
fn without_link_tokens(text: &str) -> String {
    let mut parts = text.split("?t=");
    let mut out = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        out.push_str("?t=…");
        out.push_str(&part[part.find(char::is_whitespace).unwrap_or(part.len())..]);
    }
    out
}

#[tokio::test]
async fn an_email_whose_settle_was_lost_is_sent_again_with_its_message_id_and_settled() {
    let stack = Stack::load();
    symbl();
    let (m, tag) = meeting().await;
    let (status, reply) = deliver(&stack, &event_of(&m)).await;
    assert_eq!(status, 200, "{reply}");
    let first = one_email(&stack, &tag, &m.spec.uuid).await;
    let record = stack.meeting(&m.spec.uuid).await.unwrap();
    let job_id = attr_s(&record, "job_id").expect("the meeting's job").to_owned();
    // The relay took the email, then the sender died before recording it: the job record
    // as the claim left it, an hour ago.
    stack
        .dynamodb()
        .await
        .update_item()
        .table_name(stack.output("JobsTableName"))
        .key("job_id", AttributeValue::S(job_id.clone()))
        .update_expression("SET email_state = :sending, email_claimed_at = :then, due_at = :due REMOVE email_detail")
        .expression_attribute_values(":sending", AttributeValue::S("sending".into()))
        .expression_attribute_values(":then", n(unix_now() - 3_600))
        .expression_attribute_values(":due", n(unix_now() - 1))
        .send()
        .await
        .unwrap();
    reconcile(&stack).await;
    let mails = eventually("the email sent again", Duration::from_secs(30), || async {
        let mails = stack.mails(&tag);
        Ok((mails.len() == 2).then_some(mails))
    })
    .await
    .unwrap();
    assert_eq!(
        message_id(&mails[1]),
        message_id(&first),
        "one Message-ID: the mail client folds them"
    );
    // The same email but for the page link's token, which each send signs afresh.
    assert_eq!(
        without_link_tokens(&mails[1].text),
        without_link_tokens(&first.text),
        "rendered from the stored insights"
    );
    let job = stack.job(&job_id).await.unwrap();
    assert_eq!(attr_s(&job, "email_state"), Some("sent"));
    reconcile(&stack).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stack.mails(&tag).len(), 2, "settled: not sent a third time");
}

#[tokio::test]
async fn a_queued_meeting_whose_work_item_was_dead_lettered_is_queued_again() {
    let stack = Stack::load();
    symbl();
    // Queued an hour ago; its work item went to the DLQ after its receives ran out, and
    // nothing touched the record since.
    let (m, tag) = stuck_with_audio(&stack, "queued").await;
    let key = MeetingKey::from_uuid(&m.spec.uuid).to_string();
    let body = serde_json::json!({ "meeting_key": key, "produced_at": "2026-01-01T00:00:00Z" }).to_string();
    stack
        .sqs()
        .await
        .send_message()
        .queue_url(stack.output("WorkDeadLetterQueueUrl"))
        .message_body(&body)
        .send()
        .await
        .unwrap();

    reconcile(&stack).await;
    let mail = one_email(&stack, &tag, &m.spec.uuid).await;
    assert!(mail.subject.starts_with("Meeting insights: "), "{}", mail.subject);
    let item = stack.meeting(&m.spec.uuid).await.unwrap();
    assert_eq!(heals(&item), 1, "queued again once");
    assert!(item.contains_key("healed_at"), "the record says the healer moved it");
}

#[tokio::test]
async fn a_produced_meeting_whose_enqueue_failed_is_queued() {
    let stack = Stack::load();
    symbl();
    // The producer saved the audio, then its last attempt's enqueue failed.
    let (m, tag) = stuck_with_audio(&stack, "produced").await;
    reconcile(&stack).await;
    let mail = one_email(&stack, &tag, &m.spec.uuid).await;
    assert!(mail.subject.starts_with("Meeting insights: "), "{}", mail.subject);
    assert_eq!(heals(&stack.meeting(&m.spec.uuid).await.unwrap()), 1);
}

#[tokio::test]
async fn a_lapsed_production_attempt_cannot_overwrite_the_winner() {
    use zoom_symbl_core::ports::{Finality, MeetingStore, ProductionStart};
    use zoom_symbl_core::testkit::AudioBuilder;

    let stack = Stack::load();
    let key = MeetingKey::from_uuid(&format!("lapsed-{}", uuid::Uuid::new_v4()));
    let store = DynamoMeetings::new(stack.dynamodb().await, stack.output("MeetingsTableName"));
    assert_eq!(
        store.begin_production(&key, 1, 0).await.unwrap(),
        ProductionStart::Produce { attempt: 1 }
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        store.begin_production(&key, 1, 60).await.unwrap(),
        ProductionStart::Produce { attempt: 2 }
    );
    let late = AudioBuilder::sample().topic("attempt one").build();
    assert!(store.save_produced(&key, 1, &late).await.unwrap_err().is_retryable());
    store
        .mark_failed(&key, 1, "attempt one gave up", Finality::Final)
        .await
        .unwrap();
    let item = stack.meeting(&key.uuid()).await;
    assert_eq!(item.as_ref().and_then(|i| attr_s(i, "status")), Some("producing"));
    store
        .save_produced(&key, 2, &AudioBuilder::sample().build())
        .await
        .unwrap();
    let item = stack.meeting(&key.uuid()).await.unwrap();
    assert_eq!(attr_s(&item, "status"), Some("produced"));
    assert_ne!(attr_s(&item, "topic"), Some("attempt one"));
}
