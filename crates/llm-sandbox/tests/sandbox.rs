//! The sandbox in-process over real HTTP, sent what ministack 1.5.33 sends for a Converse
//! call with our `record_insights` tool.

// An integration test: a panic here is a failed test, as in `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use llm_sandbox::{insights_for, Faults, LlmSandbox, FOREIGN_ASSIGNEE, TOOL_NAME};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const TRANSCRIPT: &str =
    "Meeting: Weekly sync\nDate: 2026-03-04 (Europe/Paris)\nParticipants: Dana Host; Lee\nTranscript:\n\
    [00:00:01] Dana Host: Welcome everyone, great to see the roadmap moving.\n\
    [00:00:09] Lee: Can we review the roadmap budget?\n\
    [00:00:15] Dana Host: I'll send the budget draft by Friday.\n\
    [00:01:02] Lee: Marketing will publish the roadmap next week.\n\
    [00:01:30] Dana Host: Let's follow up on hiring and meet again soon.\n";

async fn sandbox() -> LlmSandbox {
    LlmSandbox::start(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap()
}

/// The request ministack builds from our Converse call (system, one user turn, the tool,
/// `toolChoice.any`).
fn request(user: Value) -> Value {
    json!({
        "model": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        "messages": [
            {"role": "system", "content": "You extract meeting insights. Call record_insights."},
            {"role": "user", "content": user},
        ],
        "stream": false,
        "tools": [{"type": "function", "function": {
            "name": TOOL_NAME,
            "description": "Record the meeting's insights.",
            "parameters": {"type": "object", "required": ["summary", "topics", "questions", "action_items", "follow_ups"]},
        }}],
        "tool_choice": "required",
        "max_tokens": 4096,
        "temperature": 0,
    })
}

async fn post(sb: &LlmSandbox, body: &Value) -> (StatusCode, Value) {
    let res = Client::new()
        .post(format!("{}/v1/chat/completions", sb.url()))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

/// The tool call's arguments: a JSON string, parsed.
fn arguments(answer: &Value) -> Result<Value, serde_json::Error> {
    let raw = answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
        .as_str()
        .expect("arguments is a string");
    serde_json::from_str(raw)
}

fn expected() -> Value {
    json!({
        "summary": ["Dana Host (3 lines) and Lee (2 lines) discussed Weekly sync."],
        "topics": [
            {"text": "roadmap", "sentiment": "positive"},
            {"text": "budget", "sentiment": "positive"},
            {"text": "draft", "sentiment": "positive"}
        ],
        "questions": [{"text": "Can we review the roadmap budget?", "asked_by": "Lee"}],
        "action_items": [
            {"text": "I'll send the budget draft by Friday.", "assignee": "Dana Host", "due_date": "2026-03-06"},
            {"text": "Marketing will publish the roadmap next week.", "assignee": "Lee", "due_date": "2026-03-11"}
        ],
        "follow_ups": [
            {"text": "Let's follow up on hiring and meet again soon.", "assignee": "Dana Host", "due_date": null}
        ]
    })
}

#[tokio::test]
async fn answers_in_openai_shape_with_the_exact_insights() {
    let sb = sandbox().await;
    let (status, answer) = post(&sb, &request(json!(TRANSCRIPT))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(answer["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(answer["object"], "chat.completion");
    assert!(answer["created"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(answer["model"], "us.anthropic.claude-haiku-4-5-20251001-v1:0");
    let choice = &answer["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(choice["message"]["content"].is_null());
    let call = &choice["message"]["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], TOOL_NAME);
    assert_eq!(arguments(&answer).unwrap(), expected());
    let usage = &answer["usage"];
    let (p, c) = (
        usage["prompt_tokens"].as_u64().unwrap(),
        usage["completion_tokens"].as_u64().unwrap(),
    );
    assert!(p > 0 && c > 0);
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), p + c);
    // The same request, the same answer (id included).
    let (_, again) = post(&sb, &request(json!(TRANSCRIPT))).await;
    assert_eq!(again["id"], answer["id"]);
    assert_eq!(again["choices"], answer["choices"]);
}

#[tokio::test]
async fn content_as_an_array_of_text_parts() {
    let sb = sandbox().await;
    let (head, tail) = TRANSCRIPT.split_at(TRANSCRIPT.find("Transcript:").unwrap());
    let parts = json!([{"type": "text", "text": head.trim_end()}, {"type": "text", "text": tail}]);
    let (status, answer) = post(&sb, &request(parts)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(arguments(&answer).unwrap(), expected());
}

#[tokio::test]
async fn combine_concatenates_the_parts() {
    let sb = sandbox().await;
    let part = |k: u32, body: &str| {
        format!("Meeting: Weekly sync\nDate: 2026-03-04 (Europe/Paris)\nParticipants: Dana Host; Lee\nPart {k} of 2\nTranscript:\n{body}")
    };
    let one = part(
        1,
        "[00:00:01] Lee: Should we ship the release?\n[00:00:05] Dana Host: I'll ship the release.\n",
    );
    let two = part(
        2,
        "[00:30:00] Dana Host: I'll ship the release.\n[00:30:09] Lee: We will follow up next week.\n",
    );
    let (_, a) = post(&sb, &request(json!(one))).await;
    let (_, b) = post(&sb, &request(json!(two))).await;
    let (a, b) = (arguments(&a).unwrap(), arguments(&b).unwrap());
    assert_eq!(
        a["summary"][0],
        "Lee (1 line) and Dana Host (1 line) discussed Weekly sync (part 1 of 2)."
    );
    let combine = format!(
        "Meeting: Weekly sync\nDate: 2026-03-04 (Europe/Paris)\nParticipants: Dana Host; Lee\n\
         Partial insights (JSON, one per part, in order):\n{}",
        Value::Array(vec![a.clone(), b.clone()])
    );
    let (status, answer) = post(&sb, &request(json!(combine))).await;
    assert_eq!(status, StatusCode::OK);
    let got = arguments(&answer).unwrap();
    assert_eq!(
        got["summary"],
        json!([
            "Lee (1 line) and Dana Host (1 line) discussed Weekly sync (part 1 of 2).",
            "Dana Host (1 line) and Lee (1 line) discussed Weekly sync (part 2 of 2)."
        ])
    );
    assert_eq!(
        got["questions"],
        json!([{"text": "Should we ship the release?", "asked_by": "Lee"}])
    );
    // The duplicate "I'll ship the release." is kept once.
    assert_eq!(
        got["action_items"],
        json!([
            {"text": "I'll ship the release.", "assignee": "Dana Host", "due_date": null},
            {"text": "We will follow up next week.", "assignee": "Lee", "due_date": "2026-03-11"}
        ])
    );
    assert_eq!(
        got["follow_ups"],
        json!([{"text": "We will follow up next week.", "assignee": "Lee", "due_date": "2026-03-11"}])
    );
    assert_eq!(got["topics"][0]["text"], "release");
    assert_eq!(sb.requests()[2].kind, "combine");
}

#[tokio::test]
async fn invalid_json_knob_then_counts_down() {
    let sb = sandbox().await;
    sb.set_faults(Faults {
        invalid_json_times: 2,
        ..Faults::default()
    });
    for left in [1, 0] {
        let (status, answer) = post(&sb, &request(json!(TRANSCRIPT))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(arguments(&answer).is_err(), "arguments must not parse");
        assert_eq!(sb.faults().invalid_json_times, left);
    }
    let (_, answer) = post(&sb, &request(json!(TRANSCRIPT))).await;
    assert_eq!(arguments(&answer).unwrap(), expected());
}

#[tokio::test]
async fn missing_field_knob_omits_follow_ups_once() {
    let sb = sandbox().await;
    sb.set_faults(Faults {
        missing_field_times: 1,
        ..Faults::default()
    });
    let (_, answer) = post(&sb, &request(json!(TRANSCRIPT))).await;
    let args = arguments(&answer).unwrap();
    assert!(args.get("follow_ups").is_none());
    assert!(args.get("action_items").is_some());
    assert_eq!(sb.faults().missing_field_times, 0);
    let (_, answer) = post(&sb, &request(json!(TRANSCRIPT))).await;
    assert_eq!(arguments(&answer).unwrap(), expected());
}

#[tokio::test]
async fn foreign_assignee_knob_assigns_someone_else_once() {
    let sb = sandbox().await;
    sb.set_faults(Faults {
        foreign_assignee_times: 1,
        ..Faults::default()
    });
    let (_, answer) = post(&sb, &request(json!(TRANSCRIPT))).await;
    let args = arguments(&answer).unwrap();
    assert_eq!(args["action_items"][0]["assignee"], FOREIGN_ASSIGNEE);
    assert_eq!(args["action_items"][1]["assignee"], "Lee");
    assert_eq!(sb.faults().foreign_assignee_times, 0);
    let (_, answer) = post(&sb, &request(json!(TRANSCRIPT))).await;
    assert_eq!(arguments(&answer).unwrap(), expected());

    // No action item to reassign: one is added.
    sb.set_faults(Faults {
        foreign_assignee_times: 1,
        ..Faults::default()
    });
    let quiet = "Meeting: M\nDate: 2026-03-04 (UTC)\nParticipants: Ann\nTranscript:\n[00:00:01] Ann: Hello.\n";
    let (_, answer) = post(&sb, &request(json!(quiet))).await;
    let items = arguments(&answer).unwrap()["action_items"].clone();
    assert_eq!(items.as_array().unwrap().len(), 1);
    assert_eq!(items[0]["assignee"], FOREIGN_ASSIGNEE);
}

#[tokio::test]
async fn throttle_answers_openai_429_then_counts_down() {
    let sb = sandbox().await;
    sb.set_faults(Faults {
        throttle_times: 2,
        invalid_json_times: 1,
        ..Faults::default()
    });
    for left in [1, 0] {
        let (status, body) = post(&sb, &request(json!(TRANSCRIPT))).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        let err = &body["error"];
        assert!(err["message"].as_str().unwrap().contains("Rate limit"));
        assert_eq!(err["type"], "rate_limit_exceeded");
        assert_eq!(err["code"], "rate_limit_exceeded");
        assert_eq!(sb.faults().throttle_times, left);
        // A throttled request is not affected by the answer knobs.
        assert_eq!(sb.faults().invalid_json_times, 1);
    }
    let (status, answer) = post(&sb, &request(json!(TRANSCRIPT))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(arguments(&answer).is_err());
    assert_eq!(sb.faults(), Faults::default());
}

#[tokio::test]
async fn server_error_answers_500_then_counts_down() {
    let sb = sandbox().await;
    sb.set_faults(Faults {
        server_error_times: 1,
        ..Faults::default()
    });
    let (status, body) = post(&sb, &request(json!(TRANSCRIPT))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["type"], "server_error");
    assert_eq!(sb.faults().server_error_times, 0);
    let (status, _) = post(&sb, &request(json!(TRANSCRIPT))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn delay_ms_sleeps_before_answering() {
    let sb = sandbox().await;
    sb.set_faults(Faults {
        delay_ms: 300,
        ..Faults::default()
    });
    let started = Instant::now();
    let (status, _) = post(&sb, &request(json!(TRANSCRIPT))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(sb.faults().delay_ms, 300, "delay_ms is not a counter");
}

#[tokio::test]
async fn a_retry_is_answered_correctly_whatever_the_knobs() {
    let sb = sandbox().await;
    sb.set_faults(Faults {
        invalid_json_times: 1,
        missing_field_times: 1,
        foreign_assignee_times: 1,
        ..Faults::default()
    });
    let mut retry = request(json!(TRANSCRIPT));
    let messages = retry["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "assistant", "content": "{\"summary\": ["}));
    messages.push(json!({"role": "user", "content": "Your previous answer was invalid: it is not JSON. Call record_insights again."}));
    let (status, answer) = post(&sb, &retry).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(arguments(&answer).unwrap(), expected());
    // The knobs are left for the next first answer.
    assert_eq!(sb.faults().invalid_json_times, 1);
    assert_eq!(sb.requests()[0].kind, "retry");
}

#[tokio::test]
async fn with_also_retries_a_retry_is_wrong_again() {
    let sb = sandbox().await;
    sb.set_faults(Faults {
        invalid_json_times: 1,
        also_retries: true,
        ..Faults::default()
    });
    let mut retry = request(json!(TRANSCRIPT));
    let messages = retry["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "assistant", "content": "{\"summary\": ["}));
    messages.push(json!({"role": "user", "content": "Your previous answer was invalid: it is not JSON. Call record_insights again."}));
    let (status, answer) = post(&sb, &retry).await;
    assert_eq!(status, StatusCode::OK);
    assert!(arguments(&answer).is_err(), "the retry's answer is cut too");
    assert_eq!(sb.faults().invalid_json_times, 0);
}

#[tokio::test]
async fn records_every_request_and_clears() {
    let sb = sandbox().await;
    let client = Client::new();
    let body = request(json!(TRANSCRIPT));
    let before = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let res = client
        .post(format!("{}/v1/chat/completions", sb.url()))
        .header("authorization", "Bearer dummy")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = client
        .post(format!("{}/v1/chat/completions", sb.url()))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["type"],
        "invalid_request_error"
    );

    let records = sb.requests();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].body, body);
    assert_eq!(records[0].path, "/v1/chat/completions");
    assert_eq!(records[0].status, 200);
    assert_eq!(records[0].kind, "transcript");
    assert!(records[0].at_ms >= before);
    assert!(records[0].at.starts_with("20"));
    assert_eq!(records[1].body, json!("not json"));
    assert_eq!((records[1].status, records[1].kind.as_str()), (400, "invalid"));

    let listed: Value = client
        .get(format!("{}/admin/requests", sb.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["body"], body);
    assert_eq!(listed[1]["seq"], 2);
    let cleared: Value = client
        .delete(format!("{}/admin/requests", sb.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cleared, json!({"cleared": 2}));
    assert!(sb.requests().is_empty());
}

#[tokio::test]
async fn admin_faults_and_health() {
    let sb = sandbox().await;
    let client = Client::new();
    let health: Value = client
        .get(format!("{}/health", sb.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({"status": "ok"}));

    let set: Value = client
        .post(format!("{}/admin/faults", sb.url()))
        .json(&json!({"throttle_times": 1, "delay_ms": 5}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["throttle_times"], 1);
    assert_eq!(set["invalid_json_times"], 0);
    let (status, _) = post(&sb, &request(json!(TRANSCRIPT))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let now: Value = client
        .get(format!("{}/admin/faults", sb.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(now["throttle_times"], 0);
    assert_eq!(now["delay_ms"], 5);

    let typo = client
        .post(format!("{}/admin/faults", sb.url()))
        .json(&json!({"throttle": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(typo.status(), StatusCode::BAD_REQUEST);
    let missing = client.get(format!("{}/v1/models", sb.url())).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn named_tool_choice_and_no_tools() {
    let sb = sandbox().await;
    let mut named = request(json!(TRANSCRIPT));
    named["tool_choice"] = json!({"type": "function", "function": {"name": TOOL_NAME}});
    let (_, answer) = post(&sb, &named).await;
    assert_eq!(
        answer["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        TOOL_NAME
    );

    // Without tools the JSON comes back as the message text.
    let mut plain = request(json!(TRANSCRIPT));
    plain.as_object_mut().unwrap().remove("tools");
    plain.as_object_mut().unwrap().remove("tool_choice");
    let (_, answer) = post(&sb, &plain).await;
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    let text = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(serde_json::from_str::<Value>(text).unwrap(), expected());
}

#[tokio::test]
async fn a_message_not_in_our_format_is_a_400() {
    let sb = sandbox().await;
    let (status, body) = post(&sb, &request(json!("Hello, model."))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().contains("Meeting:"));
}

#[test]
fn the_library_answer_matches_http() {
    assert_eq!(
        serde_json::to_value(insights_for(TRANSCRIPT).unwrap()).unwrap(),
        expected()
    );
}
