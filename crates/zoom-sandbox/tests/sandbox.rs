//! The sandbox in-process over real HTTPS: webhook download flow, auth failures,
//! fault knobs and the S2S OAuth + recordings API flow.

// An integration test: a panic here is a failed test, as in `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::{header, Client, StatusCode};
use serde_json::Value;
use zoom_sandbox::{Fault, GeneratedMeeting, MeetingSpec, Sandbox, SandboxConfig};
use zoom_symbl_core::zoom::ZoomEvent;

struct Env {
    sandbox: Sandbox,
    meeting: GeneratedMeeting,
    client: Client,
    dir: std::path::PathBuf,
}

async fn setup() -> Env {
    let dir = std::env::temp_dir().join(format!("zoom-sandbox-it-{}", uuid::Uuid::new_v4()));
    let meeting = MeetingSpec::staggered(2, 8.0).generate(&dir).await.unwrap();
    let sandbox = Sandbox::start(SandboxConfig::local(&dir)).await.unwrap();
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
