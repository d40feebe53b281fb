//! zoom-webhook on the deployed local stack, driven through its API Gateway URL the way
//! Zoom drives it.

use std::time::Duration;

use e2e::{attr_s, deliver, http, record, sample_recording_completed, sandbox, submissions_of, symbl, unix_now, Stack};
use serde_json::Value;
use zoom_sandbox::webhook::{send_signed, url_validation_body};
use zoom_sandbox::MeetingSpec;
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
    let (status, reply) = post(
        &stack,
        &url_validation_body("qgg8vlvZRS6UYooatFL8Aw", unix_now() * 1000),
        unix_now(),
    )
    .await;
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
    let (status, _) = send_signed(&client, &stack.zoom_webhook_url, "not-the-secret", &body, unix_now())
        .await
        .unwrap();
    assert_eq!(status, 401);
    // No signature headers at all.
    let resp = client
        .post(&stack.zoom_webhook_url)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let err: Value = resp.json().await.unwrap();
    assert!(err["error"].is_string(), "{err}");
    // Correctly signed, but outside the 300 s window.
    assert_eq!(post(&stack, &body, unix_now() - 600).await.0, 401);
    // Malformed JSON under a valid signature.
    assert_eq!(
        post(&stack, b"{\"event\": \"recording.completed\", ", unix_now())
            .await
            .0,
        400
    );
    // Over 1 MiB.
    let big = format!("{{\"event\":\"meeting.started\",\"pad\":\"{}\"}}", "a".repeat(1 << 20));
    assert_eq!(post(&stack, big.as_bytes(), unix_now()).await.0, 413);
    // Other event types are acknowledged and ignored.
    let (status, reply) = post(
        &stack,
        br#"{"event":"meeting.started","payload":{"object":{}}}"#,
        unix_now(),
    )
    .await;
    assert_eq!((status, reply["status"].as_str()), (200, Some("ignored")));

    // None of it claimed the meeting.
    assert!(stack.meeting(&uuid).await.is_none());
}

#[tokio::test]
async fn disallowed_download_hosts_are_refused_and_nothing_is_claimed() {
    let stack = Stack::load();
    for bad in [
        "https://169.254.169.254/latest/meta-data",
        "http://us02web.zoom.us/rec/webhook_download/x",
        "https://zoom.us.evil.example/x",
    ] {
        let (uuid, mut event) = sample_recording_completed();
        event["payload"]["object"]["participant_audio_files"][1]["download_url"] = Value::String(bad.into());
        let (status, reply) = post(&stack, &serde_json::to_vec(&event).unwrap(), unix_now()).await;
        assert_eq!(status, 400, "{bad}: {reply}");
        assert!(stack.meeting(&uuid).await.is_none(), "{bad} was claimed");
    }
}

#[tokio::test]
async fn recording_completed_claims_the_meeting_and_starts_the_producer_exactly_once() {
    let stack = Stack::load();
    symbl();
    let meeting = record(MeetingSpec::staggered(2, 12.0)).await;
    let uuid = meeting.spec.uuid.clone();
    let event = sandbox().recording_completed(&meeting, &sandbox().default_download_token());

    let (status, reply) = deliver(&stack, &event).await;
    assert_eq!((status, reply["status"].as_str()), (200, Some("accepted")), "{reply}");
    let item = stack.meeting(&uuid).await.expect("claim written");
    assert_eq!(attr_s(&item, "uuid"), Some(uuid.as_str()));
    assert_eq!(attr_s(&item, "topic"), Some(meeting.spec.topic.as_str()));
    // The record expires with the deployment's retention (30 days), through the table's TTL.
    let expires: i64 = item
        .get("expires_at")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .expect("expires_at");
    assert!((expires - unix_now() - 30 * 86_400).abs() < 600, "expires_at {expires}");

    // A duplicate delivery (Zoom retries) is acknowledged and starts nothing.
    let (status, reply) = deliver(&stack, &event).await;
    assert_eq!((status, reply["status"].as_str()), (200, Some("duplicate")), "{reply}");

    // The producer ran once, so the meeting reached Symbl once.
    stack
        .meeting_in(&uuid, &["submitted", "transcribed"], Duration::from_secs(240))
        .await
        .unwrap();
    assert_eq!(submissions_of(&uuid).len(), 1);
}

/// A delivery killed between its claim and the producer's invoke (a webhook timed out under
/// a burst) must not lose the meeting: while its lease is live Zoom's next delivery is a
/// `duplicate`, once it lapses the next delivery takes the claim over and starts it, once.
#[tokio::test]
async fn a_claim_left_by_a_dead_delivery_is_taken_over_by_the_next_delivery_once_its_lease_lapses() {
    use zoom_symbl_core::aws::meetings::DynamoMeetings;
    use zoom_symbl_core::ports::{ClaimOutcome, MeetingClaim, MeetingClaims};

    let stack = Stack::load();
    symbl();
    let meeting = record(MeetingSpec::staggered(2, 12.0)).await;
    let uuid = meeting.spec.uuid.clone();
    let event = sandbox().recording_completed(&meeting, &sandbox().default_download_token());

    // The dead delivery: its claim, with a short lease, and no producer started.
    let claims = DynamoMeetings::new(stack.dynamodb().await, stack.output("MeetingsTableName"));
    let now = unix_now();
    let dead = MeetingClaim {
        claim_id: "killed-delivery".into(),
        lease_until: now + 3,
        ..MeetingClaim::of_delivery(&serde_json::from_value(event.clone()).unwrap(), None, now, 0)
    };
    assert_eq!(claims.claim(&dead, now).await.unwrap(), ClaimOutcome::Claimed);

    let (status, reply) = deliver(&stack, &event).await;
    assert_eq!(
        (status, reply["status"].as_str()),
        (200, Some("duplicate")),
        "live lease: {reply}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (status, reply) = deliver(&stack, &event).await;
    assert_eq!(
        (status, reply["status"].as_str()),
        (200, Some("accepted")),
        "lapsed lease: {reply}"
    );
    let item = stack.meeting(&uuid).await.expect("claim");
    assert_ne!(
        attr_s(&item, "claim_id"),
        Some("killed-delivery"),
        "the claim was taken over"
    );
    let (status, reply) = deliver(&stack, &event).await;
    assert_eq!(
        (status, reply["status"].as_str()),
        (200, Some("duplicate")),
        "started once: {reply}"
    );

    stack
        .meeting_in(&uuid, &["submitted", "transcribed"], Duration::from_secs(240))
        .await
        .unwrap();
    assert_eq!(submissions_of(&uuid).len(), 1);
}
