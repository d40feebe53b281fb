//! The transcript as WebVTT: one cue per utterance with the speaker as a voice span, so any
//! player (or the summary page) shows who spoke.
//!
//! Names and text come from participants and from speech recognition, so they are escaped:
//! `&`, `<` and `>` as character references (which also rules out `-->` in a cue), and line
//! breaks folded into spaces (a blank line would end the cue).

use std::fmt::Write;

use super::merge::Transcript;

/// The file beside `transcript.json` under a meeting's prefix.
pub const FILE: &str = "transcript.vtt";

/// The shortest cue: WebVTT wants every cue to end after it starts.
const MIN_CUE_MS: u64 = 1;

/// The whole file: header, then one cue per utterance in the transcript's order.
pub fn render(transcript: &Transcript) -> String {
    let mut out = String::from("WEBVTT\n");
    for u in &transcript.utterances {
        let start = millis(u.start);
        let end = millis(u.end).max(start + MIN_CUE_MS);
        let name = escape(&u.speaker);
        let text = escape(&u.text);
        // Writing to a String cannot fail.
        let _ = write!(out, "\n{} --> {}\n", timestamp(start), timestamp(end));
        if name.is_empty() {
            let _ = writeln!(out, "{text}");
        } else {
            let _ = writeln!(out, "<v {name}>{text}");
        }
    }
    out
}

/// Seconds to whole milliseconds; negative or NaN (never from a valid map) becomes zero.
fn millis(seconds: f64) -> u64 {
    let ms = (seconds * 1000.0).round();
    if ms.is_nan() || ms <= 0.0 {
        0
    } else {
        // Saturates for absurd values; a meeting is hours, not aeons.
        ms as u64
    }
}

/// `HH:MM:SS.mmm`; hours grow past two digits if they must, as WebVTT allows.
fn timestamp(ms: u64) -> String {
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1_000, rest % 1_000);
    format!("{h:02}:{m:02}:{s:02}.{ms:03}")
}

/// One line of cue-safe text: markup characters escaped, runs of whitespace (line breaks
/// included) made one space.
fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for word in raw.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                // A NUL is replaced by parsers anyway; say so rather than emit it.
                '\0' => out.push('\u{FFFD}'),
                c => out.push(c),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::merge::Utterance;

    fn transcript(utterances: &[(&str, f64, f64, &str)]) -> Transcript {
        Transcript {
            utterances: utterances
                .iter()
                .map(|&(speaker, start, end, text)| Utterance {
                    speaker: speaker.into(),
                    start,
                    end,
                    text: text.into(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_small_transcript_renders_exactly() {
        let t = transcript(&[
            ("Alice Smith", 1.5, 3.25, "Hello, everyone."),
            ("Bob", 2.0, 4.0, "Hi Alice!"),
            ("Alice Smith", 3723.0004, 3725.9996, "Back after an hour."),
        ]);
        assert_eq!(
            render(&t),
            "WEBVTT\n\
             \n\
             00:00:01.500 --> 00:00:03.250\n\
             <v Alice Smith>Hello, everyone.\n\
             \n\
             00:00:02.000 --> 00:00:04.000\n\
             <v Bob>Hi Alice!\n\
             \n\
             01:02:03.000 --> 01:02:06.000\n\
             <v Alice Smith>Back after an hour.\n"
        );
    }

    #[test]
    fn an_empty_transcript_is_just_the_header() {
        assert_eq!(render(&Transcript::default()), "WEBVTT\n");
    }

    #[test]
    fn markup_in_names_and_text_is_escaped() {
        let t = transcript(&[("<script>alert(1)</script>", 0.0, 1.0, "a <script> & b > c")]);
        assert_eq!(
            render(&t),
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n\
             <v &lt;script&gt;alert(1)&lt;/script&gt;>a &lt;script&gt; &amp; b &gt; c\n"
        );
    }

    #[test]
    fn cue_text_never_holds_an_arrow_or_a_blank_line() {
        let t = transcript(&[(
            "Eve\n\nMallory",
            0.0,
            1.0,
            "x --> y\n\n00:00:09.000 --> 00:00:10.000\r\nz",
        )]);
        let out = render(&t);
        let cue = out.split("\n\n").nth(1).unwrap();
        let lines: Vec<&str> = cue.lines().collect();
        assert_eq!(lines.len(), 2, "{out:?}");
        assert!(!lines[1].contains("-->"), "{out:?}");
        assert_eq!(lines[1], "<v Eve Mallory>x --&gt; y 00:00:09.000 --&gt; 00:00:10.000 z");
    }

    #[test]
    fn zero_length_and_bad_times_still_make_a_valid_cue() {
        let t = transcript(&[("A", 5.0, 5.0, "clamped"), ("", f64::NAN, -1.0, "odd")]);
        assert_eq!(
            render(&t),
            "WEBVTT\n\n00:00:05.000 --> 00:00:05.001\n<v A>clamped\n\
             \n00:00:00.000 --> 00:00:00.001\nodd\n"
        );
    }

    #[test]
    fn hours_past_99_keep_counting() {
        assert_eq!(timestamp(100 * 3_600_000 + 1), "100:00:00.001");
    }
}
