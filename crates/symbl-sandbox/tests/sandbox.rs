//! The sandbox in-process over real HTTP: a 2-channel WAV made by ffmpeg and served by a
//! local file server, tokens, validation, the concurrency limit, webhooks, insights and
//! experiences. Nothing depends on precise timing: state is polled with generous deadlines.

// An integration test: a panic here is a failed test, as in `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode as AxStatus};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use symbl_sandbox::{Faults, IdKey, SymblConfig, SymblSandbox, WebhookPlan};

const LIMIT_BODY: &str = "This API has a limit of maximum of `3` number of concurrent jobs per account. If you are \
                          looking to scale, and need more concurrent jobs than this limit, please contact us at \
                          support@symbl.ai";

/// A file server and webhook receiver on a random port.
struct Origin {
    base: String,
    hooks: Arc<Mutex<Vec<Value>>>,
    dir: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Origin {
    async fn start() -> Origin {
        let dir = std::env::temp_dir().join(format!("symbl-sandbox-it-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let wav = dir.join("stereo.wav");
        let status = tokio::process::Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:duration=2:sample_rate=16000",
            ])
            .args(["-f", "lavfi", "-i", "sine=frequency=660:duration=2:sample_rate=16000"])
            .args([
                "-filter_complex",
                "[0:a][1:a]amerge=inputs=2[m]",
                "-map",
                "[m]",
                "-c:a",
                "pcm_s16le",
            ])
            .arg(&wav)
            .status()
            .await
            .expect("ffmpeg runs");
        assert!(status.success());
        let audio = Arc::new(std::fs::read(&wav).unwrap());
        let hooks: Arc<Mutex<Vec<Value>>> = Arc::default();

        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let target = format!("{base}/stereo.wav");
        let app = Router::new()
            .route(
                "/stereo.wav",
                get(move || {
                    let audio = audio.clone();
                    async move { ([(header::CONTENT_TYPE, "audio/wav")], audio.as_ref().clone()) }
                }),
            )
            .route(
                "/notes.txt",
                get(|| async { "these are meeting notes, not audio\n".repeat(100) }),
            )
            .route(
                "/moved.wav",
                get(move || {
                    let target = target.clone();
                    async move { (AxStatus::FOUND, [(header::LOCATION, target)]).into_response() }
                }),
            )
            .route(
                "/hook",
                post(
                    |State(h): State<Arc<Mutex<Vec<Value>>>>, Json(v): Json<Value>| async move {
                        h.lock().unwrap().push(v);
                        AxStatus::OK
                    },
                ),
            )
            .with_state(hooks.clone());
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Origin { base, hooks, dir, task }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn hooks(&self) -> Vec<Value> {
        self.hooks.lock().unwrap().clone()
    }

    fn stop(self) {
        self.task.abort();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn config(limit: usize, auto: bool) -> SymblConfig {
    SymblConfig {
        concurrency_limit: limit,
        auto_complete: auto,
        job_duration_ms: 400,
        ..SymblConfig::local()
    }
}

async fn token(client: &Client, base: &str) -> String {
    let r = client
        .post(format!("{base}/oauth2/token:generate"))
        .json(&json!({"type": "application", "appId": "sandbox-app-id", "appSecret": "sandbox-app-secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["accessToken"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn two_speakers() -> Value {
    json!([
        { "channel": 1, "speaker": { "name": "Dana Host", "email": "host@example.com" } },
        { "channel": 2, "speaker": { "name": "Mary-Jane O'Neil" } }
    ])
}

fn submit_body(origin: &Origin) -> Value {
    json!({
        "url": origin.url("/stereo.wav"),
        "name": "Q3 planning sync",
        "webhookUrl": origin.url("/hook"),
        "languageCode": "en-US",
        "enableSeparateRecognitionPerChannel": true,
        "channelMetadata": two_speakers(),
    })
}

async fn submit(client: &Client, base: &str, token: &str, body: &Value) -> (StatusCode, Value) {
    let r = client
        .post(format!("{base}/v1/process/audio/url"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls until `f` holds, for up to 20 s.
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn statuses_for(hooks: &[Value], job_id: &str) -> Vec<String> {
    hooks
        .iter()
        .filter(|h| h.get("id").or(h.get("jobId")).and_then(Value::as_str) == Some(job_id))
        .map(|h| h["status"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn tokens_are_cached_checked_and_expired() {
    let sandbox = SymblSandbox::start(SymblConfig::local()).await.unwrap();
    let base = &sandbox.base_url;
    let client = Client::new();
    let gen = format!("{base}/oauth2/token:generate");

    let r = client
        .post(&gen)
        .json(&json!({"type": "application", "appId": "sandbox-app-id", "appSecret": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.json::<Value>().await.unwrap()["message"].is_string());

    let good = json!({"type": "application", "appId": "sandbox-app-id", "appSecret": "sandbox-app-secret"});
    let first: Value = client
        .post(&gen)
        .json(&good)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["expiresIn"], 86_400);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second: Value = client
        .post(&gen)
        .json(&good)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["accessToken"], first["accessToken"]);
    assert!(second["expiresIn"].as_u64().unwrap() < 86_400);
    let access = first["accessToken"].as_str().unwrap().to_owned();

    let job = format!("{base}/v1/job/00000000-0000-0000-0000-000000000000");
    let unauthorized = json!({"message": "Token validation failed for provided token."});
    for req in [client.get(&job), client.get(&job).bearer_auth("eyJ.bogus.token")] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.json::<Value>().await.unwrap(), unauthorized);
    }
    // Valid token: the job is simply unknown. The deprecated x-api-key works too.
    let r = client.get(&job).bearer_auth(&access).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.json::<Value>().await.unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("Job with"));
    let r = client.get(&job).header("x-api-key", &access).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    sandbox.expire_tokens();
    let r = client.get(&job).bearer_auth(&access).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap(), unauthorized);
    let fresh = token(&client, base).await;
    assert_ne!(fresh, access);
    assert_eq!(
        client.get(&job).bearer_auth(&fresh).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // Expiry over HTTP, and a short TTL that runs out on its own.
    let r = client
        .post(format!("{base}/_sandbox/expire-tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        client.get(&job).bearer_auth(&fresh).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    sandbox.shutdown().await;

    let short = SymblSandbox::start(SymblConfig {
        token_ttl_secs: 1,
        ..SymblConfig::local()
    })
    .await
    .unwrap();
    let t = token(&client, &short.base_url).await;
    let job = format!("{}/v1/job/x", short.base_url);
    assert_eq!(
        client.get(&job).bearer_auth(&t).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        client.get(&job).bearer_auth(&t).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_ne!(token(&client, &short.base_url).await, t);
    short.shutdown().await;
}

#[tokio::test]
async fn submissions_are_fetched_probed_and_validated() {
    let origin = Origin::start().await;
    let sandbox = SymblSandbox::start(config(50, false)).await.unwrap();
    let (base, client) = (&sandbox.base_url, Client::new());
    let t = token(&client, base).await;

    let (status, reply) = submit(&client, base, &t, &submit_body(&origin)).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let conversation_id = reply["conversationId"].as_str().unwrap();
    assert_eq!(conversation_id.len(), 16);
    assert!(conversation_id.bytes().all(|b| b.is_ascii_digit()));
    let job_id = reply["jobId"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(job_id).is_ok());

    let subs = sandbox.submissions();
    assert_eq!(subs.len(), 1);
    let s = &subs[0];
    assert_eq!(
        (s.job_id.as_str(), s.conversation_id.as_str()),
        (job_id, conversation_id)
    );
    assert_eq!(s.probe_channels, 2);
    assert_eq!(s.probe_format, "wav");
    assert!((s.probe_duration_secs - 2.0).abs() < 0.1, "{}", s.probe_duration_secs);
    assert_eq!(s.name.as_deref(), Some("Q3 planning sync"));
    assert_eq!(s.webhook_url.as_deref(), Some(origin.url("/hook").as_str()));
    assert_eq!(s.body, submit_body(&origin));

    let r = client
        .get(format!("{base}/v1/job/{job_id}"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"id": job_id, "status": "scheduled"})
    );

    // Refusals: all 400 with a message, none recorded as a submission.
    let mut bad = Vec::new();
    let mut one_speaker = submit_body(&origin);
    one_speaker["channelMetadata"] = json!([{ "channel": 1, "speaker": { "name": "Dana Host" } }]);
    bad.push(one_speaker);
    let mut wrong_numbers = submit_body(&origin);
    wrong_numbers["channelMetadata"][1]["channel"] = json!(3);
    bad.push(wrong_numbers);
    let mut twice = submit_body(&origin);
    twice["channelMetadata"][1]["channel"] = json!(1);
    bad.push(twice);
    let mut no_metadata = submit_body(&origin);
    no_metadata.as_object_mut().unwrap().remove("channelMetadata");
    bad.push(no_metadata);
    for path in ["/notes.txt", "/moved.wav", "/missing.wav"] {
        let mut b = submit_body(&origin);
        b["url"] = json!(origin.url(path));
        bad.push(b);
    }
    bad.push(json!({"name": "no url"}));
    for body in &bad {
        let (status, reply) = submit(&client, base, &t, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(reply["message"].as_str().is_some_and(|m| !m.is_empty()), "{reply}");
    }
    let r = client
        .post(format!("{base}/v1/process/audio/url"))
        .bearer_auth(&t)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(sandbox.submissions().len(), 1);

    // Per-channel off: the metadata is not honoured, so not checked either.
    let mut mixed = submit_body(&origin);
    mixed["enableSeparateRecognitionPerChannel"] = json!(false);
    mixed["channelMetadata"] = json!([{ "channel": 1 }]);
    assert_eq!(submit(&client, base, &t, &mixed).await.0, StatusCode::CREATED);

    // Options in the query string when the body lacks them.
    let query = format!(
        "?name=From%20query&enableSeparateRecognitionPerChannel=true&channelMetadata={}",
        url_encode(&two_speakers().to_string())
    );
    let r = client
        .post(format!("{base}/v1/process/audio/url{query}"))
        .bearer_auth(&t)
        .json(&json!({"url": origin.url("/stereo.wav")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let last = sandbox.submissions().pop().unwrap();
    assert_eq!(last.name.as_deref(), Some("From query"));
    let jobs = sandbox.jobs();
    assert_eq!(jobs.len(), 3);
    assert!(jobs.iter().all(|j| j.status == "scheduled"));

    // The submissions also over HTTP.
    let remote: Value = client
        .get(format!("{base}/_sandbox/submissions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(remote[0]["probe_channels"], 2);

    sandbox.shutdown().await;
    origin.stop();
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn concurrency_limit_and_submit_faults() {
    let origin = Origin::start().await;
    let sandbox = Arc::new(SymblSandbox::start(config(3, false)).await.unwrap());
    let (base, client) = (sandbox.base_url.clone(), Client::new());
    let t = token(&client, &base).await;

    let body = submit_body(&origin);
    let attempts = (0..10).map(|_| {
        let (client, base, t, body) = (client.clone(), base.clone(), t.clone(), body.clone());
        tokio::spawn(async move { submit(&client, &base, &t, &body).await })
    });
    let mut created = Vec::new();
    let mut limited = 0;
    for a in attempts {
        let (status, reply) = a.await.unwrap();
        match status {
            StatusCode::CREATED => created.push(reply["jobId"].as_str().unwrap().to_owned()),
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(reply, json!({"statusCode": 429, "message": LIMIT_BODY}));
                limited += 1;
            }
            other => panic!("unexpected {other}: {reply}"),
        }
    }
    assert_eq!((created.len(), limited), (3, 7));
    assert_eq!(
        (sandbox.running(), sandbox.peak_concurrency(), sandbox.rejected_429()),
        (3, 3, 7)
    );

    // A terminal job frees its slot at once.
    sandbox.fail_job(&created[0]).await.unwrap();
    assert_eq!(sandbox.running(), 2);
    assert_eq!(submit(&client, &base, &t, &body).await.0, StatusCode::CREATED);
    assert_eq!(submit(&client, &base, &t, &body).await.0, StatusCode::TOO_MANY_REQUESTS);
    sandbox.complete_job(&created[1]).await.unwrap();
    assert!(sandbox.complete_job(&created[0]).await.is_err(), "failed stays failed");
    assert!(sandbox.complete_job("no-such-job").await.is_err());

    // Faults: 503 then 429 counters, regardless of load.
    sandbox.set_limit(100);
    sandbox.set_faults(Faults {
        submit_5xx_times: 1,
        submit_429_times: 2,
        ..Faults::default()
    });
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(submit(&client, &base, &t, &body).await.0.as_u16());
    }
    assert_eq!(seen, [503, 429, 429, 201]);
    let (status, reply) = {
        sandbox.set_faults(Faults {
            submit_429_times: 1,
            ..Faults::default()
        });
        submit(&client, &base, &t, &body).await
    };
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply["message"].as_str().unwrap(), LIMIT_BODY.replace("`3`", "`100`"));
    assert_eq!(sandbox.rejected_429(), 11);

    // Down: every API call, the token endpoint included, until cleared.
    sandbox.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let gen = client
        .post(format!("{base}/oauth2/token:generate"))
        .json(&json!({"type": "application", "appId": "sandbox-app-id", "appSecret": "sandbox-app-secret"}));
    assert_eq!(gen.send().await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        submit(&client, &base, &t, &body).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    // The admin endpoints work while it is down.
    let admin = |p: &str| format!("{base}/_sandbox/{p}");
    let r = client.post(admin("faults")).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client.post(admin("limit/1")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (status, reply) = submit(&client, &base, &t, &body).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(reply["message"].as_str().unwrap().contains("maximum of `1` number"));
    let stats: Value = client.get(admin("stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["peak_concurrency"], 3);
    assert_eq!(stats["running"], sandbox.running());
    assert_eq!(stats["rejected_429"], 12);
    let r = client
        .post(admin("faults"))
        .json(&json!({"submit_5xx_times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        submit(&client, &base, &t, &body).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let jobs: Value = client.get(admin("jobs")).send().await.unwrap().json().await.unwrap();
    assert_eq!(jobs.as_array().unwrap().len(), sandbox.jobs().len());

    Arc::try_unwrap(sandbox).ok().unwrap().shutdown().await;
    origin.stop();
}

#[tokio::test]
async fn jobs_progress_on_their_own_with_webhooks() {
    let origin = Origin::start().await;
    let sandbox = SymblSandbox::start(config(50, true)).await.unwrap();
    let (base, client) = (&sandbox.base_url, Client::new());
    let t = token(&client, base).await;

    // Default plan: `scheduled` reaches the receiver before the 201, keys alternate.
    let (status, reply) = submit(&client, base, &t, &submit_body(&origin)).await;
    assert_eq!(status, StatusCode::CREATED);
    let job_id = reply["jobId"].as_str().unwrap().to_owned();
    assert_eq!(statuses_for(&origin.hooks(), &job_id), ["scheduled"]);
    eventually("completed webhook", || {
        statuses_for(&origin.hooks(), &job_id).len() == 3
    })
    .await;
    assert_eq!(
        statuses_for(&origin.hooks(), &job_id),
        ["scheduled", "in_progress", "completed"]
    );
    let hooks = origin.hooks();
    assert_eq!(hooks[0], json!({"id": job_id, "status": "scheduled"}));
    assert_eq!(hooks[1], json!({"jobId": job_id, "status": "in_progress"}));
    assert_eq!(hooks[2], json!({"id": job_id, "status": "completed"}));
    let r = client
        .get(format!("{base}/v1/job/{job_id}"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "completed");
    assert_eq!(sandbox.running(), 0);
    let sent = sandbox.webhooks_sent();
    assert_eq!(sent.len(), 3);
    assert!(sent
        .iter()
        .all(|(url, _, status)| url == &origin.url("/hook") && *status == 200));

    // fail_jobs: the job ends failed.
    sandbox.set_faults(Faults {
        fail_jobs: true,
        ..Faults::default()
    });
    sandbox.set_webhooks(WebhookPlan {
        id_key: IdKey::JobId,
        ..WebhookPlan::default()
    });
    let (_, reply) = submit(&client, base, &t, &submit_body(&origin)).await;
    let failed = reply["jobId"].as_str().unwrap().to_owned();
    eventually("failed webhook", || statuses_for(&origin.hooks(), &failed).len() == 3).await;
    assert_eq!(
        statuses_for(&origin.hooks(), &failed),
        ["scheduled", "in_progress", "failed"]
    );
    assert!(origin
        .hooks()
        .iter()
        .rev()
        .take(3)
        .all(|h| h.get("jobId").is_some() && h.get("id").is_none()));
    assert_eq!(sandbox.jobs().last().unwrap().status, "failed");

    // An unreachable webhook URL is recorded with status 0 and never retried.
    sandbox.set_faults(Faults::default());
    let mut body = submit_body(&origin);
    body["webhookUrl"] = json!("http://127.0.0.1:9/unreachable");
    let (status, _) = submit(&client, base, &t, &body).await;
    assert_eq!(status, StatusCode::CREATED);
    eventually("three failed deliveries", || {
        sandbox
            .webhooks_sent()
            .iter()
            .filter(|(u, _, s)| u.ends_with("/unreachable") && *s == 0)
            .count()
            == 3
    })
    .await;

    sandbox.shutdown().await;
    origin.stop();
}

#[tokio::test]
async fn webhook_plans_id_keys_duplicates_order_and_losses() {
    let origin = Origin::start().await;
    let sandbox = SymblSandbox::start(config(50, false)).await.unwrap();
    let (base, client) = (&sandbox.base_url, Client::new());
    let t = token(&client, base).await;
    let body = submit_body(&origin);

    let run = |plan: WebhookPlan| {
        sandbox.set_webhooks(plan);
        let (client, t, body) = (&client, &t, &body);
        let sandbox = &sandbox;
        async move {
            let (status, reply) = submit(client, base, t, body).await;
            assert_eq!(status, StatusCode::CREATED);
            let job = reply["jobId"].as_str().unwrap().to_owned();
            sandbox.complete_job(&job).await.unwrap();
            job
        }
    };

    // id only.
    let job = run(WebhookPlan {
        id_key: IdKey::Id,
        ..WebhookPlan::default()
    })
    .await;
    let mine: Vec<Value> = origin
        .hooks()
        .into_iter()
        .filter(|h| h.get("id").and_then(Value::as_str) == Some(&job))
        .collect();
    assert_eq!(mine.len(), 3);
    assert!(mine.iter().all(|h| h.get("jobId").is_none()));

    // jobId only, every status twice.
    let job = run(WebhookPlan {
        id_key: IdKey::JobId,
        duplicate_every: true,
        ..WebhookPlan::default()
    })
    .await;
    assert_eq!(
        statuses_for(&origin.hooks(), &job),
        [
            "scheduled",
            "scheduled",
            "in_progress",
            "in_progress",
            "completed",
            "completed"
        ]
    );

    // in_progress after completed.
    let job = run(WebhookPlan {
        out_of_order: true,
        ..WebhookPlan::default()
    })
    .await;
    assert_eq!(
        statuses_for(&origin.hooks(), &job),
        ["scheduled", "completed", "in_progress"]
    );

    // completed lost: only the job API knows.
    let job = run(WebhookPlan {
        lose_statuses: vec!["completed".into()],
        ..WebhookPlan::default()
    })
    .await;
    assert_eq!(statuses_for(&origin.hooks(), &job), ["scheduled", "in_progress"]);
    let r = client
        .get(format!("{base}/v1/job/{job}"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "completed");

    // scheduled after the reply.
    sandbox.set_webhooks(WebhookPlan {
        scheduled_before_reply: false,
        ..WebhookPlan::default()
    });
    let (_, reply) = submit(&client, base, &t, &body).await;
    let job = reply["jobId"].as_str().unwrap().to_owned();
    eventually("late scheduled webhook", || {
        statuses_for(&origin.hooks(), &job) == ["scheduled"]
    })
    .await;

    // Fractions: deterministic for a given plan, and every webhook is either lost or sent.
    let plan = WebhookPlan {
        lose_fraction: 0.5,
        duplicate_fraction: 0.5,
        ..WebhookPlan::default()
    };
    let mut counts = Vec::new();
    for _ in 0..2 {
        let before = sandbox.webhooks_sent().len();
        sandbox.set_webhooks(plan.clone());
        let r = client
            .post(format!("{base}/_sandbox/webhooks"))
            .json(&plan)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        for _ in 0..4 {
            let (_, reply) = submit(&client, base, &t, &body).await;
            sandbox.complete_job(reply["jobId"].as_str().unwrap()).await.unwrap();
        }
        counts.push(sandbox.webhooks_sent().len() - before);
    }
    assert_eq!(counts[0], counts[1]);
    assert!(counts[0] > 0 && counts[0] < 24, "{counts:?}");

    // Both key variants were seen in the alternating plan.
    let hooks = origin.hooks();
    assert!(hooks.iter().any(|h| h.get("id").is_some()) && hooks.iter().any(|h| h.get("jobId").is_some()));
    let remote: Value = client
        .get(format!("{base}/_sandbox/webhooks-sent"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(remote.as_array().unwrap().len(), sandbox.webhooks_sent().len());

    sandbox.shutdown().await;
    origin.stop();
}

#[tokio::test]
async fn insights_and_experiences_after_completion() {
    let origin = Origin::start().await;
    let sandbox = SymblSandbox::start(config(50, false)).await.unwrap();
    let (base, client) = (&sandbox.base_url, Client::new());
    let t = token(&client, base).await;
    let (_, reply) = submit(&client, base, &t, &submit_body(&origin)).await;
    let (conv, job) = (
        reply["conversationId"].as_str().unwrap(),
        reply["jobId"].as_str().unwrap(),
    );
    let get = |path: String| {
        let req = client
            .get(format!("{base}/v1/conversations/{conv}/{path}"))
            .bearer_auth(&t);
        async move {
            let r = req.send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let kinds = [
        "summary",
        "topics",
        "questions",
        "action-items",
        "follow-ups",
        "messages",
    ];
    let experience = |body: Value, query: &str| {
        client
            .post(format!("{base}/v1/conversations/{conv}/experiences{query}"))
            .bearer_auth(&t)
            .json(&body)
            .send()
    };
    let video = json!({"name": "video-summary", "videoUrl": origin.url("/stereo.wav"), "summaryURLExpiresIn": 0});

    for kind in kinds {
        assert_eq!(
            get(kind.into()).await.0,
            StatusCode::NOT_FOUND,
            "{kind} before completion"
        );
    }
    assert_eq!(
        experience(video.clone(), "").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    sandbox.complete_job(job).await.unwrap();

    let (status, summary) = get("summary".into()).await;
    assert_eq!(status, StatusCode::OK);
    let text = summary["summary"][0]["text"].as_str().unwrap();
    assert!(text.contains("Dana Host") && text.contains("Mary-Jane O'Neil") && text.contains("Q3 planning sync"));
    assert!(summary["summary"][0]["messageRefs"][0]["id"].is_string());

    let (_, topics) = get("topics".into()).await;
    assert!(topics["topics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["text"] == "Q3 planning sync"));
    assert!(topics["topics"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t.get("sentiment").is_none() && t["type"] == "topic"));
    let (_, topics) = get("topics?sentiment=true".into()).await;
    assert!(topics["topics"][0]["sentiment"]["polarity"]["score"].is_number());
    let (status, err) = get("topics?sentiment=%22true%22".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(err["message"].is_string());

    let (_, questions) = get("questions".into()).await;
    assert_eq!(questions["questions"][0]["from"]["name"], "Mary-Jane O'Neil");
    assert_eq!(questions["questions"][0]["type"], "question");

    let (_, actions) = get("action-items".into()).await;
    let a = &actions["actionItems"][0];
    assert_eq!(a["type"], "action_item");
    assert_eq!(a["assignee"]["name"], "Dana Host");
    assert!(time::OffsetDateTime::parse(
        a["dueBy"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339
    )
    .is_ok());

    let (_, follow) = get("follow-ups".into()).await;
    assert_eq!(follow["followUps"][0]["type"], "follow_up");

    let (_, messages) = get("messages".into()).await;
    let msgs = messages["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["from"]["name"], "Dana Host");
    assert_eq!(msgs[0]["from"]["email"], "host@example.com");
    assert_eq!(msgs[1]["from"]["name"], "Mary-Jane O'Neil");
    assert_eq!(msgs[0]["conversationId"], conv);
    // Deterministic: asking again gives the same content.
    assert_eq!(get("messages".into()).await.1, messages);

    let unknown = client
        .get(format!("{base}/v1/conversations/1234567890123456/summary"))
        .bearer_auth(&t);
    assert_eq!(unknown.send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let no_token = client.get(format!("{base}/v1/conversations/{conv}/summary"));
    assert_eq!(no_token.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // Experiences: unknown query params ignored, the URL carries the session.
    let r = experience(video.clone(), "?validateUrl=false").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], "video-summary");
    let url = v["url"].as_str().unwrap();
    let encoded = url
        .strip_prefix("https://meetinginsights.symbl.ai/meeting/#/")
        .and_then(|u| u.strip_suffix("?showVideoSummary=true"))
        .unwrap();
    let session: Value =
        serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()).unwrap();
    assert_eq!(session["sessionId"], conv);
    assert_eq!(session["videoUrl"], origin.url("/stereo.wav"));

    let r = experience(json!({"name": "verbose-text-summary"}), "").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.json::<Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .starts_with("https://meetinginsights.symbl.ai/"));
    for bad in [
        json!({"name": "video-summary"}),
        json!({"name": "other"}),
        json!({}),
        json!({"name": "verbose-text-summary", "summaryURLExpiresIn": -1}),
    ] {
        assert_eq!(
            experience(bad.clone(), "").await.unwrap().status(),
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    let recorded = sandbox.experiences();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0]["query"], "validateUrl=false");
    assert_eq!(recorded[0]["body"], video);

    // A failed job never gets insights.
    let (_, reply) = submit(&client, base, &t, &submit_body(&origin)).await;
    sandbox.fail_job(reply["jobId"].as_str().unwrap()).await.unwrap();
    let failed = reply["conversationId"].as_str().unwrap();
    let r = client
        .get(format!("{base}/v1/conversations/{failed}/summary"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    sandbox.shutdown().await;
    origin.stop();
}
