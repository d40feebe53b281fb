//! One transcript for the meeting: each participant's words put back at meeting time through
//! their segment map, grouped into utterances, and everyone's utterances merged in time order.
//! Overlapping speech stays overlapping: two people talking at once is what happened.

use serde::{Deserialize, Serialize};

use super::transcribe::Word;
use crate::speech::SegmentMap;

/// A longer silence than this ends an utterance.
pub const MAX_PAUSE_SECONDS: f64 = 1.5;
/// A sentence end followed by at least this much silence ends an utterance.
pub const SENTENCE_PAUSE_SECONDS: f64 = 0.5;
/// No utterance is longer than this (a monologue is read more easily in parts).
pub const MAX_UTTERANCE_SECONDS: f64 = 30.0;
/// The transcript's file name under a meeting's prefix.
pub const TRANSCRIPT_FILE: &str = "transcript.json";
/// The speaker of a mixed track's words that carry no label.
pub const UNKNOWN_SPEAKER: &str = "Unknown speaker";

/// What one speaker said without a long pause, in seconds of meeting time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Utterance {
    pub speaker: String,
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// The meeting's transcript, stored as `meetings/<key>/transcript.json`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Transcript {
    pub utterances: Vec<Utterance>,
}

impl Transcript {
    /// The S3 key of the transcript under a meeting's prefix (with or without trailing slash).
    pub fn key(meeting_prefix: &str) -> String {
        format!("{}/{TRANSCRIPT_FILE}", meeting_prefix.trim_end_matches('/'))
    }
}

/// A word already on meeting time, with the rank of its speaker for ordering ties.
struct Timed<'a> {
    rank: usize,
    start: f64,
    end: f64,
    text: &'a str,
}

/// One participant's utterances: their words (times in their speech-only file) mapped
/// through their segment map, spoken by the map's name. Words the map cannot place (a
/// participant with an empty map) are dropped.
pub fn participant_utterances(words: &[Word], map: &SegmentMap) -> Vec<Utterance> {
    let timed = words.iter().filter_map(|w| {
        let start = map.to_meeting_time(w.start)?;
        let end = map.to_meeting_time_end(w.end)?.max(start);
        Some(Timed {
            rank: 0,
            start,
            end,
            text: &w.text,
        })
    });
    group(timed, &[map.name()]).into_iter().map(|(_, u)| u).collect()
}

/// Everyone's utterances in one list ordered by start, ties by the participant's index.
pub fn merge_participants<'a>(participants: impl IntoIterator<Item = (&'a SegmentMap, &'a [Word])>) -> Transcript {
    let mut ranked: Vec<(u16, Utterance)> = participants
        .into_iter()
        .flat_map(|(map, words)| participant_utterances(words, map).into_iter().map(|u| (map.index(), u)))
        .collect();
    ranked.sort_by(|(ia, a), (ib, b)| a.start.total_cmp(&b.start).then(ia.cmp(ib)));
    Transcript {
        utterances: ranked.into_iter().map(|(_, u)| u).collect(),
    }
}

/// A mixed track's transcript, split by Transcribe's speaker labels: labels become
/// "Speaker 1", "Speaker 2"... in order of first appearance (Transcribe's `spk_0` is usually
/// the first to speak, so it is "Speaker 1"). With a map, the file was cut to speech and its
/// times go through it; without, the file's times are already meeting times.
pub fn split_by_speaker(words: &[Word], map: Option<&SegmentMap>) -> Transcript {
    let mut labels: Vec<Option<&str>> = Vec::new();
    let mut timed: Vec<Timed> = Vec::with_capacity(words.len());
    for w in words {
        let (start, end) = match map {
            Some(map) => match (map.to_meeting_time(w.start), map.to_meeting_time_end(w.end)) {
                (Some(start), Some(end)) => (start, end.max(start)),
                _ => continue,
            },
            None => (w.start, w.end.max(w.start)),
        };
        let label = w.speaker_label.as_deref();
        let rank = labels.iter().position(|l| *l == label).unwrap_or_else(|| {
            labels.push(label);
            labels.len() - 1
        });
        timed.push(Timed {
            rank,
            start,
            end,
            text: &w.text,
        });
    }
    let mut number = 0;
    let names: Vec<String> = labels
        .iter()
        .map(|label| match label {
            Some(_) => {
                number += 1;
                format!("Speaker {number}")
            }
            None => UNKNOWN_SPEAKER.to_string(),
        })
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut ranked = group(timed.into_iter(), &names);
    ranked.sort_by(|(ra, a), (rb, b)| a.start.total_cmp(&b.start).then(ra.cmp(rb)));
    Transcript {
        utterances: ranked.into_iter().map(|(_, u)| u).collect(),
    }
}

/// Words in time order grouped into utterances: a new one at a change of speaker, after a
/// long pause, at a sentence end followed by a pause, or when it would grow too long.
/// `names[rank]` names each word's speaker; the rank is kept for ordering ties.
fn group<'a>(words: impl Iterator<Item = Timed<'a>>, names: &[&str]) -> Vec<(usize, Utterance)> {
    let mut words: Vec<Timed> = words.filter(|w| !w.text.trim().is_empty()).collect();
    // Stable: words starting together keep the transcriber's order.
    words.sort_by(|a, b| a.start.total_cmp(&b.start));
    let mut out: Vec<(usize, Utterance)> = Vec::new();
    for w in words {
        let text = w.text.trim();
        if let Some((rank, current)) = out.last_mut() {
            if *rank == w.rank && continues(current, &w) {
                current.text.push(' ');
                current.text.push_str(text);
                current.end = current.end.max(w.end);
                continue;
            }
        }
        let speaker = names.get(w.rank).copied().unwrap_or(UNKNOWN_SPEAKER);
        out.push((
            w.rank,
            Utterance {
                speaker: speaker.to_string(),
                start: w.start,
                end: w.end,
                text: text.to_string(),
            },
        ));
    }
    out
}

/// Whether `next`, by the same speaker, belongs to `current`.
fn continues(current: &Utterance, next: &Timed) -> bool {
    let pause = next.start - current.end;
    let sentence_end = current.text.ends_with(['.', '?', '!', '…', '。', '？', '！']);
    pause <= MAX_PAUSE_SECONDS
        && !(sentence_end && pause >= SENTENCE_PAUSE_SECONDS)
        && next.end.max(current.end) - current.start <= MAX_UTTERANCE_SECONDS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::speech::Segment;

    fn word(start: f64, end: f64, text: &str) -> Word {
        Word {
            start,
            end,
            text: text.into(),
            speaker_label: None,
        }
    }

    fn labelled(start: f64, end: f64, text: &str, label: &str) -> Word {
        Word {
            speaker_label: Some(label.into()),
            ..word(start, end, text)
        }
    }

    fn utterance(speaker: &str, start: f64, end: f64, text: &str) -> Utterance {
        Utterance {
            speaker: speaker.into(),
            start,
            end,
            text: text.into(),
        }
    }

    /// Speech-file 0–3 s is meeting 10–13 s; speech-file 3–5 s is meeting 20–22 s.
    fn two_segment_map(index: u16, name: &str) -> SegmentMap {
        let segments = vec![
            Segment {
                speech_start: 0.0,
                meeting_start: 10.0,
                duration: 3.0,
            },
            Segment {
                speech_start: 3.0,
                meeting_start: 20.0,
                duration: 2.0,
            },
        ];
        SegmentMap::new(index, name, segments).unwrap()
    }

    fn assert_utterances_near(actual: &[Utterance], expected: &[Utterance]) {
        assert_eq!(actual.len(), expected.len(), "{actual:#?}");
        for (a, e) in actual.iter().zip(expected) {
            assert_eq!((&a.speaker, &a.text), (&e.speaker, &e.text), "{actual:#?}");
            assert!((a.start - e.start).abs() < 1e-9, "{a:?} vs {e:?}");
            assert!((a.end - e.end).abs() < 1e-9, "{a:?} vs {e:?}");
        }
    }

    #[test]
    fn words_are_mapped_through_two_segments_and_the_gap_splits_them() {
        let map = two_segment_map(0, "Alice");
        let words = [
            word(0.2, 0.6, "We"),
            word(0.6, 1.0, "shipped"),
            word(2.5, 3.0, "it"),
            word(3.0, 3.4, "Then"),
            word(3.5, 4.0, "lunch."),
        ];
        assert_utterances_near(
            &participant_utterances(&words, &map),
            &[
                // "it" ends at the cut: it ends in the first segment, not across the gap.
                utterance("Alice", 10.2, 13.0, "We shipped it"),
                utterance("Alice", 20.0, 21.0, "Then lunch."),
            ],
        );
    }

    #[test]
    fn words_past_the_media_end_are_clamped_to_it() {
        // ministack: canned words to 10 s for a 5 s speech file.
        let map = two_segment_map(0, "Alice");
        let words = [word(4.5, 5.0, "one"), word(8.0, 8.5, "two"), word(9.5, 10.0, "three")];
        assert_utterances_near(
            &participant_utterances(&words, &map),
            &[utterance("Alice", 21.5, 22.0, "one two three")],
        );
    }

    #[test]
    fn a_participant_with_an_empty_map_says_nothing() {
        let map = SegmentMap::new(0, "Quiet", Vec::new()).unwrap();
        assert!(participant_utterances(&[word(0.0, 1.0, "ghost")], &map).is_empty());
    }

    #[test]
    fn long_pauses_sentence_ends_and_length_split_utterances() {
        let map = SegmentMap::new(
            0,
            "A",
            vec![Segment {
                speech_start: 0.0,
                meeting_start: 0.0,
                duration: 100.0,
            }],
        )
        .unwrap();
        let mut words = vec![
            word(0.0, 0.5, "Short"),
            word(0.6, 1.0, "pause."),
            word(1.2, 1.5, "Then"), // sentence end, 0.2 s pause: kept
            word(1.6, 2.0, "more."),
            word(2.6, 3.0, "New"),   // sentence end, 0.6 s pause: split
            word(4.8, 5.0, "after"), // 1.8 s pause: split
        ];
        // 40 s of back-to-back words from 10 s: split at 30 s.
        words.extend((0..80).map(|i| word(10.0 + 0.5 * f64::from(i), 10.5 + 0.5 * f64::from(i), "w")));
        let utterances = participant_utterances(&words, &map);
        let spans: Vec<(f64, f64)> = utterances.iter().map(|u| (u.start, u.end)).collect();
        assert_eq!(spans, [(0.0, 2.0), (2.6, 3.0), (4.8, 5.0), (10.0, 40.0), (40.0, 50.0)]);
        assert_eq!(utterances[0].text, "Short pause. Then more.");
        assert!(utterances.iter().all(|u| u.end - u.start <= MAX_UTTERANCE_SECONDS));
    }

    #[test]
    fn two_participants_talking_over_each_other_are_merged_in_time_order() {
        let alice = two_segment_map(0, "Alice");
        let bob = SegmentMap::new(
            1,
            "Bob",
            vec![Segment {
                speech_start: 0.0,
                meeting_start: 11.0,
                duration: 10.0,
            }],
        )
        .unwrap();
        let alice_words = [word(0.0, 0.5, "So"), word(0.5, 2.0, "anyway"), word(3.5, 4.0, "Right.")];
        let bob_words = [word(0.0, 1.5, "Sorry,"), word(1.5, 2.5, "go"), word(9.0, 9.5, "Bye.")];
        let transcript = merge_participants([(&bob, &bob_words[..]), (&alice, &alice_words[..])]);
        assert_utterances_near(
            &transcript.utterances,
            &[
                utterance("Alice", 10.0, 12.0, "So anyway"),
                // Starts while Alice is still talking: overlap kept.
                utterance("Bob", 11.0, 13.5, "Sorry, go"),
                utterance("Bob", 20.0, 20.5, "Bye."),
                utterance("Alice", 20.5, 21.0, "Right."),
            ],
        );
    }

    #[test]
    fn simultaneous_starts_are_ordered_by_participant_index() {
        let a = SegmentMap::new(
            0,
            "A",
            vec![Segment {
                speech_start: 0.0,
                meeting_start: 5.0,
                duration: 2.0,
            }],
        )
        .unwrap();
        let b = SegmentMap::new(
            1,
            "B",
            vec![Segment {
                speech_start: 0.0,
                meeting_start: 5.0,
                duration: 2.0,
            }],
        )
        .unwrap();
        let words = [word(0.0, 1.0, "Hi")];
        let transcript = merge_participants([(&b, &words[..]), (&a, &words[..])]);
        let speakers: Vec<&str> = transcript.utterances.iter().map(|u| u.speaker.as_str()).collect();
        assert_eq!(speakers, ["A", "B"]);
    }

    #[test]
    fn a_mixed_track_is_split_by_speaker_label() {
        let words = [
            labelled(0.0, 0.5, "Hello", "spk_0"),
            labelled(0.5, 1.0, "there.", "spk_0"),
            labelled(1.1, 1.5, "Hi!", "spk_1"),
            labelled(1.6, 2.0, "Agenda", "spk_0"),
            labelled(2.0, 2.4, "first.", "spk_0"),
            word(3.0, 3.2, "hm"),
            labelled(3.0, 3.5, "Sure.", "spk_2"),
        ];
        let transcript = split_by_speaker(&words, None);
        assert_utterances_near(
            &transcript.utterances,
            &[
                utterance("Speaker 1", 0.0, 1.0, "Hello there."),
                utterance("Speaker 2", 1.1, 1.5, "Hi!"),
                utterance("Speaker 1", 1.6, 2.4, "Agenda first."),
                utterance(UNKNOWN_SPEAKER, 3.0, 3.2, "hm"),
                utterance("Speaker 3", 3.0, 3.5, "Sure."),
            ],
        );
    }

    #[test]
    fn a_cut_mixed_track_goes_through_its_map() {
        let map = two_segment_map(0, "Mixed");
        let words = [labelled(0.5, 1.0, "Hi", "spk_1"), labelled(3.5, 4.0, "Yo", "spk_0")];
        assert_utterances_near(
            &split_by_speaker(&words, Some(&map)).utterances,
            &[
                utterance("Speaker 1", 10.5, 11.0, "Hi"),
                utterance("Speaker 2", 20.5, 21.0, "Yo"),
            ],
        );
    }

    #[test]
    fn the_transcript_serialises_as_stored() {
        let transcript = Transcript {
            utterances: vec![utterance("Alice", 1.5, 2.0, "Hi.")],
        };
        let value = serde_json::to_value(&transcript).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"utterances": [
                {"speaker": "Alice", "start": 1.5, "end": 2.0, "text": "Hi."}
            ]})
        );
        assert_eq!(serde_json::from_value::<Transcript>(value).unwrap(), transcript);
        assert_eq!(Transcript::key("meetings/YWI/"), "meetings/YWI/transcript.json");
    }
}
