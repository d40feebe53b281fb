//! The deterministic "model": parses the user messages our insights code writes and derives
//! the `record_insights` tool input from them, the same answer for the same text, always.
//!
//! A transcript (whole or one part):
//!
//! ```text
//! Meeting: <topic>
//! Date: <YYYY-MM-DD> (<tz>)
//! Participants: <name1>; <name2>; ...
//! Part <k> of <n>          (only when the meeting is summarized in parts)
//! Transcript:
//! [HH:MM:SS] <speaker>: <text>
//! ```
//!
//! A combine request has the same three header lines, then
//! `Partial insights (JSON, one per part, in order):` and a JSON array of earlier answers.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Date, Duration, Weekday};

/// The line that introduces the earlier answers in a combine request.
pub const COMBINE_MARKER: &str = "Partial insights (JSON, one per part, in order):";
/// How a retry's user message starts.
pub const RETRY_PREFIX: &str = "Your previous answer was invalid: ";

/// Words of 5+ letters that never make a topic.
const STOP_WORDS: &[&str] = &[
    "about",
    "above",
    "actually",
    "after",
    "again",
    "against",
    "because",
    "before",
    "being",
    "below",
    "between",
    "could",
    "doing",
    "during",
    "every",
    "going",
    "gonna",
    "great",
    "having",
    "maybe",
    "might",
    "other",
    "really",
    "right",
    "shall",
    "should",
    "since",
    "something",
    "still",
    "their",
    "there",
    "these",
    "thing",
    "things",
    "think",
    "those",
    "through",
    "today",
    "under",
    "until",
    "where",
    "which",
    "while",
    "would",
    "yeah",
];

/// The `record_insights` tool input. Field order is the order serialized.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Insights {
    pub summary: Vec<String>,
    pub topics: Vec<Topic>,
    pub questions: Vec<Question>,
    pub action_items: Vec<Item>,
    pub follow_ups: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    pub text: String,
    /// positive | neutral | negative
    pub sentiment: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub text: String,
    pub asked_by: Option<String>,
}

/// An action item or a follow-up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub text: String,
    pub assignee: Option<String>,
    /// YYYY-MM-DD
    pub due_date: Option<String>,
}

/// The three header lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub topic: String,
    pub date: Date,
    /// What the parentheses after the date hold; empty when absent.
    pub tz: String,
    /// Empty when the line lists nobody: then any speaker counts as a participant.
    pub participants: Vec<String>,
}

impl Header {
    /// `name` when it may be named as asker or assignee, else None.
    fn participant(&self, name: &str) -> Option<String> {
        (self.participants.is_empty() || self.participants.iter().any(|p| p == name)).then(|| name.to_owned())
    }
}

/// `[HH:MM:SS] <speaker>: <text>`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub time: String,
    pub speaker: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Prompt {
    Transcript {
        header: Header,
        /// (k, n) for `Part k of n`.
        part: Option<(u32, u32)>,
        lines: Vec<Line>,
    },
    Combine {
        header: Header,
        parts: Vec<Insights>,
    },
}

/// Parses a transcript or combine user message.
pub fn parse_prompt(text: &str) -> Result<Prompt, String> {
    let text = text.trim_start();
    let mut rest = text;
    let mut next_line = || -> Option<&str> {
        if rest.is_empty() {
            return None;
        }
        let (line, tail) = rest.split_once('\n').unwrap_or((rest, ""));
        rest = tail;
        Some(line.strip_suffix('\r').unwrap_or(line))
    };
    let topic = next_line()
        .and_then(|l| l.strip_prefix("Meeting:"))
        .ok_or("the first line must be `Meeting: <topic>`")?
        .trim()
        .to_owned();
    let date_line = next_line()
        .and_then(|l| l.strip_prefix("Date:"))
        .ok_or("the second line must be `Date: <YYYY-MM-DD> (<tz>)`")?
        .trim();
    let (date_text, tz) = match date_line.split_once(' ') {
        Some((d, tz)) => (d, tz.trim().trim_start_matches('(').trim_end_matches(')').to_owned()),
        None => (date_line, String::new()),
    };
    let date = Date::parse(date_text, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|e| format!("the date `{date_text}` is not YYYY-MM-DD: {e}"))?;
    let participants = next_line()
        .and_then(|l| l.strip_prefix("Participants:"))
        .ok_or("the third line must be `Participants: <name1>; <name2>; ...`")?
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let header = Header {
        topic,
        date,
        tz,
        participants,
    };
    let mut marker = next_line().ok_or("the header must be followed by `Transcript:` or the partial insights")?;
    let mut part = None;
    if let Some(p) = marker.strip_prefix("Part ") {
        part = Some(parse_part(p).ok_or_else(|| format!("`{marker}` is not `Part <k> of <n>`"))?);
        marker = next_line().ok_or("`Part <k> of <n>` must be followed by `Transcript:`")?;
    }
    match marker.trim_end() {
        "Transcript:" => {
            let mut lines = Vec::new();
            while let Some(l) = next_line() {
                if let Some(line) = parse_line(l) {
                    lines.push(line);
                }
            }
            Ok(Prompt::Transcript { header, part, lines })
        }
        COMBINE_MARKER if part.is_none() => {
            let parts: Vec<Insights> = serde_json::from_str(rest)
                .map_err(|e| format!("the partial insights are not a JSON array of tool inputs: {e}"))?;
            Ok(Prompt::Combine { header, parts })
        }
        other => Err(format!(
            "expected `Transcript:` or `{COMBINE_MARKER}` after the header, got `{other}`"
        )),
    }
}

fn parse_part(p: &str) -> Option<(u32, u32)> {
    let (k, n) = p.trim().split_once(" of ")?;
    Some((k.trim().parse().ok()?, n.trim().parse().ok()?))
}

/// `[HH:MM:SS] <speaker>: <text>`; None for anything else (blank lines included).
pub fn parse_line(l: &str) -> Option<Line> {
    let (time, after) = l.trim().strip_prefix('[')?.split_once(']')?;
    let after = after.trim_start();
    let (speaker, text) = after
        .split_once(": ")
        .or_else(|| after.strip_suffix(':').map(|s| (s, "")))?;
    let speaker = speaker.trim();
    if speaker.is_empty() {
        return None;
    }
    Some(Line {
        time: time.trim().to_owned(),
        speaker: speaker.to_owned(),
        text: text.trim().to_owned(),
    })
}

/// The answer to a parsed prompt.
pub fn answer(prompt: &Prompt) -> Insights {
    match prompt {
        Prompt::Transcript { header, part, lines } => transcript(header, *part, lines),
        Prompt::Combine { parts, .. } => combine(parts),
    }
}

/// Parses and answers; Err says what is wrong with the message.
pub fn insights_for(text: &str) -> Result<Insights, String> {
    parse_prompt(text).map(|p| answer(&p))
}

fn transcript(header: &Header, part: Option<(u32, u32)>, lines: &[Line]) -> Insights {
    let mut out = Insights {
        summary: vec![summary(header, part, lines)],
        topics: topics(lines),
        ..Insights::default()
    };
    for line in lines {
        let lower = line.text.to_lowercase();
        if line.text.ends_with('?') {
            out.questions.push(Question {
                text: line.text.clone(),
                asked_by: header.participant(&line.speaker),
            });
        }
        let item = || Item {
            text: line.text.clone(),
            assignee: header.participant(&line.speaker),
            due_date: due_date(header.date, &lower),
        };
        if lower.contains(" will ") || lower.contains("i'll") || lower.contains("i\u{2019}ll") {
            out.action_items.push(item());
        }
        if lower.contains("follow up") || lower.contains("meet again") {
            out.follow_ups.push(item());
        }
    }
    out
}

/// "Dana Host (12 lines) and Lee (1 line) discussed <topic>.", speakers in order of first line.
fn summary(header: &Header, part: Option<(u32, u32)>, lines: &[Line]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for line in lines {
        match counts.iter_mut().find(|(s, _)| *s == line.speaker) {
            Some((_, n)) => *n += 1,
            None => counts.push((&line.speaker, 1)),
        }
    }
    let topic = match part {
        Some((k, n)) => format!("{} (part {k} of {n})", header.topic),
        None => header.topic.clone(),
    };
    let named: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("{s} ({n} line{})", if *n == 1 { "" } else { "s" }))
        .collect();
    match named.as_slice() {
        [] => format!("Nobody spoke in {topic}."),
        [one] => format!("{one} discussed {topic}."),
        [init @ .., last] => format!("{} and {last} discussed {topic}.", init.join(", ")),
    }
}

/// The 3 most frequent words of 5+ letters (ties alphabetical), all with the same sentiment.
fn topics(lines: &[Line]) -> Vec<Topic> {
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let mut positive = false;
    for line in lines {
        let lower = line.text.to_lowercase();
        positive |= lower.contains("great") || lower.contains("agreed");
        for word in lower.split(|c: char| !c.is_alphabetic()) {
            if word.chars().count() >= 5 && !STOP_WORDS.contains(&word) {
                *counts.entry(word.to_owned()).or_default() += 1;
            }
        }
    }
    let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
    // Stable sort over alphabetical order: ties stay alphabetical.
    ranked.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let sentiment = if positive { "positive" } else { "neutral" };
    ranked
        .into_iter()
        .take(3)
        .map(|(text, _)| Topic {
            text,
            sentiment: sentiment.into(),
        })
        .collect()
}

/// The meeting date + 7 days for "next week", the next Friday after it for "Friday", else None.
pub fn due_date(meeting: Date, lower_text: &str) -> Option<String> {
    let days = if lower_text.contains("next week") {
        7
    } else if lower_text.contains("friday") {
        let from_monday = i64::from(meeting.weekday().number_days_from_monday());
        let friday = i64::from(Weekday::Friday.number_days_from_monday());
        match (friday - from_monday).rem_euclid(7) {
            0 => 7,
            d => d,
        }
    } else {
        return None;
    };
    let due = meeting.checked_add(Duration::days(days))?;
    Some(format!(
        "{:04}-{:02}-{:02}",
        due.year(),
        u8::from(due.month()),
        due.day()
    ))
}

/// The parts' lists concatenated in order without exact duplicates, their summaries joined.
fn combine(parts: &[Insights]) -> Insights {
    fn push_unique<T: PartialEq + Clone>(into: &mut Vec<T>, from: &[T]) {
        for x in from {
            if !into.contains(x) {
                into.push(x.clone());
            }
        }
    }
    let mut out = Insights::default();
    for p in parts {
        out.summary.extend(p.summary.iter().cloned());
        push_unique(&mut out.topics, &p.topics);
        push_unique(&mut out.questions, &p.questions);
        push_unique(&mut out.action_items, &p.action_items);
        push_unique(&mut out.follow_ups, &p.follow_ups);
    }
    out
}

/// The text of a Chat Completions message's `content`: a string, or an array of
/// `{type: "text", text}` parts joined with newlines (as ministack joins Converse blocks).
pub fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match p {
                Value::String(s) => Some(s.as_str()),
                Value::Object(o) => o.get("text").and_then(Value::as_str),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TWO: &str =
        "Meeting: Weekly sync\nDate: 2026-03-04 (Europe/Paris)\nParticipants: Dana Host; Lee\nTranscript:\n\
        [00:00:01] Dana Host: Welcome everyone, great to see the roadmap moving.\n\
        [00:00:09] Lee: Can we review the roadmap budget?\n\
        [00:00:15] Dana Host: I'll send the budget draft by Friday.\n\
        [00:01:02] Lee: Marketing will publish the roadmap next week.\n\
        [00:01:30] Dana Host: Let's follow up on hiring and meet again soon.\n";

    #[test]
    fn two_participant_transcript_gives_the_exact_answer() {
        let got = serde_json::to_value(insights_for(TWO).unwrap()).unwrap();
        let want = json!({
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
        });
        assert_eq!(got, want);
    }

    #[test]
    fn same_text_same_answer() {
        assert_eq!(insights_for(TWO).unwrap(), insights_for(TWO).unwrap());
    }

    #[test]
    fn header_is_parsed() {
        let Prompt::Transcript { header, part, lines } = parse_prompt(TWO).unwrap() else {
            panic!("not a transcript");
        };
        assert_eq!(header.topic, "Weekly sync");
        assert_eq!(header.tz, "Europe/Paris");
        assert_eq!(header.participants, ["Dana Host", "Lee"]);
        assert_eq!(part, None);
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[1].time, "00:00:09");
        assert_eq!(lines[1].speaker, "Lee");
    }

    #[test]
    fn a_part_names_its_place_and_non_participants_are_null() {
        let text = "Meeting: Q3 plan\nDate: 2026-03-06 (UTC)\nParticipants: Ann; Bo\nPart 2 of 3\nTranscript:\n\
            [01:00:00] Ann: Who owns this?\n[01:00:05] Guest: I'll take it friday.\n[01:00:09] Ann: ok\n";
        let got = insights_for(text).unwrap();
        assert_eq!(
            got.summary,
            ["Ann (2 lines) and Guest (1 line) discussed Q3 plan (part 2 of 3)."]
        );
        assert_eq!(got.questions[0].asked_by.as_deref(), Some("Ann"));
        // A Friday meeting: the next Friday is a week later; Guest is not a participant.
        assert_eq!(
            got.action_items,
            [Item {
                text: "I'll take it friday.".into(),
                assignee: None,
                due_date: Some("2026-03-13".into()),
            }]
        );
        assert_eq!(got.topics.len(), 1);
        assert_eq!(got.topics[0].text, "friday");
    }

    #[test]
    fn three_speakers_and_ties_alphabetical() {
        let text = "Meeting: M\nDate: 2026-01-01 (UTC)\nParticipants: \nTranscript:\n\
            [00:00:01] A: zebra apple mango\n[00:00:02] B: mango zebra apple\n[00:00:03] C: kiwis kiwis\n";
        let got = insights_for(text).unwrap();
        assert_eq!(got.summary, ["A (1 line), B (1 line) and C (1 line) discussed M."]);
        let words: Vec<&str> = got.topics.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(words, ["apple", "kiwis", "mango"]);
        assert!(got.topics.iter().all(|t| t.sentiment == "neutral"));
    }

    #[test]
    fn combine_concatenates_and_dedupes() {
        let one = insights_for(TWO).unwrap();
        let mut two = one.clone();
        two.summary = vec!["Lee (1 line) discussed Weekly sync (part 2 of 2).".into()];
        two.questions.push(Question {
            text: "Anything else?".into(),
            asked_by: None,
        });
        let text = format!(
            "Meeting: Weekly sync\nDate: 2026-03-04 (Europe/Paris)\nParticipants: Dana Host; Lee\n{COMBINE_MARKER}\n{}",
            serde_json::to_string(&[&one, &two]).unwrap()
        );
        let got = insights_for(&text).unwrap();
        assert_eq!(got.summary, [one.summary[0].clone(), two.summary[0].clone()]);
        assert_eq!(got.topics, one.topics);
        assert_eq!(got.questions.len(), 2);
        assert_eq!(got.questions[1].text, "Anything else?");
        assert_eq!(got.action_items, one.action_items);
        assert_eq!(got.follow_ups, one.follow_ups);
    }

    #[test]
    fn bad_messages_say_why() {
        assert!(insights_for("hello").unwrap_err().contains("Meeting"));
        let bad_date = "Meeting: M\nDate: 04/03/2026 (UTC)\nParticipants: A\nTranscript:\n";
        assert!(insights_for(bad_date).unwrap_err().contains("YYYY-MM-DD"));
        let bad_json = format!("Meeting: M\nDate: 2026-03-04 (UTC)\nParticipants: A\n{COMBINE_MARKER}\n[{{");
        assert!(insights_for(&bad_json).unwrap_err().contains("partial insights"));
    }

    #[test]
    fn due_dates() {
        let wednesday = Date::from_calendar_date(2026, time::Month::March, 4).unwrap();
        assert_eq!(due_date(wednesday, "by friday"), Some("2026-03-06".into()));
        assert_eq!(due_date(wednesday, "next week, not friday"), Some("2026-03-11".into()));
        assert_eq!(due_date(wednesday, "soon"), None);
        let saturday = Date::from_calendar_date(2026, time::Month::December, 26).unwrap();
        assert_eq!(due_date(saturday, "friday"), Some("2027-01-01".into()));
    }

    #[test]
    fn content_parts_are_joined() {
        let parts = json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]);
        assert_eq!(content_text(&parts), "a\nb");
        assert_eq!(content_text(&json!("x")), "x");
        assert_eq!(content_text(&Value::Null), "");
    }
}
