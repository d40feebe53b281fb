//! symbl-webhook's answers to bad input, through the local API Gateway, with the deployment's
//! real callback URL (taken from what the Symbl sandbox was given): forged and tokenless
//! requests are in pipeline.rs; here the authenticated ones that are oversized, malformed,
//! for an unknown job, or replayed.

use std::time::Duration;

use e2e::{attr_s, deliver, eventually, http, record, sandbox, symbl, Stack};
use serde_json::json;
use symbl_sandbox::WebhookPlan;
use zoom_sandbox::MeetingSpec;

#[tokio::test]
async fn authenticated_but_oversized_malformed_unknown_or_replayed_callbacks_change_nothing_twice() {
    let stack = Stack::load();
    // The job completes at Symbl, but its `completed` webhook is lost: we send it ourselves.
    symbl().set_webhooks(WebhookPlan {
        lose_statuses: vec!["completed".into()],
        ..WebhookPlan::default()
    });
    let mut spec = MeetingSpec::staggered(2, 12.0);
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    spec.topic = format!("Callback checks {tag}");
    let m = record(spec).await;
    let (status, reply) = deliver(
        &stack,
        &sandbox().recording_completed(&m, &sandbox().default_download_token()),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let item = stack
        .meeting_in(&m.spec.uuid, &["submitted"], Duration::from_secs(300))
        .await
        .unwrap();
    let job_id = attr_s(&item, "job_id").unwrap().to_owned();
    let url = eventually("the callback URL Symbl was given", Duration::from_secs(60), || async {
        Ok(symbl()
            .webhooks_sent()
            .into_iter()
            .map(|(u, _, _)| u)
            .find(|u| u.contains("/symbl/webhook?t=")))
    })
    .await
    .unwrap();
    symbl().set_webhooks(WebhookPlan::default());
    let post = |body: Vec<u8>| {
        let url = url.clone();
        async move {
            let r = http()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };

    let big = format!(
        r#"{{"jobId":"{job_id}","status":"completed","pad":"{}"}}"#,
        "a".repeat(16 * 1024)
    );
    assert_eq!(post(big.into_bytes()).await.0, 413);
    for bad in [
        &b"{\"jobId\": "[..],
        b"[]",
        b"{\"status\":\"completed\"}",
        b"{\"jobId\":\"\",\"status\":\"completed\"}",
        b"{\"jobId\":\"j\",\"status\":\"exploded\"}",
    ] {
        assert_eq!(post(bad.to_vec()).await.0, 400, "{}", String::from_utf8_lossy(bad));
    }
    let unknown = json!({"jobId": "00000000-0000-0000-0000-000000000000", "status": "completed"}).to_string();
    // At this meeting's URL an unknown job is passed on, for the notifier to adopt if Symbl
    // confirmed it (it does not, and the meeting has its own job); at a URL naming no
    // meeting it is ignored at once.
    let (status, reply) = post(unknown.clone().into_bytes()).await;
    assert_eq!((status, reply["status"].as_str()), (200, Some("accepted")));
    let bare = url.split("&m=").next().unwrap_or(&url).to_owned();
    assert_ne!(bare, url, "the callback URL names its meeting");
    let r = http()
        .post(&bare)
        .header("content-type", "application/json")
        .body(unknown)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["status"], "ignored");
    assert_ne!(
        attr_s(&stack.job(&job_id).await.unwrap(), "status"),
        Some("completed"),
        "nothing above finished the job"
    );

    // The real `completed`, delivered three times: applied once, one email.
    for _ in 0..3 {
        let (status, reply) = post(json!({"id": job_id, "status": "completed"}).to_string().into_bytes()).await;
        assert_eq!(status, 200, "{reply}");
    }
    eventually("the host's email", Duration::from_secs(300), || async {
        Ok(stack.mails(&tag).into_iter().next())
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(stack.mails(&tag).len(), 1, "replays sent a second email");
    assert_eq!(attr_s(&stack.job(&job_id).await.unwrap(), "status"), Some("completed"));
}
