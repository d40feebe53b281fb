//! Reading Amazon Transcribe's output file into timed words.
//!
//! Only what the transcript needs is read: `results.items` (and `results.speaker_labels` for
//! older files that label segments rather than items). Everything else is ignored, so new
//! fields from AWS change nothing.

use serde::Deserialize;

/// A spoken word with the punctuation that follows it, in seconds of the transcribed file.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub start: f64,
    pub end: f64,
    pub text: String,
    /// Transcribe's label (`spk_0`, ...) when speaker labels were on: a mixed track only.
    pub speaker_label: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    #[error("Transcribe output is not JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("Transcribe output item {index}: {reason}")]
    Item { index: usize, reason: &'static str },
    #[error("Transcribe output speaker_labels segment {index}: needs non-negative start_time and end_time")]
    LabelSegment { index: usize },
}

#[derive(Deserialize)]
struct Output {
    results: Results,
}

#[derive(Deserialize)]
struct Results {
    items: Vec<Item>,
    #[serde(default)]
    speaker_labels: Option<SpeakerLabels>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(rename = "type")]
    kind: String,
    start_time: Option<Seconds>,
    end_time: Option<Seconds>,
    #[serde(default)]
    alternatives: Vec<Alternative>,
    speaker_label: Option<String>,
}

#[derive(Deserialize)]
struct Alternative {
    content: String,
}

#[derive(Deserialize)]
struct SpeakerLabels {
    #[serde(default)]
    segments: Vec<LabelledSegment>,
}

#[derive(Deserialize)]
struct LabelledSegment {
    start_time: Seconds,
    end_time: Seconds,
    speaker_label: String,
}

/// Transcribe writes seconds as strings ("1.23"); a plain number is accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum Seconds {
    Text(String),
    Number(f64),
}

impl Seconds {
    fn value(&self) -> Option<f64> {
        let v = match self {
            Seconds::Text(s) => s.trim().parse::<f64>().ok()?,
            Seconds::Number(n) => *n,
        };
        (v.is_finite() && v >= 0.0).then_some(v)
    }
}

/// The words of a Transcribe output file, in the file's order. Punctuation is appended to the
/// word before it (punctuation before any word has nothing to attach to and is dropped).
/// Items of a type other than pronunciation or punctuation are skipped.
pub fn parse_words(json: &[u8]) -> Result<Vec<Word>, TranscribeError> {
    let output: Output = serde_json::from_slice(json)?;
    let labels = label_spans(output.results.speaker_labels)?;
    let mut words: Vec<Word> = Vec::with_capacity(output.results.items.len());
    for (index, item) in output.results.items.into_iter().enumerate() {
        let err = |reason| TranscribeError::Item { index, reason };
        let content = item
            .alternatives
            .into_iter()
            .next()
            .ok_or(err("no alternatives"))?
            .content;
        match item.kind.as_str() {
            "pronunciation" => {
                let start = item.start_time.as_ref().and_then(Seconds::value);
                let end = item.end_time.as_ref().and_then(Seconds::value);
                let (Some(start), Some(end)) = (start, end) else {
                    return Err(err("a word needs non-negative start_time and end_time"));
                };
                if end < start {
                    return Err(err("end_time is before start_time"));
                }
                let speaker_label = item.speaker_label.or_else(|| label_at(&labels, start));
                words.push(Word {
                    start,
                    end,
                    text: content,
                    speaker_label,
                });
            }
            "punctuation" => {
                if let Some(previous) = words.last_mut() {
                    previous.text.push_str(&content);
                }
            }
            _ => {}
        }
    }
    Ok(words)
}

/// Older output labels time spans in `speaker_labels.segments` instead of each item.
fn label_spans(labels: Option<SpeakerLabels>) -> Result<Vec<(f64, f64, String)>, TranscribeError> {
    let Some(labels) = labels else {
        return Ok(Vec::new());
    };
    labels
        .segments
        .into_iter()
        .enumerate()
        .map(|(index, s)| match (s.start_time.value(), s.end_time.value()) {
            (Some(start), Some(end)) => Ok((start, end, s.speaker_label)),
            _ => Err(TranscribeError::LabelSegment { index }),
        })
        .collect()
}

fn label_at(spans: &[(f64, f64, String)], t: f64) -> Option<String> {
    spans
        .iter()
        .find(|(start, end, _)| *start <= t && t <= *end)
        .map(|(_, _, label)| label.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real job's file in shape: two sentences, punctuation items, audio_segments and the
    /// fields this reader ignores.
    const SAMPLE: &str = r#"{
      "jobName": "zs-meeting-1",
      "accountId": "123456789012",
      "status": "COMPLETED",
      "results": {
        "transcripts": [{"transcript": "Hello, everyone. Let's start."}],
        "items": [
          {"id": 0, "type": "pronunciation", "start_time": "0.04", "end_time": "0.51",
           "alternatives": [{"confidence": "0.998", "content": "Hello"}]},
          {"id": 1, "type": "punctuation",
           "alternatives": [{"confidence": "0.0", "content": ","}]},
          {"id": 2, "type": "pronunciation", "start_time": "0.51", "end_time": "1.1",
           "alternatives": [{"confidence": "0.995", "content": "everyone"}]},
          {"id": 3, "type": "punctuation",
           "alternatives": [{"confidence": "0.0", "content": "."}]},
          {"id": 4, "type": "pronunciation", "start_time": "2.25", "end_time": "2.6",
           "alternatives": [{"confidence": "0.97", "content": "Let's"}],
           "language_code": "en-US"},
          {"id": 5, "type": "pronunciation", "start_time": "2.6", "end_time": "3.02",
           "alternatives": [{"confidence": "0.99", "content": "start"}]},
          {"id": 6, "type": "punctuation",
           "alternatives": [{"confidence": "0.0", "content": "."}]}
        ],
        "audio_segments": [
          {"id": 0, "transcript": "Hello, everyone.", "start_time": "0.04",
           "end_time": "1.1", "items": [0, 1, 2, 3]}
        ]
      }
    }"#;

    fn word(start: f64, end: f64, text: &str) -> Word {
        Word {
            start,
            end,
            text: text.into(),
            speaker_label: None,
        }
    }

    #[test]
    fn a_realistic_output_becomes_words_with_punctuation_attached() {
        let words = parse_words(SAMPLE.as_bytes()).unwrap();
        assert_eq!(
            words,
            [
                word(0.04, 0.51, "Hello,"),
                word(0.51, 1.1, "everyone."),
                word(2.25, 2.6, "Let's"),
                word(2.6, 3.02, "start."),
            ]
        );
    }

    #[test]
    fn speaker_labels_are_read_from_items_or_from_labelled_segments() {
        let per_item = r#"{"results": {"items": [
          {"type": "pronunciation", "start_time": "0.1", "end_time": "0.4", "speaker_label": "spk_1",
           "alternatives": [{"confidence": "0.9", "content": "Hi"}]}]}}"#;
        let words = parse_words(per_item.as_bytes()).unwrap();
        assert_eq!(words[0].speaker_label.as_deref(), Some("spk_1"));

        let per_segment = r#"{"results": {
          "speaker_labels": {"speakers": 2, "segments": [
            {"start_time": "0.0", "end_time": "1.0", "speaker_label": "spk_0", "items": []},
            {"start_time": "1.0", "end_time": "2.0", "speaker_label": "spk_1", "items": []}]},
          "items": [
            {"type": "pronunciation", "start_time": "0.1", "end_time": "0.4",
             "alternatives": [{"confidence": "0.9", "content": "Hi"}]},
            {"type": "pronunciation", "start_time": "1.2", "end_time": "1.5",
             "alternatives": [{"confidence": "0.9", "content": "Hey"}]}]}}"#;
        let words = parse_words(per_segment.as_bytes()).unwrap();
        let labels: Vec<_> = words.iter().map(|w| w.speaker_label.as_deref()).collect();
        assert_eq!(labels, [Some("spk_0"), Some("spk_1")]);
    }

    #[test]
    fn numeric_times_and_leading_punctuation_are_tolerated() {
        let json = r#"{"results": {"items": [
          {"type": "punctuation", "alternatives": [{"content": "¿"}]},
          {"type": "pronunciation", "start_time": 1.5, "end_time": 2,
           "alternatives": [{"content": "Qué"}]}]}}"#;
        assert_eq!(parse_words(json.as_bytes()).unwrap(), [word(1.5, 2.0, "Qué")]);
    }

    #[test]
    fn an_empty_transcript_has_no_words() {
        let json = r#"{"results": {"transcripts": [{"transcript": ""}], "items": []}}"#;
        assert!(parse_words(json.as_bytes()).unwrap().is_empty());
    }

    #[test]
    fn malformed_input_is_a_clear_error() {
        let not_json = parse_words(b"<html>").unwrap_err();
        assert!(matches!(not_json, TranscribeError::Json(_)), "{not_json}");
        let no_results = parse_words(br#"{"status": "FAILED"}"#).unwrap_err();
        assert!(no_results.to_string().contains("results"), "{no_results}");

        let cases = [
            (
                r#"{"type": "pronunciation", "end_time": "1.0", "alternatives": [{"content": "a"}]}"#,
                "start_time",
            ),
            (
                r#"{"type": "pronunciation", "start_time": "x", "end_time": "1.0", "alternatives": [{"content": "a"}]}"#,
                "start_time",
            ),
            (
                r#"{"type": "pronunciation", "start_time": "2.0", "end_time": "1.0", "alternatives": [{"content": "a"}]}"#,
                "before",
            ),
            (
                r#"{"type": "pronunciation", "start_time": "0", "end_time": "1", "alternatives": []}"#,
                "alternatives",
            ),
        ];
        for (item, expected) in cases {
            let json = format!(r#"{{"results": {{"items": [{item}]}}}}"#);
            let err = parse_words(json.as_bytes()).unwrap_err();
            assert!(matches!(err, TranscribeError::Item { index: 0, .. }), "{err}");
            assert!(err.to_string().contains(expected), "{err}");
        }
        let bad_label = r#"{"results": {"items": [], "speaker_labels": {"segments": [
          {"start_time": "-1", "end_time": "1", "speaker_label": "spk_0"}]}}}"#;
        let err = parse_words(bad_label.as_bytes()).unwrap_err();
        assert!(matches!(err, TranscribeError::LabelSegment { index: 0 }), "{err}");
    }
}
