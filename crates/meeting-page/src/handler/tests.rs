use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use zoom_symbl_core::insights::{Action, Question, Topic};
use zoom_symbl_core::lifecycle::MeetingState;
use zoom_symbl_core::meeting::SpeechTrack;
use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::testkit::{AudioBuilder, MeetingRow, MemMeetings, MemObjects, StoredObject};
use zoom_symbl_core::transcript::Utterance;

use super::*;

const NOW: i64 = 1_764_000_000;
const KEY: &str = "bWVldGluZy0x";

fn links() -> PageLinks {
    PageLinks::new(&SecretString::new("the-deployments-page-key-0123456789"))
}

fn put(objects: &MemObjects, key: &str, value: &impl serde::Serialize) {
    objects.objects.lock().unwrap().insert(
        ("out".into(), key.into()),
        StoredObject {
            content_type: "application/json".into(),
            bytes: serde_json::to_vec(value).unwrap(),
        },
    );
}

/// A transcribed meeting whose topic, a participant's name and an utterance carry markup.
fn page() -> MeetingPage<MemMeetings, MemObjects> {
    let mut audio = AudioBuilder::sample()
        .topic("Launch <script>alert(1)</script>")
        .timezone(Some("America/Los_Angeles"))
        .build();
    audio.speech = vec![
        SpeechTrack {
            index: 0,
            name: "Dana Host".into(),
            map_key: "meetings/m/speech/0.json".into(),
            flac_key: Some("meetings/m/speech/0.flac".into()),
            talk_seconds: 300.0,
        },
        SpeechTrack {
            index: 1,
            name: "<img src=x onerror=alert(2)>".into(),
            map_key: "meetings/m/speech/1.json".into(),
            flac_key: Some("meetings/m/speech/1.flac".into()),
            talk_seconds: 150.0,
        },
    ];
    let objects = MemObjects::default();
    put(
        &objects,
        "meetings/m/insights.json",
        &Insights {
            summary: vec!["They agreed to ship.".into()],
            topics: vec![Topic {
                text: "launch".into(),
                sentiment: Some("positive".into()),
            }],
            questions: vec![Question {
                text: "When?".into(),
                from: Some("Dana Host".into()),
            }],
            action_items: vec![Action {
                text: "Send the notes".into(),
                assignee: Some("Dana Host".into()),
                due_by: Some("2024-06-07".into()),
                from: None,
            }],
            ..Insights::default()
        },
    );
    put(
        &objects,
        "meetings/m/transcript.json",
        &Transcript {
            utterances: vec![
                Utterance {
                    speaker: "Dana Host".into(),
                    start: 65.2,
                    end: 70.0,
                    text: "Let's ship on Friday.".into(),
                },
                Utterance {
                    speaker: "<img src=x onerror=alert(2)>".into(),
                    start: 3725.0,
                    end: 3727.0,
                    text: "</div><script>alert(3)</script>".into(),
                },
            ],
        },
    );
    let documents = BTreeMap::from([
        ("insights".to_owned(), "meetings/m/insights.json".to_owned()),
        ("transcript".to_owned(), "meetings/m/transcript.json".to_owned()),
    ]);
    MeetingPage {
        records: MemMeetings::default().with(
            KEY,
            MeetingRow {
                status: Some(MeetingState::Transcribed),
                insights: Some(documents),
                ..MeetingRow::queued(audio)
            },
        ),
        objects,
        links: links(),
        settings: Settings {
            audio_url_ttl: Duration::from_secs(900),
        },
    }
}

async fn view(p: &MeetingPage<MemMeetings, MemObjects>, token: &str) -> PageResponse {
    p.respond("GET", KEY, Some(token), NOW).await
}

#[tokio::test]
async fn a_valid_link_shows_the_meeting_with_everything_escaped() {
    let p = page();
    let token = links().sign(KEY, NOW, 30).unwrap();
    let r = view(&p, &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = &r.body;
    for needle in [
        "Launch &#60;script&#62;alert(1)&#60;/script&#62;",
        "They agreed to ship.",
        "Send the notes",
        "(due 2024-06-07)",
        "When?",
        "launch",
        "Let&#39;s ship on Friday.",
        "1:05",
        "1:02:05",
        "data-t=\"65\"",
    ] {
        assert!(body.contains(needle), "{needle} missing from\n{body}");
    }
    // Markup from Zoom, a participant or speech recognition never becomes markup.
    assert!(!body.contains("<script>alert"), "{body}");
    assert!(!body.contains("<img src=x"), "{body}");
    assert!(body.contains("&#60;img src=x onerror=alert(2)&#62;"), "{body}");
    // Talk time, a bar each: the most talkative is the full bar.
    assert!(
        body.contains("value=\"100\"") && body.contains("value=\"50\""),
        "{body}"
    );
    assert!(body.contains("5:00") && body.contains("2:30"));
}

#[tokio::test]
async fn every_header_keeps_the_page_private_and_its_own() {
    let p = page();
    let r = view(&p, &links().sign(KEY, NOW, 30).unwrap()).await;
    let csp = r.header("Content-Security-Policy").unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .unwrap()
        .to_owned();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(csp.contains("media-src https://out.s3.testkit.invalid;"), "{csp}");
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(
        r.body.matches(&format!("nonce=\"{nonce}\"")).count(),
        2,
        "the style and the script"
    );
    assert_eq!(r.header("Referrer-Policy"), Some("no-referrer"));
    assert_eq!(r.header("X-Robots-Tag"), Some("noindex, nofollow"));
    assert_eq!(r.header("Cache-Control"), Some("private, no-store"));
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    // No third-party anything: every URL in the page is the audio's.
    for attr in ["src=\"http", "href=\"http"] {
        for found in r.body.match_indices(attr) {
            assert!(
                r.body[found.0..].starts_with(&format!("{}\"https://out.s3.testkit.invalid/", &attr[..attr.len() - 5])),
                "{}",
                &r.body[found.0..found.0 + 80]
            );
        }
    }
    let again = view(&p, &links().sign(KEY, NOW, 30).unwrap()).await;
    assert_ne!(
        again.header("Content-Security-Policy"),
        Some(csp),
        "a nonce per response"
    );
}

#[tokio::test]
async fn the_audio_url_is_minted_at_each_view_with_a_short_life() {
    let p = page();
    let token = links().sign(KEY, NOW, 30).unwrap();
    view(&p, &token).await;
    view(&p, &token).await;
    let presigned = p.objects.presigned.lock().unwrap().clone();
    assert_eq!(presigned.len(), 2, "one per view");
    assert!(presigned.iter().all(|k| k.ends_with("mixdown.mp3")), "{presigned:?}");
    let r = view(&p, &token).await;
    assert!(r.body.contains("X-Amz-Expires=900"), "{}", r.body);
}

#[tokio::test]
async fn wrong_links_are_a_404_that_says_nothing_and_an_expired_one_a_410() {
    let p = page();
    let other = links().sign("bm8tc3VjaA", NOW, 30).unwrap();
    let forged = PageLinks::new(&SecretString::new("not-our-key"))
        .sign(KEY, NOW, 30)
        .unwrap();
    let good = links().sign(KEY, NOW, 30).unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let altered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"{KEY}","iat":{NOW},"exp":{}}}"#, NOW + 999_999_999)),
        parts[2]
    );
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"{KEY}","iat":{NOW}}}"#))
    );
    let missing_meeting = p.respond("GET", "bm8tc3VjaA", Some(&other), NOW).await;
    let wrong: Vec<PageResponse> = vec![
        view(&p, &other).await,
        view(&p, &forged).await,
        view(&p, &altered).await,
        view(&p, &none).await,
        p.respond("GET", KEY, None, NOW).await,
    ];
    for r in wrong.iter().chain([&missing_meeting]) {
        assert_eq!(r.status, 404);
        assert_eq!(
            r.body.replace(|c: char| c.is_ascii_hexdigit(), ""),
            missing_meeting.body.replace(|c: char| c.is_ascii_hexdigit(), ""),
            "a meeting that exists and one that does not look the same"
        );
        assert_eq!(r.header("Cache-Control"), Some("private, no-store"));
    }
    assert!(
        p.objects.presigned.lock().unwrap().is_empty(),
        "nothing read for a wrong link"
    );
    let expired = links().sign(KEY, NOW - 31 * 86_400, 30).unwrap();
    let r = view(&p, &expired).await;
    assert_eq!(r.status, 410);
    assert!(r.body.contains("This link has expired"), "{}", r.body);
}

#[tokio::test]
async fn head_answers_the_headers_without_a_body_and_other_methods_are_refused() {
    let p = page();
    let token = links().sign(KEY, NOW, 0).unwrap();
    let r = p.respond("HEAD", KEY, Some(&token), NOW).await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert!(r.header("Content-Security-Policy").is_some());
    let r = p.respond("POST", KEY, Some(&token), NOW).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD"));
}

#[tokio::test]
async fn a_meeting_without_insights_yet_is_not_found_and_a_store_that_fails_is_a_503() {
    use zoom_symbl_core::testkit::Faults;
    let p = page();
    let token = links().sign(KEY, NOW, 30).unwrap();
    p.records.rows.lock().unwrap().get_mut(KEY).unwrap().insights = None;
    assert_eq!(view(&p, &token).await.status, 404);
    let p = page();
    p.objects.fail("get");
    let r = view(&p, &token).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("Retry-After"), Some("30"));
}
