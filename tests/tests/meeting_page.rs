//! The meeting page on the local stack (aws provider), opened from the link in the host's
//! email as a browser would: the whole transcript by speaker, the insights, the audio behind a
//! URL minted at each view, the headers that keep it private, and wrong links refused alike.

use std::time::Duration;

use e2e::browser::{artifacts_dir, Browser, Viewport};
use e2e::{deliver, http, llm, record, sandbox, Stack};
use serde_json::{json, Value};
use zoom_sandbox::MeetingSpec;
use zoom_symbl_core::transcript::Transcript;

const WAIT: Duration = Duration::from_secs(240);

/// The page's link in the email's plain-text part.
fn page_link(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.contains("/meetings/") && w.contains("?t="))
        .unwrap_or_else(|| panic!("no meeting page link in:\n{text}"))
        .to_owned()
}

/// The `src` of the page's audio element.
fn audio_src(page: &str) -> String {
    let at = page.find("<audio").expect("an audio element");
    let src = &page[at..];
    let start = src.find("src=\"").expect("its src") + 5;
    let end = start + src[start..].find('"').expect("the src's end");
    src[start..end].replace("&amp;", "&").replace("&#38;", "&")
}

#[tokio::test]
async fn the_emailed_link_opens_the_whole_meeting_and_mints_the_audio_url_at_each_view() {
    let stack = Stack::load_aws();
    llm();
    let mut spec = MeetingSpec::staggered(3, 12.0);
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    spec.topic = format!("Page review <b>{tag}</b>");
    let m = record(spec).await;
    let event = sandbox().recording_completed(&m, &sandbox().default_download_token());
    let (status, reply) = deliver(&stack, &event).await;
    assert_eq!(status, 200, "{reply}");
    let mail = stack.one_mail(&tag, WAIT, Duration::from_secs(2)).await;
    let link = page_link(&mail.text);
    assert!(mail.html.contains(">Open the meeting page</a>"), "{}", mail.html);
    // The talk-time line, the same in both parts: everyone, with a time each.
    let talk = mail
        .text
        .lines()
        .find_map(|l| l.strip_prefix("Talk time: "))
        .unwrap_or_else(|| panic!("no talk-time line in:\n{}", mail.text));
    for name in ["Dana Host", "Mary-Jane O'Neil", "李雷"] {
        assert!(talk.contains(&format!("{name} 0:")), "{name} in {talk}");
    }
    assert!(
        mail.html
            .contains(&format!(">Talk time: {}</p>", talk.replace('\'', "&#39;"))),
        "{}",
        mail.html
    );

    let first = http().get(&link).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let headers = first.headers().clone();
    let page = first.text().await.unwrap();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'none'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "private, no-store");
    assert!(headers["x-robots-tag"].to_str().unwrap().contains("noindex"));
    assert!(
        page.contains(&format!("Page review &#60;b&#62;{tag}&#60;/b&#62;")),
        "{page}"
    );
    for name in ["Dana Host", "李雷"] {
        assert!(page.contains(name), "{name} missing from the page");
    }
    assert!(page.contains("data-t=\""), "timestamps that seek the audio");
    assert!(
        page.contains("Who talked") && page.contains("<meter"),
        "talk time, a bar each"
    );

    // The audio plays from a URL signed for this view; a later view signs another one.
    let src = audio_src(&page);
    let audio = http().get(&src).send().await.unwrap();
    assert_eq!(audio.status(), 200, "{src}");
    assert!(!audio.bytes().await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = http().get(&link).send().await.unwrap().text().await.unwrap();
    let again = audio_src(&second);
    assert_ne!(again, src, "minted afresh");
    assert_eq!(http().get(&again).send().await.unwrap().status(), 200);

    // In a browser, at a desktop's width and a phone's: what a person sees.
    let transcript = stack.transcript(&m.spec.uuid).await.unwrap();
    assert!(!transcript.utterances.is_empty());
    in_a_browser(&link, &tag, &transcript).await;

    // HEAD: the headers, no body.
    let head = http().head(&link).send().await.unwrap();
    assert_eq!(head.status(), 200);

    // A changed token, another meeting's, none at all: the same 404.
    let (base, token) = link.split_once("?t=").unwrap();
    // The signature's first character changed (its last one may only carry padding bits).
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let first = if signature.starts_with('A') { 'B' } else { 'A' };
    let altered = format!("{signed}.{first}{}", &signature[1..]);
    let other_meeting = format!("{}bm9uZQ?t={token}", base.rsplit_once('/').unwrap().0.to_owned() + "/");
    for wrong in [format!("{base}?t={altered}"), base.to_owned(), other_meeting] {
        let r = http().get(&wrong).send().await.unwrap();
        assert_eq!(r.status(), 404, "{wrong}");
        assert_eq!(r.headers()["cache-control"], "private, no-store");
    }
}

/// Opens the page in headless Chromium at a desktop's and a phone's width: screenshots of
/// both (target/test-artifacts/meeting-page-{desktop,phone}.png), every speaker and every
/// transcript line in the DOM as text, nothing wider than the screen, an audio URL of its own
/// for each view, and a click on a timestamp that moves the player there.
async fn in_a_browser(link: &str, tag: &str, transcript: &Transcript) {
    let mut browser = Browser::launch().await.unwrap();
    let mut audio_urls = Vec::new();
    for (width, viewport) in [("desktop", Viewport::DESKTOP), ("phone", Viewport::PHONE)] {
        browser.viewport(viewport).await.unwrap();
        browser.navigate(link).await.unwrap();
        let title = browser.eval("document.querySelector('h1').textContent").await.unwrap();
        assert_eq!(
            title,
            json!(format!("Page review <b>{tag}</b>")),
            "{width}: the topic is text"
        );
        assert_eq!(
            browser
                .eval("document.querySelectorAll('h1 b, script:not([nonce])').length")
                .await
                .unwrap(),
            json!(0),
            "{width}: nothing of the topic became markup"
        );
        // Who talked: everyone who spoke, by name.
        let talkers = browser
            .eval("[...document.querySelectorAll('.talk > span:not(.who)')].map(s => s.textContent)")
            .await
            .unwrap();
        for u in &transcript.utterances {
            assert!(
                talkers.as_array().unwrap().contains(&json!(u.speaker)),
                "{width}: {} not in {talkers}",
                u.speaker
            );
        }
        // The transcript: each line's time, speaker and words, in order.
        let lines = browser
            .eval(
                "[...document.querySelectorAll('.line')].map(l => [l.querySelector('a').textContent, \
                 l.querySelector('a').dataset.t, l.querySelector('b').textContent, l.lastElementChild.textContent])",
            )
            .await
            .unwrap();
        let lines = lines.as_array().unwrap();
        assert_eq!(lines.len(), transcript.utterances.len(), "{width}: {lines:?}");
        for (line, u) in lines.iter().zip(&transcript.utterances) {
            assert_eq!(line[1], json!((u.start.max(0.0) as u64).to_string()), "{width}: {line}");
            assert_eq!(line[2], json!(u.speaker), "{width}: {line}");
            assert_eq!(line[3], json!(format!("{} {}", u.speaker, u.text)), "{width}: {line}");
        }
        // Nothing runs off the side of the screen.
        let widths = browser
            .eval("[document.documentElement.scrollWidth, window.innerWidth]")
            .await
            .unwrap();
        assert!(
            widths[0].as_u64() <= widths[1].as_u64(),
            "{width}: the page is wider than the screen: {widths}"
        );
        let png = artifacts_dir().join(format!("meeting-page-{width}.png"));
        let bytes = browser.screenshot(&png, 6000.0).await.unwrap();
        assert!(bytes > 10_000, "{width}: not a real screenshot ({bytes} bytes)");
        audio_urls.push(browser.eval("document.querySelector('audio').src").await.unwrap());
        if width == "desktop" {
            click_a_timestamp(&mut browser).await;
            // A presigned URL is dated to the second: the next view comes in another one.
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
    }
    assert_ne!(audio_urls[0], audio_urls[1], "each view has an audio URL of its own");
}

/// Clicks the latest timestamp in the transcript and waits for the player to be there.
async fn click_a_timestamp(browser: &mut Browser) {
    browser
        .wait_for(
            "document.querySelector('audio').readyState >= 1",
            Duration::from_secs(15),
        )
        .await
        .unwrap_or_else(|e| panic!("the audio never loaded its metadata: {e:#}"));
    let state = browser
        .eval(
            "(() => { const a = document.querySelector('audio'); \
             const ts = [...document.querySelectorAll('a[data-t]')].map(l => Number(l.dataset.t)); \
             return [a.currentTime, a.duration, Math.max(...ts.filter(t => t < a.duration - 1))]; })()",
        )
        .await
        .unwrap();
    let (now, t) = (state[0].as_f64().unwrap(), state[2].as_f64().unwrap());
    assert!(
        now < 0.5 && t >= 2.0,
        "a timestamp away from where the player is: {state}"
    );
    browser.click(&format!("a[data-t=\"{t}\"]")).await.unwrap();
    let moved = format!("Math.abs(document.querySelector('audio').currentTime - {t}) < 1.5");
    browser
        .wait_for(&moved, Duration::from_secs(5))
        .await
        .unwrap_or_else(|e| panic!("clicking {t} did not move the player: {e:#}"));
    // The page stayed where it was: the click seeked, it did not follow the link.
    let hash: Value = browser.eval("location.hash").await.unwrap();
    assert_eq!(hash, json!(""), "the click was the player's");
}
