//! The sandbox in-process over real HTTPS: webhook download flow, auth failures,
//! fault knobs, the S2S OAuth + recordings API flow, and the user and recording lists a
//! backfill walks (paging, date window, rate limit).

// An integration test: a panic here is a failed test, as in `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::{header, Client, StatusCode};
use serde_json::Value;
use time::macros::time;
use time::{Date, Duration, OffsetDateTime};
use zoom_sandbox::{Fault, GeneratedMeeting, MeetingSpec, Sandbox, SandboxConfig};
use zoom_symbl_core::zoom::ZoomEvent;

struct Env {
    sandbox: Sandbox,
    meeting: GeneratedMeeting,
    client: Client,
    dir: std::path::PathBuf,
}

async fn setup() -> Env {
    setup_with(|_| {}).await
}

async fn setup_with(tweak: impl FnOnce(&mut SandboxConfig)) -> Env {
    let dir = std::env::temp_dir().join(format!("zoom-sandbox-it-{}", uuid::Uuid::new_v4()));
    let meeting = MeetingSpec::staggered(2, 8.0).generate(&dir).await.unwrap();
    let mut config = SandboxConfig::local(&dir);
    tweak(&mut config);
    let sandbox = Sandbox::start(config).await.unwrap();
    sandbox.add_meeting(&meeting);
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&sandbox.ca_pem_path).unwrap()).unwrap();
    let client = Client::builder().add_root_certificate(ca).build().unwrap();
    Env {
        sandbox,
        meeting,
        client,
        dir,
    }
}

async fn json_of(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}

#[tokio::test]
async fn webhook_download_flow_auth_and_faults() {
    let Env {
        sandbox,
        meeting,
        client,
        dir,
    } = setup().await;
    let token = sandbox.issue_download_token(3600);
    let event = sandbox.recording_completed(&meeting, &token);

    // The event is what the pipeline's own parser expects.
    let body = serde_json::to_vec(&event).unwrap();
    let ZoomEvent::RecordingCompleted(parsed) = ZoomEvent::parse(&body).unwrap() else {
        panic!("wrong event")
    };
    let object = &parsed.payload.object;
    assert_eq!(object.uuid, meeting.spec.uuid);
    assert_eq!(object.host_email, "host@example.com");
    assert_eq!(parsed.download_token.as_ref().unwrap().expose(), token);
    let parts = object.participant_audio_files.as_ref().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(
        parts[1].file_name,
        format!("Audio only - {}", meeting.spec.participants[1].name)
    );
    assert_eq!(
        parts[1].recording_start,
        event["payload"]["object"]["participant_audio_files"][1]["recording_start"]
    );
    assert_eq!(object.recording_files.len(), 1);
    assert_eq!(object.recording_files[0].recording_type, "audio_only");

    // Bearer download follows the 302 to the CDN and gets the exact bytes.
    for (url, track) in parts.iter().map(|p| &p.download_url).zip(&meeting.tracks) {
        assert!(url.starts_with(&format!("{}/rec/webhook_download/", sandbox.base_url)));
        let r = client.get(url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.url().path().starts_with("/cdn/"));
        assert_eq!(r.headers()[header::CONTENT_TYPE], "audio/mp4");
        assert_eq!(r.content_length(), Some(track.size));
        assert_eq!(r.bytes().await.unwrap(), std::fs::read(&track.path).unwrap());
    }
    let first = &parts[0].download_url;
    let r = client
        .get(format!("{first}?access_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Missing, expired and foreign tokens: 401 code 124.
    let expired = sandbox.issue_download_token(-1);
    for req in [
        client.get(first),
        client.get(first).bearer_auth(&expired),
        client.get(format!("{first}?access_token={expired}")),
        client.get(first).bearer_auth("eyJ.eyJ.sig"),
    ] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let v = json_of(r).await;
        assert_eq!(
            (v["code"].as_i64(), v["message"].as_str()),
            (Some(124), Some("Invalid access token."))
        );
    }
    let unknown = client
        .get(format!("{}/rec/webhook_download/nope", sandbox.base_url))
        .bearer_auth(&token);
    assert_eq!(unknown.send().await.unwrap().status(), StatusCode::NOT_FOUND);

    // A tampered CDN link is refused.
    let no_follow = Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&sandbox.ca_pem_path).unwrap()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_follow.get(first).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let tampered = location.replace("sig=", "sig=00");
    assert_eq!(
        client.get(&tampered).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(client.get(&location).send().await.unwrap().status(), StatusCode::OK);

    // Fault counters: 503, 429, then the file.
    let id = &parts[0].id;
    sandbox.set_fault(
        id,
        Fault {
            fail_5xx_times: 1,
            status_429_times: 1,
            ..Fault::default()
        },
    );
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(
                client
                    .get(first)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        v
    };
    assert_eq!(statuses, [503, 429, 200]);

    // HTML with 200.
    sandbox.set_fault(
        id,
        Fault {
            html_200: true,
            ..Fault::default()
        },
    );
    let r = client.get(first).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Only the host can download this recording"));

    // Truncation: fewer bytes and no Content-Length to give it away.
    sandbox.set_fault(
        id,
        Fault {
            truncate_to: Some(100),
            ..Fault::default()
        },
    );
    let r = client.get(first).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get(header::CONTENT_LENGTH).is_none());
    assert_eq!(r.bytes().await.unwrap().len(), 100);

    // Faults set over HTTP by other processes.
    let admin = format!("{}/_sandbox/faults/{id}", sandbox.base_url);
    let r = client
        .post(&admin)
        .json(&serde_json::json!({"fail_5xx_times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        client.get(first).bearer_auth(&token).send().await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    // The request log, also over HTTP.
    let log = sandbox.requests();
    assert!(log
        .iter()
        .any(|r| r.status == 401 && !r.authorized && r.path.starts_with("/rec/webhook_download/")));
    assert!(log.iter().any(|r| r.status == 302 && r.authorized));
    assert!(log.iter().any(|r| r.status == 200 && r.path.starts_with("/cdn/")));
    assert!(log.iter().all(|r| !r.path.contains("access_token")));
    let remote = json_of(
        client
            .get(format!("{}/_sandbox/requests", sandbox.base_url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(remote.as_array().unwrap().len() >= log.len());

    sandbox.shutdown().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn s2s_oauth_and_recordings_api() {
    let Env {
        sandbox,
        meeting,
        client,
        dir,
    } = setup().await;
    let base = &sandbox.base_url;
    let oauth = format!("{base}/oauth/token");

    let r = client
        .post(&oauth)
        .basic_auth("sandbox-client-id", Some("wrong"))
        .form(&[("grant_type", "account_credentials"), ("account_id", "sandbox-account")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(r).await["error"], "invalid_client");

    let r = client
        .post(&oauth)
        .basic_auth("sandbox-client-id", Some("sandbox-client-secret"))
        .form(&[("grant_type", "account_credentials"), ("account_id", "other")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Query-string parameters work as well as the form body.
    let r = client
        .post(format!(
            "{oauth}?grant_type=account_credentials&account_id=sandbox-account"
        ))
        .basic_auth("sandbox-client-id", Some("sandbox-client-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client
        .post(&oauth)
        .basic_auth("sandbox-client-id", Some("sandbox-client-secret"))
        .form(&[("grant_type", "account_credentials"), ("account_id", "sandbox-account")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let grant = json_of(r).await;
    assert_eq!(grant["token_type"], "bearer");
    assert_eq!(grant["expires_in"], 3600);
    assert_eq!(grant["api_url"].as_str(), Some(base.as_str()));
    let access = grant["access_token"].as_str().unwrap().to_owned();

    let uuid = &meeting.spec.uuid;
    let once = utf8_percent_encode(uuid, NON_ALPHANUMERIC).to_string();
    let twice = utf8_percent_encode(&once, NON_ALPHANUMERIC).to_string();
    let api = |id: &str| format!("{base}/v2/meetings/{id}/recordings?include_fields=download_access_token&ttl=600");

    // The webhook's download token is no API credential.
    let webhook_token = sandbox.issue_download_token(3600);
    let r = client
        .get(api(&twice))
        .bearer_auth(&webhook_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(r).await["code"], 124);
    assert_eq!(
        client.get(api(&twice)).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    let r = client
        .get(api("unknown%253D%253D"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_of(r).await["code"], 3301);

    for id in [&twice, &once, &meeting.spec.meeting_id.to_string()] {
        let r = client.get(api(id)).bearer_auth(&access).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "meeting id {id}");
        let o = json_of(r).await;
        assert_eq!(&o["uuid"], uuid.as_str());
        assert!(o.get("host_email").is_none());
        let fresh = o["download_access_token"].as_str().unwrap();
        let files = o["participant_audio_files"].as_array().unwrap();
        assert_eq!(files.len(), 2);
        let url = files[1]["download_url"].as_str().unwrap();
        assert!(url.starts_with(&format!("{base}/rec/download/")));
        let r = client.get(url).bearer_auth(fresh).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.bytes().await.unwrap(),
            std::fs::read(&meeting.tracks[1].path).unwrap()
        );
    }

    let r = client
        .get(format!("{base}/v2/meetings/{twice}/recordings?ttl=999999999"))
        .bearer_auth(&access);
    assert_eq!(r.send().await.unwrap().status(), StatusCode::BAD_REQUEST);

    sandbox.shutdown().await;
    std::fs::remove_dir_all(dir).ok();
}

// ---- the list endpoints a backfill walks -------------------------------------------------

async fn access_token(client: &Client, base: &str) -> String {
    let r = client
        .post(format!("{base}/oauth/token"))
        .basic_auth("sandbox-client-id", Some("sandbox-client-secret"))
        .form(&[("grant_type", "account_credentials"), ("account_id", "sandbox-account")])
        .send()
        .await
        .unwrap();
    json_of(r).await["access_token"].as_str().unwrap().to_owned()
}

/// The same audio as `base` under a new identity, host and start time (tracks shift with
/// it): cheap extra meetings for listing tests, without running ffmpeg again.
fn variant(base: &GeneratedMeeting, host: &str, start: OffsetDateTime) -> GeneratedMeeting {
    let mut m = base.clone();
    let shift = start - m.spec.start;
    m.spec.uuid = format!("{}==", uuid::Uuid::new_v4().simple());
    m.spec.meeting_id = rand::random_range(80_000_000_000..90_000_000_000);
    m.spec.host_email = host.to_owned();
    m.spec.start = start;
    for t in &mut m.tracks {
        t.recording_start += shift;
        t.recording_end += shift;
    }
    m
}

fn days_ago(n: i64) -> Date {
    OffsetDateTime::now_utc().date() - Duration::days(n)
}

/// Noon UTC `n` days ago.
fn noon_days_ago(n: i64) -> OffsetDateTime {
    days_ago(n).with_time(time!(12:00)).assume_utc()
}

async fn get_status_json(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let r = req.send().await.unwrap();
    (r.status(), json_of(r).await)
}

fn assert_zoom_error(got: &(StatusCode, Value), status: StatusCode, code: i64, message: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(
        (got.1["code"].as_i64(), got.1["message"].as_str()),
        (Some(code), Some(message))
    );
}

#[tokio::test]
async fn users_are_listed_in_pages_by_email() {
    let Env {
        sandbox,
        meeting,
        client,
        dir,
    } = setup_with(|c| c.list_requests_per_sec = 0).await;
    let base = &sandbox.base_url;
    for host in [
        "carol@example.com",
        "Alice.Smith@example.com",
        "eve@example.com",
        "bob@example.com",
    ] {
        sandbox.add_meeting(&variant(&meeting, host, noon_days_ago(2)));
    }
    // A second meeting of the same host is still one user.
    sandbox.add_meeting(&variant(&meeting, "bob@example.com", noon_days_ago(3)));
    let zed = sandbox.add_user("zed@example.com", "Zed", "Zulu");
    assert_eq!(zed, zoom_sandbox::user_id("zed@example.com"));
    // Explicit names win over the ones guessed from the email.
    sandbox.add_user("bob@example.com", "Robert", "Builder");
    let access = access_token(&client, base).await;

    let mut emails = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let url = format!("{base}/v2/users?page_size=2&status=active&next_page_token={token}");
        let (status, v) = get_status_json(client.get(url).bearer_auth(&access)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        pages += 1;
        assert_eq!(
            (v["page_size"].as_u64(), v["total_records"].as_u64()),
            (Some(2), Some(6))
        );
        assert_eq!(
            (v["page_count"].as_u64(), v["page_number"].as_u64()),
            (Some(3), Some(pages))
        );
        for u in v["users"].as_array().unwrap() {
            let email = u["email"].as_str().unwrap();
            assert_eq!(u["id"].as_str().unwrap(), zoom_sandbox::user_id(email));
            assert_eq!((u["type"].as_i64(), u["status"].as_str()), (Some(2), Some("active")));
            assert!(u["timezone"].is_string());
            emails.push(email.to_owned());
            if email == "bob@example.com" {
                assert_eq!(u["display_name"], "Robert Builder");
            }
            if email == "Alice.Smith@example.com" {
                assert_eq!(
                    (u["first_name"].as_str(), u["last_name"].as_str()),
                    (Some("Alice"), Some("Smith"))
                );
            }
        }
        token = v["next_page_token"].as_str().unwrap().to_owned();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        emails,
        [
            "Alice.Smith@example.com",
            "bob@example.com",
            "carol@example.com",
            "eve@example.com",
            "host@example.com",
            "zed@example.com"
        ]
    );

    // Default page size; a meeting's host_id is its host's user id.
    let (status, v) = get_status_json(client.get(format!("{base}/v2/users")).bearer_auth(&access)).await;
    assert_eq!(
        (status, v["page_size"].as_u64(), v["next_page_token"].as_str()),
        (StatusCode::OK, Some(30), Some(""))
    );
    assert_eq!(v["users"].as_array().unwrap().len(), 6);
    let uuid = utf8_percent_encode(&meeting.spec.uuid, NON_ALPHANUMERIC).to_string();
    let uuid = utf8_percent_encode(&uuid, NON_ALPHANUMERIC).to_string();
    let (_, o) = get_status_json(
        client
            .get(format!("{base}/v2/meetings/{uuid}/recordings"))
            .bearer_auth(&access),
    )
    .await;
    assert_eq!(
        o["host_id"].as_str().unwrap(),
        zoom_sandbox::user_id("host@example.com")
    );

    let (_, v) = get_status_json(
        client
            .get(format!("{base}/v2/users?status=inactive"))
            .bearer_auth(&access),
    )
    .await;
    assert_eq!(
        (v["total_records"].as_u64(), v["users"].as_array().map(Vec::len)),
        (Some(0), Some(0))
    );

    let bad_token = get_status_json(
        client
            .get(format!("{base}/v2/users?next_page_token=bogus"))
            .bearer_auth(&access),
    )
    .await;
    assert_zoom_error(
        &bad_token,
        StatusCode::BAD_REQUEST,
        300,
        "The next page token is invalid or expired.",
    );
    for req in [
        client.get(format!("{base}/v2/users")),
        client
            .get(format!("{base}/v2/users"))
            .bearer_auth(sandbox.issue_download_token(60)),
    ] {
        let got = get_status_json(req).await;
        assert_zoom_error(&got, StatusCode::UNAUTHORIZED, 124, "Invalid access token.");
    }

    sandbox.shutdown().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn user_recordings_window_paging_and_errors() {
    let Env {
        sandbox,
        meeting,
        client,
        dir,
    } = setup_with(|c| c.list_requests_per_sec = 0).await;
    let base = &sandbox.base_url;
    let dana = "dana@example.com";
    let ago = [10, 1, 40, 20, 3];
    let mut by_age = std::collections::HashMap::new();
    for n in ago {
        let m = variant(&meeting, dana, noon_days_ago(n));
        sandbox.add_meeting(&m);
        by_age.insert(n, m.spec.uuid);
    }
    sandbox.add_meeting(&variant(&meeting, "other@example.com", noon_days_ago(3)));
    let id = zoom_sandbox::user_id(dana);
    let access = access_token(&client, base).await;
    let list = |user: &str, query: String| {
        client
            .get(format!("{base}/v2/users/{user}/recordings?{query}"))
            .bearer_auth(&access)
    };

    // Pages of two, newest first, both bounds inclusive.
    let (from, to) = (days_ago(20), days_ago(1));
    let mut uuids = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let (status, v) = get_status_json(list(
            &id,
            format!("from={from}&to={to}&page_size=2&next_page_token={token}"),
        ))
        .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        pages += 1;
        assert_eq!(
            (v["from"].as_str(), v["to"].as_str()),
            (Some(from.to_string().as_str()), Some(to.to_string().as_str()))
        );
        assert_eq!(
            (
                v["page_size"].as_u64(),
                v["total_records"].as_u64(),
                v["page_count"].as_u64()
            ),
            (Some(2), Some(4), Some(2))
        );
        for o in v["meetings"].as_array().unwrap() {
            assert!(o.get("download_access_token").is_none());
            assert!(o.get("host_email").is_none());
            assert_eq!(o["host_id"].as_str(), Some(id.as_str()));
            assert!(o["recording_files"].as_array().is_some_and(|f| !f.is_empty()));
            assert_eq!(o["participant_audio_files"].as_array().map(Vec::len), Some(2));
            uuids.push(o["uuid"].as_str().unwrap().to_owned());
        }
        token = v["next_page_token"].as_str().unwrap().to_owned();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(uuids, [1, 3, 10, 20].map(|n| by_age[&n].clone()));

    // Inclusive bounds by email as well as id; the other host's meeting is not listed.
    let (status, v) = get_status_json(list(dana, format!("from={}&to={}", days_ago(10), days_ago(3)))).await;
    assert_eq!(status, StatusCode::OK);
    let got: Vec<&str> = v["meetings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(got, [by_age[&3].as_str(), by_age[&10].as_str()]);
    assert_eq!(v["page_size"], 30);
    // Just outside both bounds.
    let (_, v) = get_status_json(list(&id, format!("from={}&to={}", days_ago(9), days_ago(4)))).await;
    assert_eq!(
        (v["total_records"].as_u64(), v["next_page_token"].as_str()),
        (Some(0), Some(""))
    );
    // Defaults: yesterday to today.
    let (_, v) = get_status_json(list(&id, String::new())).await;
    assert_eq!(
        (v["from"].as_str(), v["to"].as_str()),
        (
            Some(days_ago(1).to_string().as_str()),
            Some(days_ago(0).to_string().as_str())
        )
    );
    assert_eq!(v["meetings"][0]["uuid"].as_str(), Some(by_age[&1].as_str()));
    assert_eq!(v["total_records"], 1);

    // At most one calendar month.
    let month = "The date range must be within one month.";
    let got = get_status_json(list(&id, format!("from={}&to={}", days_ago(40), days_ago(1)))).await;
    assert_zoom_error(&got, StatusCode::BAD_REQUEST, 300, month);
    let got = get_status_json(list(&id, "from=2024-01-15&to=2024-02-16".into())).await;
    assert_zoom_error(&got, StatusCode::BAD_REQUEST, 300, month);
    let (status, _) = get_status_json(list(&id, "from=2024-01-15&to=2024-02-15".into())).await;
    assert_eq!(status, StatusCode::OK);
    for bad in [
        "from=2024-1-5&to=2024-01-20",
        "from=2024-01-01&to=tomorrow",
        "to=2024-02-30",
    ] {
        let (status, v) = get_status_json(list(&id, bad.into())).await;
        assert_eq!(
            (status, v["code"].as_i64()),
            (StatusCode::BAD_REQUEST, Some(300)),
            "{bad}"
        );
    }

    let got = get_status_json(list("nobody@example.com", String::new())).await;
    assert_zoom_error(
        &got,
        StatusCode::NOT_FOUND,
        1001,
        "User does not exist: nobody@example.com.",
    );

    // Page tokens: junk, or one from another listing, is refused.
    let invalid = "The next page token is invalid or expired.";
    let got = get_status_json(list(&id, format!("from={from}&to={to}&next_page_token=junk"))).await;
    assert_zoom_error(&got, StatusCode::BAD_REQUEST, 300, invalid);
    let (_, first) = get_status_json(list(&id, format!("from={from}&to={to}&page_size=1"))).await;
    let other_window = format!(
        "from={}&to={to}&page_size=1&next_page_token={}",
        days_ago(19),
        first["next_page_token"].as_str().unwrap()
    );
    assert_zoom_error(
        &get_status_json(list(&id, other_window)).await,
        StatusCode::BAD_REQUEST,
        300,
        invalid,
    );

    for req in [
        client.get(format!("{base}/v2/users/{id}/recordings")),
        client
            .get(format!("{base}/v2/users/{id}/recordings"))
            .bearer_auth(sandbox.issue_download_token(60)),
    ] {
        let got = get_status_json(req).await;
        assert_zoom_error(&got, StatusCode::UNAUTHORIZED, 124, "Invalid access token.");
    }

    sandbox.shutdown().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn list_rate_limit_and_throttle_knob() {
    let Env {
        sandbox, client, dir, ..
    } = setup_with(|c| c.list_requests_per_sec = 3).await;
    let base = &sandbox.base_url;
    let access = access_token(&client, base).await;
    let users = || client.get(format!("{base}/v2/users")).bearer_auth(&access);
    let recordings = || {
        let id = zoom_sandbox::user_id("host@example.com");
        client
            .get(format!("{base}/v2/users/{id}/recordings"))
            .bearer_auth(&access)
    };
    let (users, recordings) = (&users, &recordings);
    let statuses = move |n: usize| async move {
        let mut v = Vec::new();
        for i in 0..n {
            let req = if i % 2 == 0 { users() } else { recordings() };
            v.push(req.send().await.unwrap().status().as_u16());
        }
        v
    };

    // A burst: the two endpoints share the budget; the 4th request within a second is refused.
    let started = std::time::Instant::now();
    let burst = statuses(4).await;
    if started.elapsed() < std::time::Duration::from_millis(900) {
        assert_eq!(burst, [200, 200, 200, 429]);
    }
    let r = users().send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    let v = json_of(r).await;
    assert_eq!(v["code"], 429);
    assert_eq!(
        v["message"],
        "You have reached the maximum per-second rate limit for this API. Try again later."
    );
    // Honouring Retry-After works.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(users().send().await.unwrap().status(), StatusCode::OK);

    // The deterministic knob, in-process: exactly the next n requests are refused.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    sandbox.throttle_next(2);
    assert_eq!(statuses(3).await, [429, 429, 200]);
    // ... over HTTP; a request without a valid token is a 401 and does not use up the count.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = client
        .post(format!("{base}/_sandbox/throttle"))
        .json(&serde_json::json!({"next": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let unauthorized = client.get(format!("{base}/v2/users")).send().await.unwrap();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    let r = recordings().send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    assert_eq!(users().send().await.unwrap().status(), StatusCode::OK);

    // The single-meeting API ("Light") is not behind this limit.
    sandbox.throttle_next(1);
    let r = client
        .get(format!("{base}/v2/meetings/1/recordings"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Every answer is in the request log, 429s included.
    let log = sandbox.requests();
    let count = |status: u16| {
        log.iter()
            .filter(|r| r.path.starts_with("/v2/users") && r.status == status)
            .count()
    };
    let (throttled, ok) = (count(429), count(200));
    assert!(throttled >= 5, "{throttled} 429s");
    assert!(ok >= 5, "{ok} 200s");
    assert!(log.iter().filter(|r| r.status == 429).all(|r| r.authorized));

    sandbox.shutdown().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn past_meeting_is_listed_and_downloadable() {
    let Env {
        sandbox, client, dir, ..
    } = setup().await;
    let base = &sandbox.base_url;
    let mut spec = MeetingSpec::staggered(1, 4.0);
    spec.host_email = "past@example.com".into();
    spec.start = noon_days_ago(14);
    let past = spec.generate(&dir.join("past")).await.unwrap();
    assert!(past
        .tracks
        .iter()
        .all(|t| t.recording_start >= spec.start && t.recording_end <= spec.start + Duration::seconds(4)));
    sandbox.add_meeting(&past);
    let access = access_token(&client, base).await;

    let id = zoom_sandbox::user_id("past@example.com");
    let url = format!(
        "{base}/v2/users/{id}/recordings?from={}&to={}",
        days_ago(15),
        days_ago(13)
    );
    let (status, v) = get_status_json(client.get(url).bearer_auth(&access)).await;
    assert_eq!(status, StatusCode::OK);
    let listed = &v["meetings"][0];
    assert_eq!(v["total_records"], 1);
    assert_eq!(listed["uuid"].as_str(), Some(past.spec.uuid.as_str()));
    let start = noon_days_ago(14)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(listed["start_time"].as_str(), Some(start.as_str()));
    assert_eq!(
        listed["recording_files"][0]["recording_start"].as_str(),
        Some(start.as_str())
    );

    // The per-meeting call still answers for it, with a token that downloads every listed file.
    let uuid = utf8_percent_encode(&past.spec.uuid, NON_ALPHANUMERIC).to_string();
    let uuid = utf8_percent_encode(&uuid, NON_ALPHANUMERIC).to_string();
    let one = format!("{base}/v2/meetings/{uuid}/recordings?include_fields=download_access_token");
    let (status, o) = get_status_json(client.get(one).bearer_auth(&access)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(o["start_time"], listed["start_time"]);
    let token = o["download_access_token"].as_str().unwrap();
    let files: Vec<&Value> = ["recording_files", "participant_audio_files"]
        .iter()
        .flat_map(|k| listed[*k].as_array().unwrap())
        .collect();
    assert_eq!(files.len(), past.tracks.len());
    for f in files {
        let track = past.track(f["id"].as_str().unwrap()).unwrap();
        let r = client
            .get(f["download_url"].as_str().unwrap())
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap(), std::fs::read(&track.path).unwrap());
    }

    sandbox.shutdown().await;
    std::fs::remove_dir_all(dir).ok();
}
