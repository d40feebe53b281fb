//! What the model is told: the system prompt, one user message per transcript part, the
//! message combining the parts, the retry message, and the split of a long transcript into
//! parts that each fit the model's input budget.
//!
//! The message formats are fixed: the LLM sandbox parses exactly these lines.

use std::fmt::Write as _;

use serde_json::Value;
use time::Date;

use super::schema::{tool_schema, TOOL_DESCRIPTION, TOOL_NAME};

/// What the model is told about the meeting, in every message.
#[derive(Debug, Clone, PartialEq)]
pub struct MeetingFacts {
    pub topic: String,
    /// The meeting's date in its time zone: due dates are resolved against it.
    pub date: Date,
    /// IANA time zone (`Europe/Paris`), or empty for UTC.
    pub timezone: String,
    /// The only names the model may give as assignee or asker.
    pub participants: Vec<String>,
}

/// One utterance of the transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptLine {
    /// Seconds from the meeting's start.
    pub start_secs: f64,
    pub speaker: String,
    pub text: String,
}

/// Which part of a transcript a message holds, both 1-based (`Part 2 of 3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartOf {
    pub number: usize,
    pub count: usize,
}

/// Tokens reserved for what a provider adds around our text: message framing and, for Claude,
/// the hidden tool-use system prompt (a few hundred tokens).
pub const FRAMING_TOKENS: usize = 500;

pub fn system_prompt() -> String {
    format!(
        "You derive insights from a meeting transcript. Answer only by calling the {TOOL_NAME} tool, \
         never with text.\n\
         Use only what the transcript says: invent no topics, questions, tasks, names or dates.\n\
         - summary: a few short paragraphs on what was discussed and decided.\n\
         - topics: the main subjects, each with the sentiment of the discussion (positive, neutral or negative).\n\
         - questions: the questions asked, with asked_by the participant who asked, or null.\n\
         - action_items and follow_ups: tasks someone committed to or was given, and things to follow up on.\n\
         An assignee or asked_by must be exactly one of the names on the Participants line, or null when \
         it is nobody on that list or unclear.\n\
         A due_date is YYYY-MM-DD, resolved against the meeting's Date line (\"Friday\" is the first \
         Friday after the meeting, \"tomorrow\" the day after it), never before the meeting's date; \
         null when no date was said.\n\
         A long transcript comes in parts (\"Part k of n\"): record the insights of that part only. \
         Given partial insights as JSON, combine them into one answer for the whole meeting: merge \
         duplicates, keep every distinct item, and write one summary."
    )
}

/// The user message for a transcript, or for one part of it when `part` is given.
pub fn part_message(facts: &MeetingFacts, lines: &[TranscriptLine], part: Option<PartOf>) -> String {
    let mut out = header(facts);
    if let Some(p) = part {
        let _ = writeln!(out, "Part {} of {}", p.number, p.count);
    }
    out.push_str("Transcript:\n");
    for line in lines {
        out.push_str(&render_line(line));
    }
    out
}

/// The user message asking to combine the parts' answers, given as tool inputs in part order.
pub fn combine_message(facts: &MeetingFacts, parts: &[Value]) -> String {
    let mut out = header(facts);
    out.push_str("Partial insights (JSON, one per part, in order):\n");
    out.push_str(&Value::Array(parts.to_vec()).to_string());
    out
}

/// The user message after an invalid answer.
pub fn retry_message(reason: &str) -> String {
    // The reason goes inside a sentence: a period of its own would double the one after it.
    let reason = reason.trim().trim_end_matches('.');
    format!("Your previous answer was invalid: {reason}. Call {TOOL_NAME} again with a corrected answer.")
}

fn header(facts: &MeetingFacts) -> String {
    let zone = one_line(&facts.timezone);
    let zone = if zone.is_empty() { "UTC".to_owned() } else { zone };
    let names: Vec<String> = facts.participants.iter().map(|p| one_line(p)).collect();
    format!(
        "Meeting: {}\nDate: {} ({zone})\nParticipants: {}\n",
        one_line(&facts.topic),
        iso_date(facts.date),
        names.join("; ")
    )
}

/// `YYYY-MM-DD`, the only date form in messages and answers.
pub(crate) fn iso_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// `[HH:MM:SS] speaker: text\n`; hours go past 99 rather than wrap.
fn render_line(line: &TranscriptLine) -> String {
    // A negative or NaN time (a bad segment map) reads as the start rather than panicking.
    let secs = if line.start_secs.is_finite() && line.start_secs > 0.0 {
        line.start_secs as u64
    } else {
        0
    };
    format!(
        "[{:02}:{:02}:{:02}] {}: {}\n",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        one_line(&line.speaker),
        one_line(&line.text)
    )
}

/// A value on one line: a newline inside a name or an utterance would break the line format.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// An estimate of `text`'s tokens meant to err high, so that a part never overflows.
///
/// ASCII letters and whitespace count 3.5 characters per token (English averages about 4);
/// every other character (digits, punctuation, anything non-ASCII) counts a whole token,
/// since tokenizers give those short tokens (timestamps, JSON) or about one per character
/// (CJK). So the estimate is roughly 20 to 40 % above a real count for English transcripts.
pub fn estimate_tokens(text: &str) -> usize {
    let mut count = TokenCount::default();
    count.add(text);
    count.tokens()
}

/// [`estimate_tokens`] kept as its two sums, so that strings can be added up exactly.
#[derive(Debug, Clone, Copy, Default)]
struct TokenCount {
    light: usize,
    heavy: usize,
}

impl TokenCount {
    fn add(&mut self, text: &str) {
        for c in text.chars() {
            if c.is_ascii_alphabetic() || c.is_ascii_whitespace() {
                self.light += 1;
            } else {
                self.heavy += 1;
            }
        }
    }

    fn tokens(self) -> usize {
        (self.light * 2).div_ceil(7) + self.heavy
    }
}

/// Tokens every request takes besides the user message: framing, system prompt and tool.
pub fn fixed_overhead_tokens() -> usize {
    let tool = format!("{TOOL_NAME}{TOOL_DESCRIPTION}{}", tool_schema());
    FRAMING_TOKENS + estimate_tokens(&system_prompt()) + estimate_tokens(&tool)
}

/// The transcript split into parts whose messages each fit `max_input_tokens` with the system
/// prompt, the tool and the headers. There is always at least one part, and the parts hold
/// every line, in order, uncut: one part when the whole transcript fits.
///
/// A line that alone exceeds the budget is split at word boundaries into several lines with
/// the same speaker and time, each fitting on its own (a single word longer than the budget
/// stays whole: a word is never cut). Those lines keep their order across consecutive parts.
pub fn split_into_parts(
    lines: &[TranscriptLine],
    facts: &MeetingFacts,
    max_input_tokens: usize,
) -> Vec<Vec<TranscriptLine>> {
    let fixed = fixed_overhead_tokens();
    let single = max_input_tokens.saturating_sub(fixed + estimate_tokens(&part_message(facts, &[], None)));
    let total: usize = lines.iter().map(|l| estimate_tokens(&render_line(l))).sum();
    if total <= single {
        return vec![lines.to_vec()];
    }
    // The widest possible "Part k of n" line, so that the budget holds whatever n turns out.
    let widest = PartOf {
        number: usize::MAX,
        count: usize::MAX,
    };
    let budget = max_input_tokens.saturating_sub(fixed + estimate_tokens(&part_message(facts, &[], Some(widest))));

    let mut parts = Vec::new();
    let mut current: Vec<TranscriptLine> = Vec::new();
    let mut used = 0;
    for line in lines {
        for piece in fit_line(line, budget) {
            let cost = estimate_tokens(&render_line(&piece));
            if !current.is_empty() && used + cost > budget {
                parts.push(std::mem::take(&mut current));
                used = 0;
            }
            used += cost;
            current.push(piece);
        }
    }
    if !current.is_empty() || parts.is_empty() {
        parts.push(current);
    }
    parts
}

/// `line` as it is when it fits `budget`, else cut at word boundaries into lines that do.
fn fit_line(line: &TranscriptLine, budget: usize) -> Vec<TranscriptLine> {
    if estimate_tokens(&render_line(line)) <= budget {
        return vec![line.clone()];
    }
    let piece = |text: String| TranscriptLine {
        start_secs: line.start_secs,
        speaker: line.speaker.clone(),
        text,
    };
    let mut base = TokenCount::default();
    base.add(&render_line(&piece(String::new())));

    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut count = base;
    for word in line.text.split_whitespace() {
        let mut with = count;
        with.add(word);
        if !text.is_empty() {
            with.add(" ");
        }
        if !text.is_empty() && with.tokens() > budget {
            pieces.push(piece(std::mem::take(&mut text)));
            count = base;
            count.add(word);
        } else {
            count = with;
            if !text.is_empty() {
                text.push(' ');
            }
        }
        text.push_str(word);
    }
    if !text.is_empty() {
        pieces.push(piece(text));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn facts() -> MeetingFacts {
        MeetingFacts {
            topic: "Weekly sync".into(),
            date: date!(2026 - 03 - 02),
            timezone: "Europe/Paris".into(),
            participants: vec!["Ann Lee".into(), "Bob Stone".into()],
        }
    }

    fn line(secs: f64, speaker: &str, text: &str) -> TranscriptLine {
        TranscriptLine {
            start_secs: secs,
            speaker: speaker.into(),
            text: text.into(),
        }
    }

    #[test]
    fn part_message_format_is_exact() {
        let lines = [
            line(5.9, "Ann Lee", "Shall we ship on Friday?"),
            line(3725.0, "Bob Stone", "Yes, I'll do it."),
        ];
        assert_eq!(
            part_message(&facts(), &lines, None),
            "Meeting: Weekly sync\nDate: 2026-03-02 (Europe/Paris)\nParticipants: Ann Lee; Bob Stone\n\
             Transcript:\n[00:00:05] Ann Lee: Shall we ship on Friday?\n[01:02:05] Bob Stone: Yes, I'll do it.\n"
        );
        assert_eq!(
            part_message(&facts(), &lines[1..], Some(PartOf { number: 2, count: 3 })),
            "Meeting: Weekly sync\nDate: 2026-03-02 (Europe/Paris)\nParticipants: Ann Lee; Bob Stone\n\
             Part 2 of 3\nTranscript:\n[01:02:05] Bob Stone: Yes, I'll do it.\n"
        );
    }

    #[test]
    fn empty_timezone_reads_utc_and_newlines_do_not_break_lines() {
        let f = MeetingFacts {
            timezone: String::new(),
            topic: "Plan\nQ3".into(),
            ..facts()
        };
        let msg = part_message(&f, &[line(-1.0, "Ann\r\nLee", "a\nb")], None);
        assert_eq!(
            msg,
            "Meeting: Plan Q3\nDate: 2026-03-02 (UTC)\nParticipants: Ann Lee; Bob Stone\nTranscript:\n\
             [00:00:00] Ann  Lee: a b\n"
        );
    }

    #[test]
    fn combine_message_format_is_exact() {
        let parts = [
            serde_json::json!({"summary": ["a"]}),
            serde_json::json!({"summary": ["b"]}),
        ];
        assert_eq!(
            combine_message(&facts(), &parts),
            "Meeting: Weekly sync\nDate: 2026-03-02 (Europe/Paris)\nParticipants: Ann Lee; Bob Stone\n\
             Partial insights (JSON, one per part, in order):\n[{\"summary\":[\"a\"]},{\"summary\":[\"b\"]}]"
        );
    }

    #[test]
    fn retry_message_format_is_exact() {
        assert_eq!(
            retry_message("topics[0].sentiment \"happy\" is not positive, neutral or negative."),
            "Your previous answer was invalid: topics[0].sentiment \"happy\" is not positive, neutral or \
             negative. Call record_insights again with a corrected answer."
        );
    }

    #[test]
    fn system_prompt_states_the_rules() {
        let p = system_prompt();
        for needle in [
            "record_insights",
            "Participants line",
            "meeting's Date line",
            "invent no",
            "never with text",
        ] {
            assert!(p.contains(needle), "{needle}");
        }
    }

    #[test]
    fn estimate_errs_high_for_english() {
        assert_eq!(estimate_tokens(""), 0);
        // 7 letters/spaces are 2 tokens; digits, punctuation and non-ASCII one each.
        assert_eq!(estimate_tokens("abc def"), 2);
        assert_eq!(estimate_tokens("[12:34]"), 7);
        assert_eq!(estimate_tokens("日本"), 2);
        // "The quick brown fox jumps over the lazy dog." is 10 tokens for common tokenizers.
        assert!(estimate_tokens("The quick brown fox jumps over the lazy dog.") >= 10);
    }

    #[test]
    fn short_transcript_is_one_part() {
        let lines = vec![line(0.0, "Ann Lee", "Hello"), line(1.0, "Bob Stone", "Hi")];
        assert_eq!(split_into_parts(&lines, &facts(), 100_000), vec![lines.clone()]);
        assert_eq!(
            split_into_parts(&[], &facts(), 100_000),
            vec![Vec::<TranscriptLine>::new()]
        );
    }

    fn long_transcript() -> Vec<TranscriptLine> {
        (0..400)
            .map(|i| {
                let who = if i % 2 == 0 { "Ann Lee" } else { "Bob Stone" };
                line(
                    i as f64 * 7.5,
                    who,
                    &format!("Utterance number {i} about the quarterly roadmap and budget."),
                )
            })
            .collect()
    }

    #[test]
    fn long_transcript_splits_into_fitting_parts_holding_every_line_in_order() {
        let lines = long_transcript();
        let max = fixed_overhead_tokens() + 2_000;
        let parts = split_into_parts(&lines, &facts(), max);
        assert!(parts.len() > 3, "{} parts", parts.len());
        for (i, part) in parts.iter().enumerate() {
            assert!(!part.is_empty());
            let msg = part_message(
                &facts(),
                part,
                Some(PartOf {
                    number: i + 1,
                    count: parts.len(),
                }),
            );
            assert!(
                fixed_overhead_tokens() + estimate_tokens(&msg) <= max,
                "part {i} overflows"
            );
        }
        assert_eq!(parts.concat(), lines);
    }

    #[test]
    fn over_long_line_is_split_at_words_with_same_speaker_and_time() {
        let words: Vec<String> = (0..3000).map(|i| format!("word{i}")).collect();
        let big = line(61.0, "Ann Lee", &words.join(" "));
        let lines = vec![
            line(0.0, "Bob Stone", "Before."),
            big.clone(),
            line(90.0, "Bob Stone", "After."),
        ];
        let max = fixed_overhead_tokens() + 1_000;
        let parts = split_into_parts(&lines, &facts(), max);
        assert!(parts.len() > 3);
        for (i, part) in parts.iter().enumerate() {
            let msg = part_message(
                &facts(),
                part,
                Some(PartOf {
                    number: i + 1,
                    count: parts.len(),
                }),
            );
            assert!(
                fixed_overhead_tokens() + estimate_tokens(&msg) <= max,
                "part {i} overflows"
            );
        }
        let all = parts.concat();
        assert_eq!(all.first(), Some(&lines[0]));
        assert_eq!(all.last(), Some(&lines[2]));
        let pieces = &all[1..all.len() - 1];
        assert!(pieces.len() > 1);
        assert!(pieces.iter().all(|p| p.speaker == "Ann Lee" && p.start_secs == 61.0));
        let rejoined: Vec<&str> = pieces.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(rejoined.join(" "), big.text);
    }

    #[test]
    fn a_word_longer_than_the_budget_stays_whole() {
        let huge = "x".repeat(10_000);
        let lines = vec![line(0.0, "Ann Lee", &format!("a {huge} b"))];
        let parts = split_into_parts(&lines, &facts(), fixed_overhead_tokens() + 200);
        let texts: Vec<String> = parts.concat().into_iter().map(|l| l.text).collect();
        assert_eq!(texts, ["a", huge.as_str(), "b"]);
    }
}
