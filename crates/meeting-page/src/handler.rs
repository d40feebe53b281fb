//! `GET`/`HEAD /meetings/{key}?t=<token>`: the link is checked before anything is read, so a
//! wrong link (forged, altered, another meeting's) is a 404 that says nothing about whether the
//! meeting exists; an expired one is a 410. The audio's URL is presigned for each view.

use std::time::Duration;

use askama::Template;
use tracing::{info, warn};

use zoom_symbl_core::insights::Insights;
use zoom_symbl_core::page_link::{LinkError, PageLinks};
use zoom_symbl_core::ports::{ObjectStore, PageRecords};
use zoom_symbl_core::transcript::Transcript;
use zoom_symbl_core::Error;

use crate::view::{MeetingView, MessageView};

/// Where the stored insights and transcript are named among the meeting's documents.
const INSIGHTS_DOCUMENT: &str = "insights";
const TRANSCRIPT_DOCUMENT: &str = "transcript";

#[derive(Debug, Clone)]
pub struct Settings {
    /// How long each view's audio URL lives: long enough to listen, short enough that a
    /// copied page holds nothing lasting.
    pub audio_url_ttl: Duration,
}

pub struct MeetingPage<R, O> {
    pub records: R,
    pub objects: O,
    pub links: PageLinks,
    pub settings: Settings,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PageResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl PageResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl<R: PageRecords, O: ObjectStore> MeetingPage<R, O> {
    pub async fn respond(&self, method: &str, meeting_key: &str, token: Option<&str>, now: i64) -> PageResponse {
        let head = method.eq_ignore_ascii_case("HEAD");
        if !head && !method.eq_ignore_ascii_case("GET") {
            let mut r = message(405, "Not allowed", "This page can only be read.", None);
            r.headers.push(("Allow", "GET, HEAD".into()));
            return r;
        }
        let mut response = match self.links.check(token.unwrap_or_default(), meeting_key, now) {
            Err(LinkError::NotThisMeeting) => not_found(),
            Err(LinkError::Expired) => message(
                410,
                "This link has expired",
                "Links to a meeting's page work for a limited time. Ask the meeting's host for a new one.",
                None,
            ),
            Ok(()) => match self.page(meeting_key).await {
                Ok(Some(page)) => page,
                Ok(None) => not_found(),
                Err(e) => {
                    warn!(error = %e, "the meeting page could not be made");
                    message(
                        503,
                        "Try again in a moment",
                        "The meeting's page could not be loaded just now.",
                        Some(("Retry-After", "30".into())),
                    )
                }
            },
        };
        if head {
            response.body.clear();
        }
        response
    }

    /// The page of a meeting whose insights are stored; `None` when it has none (yet).
    async fn page(&self, meeting_key: &str) -> Result<Option<PageResponse>, Error> {
        let Some((audio, stored)) = self.records.page_record(meeting_key).await? else {
            return Ok(None);
        };
        let Some(insights_key) = stored.documents.get(INSIGHTS_DOCUMENT) else {
            return Ok(None);
        };
        let bucket = &audio.merged_bucket;
        let insights: Insights = serde_json::from_slice(&self.objects.get(bucket, insights_key).await?)
            .map_err(|e| Error::Invalid(format!("stored insights are malformed: {e}")))?;
        let transcript: Transcript = match stored.documents.get(TRANSCRIPT_DOCUMENT) {
            Some(key) => serde_json::from_slice(&self.objects.get(bucket, key).await?)
                .map_err(|e| Error::Invalid(format!("stored transcript is malformed: {e}")))?,
            None => Transcript::default(),
        };
        let audio_url = self
            .objects
            .presign_get(bucket, &audio.mixdown_key, self.settings.audio_url_ttl)
            .await?;
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let media = origin(&audio_url);
        let view = MeetingView::new(
            &audio,
            &insights,
            &transcript,
            audio_url,
            stored.summary_url,
            nonce.clone(),
        );
        let body = view
            .render()
            .map_err(|e| Error::Invalid(format!("rendering the page: {e}")))?;
        info!(bytes = body.len(), lines = view.lines.len(), "meeting page");
        Ok(Some(PageResponse {
            status: 200,
            headers: headers(&nonce, media.as_deref()),
            body,
        }))
    }
}

fn not_found() -> PageResponse {
    message(
        404,
        "Page not found",
        "There is no meeting page at this address. Check the link in your email.",
        None,
    )
}

fn message(status: u16, title: &str, text: &str, extra: Option<(&'static str, String)>) -> PageResponse {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let view = MessageView {
        title: title.to_owned(),
        text: text.to_owned(),
        nonce: nonce.clone(),
    };
    // A template of two escaped strings cannot fail to render; if it did, the status says it all.
    let body = view.render().unwrap_or_else(|_| title.to_owned());
    let mut headers = headers(&nonce, None);
    headers.extend(extra);
    PageResponse { status, headers, body }
}

/// Nothing but this response's own style and script, and the audio from where it is signed.
pub fn headers(nonce: &str, media_origin: Option<&str>) -> Vec<(&'static str, String)> {
    let media = media_origin.map_or_else(|| "'none'".to_owned(), str::to_owned);
    vec![
        ("Content-Type", "text/html; charset=utf-8".into()),
        (
            "Content-Security-Policy",
            format!(
                "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; media-src {media}; \
                 img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
            ),
        ),
        ("Referrer-Policy", "no-referrer".into()),
        ("X-Robots-Tag", "noindex, nofollow".into()),
        ("Cache-Control", "private, no-store".into()),
        ("X-Content-Type-Options", "nosniff".into()),
    ]
}

/// `https://host[:port]` of a URL, for the CSP's `media-src`.
fn origin(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?;
    Some(match u.port() {
        Some(port) => format!("{}://{host}:{port}", u.scheme()),
        None => format!("{}://{host}", u.scheme()),
    })
}

#[cfg(test)]
mod tests;
