//! zoom-webhook on the deployed local stack, driven through its API Gateway URL the way
//! Zoom drives it.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Result;
use aws_sdk_dynamodb::types::AttributeValue;
use e2e::{eventually, http, sample_recording_completed, unix_now, Stack};
use serde_json::Value;
use zoom_sandbox::webhook::{send_signed, url_validation_body};
use zoom_symbl_core::keys::MeetingKey;
use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::zoom::WebhookVerifier;

async fn post(stack: &Stack, body: &[u8], ts: i64) -> (u16, Value) {
    let (status, text) = send_signed(&http(), &stack.zoom_webhook_url, &stack.zoom_webhook_secret, body, ts)
        .await
        .expect("POST to the zoom webhook");
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON reply ({status}): {text}"));
    (status, json)
}

#[tokio::test]
async fn url_validation_is_answered_with_the_hmac_of_the_plain_token() {
    let stack = Stack::load();
    let (status, reply) = post(&stack, &url_validation_body("qgg8vlvZRS6UYooatFL8Aw", unix_now() * 1000), unix_now()).await;
    assert_eq!(status, 200, "{reply}");
    let expected = WebhookVerifier::new(SecretString::new(&stack.zoom_webhook_secret), 300)
        .unwrap()
        .encrypt_token("qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(reply["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(reply["encryptedToken"], expected.as_str());
}

#[tokio::test]
async fn forged_stale_malformed_and_oversized_requests_are_refused() {
    let stack = Stack::load();
    let (uuid, event) = sample_recording_completed();
    let body = serde_json::to_vec(&event).unwrap();
    let client = http();

    // Signed with another secret.
    let (status, _) = send_signed(&client, &stack.zoom_webhook_url, "not-the-secret", &body, unix_now()).await.unwrap();
    assert_eq!(status, 401);
    // No signature headers at all.
    let resp = client.post(&stack.zoom_webhook_url).body(body.clone()).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let err: Value = resp.json().await.unwrap();
    assert!(err["error"].is_string(), "{err}");
    // Correctly signed, but outside the 300 s window.
    assert_eq!(post(&stack, &body, unix_now() - 600).await.0, 401);
    // Malformed JSON under a valid signature.
    assert_eq!(post(&stack, b"{\"event\": \"recording.completed\", ", unix_now()).await.0, 400);
    // Over 1 MiB.
    let big = format!("{{\"event\":\"meeting.started\",\"pad\":\"{}\"}}", "a".repeat(1 << 20));
    assert_eq!(post(&stack, big.as_bytes(), unix_now()).await.0, 413);
    // Other event types are acknowledged and ignored.
    let (status, reply) = post(&stack, br#"{"event":"meeting.started","payload":{"object":{}}}"#, unix_now()).await;
    assert_eq!((status, reply["status"].as_str()), (200, Some("ignored")));

    // None of it claimed the meeting.
    assert!(meeting_item(&stack, &uuid).await.is_none());
}

#[tokio::test]
async fn disallowed_download_hosts_are_refused_and_nothing_is_claimed() {
    let stack = Stack::load();
    for bad in ["https://169.254.169.254/latest/meta-data", "http://us02web.zoom.us/rec/webhook_download/x", "https://zoom.us.evil.example/x"] {
        let (uuid, mut event) = sample_recording_completed();
        event["payload"]["object"]["participant_audio_files"][1]["download_url"] = Value::String(bad.into());
        let (status, reply) = post(&stack, &serde_json::to_vec(&event).unwrap(), unix_now()).await;
        assert_eq!(status, 400, "{bad}: {reply}");
        assert!(meeting_item(&stack, &uuid).await.is_none(), "{bad} was claimed");
    }
}

/// One test owns the producer's failure queue, so no other test consumes its messages.
#[tokio::test]
async fn recording_completed_claims_the_meeting_and_invokes_the_producer_exactly_once() {
    let stack = Stack::load();
    let (uuid, event) = sample_recording_completed();
    let key = MeetingKey::from_uuid(&uuid);
    let body = serde_json::to_vec(&event).unwrap();

    let (status, reply) = post(&stack, &body, unix_now()).await;
    assert_eq!((status, reply["status"].as_str()), (200, Some("accepted")), "{reply}");

    let item = meeting_item(&stack, &uuid).await.expect("claim written");
    assert_eq!(item.get("uuid").and_then(|v| v.as_s().ok()).map(String::as_str), Some(uuid.as_str()));
    assert_eq!(item.get("topic").and_then(|v| v.as_s().ok()).map(String::as_str), Some("Q3 planning sync"));
    assert_eq!(item.get("status").and_then(|v| v.as_s().ok()).map(String::as_str), Some("dispatched"));

    // A duplicate delivery (Zoom retries) is acknowledged and starts nothing.
    let (status, reply) = post(&stack, &body, unix_now()).await;
    assert_eq!((status, reply["status"].as_str()), (200, Some("duplicate")), "{reply}");

    // The producer received the job: until its own issue lands it refuses to start, so the
    // async invocation's failure destination keeps the event, which shows what it was given.
    let first = eventually("the producer invocation", Duration::from_secs(90), || producer_jobs(&stack, &key))
        .await
        .unwrap();
    let payload = &first[0];
    assert_eq!(payload["event"]["payload"]["object"]["uuid"], uuid.as_str());
    assert_eq!(payload["event"]["download_token"], event["download_token"]);
    // Give a second (wrong) invoke time to surface, then count.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(producer_jobs(&stack, &key).await.unwrap().map_or(0, |v| v.len()), 1, "the producer was invoked more than once");
}

async fn meeting_item(stack: &Stack, uuid: &str) -> Option<std::collections::HashMap<String, AttributeValue>> {
    stack
        .dynamodb()
        .await
        .get_item()
        .table_name(stack.output("MeetingsTableName"))
        .key("meeting_key", AttributeValue::S(MeetingKey::from_uuid(uuid).to_string()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
}

/// Producer jobs for this meeting found in the producer's failure queue (peeked, not consumed).
async fn producer_jobs(stack: &Stack, key: &MeetingKey) -> Result<Option<Vec<Value>>> {
    let sqs = stack.sqs().await;
    let mut seen = HashSet::new();
    let mut jobs = Vec::new();
    for _ in 0..5 {
        let out = sqs
            .receive_message()
            .queue_url(stack.output("ProducerFailureQueueUrl"))
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await?;
        for m in out.messages() {
            let Some(id) = m.message_id() else { continue };
            let record: Value = serde_json::from_str(m.body().unwrap_or("{}"))?;
            let payload = match &record["requestPayload"] {
                Value::String(s) => serde_json::from_str(s)?,
                other => other.clone(),
            };
            if payload["meeting_key"] == key.as_str() && seen.insert(id.to_owned()) {
                jobs.push(payload);
            }
        }
    }
    Ok((!jobs.is_empty()).then_some(jobs))
}
