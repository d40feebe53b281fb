//! The meeting page on the local stack (aws provider), opened from the link in the host's
//! email as a browser would: the whole transcript by speaker, the insights, the audio behind a
//! URL minted at each view, the headers that keep it private, and wrong links refused alike.

use std::time::Duration;

use e2e::{deliver, http, llm, record, sandbox, Stack};
use zoom_sandbox::MeetingSpec;

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
