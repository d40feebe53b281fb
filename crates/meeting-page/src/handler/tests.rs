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

/// The names every response carries, whatever its status.
const EVERY_HEADER: [&str; 6] = [
    "Content-Type",
    "Content-Security-Policy",
    "Referrer-Policy",
    "X-Robots-Tag",
    "Cache-Control",
    "X-Content-Type-Options",
];

fn assert_private(r: &PageResponse, media: &str) {
    let what = format!("{} response", r.status);
    for name in EVERY_HEADER {
        assert_eq!(
            r.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count(),
            1,
            "{name} once on the {what}: {:?}",
            r.headers
        );
    }
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"), "{what}");
    assert_eq!(r.header("Referrer-Policy"), Some("no-referrer"), "{what}");
    assert_eq!(r.header("X-Robots-Tag"), Some("noindex, nofollow"), "{what}");
    assert_eq!(r.header("Cache-Control"), Some("private, no-store"), "{what}");
    assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"), "{what}");
    let csp = r.header("Content-Security-Policy").unwrap();
    let nonce = csp.split("'nonce-").nth(1).and_then(|s| s.split('\'').next()).unwrap();
    assert_eq!(nonce.len(), 32, "{csp}");
    assert_eq!(
        csp,
        format!(
            "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; media-src {media}; \
             img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        "{what}"
    );
}

#[tokio::test]
async fn every_response_carries_every_header_whatever_its_status() {
    use zoom_symbl_core::testkit::Faults;
    let p = page();
    let good = links().sign(KEY, NOW, 30).unwrap();
    let ok = view(&p, &good).await;
    assert_private(&ok, "https://out.s3.testkit.invalid");
    let head = p.respond("HEAD", KEY, Some(&good), NOW).await;
    assert_private(&head, "https://out.s3.testkit.invalid");
    let names = |r: &PageResponse| r.headers.iter().map(|(n, _)| *n).collect::<Vec<_>>();
    assert_eq!(names(&head), names(&ok), "HEAD answers GET's headers");

    // The pages that are not the meeting's play nothing: no media source at all.
    let not_found = view(&p, "not-a-jwt").await;
    let expired = view(&p, &links().sign(KEY, NOW - 31 * 86_400, 30).unwrap()).await;
    let refused = p.respond("DELETE", KEY, Some(&good), NOW).await;
    let failing = page();
    failing.objects.fail("presign_get");
    let unavailable = view(&failing, &good).await;
    for (r, status) in [(&not_found, 404), (&expired, 410), (&refused, 405), (&unavailable, 503)] {
        assert_eq!(r.status, status, "{}", r.body);
        assert_private(r, "'none'");
        // Their style runs under the nonce; they have no script at all.
        let csp = r.header("Content-Security-Policy").unwrap();
        let nonce = csp.split("'nonce-").nth(1).and_then(|s| s.split('\'').next()).unwrap();
        assert_eq!(r.body.matches(&format!("nonce=\"{nonce}\"")).count(), 1, "{}", r.body);
        assert!(!r.body.contains("<script"), "{}", r.body);
    }
    assert_eq!(refused.header("Allow"), Some("GET, HEAD"));
    assert_eq!(unavailable.header("Retry-After"), Some("30"));
}

#[tokio::test]
async fn tokens_open_only_their_own_meeting_and_say_nothing_else() {
    let p = page();
    let found = |r: &PageResponse| (r.status, r.body.contains("Let&#39;s ship on Friday."));

    // Valid: at its last second, and a link made to never expire (0 days) years later.
    let good = links().sign(KEY, NOW, 30).unwrap();
    assert_eq!(
        found(&p.respond("GET", KEY, Some(&good), NOW + 30 * 86_400 - 1).await),
        (200, true)
    );
    let forever = links().sign(KEY, NOW, 0).unwrap();
    assert_eq!(
        found(&p.respond("GET", KEY, Some(&forever), NOW + 5 * 365 * 86_400).await),
        (200, true)
    );

    // Expired: from its expiry's very second on, a 410 that shows nothing of the meeting.
    let r = p.respond("GET", KEY, Some(&good), NOW + 30 * 86_400).await;
    assert_eq!(found(&r), (410, false));
    assert!(!r.body.contains("Launch"), "{}", r.body);

    let parts: Vec<&str> = good.split('.').collect();
    let (header, payload, signature) = (parts[0], parts[1], parts[2]);
    let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
    // Altered: each part changed in turn, the rest kept.
    let flip = |s: &str| {
        let first = if s.starts_with('A') { 'B' } else { 'A' };
        format!("{first}{}", &s[1..])
    };
    let altered_signature = format!("{header}.{payload}.{}", flip(signature));
    let longer_life = format!(
        "{header}.{}.{signature}",
        b64(&format!(r#"{{"sub":"{KEY}","iat":{NOW},"exp":{}}}"#, NOW + 90 * 86_400))
    );
    let another_algorithm = format!("{}.{payload}.{signature}", b64(r#"{"alg":"HS512","typ":"JWT"}"#));
    // `alg: none`, spelled the ways libraries have accepted, with and without the real signature.
    let mut alg_none = Vec::new();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let none_header = b64(&format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        alg_none.push(format!("{none_header}.{payload}."));
        alg_none.push(format!("{none_header}.{payload}.{signature}"));
    }
    // Another meeting's: valid for it, expired for it, and this meeting's key asked of it.
    let other_key = "bm8tc3VjaA";
    let others = [
        links().sign(other_key, NOW, 30).unwrap(),
        links().sign(other_key, NOW - 31 * 86_400, 30).unwrap(),
    ];
    // An expired token signed with another key is a 404 too: only a genuine link says "expired".
    let forged_expired = PageLinks::new(&SecretString::new("not-our-key"))
        .sign(KEY, NOW - 31 * 86_400, 30)
        .unwrap();
    let reference = p.respond("GET", other_key, Some(&others[0]), NOW).await;
    let blank = |r: &PageResponse| r.body.replace(|c: char| c.is_ascii_hexdigit(), "");
    for token in [altered_signature, longer_life, another_algorithm, forged_expired]
        .into_iter()
        .chain(alg_none)
        .chain(others)
        .chain([good.to_uppercase(), format!("{good}.{signature}"), String::new()])
    {
        let r = view(&p, &token).await;
        assert_eq!(r.status, 404, "{token}");
        assert_eq!(blank(&r), blank(&reference), "{token}");
    }
    // A valid link for this meeting does not open another one that exists.
    let other_meeting = page();
    {
        let mut rows = other_meeting.records.rows.lock().unwrap();
        let row = rows.remove(KEY).unwrap();
        rows.insert(other_key.to_owned(), row);
    }
    let r = other_meeting.respond("GET", other_key, Some(&good), NOW).await;
    assert_eq!(found(&r), (404, false));
    assert!(
        p.objects.presigned.lock().unwrap().len() == 2 && other_meeting.objects.presigned.lock().unwrap().is_empty(),
        "only the two valid views read anything"
    );
}

/// The handler's page with markup in every string a person, Zoom, the speech recognition or
/// the LLM chose, attribute breakers included.
fn hostile_page() -> MeetingPage<MemMeetings, MemObjects> {
    let p = page();
    let evil = |n: u32| format!("\"'><script>alert({n})</script><b onmouseover=\"x\">&amp;");
    let mut rows = p.records.rows.lock().unwrap();
    let row = rows.get_mut(KEY).unwrap();
    row.summary_url = Some("https://symbl.invalid/s?a=1&b=\"><script>alert(9)</script>".into());
    if let Some(audio) = row.audio.as_mut() {
        audio.topic = evil(1);
        audio.speech[0].name = evil(2);
    }
    drop(rows);
    put(
        &p.objects,
        "meetings/m/insights.json",
        &Insights {
            summary: vec![evil(3)],
            topics: vec![Topic {
                text: evil(4),
                sentiment: Some(evil(5)),
            }],
            questions: vec![Question {
                text: evil(6),
                from: Some(evil(2)),
            }],
            action_items: vec![Action {
                text: evil(7),
                assignee: Some(evil(2)),
                due_by: Some("<i>2024</i>".into()),
                from: None,
            }],
            follow_ups: vec![Action {
                text: evil(8),
                assignee: Some(evil(2)),
                due_by: None,
                from: None,
            }],
            ..Insights::default()
        },
    );
    put(
        &p.objects,
        "meetings/m/transcript.json",
        &Transcript {
            utterances: vec![Utterance {
                speaker: evil(2),
                start: 12.0,
                end: 14.0,
                text: evil(10),
            }],
        },
    );
    p
}

#[tokio::test]
async fn markup_anywhere_in_the_meeting_stays_text_in_text_and_in_attributes() {
    let p = hostile_page();
    let r = view(&p, &links().sign(KEY, NOW, 30).unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = &r.body;
    // Every string shows, escaped: the topic (title and heading), the name (talk time, an
    // action item's and a follow-up's assignee, a question's asker, the transcript), the
    // summary, topic and sentiment, question, action item, follow-up and the utterance.
    let escaped = |n: u32| {
        format!(
            "&#34;&#39;&#62;&#60;script&#62;alert({n})&#60;/script&#62;&#60;b onmouseover=&#34;x&#34;&#62;&#38;amp;"
        )
    };
    for (n, times) in [(1, 2), (2, 5), (3, 1), (4, 1), (5, 1), (6, 1), (7, 1), (8, 1), (10, 1)] {
        assert_eq!(body.matches(&escaped(n)).count(), times, "alert({n}) in\n{body}");
    }
    // A due date keeps its first ten characters, escaped.
    assert!(body.contains("(due &#60;i&#62;2024&#60;/i)"), "{body}");
    // Nothing they wrote became an element or an attribute: the page's only script and bold
    // elements are its own, and the only quote-breaking attribute values are none.
    assert_eq!(body.matches("<script").count(), 1, "{body}");
    assert!(!body.contains("onmouseover=\""), "{body}");
    assert!(!body.contains("<i>"), "{body}");
    assert_eq!(body.matches("<b>").count(), 1, "the transcript line's speaker");
    // A URL in an attribute cannot close its quotes either.
    assert!(
        body.contains("href=\"https://symbl.invalid/s?a=1&#38;b=&#34;&#62;&#60;script&#62;alert(9)&#60;/script&#62;\""),
        "{body}"
    );
    assert!(
        body.contains("/mixdown.mp3?X-Amz-Expires=900&#38;X-Amz-Signature=testkit\""),
        "{body}"
    );
}
