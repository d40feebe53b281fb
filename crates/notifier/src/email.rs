//! The host's email: a plain-text part and an HTML part a person is glad to receive. Every
//! string that came from Zoom or Symbl is escaped; links must be http(s).

use std::fmt::Write;

use sha2::{Digest, Sha256};
use zoom_symbl_core::insights::{Action, Insights, Question, Topic};
use zoom_symbl_core::meeting::ProducedAudio;
use zoom_symbl_core::transcript::{clock, talk_times, TalkTime};

#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Which of a meeting's emails this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    Insights,
    Failure,
}

/// The left part of the email's Message-ID, the same every time this meeting's email of this
/// kind is sent in one run (`insights.<hash>`), and a new one for its next run: mail services
/// drop a message whose Message-ID they have seen. Hashed: the meeting key is the meeting's
/// UUID, reversibly encoded, and a Message-ID travels with every forward and reply.
pub fn stable_id(kind: EmailKind, meeting_key: &str, run: u32) -> String {
    let kind = match kind {
        EmailKind::Insights => "insights",
        EmailKind::Failure => "failure",
    };
    // The first run's id is as it was before runs existed.
    let digest = match run {
        0 | 1 => Sha256::digest(meeting_key.as_bytes()),
        n => Sha256::digest(format!("{meeting_key}#{n}").as_bytes()),
    };
    format!("{kind}.{}", hex::encode(&digest[..16]))
}

/// What the email says about the meeting itself.
pub struct MeetingFacts<'a> {
    pub topic: &'a str,
    pub start_time: &'a str,
    /// IANA name from Zoom (`America/Los_Angeles`); the time is shown in UTC without it.
    pub timezone: Option<&'a str>,
    pub duration_secs: f64,
    pub participants: Vec<&'a str>,
    /// Who talked how long, in the meeting's order; empty when nothing measured it.
    pub talk: Vec<TalkTime>,
}

impl<'a> MeetingFacts<'a> {
    pub fn of(audio: &'a ProducedAudio) -> Self {
        MeetingFacts {
            topic: audio.topic.as_str(),
            start_time: audio.start_time.as_str(),
            timezone: audio.timezone.as_deref(),
            duration_secs: audio.duration_secs,
            participants: audio.participants.iter().map(|p| p.name.as_str()).collect(),
            talk: talk_times(audio, None),
        }
    }

    /// The talk-time line (`Talk time: Dana 12:05 · Lei 3:40`), when there is one.
    fn talk_line(&self) -> Option<String> {
        if self.talk.is_empty() {
            return None;
        }
        let each: Vec<String> = self
            .talk
            .iter()
            .map(|t| format!("{} {}", t.name, clock(t.seconds)))
            .collect();
        Some(format!("Talk time: {}", each.join(" · ")))
    }

    fn title(&self) -> &str {
        if self.topic.trim().is_empty() {
            "your Zoom meeting"
        } else {
            self.topic.trim()
        }
    }

    fn when(&self) -> String {
        let date = zoom_symbl_core::timefmt::local_time(self.start_time, self.timezone)
            .unwrap_or_else(|| self.start_time.to_owned());
        format!("{date} · {} min", (self.duration_secs / 60.0).round().max(1.0))
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A link target only if it is http(s); anything else (javascript:, data:) is dropped.
fn safe_url(url: &str) -> Option<String> {
    let lower = url.trim().to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then(|| escape(url.trim()))
}

fn action_line(a: &Action) -> String {
    let mut s = a.text.clone();
    match (&a.assignee, &a.due_by) {
        (Some(who), Some(due)) => write!(s, " — {who}, due {}", short_date(due)).ok(),
        (Some(who), None) => write!(s, " — {who}").ok(),
        (None, Some(due)) => write!(s, " — due {}", short_date(due)).ok(),
        (None, None) => None,
    };
    s
}

fn short_date(s: &str) -> String {
    s.get(..10).unwrap_or(s).to_owned()
}

const STYLE_SECTION: &str = "margin:24px 0 8px;font-size:16px;color:#1f2937;";
const STYLE_LI: &str = "margin:0 0 6px;line-height:1.5;";

/// Where the email links to: our meeting page (its main button) and the provider's own page.
#[derive(Debug, Clone, Copy, Default)]
pub struct Links<'a> {
    pub page: Option<&'a str>,
    pub provider_page: Option<&'a str>,
}

impl<'a> Links<'a> {
    pub fn provider(provider_page: Option<&'a str>) -> Self {
        Links {
            page: None,
            provider_page,
        }
    }
}

pub fn insights_email(m: &MeetingFacts, ins: &Insights, links: Links<'_>) -> Rendered {
    Rendered {
        subject: format!("Meeting insights: {}", m.title()),
        text: insights_text(m, ins, links),
        html: insights_html(m, ins, links),
    }
}

/// The plain-text part: strings go in as received, since nothing here is interpreted.
fn insights_text(m: &MeetingFacts, ins: &Insights, links: Links<'_>) -> String {
    let mut text = format!(
        "{}\n{}\nParticipants: {}\n",
        m.title(),
        m.when(),
        m.participants.join(", ")
    );
    if let Some(line) = m.talk_line() {
        let _ = writeln!(text, "{line}");
    }
    text.push('\n');
    if let Some(url) = links.page {
        let _ = write!(
            text,
            "The meeting page, with the whole transcript and the audio: {url}\n\n"
        );
    }
    if let Some(url) = links.provider_page {
        let _ = write!(text, "Interactive summary: {url}\n\n");
    }
    for notice in notices(ins) {
        let _ = write!(text, "{notice}\n\n");
    }
    text_section(&mut text, "Summary", &ins.summary, String::clone);
    text_section(&mut text, "Action items", &ins.action_items, action_line);
    text_section(&mut text, "Follow-ups", &ins.follow_ups, action_line);
    text_section(&mut text, "Questions", &ins.questions, question_line);
    text_section(&mut text, "Topics", &ins.topics, topic_line);
    text.push_str("Sent by zoom-symbl for the meeting's host.\n");
    text
}

/// What the email holds less than it would: sections the provider would not give, and
/// participants whose speech could not be transcribed.
fn notices(ins: &Insights) -> Vec<String> {
    let mut notices: Vec<String> = missing_notice(&ins.missing).into_iter().collect();
    if !ins.left_out.is_empty() {
        notices.push(format!(
            "Not transcribed, so not in these insights: {}.",
            ins.left_out.join("; ")
        ));
    }
    notices
}

/// Which sections the provider would not give, by their titles; `None` when it gave them all.
fn missing_notice(missing: &[String]) -> Option<String> {
    if missing.is_empty() {
        return None;
    }
    let titles: Vec<&str> = missing.iter().map(|name| section_title(name)).collect();
    Some(format!(
        "Some sections could not be fetched and are missing from this email: {}.",
        titles.join(", ")
    ))
}

/// The heading a section has in the email; an unknown name is shown as it is.
fn section_title(name: &str) -> &str {
    match name {
        "summary" => "Summary",
        "topics" => "Topics",
        "questions" => "Questions",
        "action-items" => "Action items",
        "follow-ups" => "Follow-ups",
        other => other,
    }
}

/// A titled bullet list, one `line` per item; an empty section is left out entirely.
fn text_section<T>(text: &mut String, title: &str, items: &[T], line: impl Fn(&T) -> String) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(text, "{title}");
    for item in items {
        let _ = writeln!(text, "- {}", line(item));
    }
    text.push('\n');
}

fn question_line(q: &Question) -> String {
    q.from.as_ref().map_or(q.text.clone(), |f| format!("{} ({f})", q.text))
}

fn topic_line(t: &Topic) -> String {
    t.sentiment
        .as_ref()
        .map_or(t.text.clone(), |s| format!("{} ({s})", t.text))
}

/// The HTML part: every string from Zoom or Symbl passes through `escape`, the link through
/// `safe_url`.
fn insights_html(m: &MeetingFacts, ins: &Insights, links: Links<'_>) -> String {
    let mut html = page_start(m);
    let page = links.page.and_then(safe_url);
    if let Some(href) = &page {
        html_link_button(&mut html, href, "Open the meeting page");
    }
    match (links.provider_page.and_then(safe_url), &page) {
        (Some(href), None) => html_link_button(&mut html, &href, "Open the interactive summary"),
        (Some(href), Some(_)) => {
            let _ = write!(
                html,
                "<p style=\"margin:0 0 20px;\"><a href=\"{href}\" style=\"color:#2563eb;\">The provider's interactive summary</a></p>"
            );
        }
        (None, _) => {}
    }
    for notice in notices(ins) {
        let _ = write!(
            html,
            "<p style=\"margin:20px 0 0;padding:10px 14px;background:#fef3c7;border-radius:6px;color:#92400e;line-height:1.5;\">{}</p>",
            escape(&notice)
        );
    }
    html_summary(&mut html, &ins.summary);
    html_list(&mut html, "Action items", &ins.action_items, action_html);
    html_list(&mut html, "Follow-ups", &ins.follow_ups, action_html);
    html_list(&mut html, "Questions", &ins.questions, question_html);
    html_topics(&mut html, &ins.topics);
    html.push_str(PAGE_END);
    html
}

/// `href` must already be checked and escaped by `safe_url`.
fn html_link_button(html: &mut String, href: &str, label: &str) {
    let _ = write!(
        html,
        "<p style=\"margin:20px 0;\"><a href=\"{href}\" style=\"background:#2563eb;color:#ffffff;padding:10px 18px;border-radius:6px;text-decoration:none;font-weight:600;\">{label}</a></p>"
    );
}

/// Summary paragraphs read as prose, so they are not a bullet list like the other sections.
fn html_summary(html: &mut String, summary: &[String]) {
    if summary.is_empty() {
        return;
    }
    let _ = write!(html, "<h2 style=\"{STYLE_SECTION}\">Summary</h2>");
    for p in summary {
        let _ = write!(html, "<p style=\"margin:0 0 10px;line-height:1.6;\">{}</p>", escape(p));
    }
}

/// A titled list, one `item_html` per item: that function must escape what it takes from the
/// item. The title is ours and static, so it is not escaped. An empty list is left out entirely.
fn html_list<T>(html: &mut String, title: &'static str, items: &[T], item_html: impl Fn(&T) -> String) {
    if items.is_empty() {
        return;
    }
    let _ = write!(
        html,
        "<h2 style=\"{STYLE_SECTION}\">{title}</h2><ul style=\"padding-left:20px;margin:0;\">"
    );
    for item in items {
        let _ = write!(html, "<li style=\"{STYLE_LI}\">{}</li>", item_html(item));
    }
    html.push_str("</ul>");
}

fn action_html(a: &Action) -> String {
    let mut s = escape(&a.text);
    let mut meta = Vec::new();
    if let Some(who) = &a.assignee {
        meta.push(format!("<strong>{}</strong>", escape(who)));
    }
    if let Some(due) = &a.due_by {
        meta.push(format!("due {}", escape(&short_date(due))));
    }
    if !meta.is_empty() {
        let _ = write!(s, " <span style=\"color:#6b7280;\">— {}</span>", meta.join(", "));
    }
    s
}

fn question_html(q: &Question) -> String {
    match &q.from {
        Some(f) => format!(
            "{} <span style=\"color:#6b7280;\">— {}</span>",
            escape(&q.text),
            escape(f)
        ),
        None => escape(&q.text),
    }
}

/// Topics are chips tinted by sentiment rather than a list.
fn html_topics(html: &mut String, topics: &[Topic]) {
    if topics.is_empty() {
        return;
    }
    let _ = write!(
        html,
        "<h2 style=\"{STYLE_SECTION}\">Topics</h2><p style=\"line-height:2;\">"
    );
    for t in topics {
        let color = topic_color(t.sentiment.as_deref());
        let _ = write!(html, "<span style=\"background:{color};border-radius:12px;padding:3px 10px;margin-right:6px;white-space:nowrap;\">{}</span>", escape(&t.text));
    }
    html.push_str("</p>");
}

fn topic_color(sentiment: Option<&str>) -> &'static str {
    match sentiment {
        Some("positive") => "#dcfce7",
        Some("negative") => "#fee2e2",
        _ => "#f3f4f6",
    }
}

pub fn failure_email(m: &MeetingFacts, reason: &str) -> Rendered {
    let subject = format!("We could not process: {}", m.title());
    let text = format!(
        "{}\n{}\n\nThe recording of this meeting could not be turned into insights.\nReason: {reason}\n\nThe recording itself is unaffected in Zoom.\n",
        m.title(),
        m.when()
    );
    let mut html = page_start(m);
    let _ = write!(
        html,
        "<p style=\"line-height:1.6;\">The recording of this meeting could not be turned into insights.</p><p style=\"line-height:1.6;color:#6b7280;\">Reason: {}</p><p style=\"line-height:1.6;\">The recording itself is unaffected in Zoom.</p>",
        escape(reason)
    );
    html.push_str(PAGE_END);
    Rendered { subject, text, html }
}

fn page_start(m: &MeetingFacts) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title></head>\
         <body style=\"margin:0;background:#f3f4f6;font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;color:#111827;\">\
         <div style=\"max-width:640px;margin:0 auto;padding:24px;\"><div style=\"background:#ffffff;border-radius:10px;padding:28px;\">\
         <h1 style=\"margin:0 0 4px;font-size:22px;\">{title}</h1>\
         <p style=\"margin:0;color:#6b7280;\">{when}</p>\
         <p style=\"margin:6px 0 0;color:#6b7280;\">Participants: {people}</p>{talk}",
        title = escape(m.title()),
        when = escape(&m.when()),
        people = escape(&m.participants.join(", ")),
        talk = m
            .talk_line()
            .map(|line| format!("<p style=\"margin:6px 0 0;color:#6b7280;\">{}</p>", escape(&line)))
            .unwrap_or_default(),
    )
}

const PAGE_END: &str = "</div><p style=\"color:#9ca3af;font-size:12px;text-align:center;margin-top:16px;\">Sent by zoom-symbl for the meeting's host.</p></div></body></html>";

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(topic: &'a str, people: Vec<&'a str>) -> MeetingFacts<'a> {
        MeetingFacts {
            topic,
            start_time: "2024-05-31T18:00:05Z",
            timezone: None,
            duration_secs: 2524.0,
            participants: people,
            talk: Vec::new(),
        }
    }

    fn insights() -> Insights {
        Insights {
            summary: vec!["Dana and Mary-Jane agreed to move the review.".into()],
            topics: vec![Topic {
                text: "launch <script>alert(1)</script>".into(),
                sentiment: Some("positive".into()),
            }],
            questions: vec![Question {
                text: "Can we ship later?".into(),
                from: Some("Dana Host".into()),
            }],
            action_items: vec![Action {
                text: "Send the revised scope.".into(),
                assignee: Some("Mary-Jane".into()),
                due_by: Some("2024-06-07T07:00:00.000Z".into()),
                from: None,
            }],
            follow_ups: vec![Action {
                text: "Meet the customer.".into(),
                assignee: None,
                due_by: None,
                from: None,
            }],
            missing: vec![],
            left_out: Vec::new(),
        }
    }

    /// Every optional-field arm the sample does not take: assignee only, due date only, a
    /// question without its asker, negative and missing sentiments, no summary.
    fn insights_with_gaps() -> Insights {
        let action = |text: &str, assignee: Option<&str>, due_by: Option<&str>| Action {
            text: text.into(),
            assignee: assignee.map(Into::into),
            due_by: due_by.map(Into::into),
            from: None,
        };
        Insights {
            summary: vec![],
            topics: vec![
                Topic {
                    text: "budget & \"scope\"".into(),
                    sentiment: Some("negative".into()),
                },
                Topic {
                    text: "hiring".into(),
                    sentiment: None,
                },
                Topic {
                    text: "roadmap".into(),
                    sentiment: Some("neutral".into()),
                },
            ],
            questions: vec![Question {
                text: "Who owns <the> 'demo'?".into(),
                from: None,
            }],
            action_items: vec![
                action("Book the room.", Some("O'Neil <ops>"), None),
                action("File the report.", None, Some("2024-06")),
            ],
            follow_ups: vec![action("Ping legal & finance.", None, Some("2024-06-10T09:00:00Z"))],
            missing: vec![],
            left_out: Vec::new(),
        }
    }

    /// Subject, text and HTML of one email, in one string so a single file can hold them.
    fn golden(case: &str, r: &Rendered) -> String {
        format!(
            "=== {case}\nsubject: {}\n--- text\n{}--- html\n{}\n",
            r.subject, r.text, r.html
        )
    }

    fn golden_cases() -> String {
        // The sample meeting's own time zone, as in events/zoom-recording-completed.json.
        let sample = insights_email(
            &MeetingFacts {
                timezone: Some("America/Los_Angeles"),
                ..facts("Q3 planning sync", vec!["Dana Host", "李雷"])
            },
            &insights(),
            Links::provider(Some(
                "https://meetinginsights.symbl.ai/meeting/#/x?showVideoSummary=true",
            )),
        );
        let hostile = insights_email(
            &facts("<img src=x onerror=alert(1)>", vec!["O'Neil & \"Co\""]),
            &insights_with_gaps(),
            Links::provider(Some("javascript:alert(1)")),
        );
        let empty = insights_email(&facts("  ", vec![]), &Insights::default(), Links::default());
        [
            golden("sample", &sample),
            golden("hostile strings, partial fields", &hostile),
            golden("no insights, no link", &empty),
        ]
        .concat()
    }

    /// Byte-identical to what the renderer produced when this file was written: any change to
    /// the emails has to show up here as a deliberate edit of the golden file.
    #[test]
    fn insights_email_matches_the_golden_file() {
        assert_eq!(golden_cases(), include_str!("testdata/insights_email.golden"));
    }

    #[test]
    fn both_parts_carry_every_section() {
        let r = insights_email(
            &facts("Q3 planning sync", vec!["Dana Host", "李雷"]),
            &insights(),
            Links::provider(Some(
                "https://meetinginsights.symbl.ai/meeting/#/x?showVideoSummary=true",
            )),
        );
        assert_eq!(r.subject, "Meeting insights: Q3 planning sync");
        for part in [&r.text, &r.html] {
            for needle in [
                "Q3 planning sync",
                "31 May 2024, 18:00 UTC · 42 min",
                "李雷",
                "Dana and Mary-Jane agreed",
                "Send the revised scope.",
                "Mary-Jane",
                "2024-06-07",
                "Meet the customer.",
                "Can we ship later?",
            ] {
                assert!(part.contains(needle), "{needle} missing from {part}");
            }
        }
        assert!(r
            .html
            .contains("<a href=\"https://meetinginsights.symbl.ai/meeting/#/x?showVideoSummary=true\""));
        assert!(r
            .text
            .contains("Interactive summary: https://meetinginsights.symbl.ai/"));
    }

    #[test]
    fn untrusted_strings_are_escaped() {
        let r = insights_email(
            &facts("<img src=x onerror=alert(1)>", vec!["O'Neil & \"Co\""]),
            &insights(),
            Links::provider(Some("javascript:alert(1)")),
        );
        assert!(!r.html.contains("<script>") && !r.html.contains("<img"), "{}", r.html);
        assert!(r.html.contains("launch &lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(r.html.contains("O&#39;Neil &amp; &quot;Co&quot;"));
        assert!(!r.html.contains("javascript:"), "non-http links are dropped");
        // Plain text stays as written.
        assert!(r.text.contains("launch <script>alert(1)</script> (positive)"));
    }

    #[test]
    fn failure_email_says_why() {
        let r = failure_email(&facts("", vec![]), "Symbl could not process the recording <job failed>");
        assert_eq!(r.subject, "We could not process: your Zoom meeting");
        assert!(r
            .text
            .contains("Reason: Symbl could not process the recording <job failed>"));
        assert!(r
            .html
            .contains("Reason: Symbl could not process the recording &lt;job failed&gt;"));
    }

    #[test]
    fn the_time_is_the_meetings_own_and_says_which() {
        let at = |timezone| {
            MeetingFacts {
                timezone,
                ..facts("Q3", vec![])
            }
            .when()
        };
        assert_eq!(
            at(Some("America/Los_Angeles")),
            "31 May 2024, 11:00 (America/Los_Angeles) · 42 min"
        );
        assert_eq!(at(Some("Asia/Kolkata")), "31 May 2024, 23:30 (Asia/Kolkata) · 42 min");
        assert_eq!(
            at(Some("Pacific/Auckland")),
            "1 June 2024, 06:00 (Pacific/Auckland) · 42 min"
        );
        for unknown in [None, Some(""), Some("Mars/Olympus_Mons")] {
            assert_eq!(at(unknown), "31 May 2024, 18:00 UTC · 42 min", "{unknown:?}");
        }
        let winter = MeetingFacts {
            start_time: "2026-12-02T17:00:00Z",
            timezone: Some("America/Los_Angeles"),
            ..facts("Q3", vec![])
        };
        assert!(winter
            .when()
            .starts_with("2 December 2026, 09:00 (America/Los_Angeles)"));
        let unparsable = MeetingFacts {
            start_time: "yesterday",
            ..facts("Q3", vec![])
        };
        assert!(unparsable.when().starts_with("yesterday · "));
    }

    #[test]
    fn the_timezone_reaches_the_email_from_the_meeting_record() {
        let audio = zoom_symbl_core::testkit::AudioBuilder::sample().build();
        assert_eq!(audio.timezone.as_deref(), Some("America/Los_Angeles"));
        let r = insights_email(&MeetingFacts::of(&audio), &insights(), Links::default());
        assert!(r.text.contains("(America/Los_Angeles)"), "{}", r.text);
        let r = failure_email(&MeetingFacts::of(&audio), "x");
        assert!(r.html.contains("(America/Los_Angeles)"), "{}", r.html);
    }

    #[test]
    fn sections_that_could_not_be_fetched_are_named() {
        let partial = Insights {
            questions: vec![],
            follow_ups: vec![],
            missing: vec!["questions".into(), "follow-ups".into()],
            ..insights()
        };
        let r = insights_email(&facts("Q3 planning sync", vec![]), &partial, Links::default());
        let notice = "Some sections could not be fetched and are missing from this email: Questions, Follow-ups.";
        assert!(r.text.contains(notice), "{}", r.text);
        assert!(r.html.contains(notice), "{}", r.html);
        assert!(r.text.contains("Send the revised scope."), "what was fetched is sent");
        let whole = insights_email(&facts("Q3 planning sync", vec![]), &insights(), Links::default());
        assert!(!whole.text.contains("could not be fetched") && !whole.html.contains("could not be fetched"));
    }

    #[test]
    fn participants_left_out_are_named_with_why() {
        let partial = Insights {
            left_out: vec!["李雷 (The media <format> is not supported)".into()],
            ..insights()
        };
        let r = insights_email(
            &facts("Q3 planning sync", vec!["Dana", "李雷"]),
            &partial,
            Links::default(),
        );
        let notice = "Not transcribed, so not in these insights: 李雷 (The media <format> is not supported).";
        assert!(r.text.contains(notice), "{}", r.text);
        assert!(r.html.contains(&escape(notice)), "{}", r.html);
        let whole = insights_email(&facts("Q3 planning sync", vec![]), &insights(), Links::default());
        assert!(!whole.text.contains("Not transcribed"));
    }

    #[test]
    fn message_ids_are_stable_per_meeting_and_kind() {
        let id = stable_id(EmailKind::Insights, "dEZwWGJ1L3BROSt6UGdHdGViL0tydz09", 1);
        assert_eq!(
            id,
            stable_id(EmailKind::Insights, "dEZwWGJ1L3BROSt6UGdHdGViL0tydz09", 1)
        );
        assert_ne!(
            id,
            stable_id(EmailKind::Insights, "dEZwWGJ1L3BROSt6UGdHdGViL0tydz09", 2),
            "the next run's email is a new message"
        );
        assert!(
            id.starts_with("insights.") && id.len() == "insights.".len() + 32,
            "{id}"
        );
        assert_ne!(id, stable_id(EmailKind::Failure, "dEZwWGJ1L3BROSt6UGdHdGViL0tydz09", 1));
        assert_ne!(id, stable_id(EmailKind::Insights, "b3RoZXI", 1));
        assert!(!id.contains("dEZw"), "the meeting key is not readable in it");
    }

    #[test]
    fn the_talk_time_line_is_in_both_parts_and_escaped_in_html() {
        let mut m = facts("Sync", vec!["Dana", "<b>Lei</b>"]);
        m.talk = vec![
            TalkTime {
                name: "Dana".into(),
                seconds: 3_725.0,
            },
            TalkTime {
                name: "<b>Lei</b>".into(),
                seconds: 40.2,
            },
        ];
        let r = insights_email(&m, &insights(), Links::default());
        assert!(
            r.text
                .contains("\nParticipants: Dana, <b>Lei</b>\nTalk time: Dana 1:02:05 · <b>Lei</b> 0:40\n\n"),
            "{}",
            r.text
        );
        assert!(
            r.html
                .contains(">Talk time: Dana 1:02:05 · &lt;b&gt;Lei&lt;/b&gt; 0:40</p>"),
            "{}",
            r.html
        );
        // Nothing measured, no line.
        let none = insights_email(&facts("Sync", vec!["Dana"]), &insights(), Links::default());
        assert!(!none.text.contains("Talk time") && !none.html.contains("Talk time"));
    }

    #[test]
    fn escape_covers_the_five() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
