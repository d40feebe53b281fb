//! Where each stretch of a participant's speech-only file sits on the meeting timeline.
//!
//! The producer writes a participant's speech segments back to back into one file (Transcribe
//! bills per second, silence included), so a time in that file means nothing on its own: the
//! map, stored beside the file at `meetings/<key>/speech/<k>.json`, puts it back at meeting
//! time. Meeting time counts from the earliest track's `recording_start`.

use serde::{Deserialize, Serialize};

use super::vad::SpeechSegment;

/// Float slack when checking order: speech starts are sums of durations.
const TOLERANCE_SECONDS: f64 = 1e-6;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SegmentMapError {
    #[error("track offset must be finite and non-negative, got {0}")]
    InvalidOffset(f64),
    #[error("segment {index}: {reason}")]
    InvalidSegment { index: usize, reason: &'static str },
}

/// One stretch of speech: where it starts in the speech-only file, where in the meeting, and
/// how long it lasts (the same in both, the cut changes no speed). Seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub speech_start: f64,
    pub meeting_start: f64,
    pub duration: f64,
}

impl Segment {
    pub fn speech_end(&self) -> f64 {
        self.speech_start + self.duration
    }

    pub fn meeting_end(&self) -> f64 {
        self.meeting_start + self.duration
    }
}

/// A participant's segment map. Fields are private so every map in hand has been validated,
/// whether built from the detector's output or parsed from S3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawSegmentMap")]
pub struct SegmentMap {
    index: u16,
    name: String,
    segments: Vec<Segment>,
}

/// The unvalidated wire form; `SegmentMap`'s `Deserialize` goes through it.
#[derive(Deserialize)]
struct RawSegmentMap {
    index: u16,
    name: String,
    segments: Vec<Segment>,
}

impl TryFrom<RawSegmentMap> for SegmentMap {
    type Error = SegmentMapError;

    fn try_from(raw: RawSegmentMap) -> Result<Self, Self::Error> {
        SegmentMap::new(raw.index, raw.name, raw.segments)
    }
}

impl SegmentMap {
    /// A map from segments already placed on both timelines; refuses any that would make
    /// [`SegmentMap::to_meeting_time`] ambiguous or non-monotonic.
    pub fn new(index: u16, name: impl Into<String>, segments: Vec<Segment>) -> Result<Self, SegmentMapError> {
        validate(&segments)?;
        Ok(SegmentMap {
            index,
            name: name.into(),
            segments,
        })
    }

    /// The map of a speech-only file made of `speech` (the detector's segments, in the track's
    /// own time) written back to back, for a track starting `offset_seconds` into the meeting.
    pub fn from_speech(
        index: u16,
        name: impl Into<String>,
        speech: &[SpeechSegment],
        offset_seconds: f64,
    ) -> Result<Self, SegmentMapError> {
        if !(offset_seconds.is_finite() && offset_seconds >= 0.0) {
            return Err(SegmentMapError::InvalidOffset(offset_seconds));
        }
        let mut speech_start = 0.0;
        let segments = speech
            .iter()
            .map(|s| {
                let segment = Segment {
                    speech_start,
                    meeting_start: offset_seconds + s.start,
                    duration: s.duration(),
                };
                speech_start += segment.duration;
                segment
            })
            .collect();
        SegmentMap::new(index, name, segments)
    }

    /// The S3 key of participant `index`'s map under a meeting's prefix (`meetings/<key>/`,
    /// with or without the trailing slash).
    pub fn key(meeting_prefix: &str, index: u16) -> String {
        format!("{}/speech/{index}.json", meeting_prefix.trim_end_matches('/'))
    }

    pub fn index(&self) -> u16 {
        self.index
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Talk time: the length of the speech-only file.
    pub fn speech_seconds(&self) -> f64 {
        self.segments.iter().map(|s| s.duration).sum()
    }

    /// Meeting time of a time in the speech-only file. At a cut between two segments the time
    /// belongs to the later one (where a word starting there is heard). Times past the file's
    /// end give the last segment's end: ministack's canned transcripts run past the media.
    /// `None` for a negative or NaN time, or a participant who never spoke.
    pub fn to_meeting_time(&self, speech_time: f64) -> Option<f64> {
        self.map(speech_time, |s| s.speech_start <= speech_time)
    }

    /// As [`SegmentMap::to_meeting_time`], but a time at a cut belongs to the earlier
    /// segment: for a word's end, so a word ending at a cut does not stretch over the silence.
    pub fn to_meeting_time_end(&self, speech_time: f64) -> Option<f64> {
        self.map(speech_time, |s| s.speech_start < speech_time)
    }

    /// `starts_before` says whether a segment starts at or before the time (the cut's bias).
    fn map(&self, speech_time: f64, starts_before: impl Fn(&Segment) -> bool) -> Option<f64> {
        if speech_time.is_nan() || speech_time < 0.0 {
            return None;
        }
        // Segments are ordered by speech_start, so the last one starting before is the one.
        let after = self.segments.partition_point(starts_before);
        let segment = self.segments.get(after.saturating_sub(1))?;
        let into = (speech_time - segment.speech_start).clamp(0.0, segment.duration);
        Some(segment.meeting_start + into)
    }
}

/// Finite, non-negative, ordered and non-overlapping on both timelines.
fn validate(segments: &[Segment]) -> Result<(), SegmentMapError> {
    let invalid = |index, reason| Err(SegmentMapError::InvalidSegment { index, reason });
    for (index, s) in segments.iter().enumerate() {
        let values = [s.speech_start, s.meeting_start, s.duration];
        if !values.iter().all(|v| v.is_finite() && *v >= 0.0) {
            return invalid(index, "times and duration must be finite and non-negative");
        }
        let Some(prev) = index.checked_sub(1).and_then(|i| segments.get(i)) else {
            continue;
        };
        if s.speech_start + TOLERANCE_SECONDS < prev.speech_end() {
            return invalid(index, "starts before the previous one ends in speech time");
        }
        if s.meeting_start + TOLERANCE_SECONDS < prev.meeting_end() {
            return invalid(index, "starts before the previous one ends in meeting time");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assert_near(actual: Option<f64>, expected: f64) {
        let actual = actual.unwrap();
        assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
    }

    /// Speech at 2–5 s and 10–12 s of a track that starts 30 s into the meeting.
    fn two_segments() -> SegmentMap {
        let speech = [
            SpeechSegment { start: 2.0, end: 5.0 },
            SpeechSegment { start: 10.0, end: 12.0 },
        ];
        SegmentMap::from_speech(1, "Alice", &speech, 30.0).unwrap()
    }

    #[test]
    fn speech_starts_accumulate_and_meeting_starts_add_the_offset() {
        let map = two_segments();
        assert_eq!(
            map.segments(),
            [
                Segment {
                    speech_start: 0.0,
                    meeting_start: 32.0,
                    duration: 3.0
                },
                Segment {
                    speech_start: 3.0,
                    meeting_start: 40.0,
                    duration: 2.0
                },
            ]
        );
        assert_eq!(map.speech_seconds(), 5.0);
        assert_eq!(map.index(), 1);
        assert_eq!(map.name(), "Alice");
    }

    #[test]
    fn json_has_the_exact_shape() {
        let value = serde_json::to_value(two_segments()).unwrap();
        assert_eq!(
            value,
            json!({"index": 1, "name": "Alice", "segments": [
                {"speech_start": 0.0, "meeting_start": 32.0, "duration": 3.0},
                {"speech_start": 3.0, "meeting_start": 40.0, "duration": 2.0}
            ]})
        );
    }

    #[test]
    fn json_round_trips() {
        let map = two_segments();
        let text = serde_json::to_string(&map).unwrap();
        let back: SegmentMap = serde_json::from_str(&text).unwrap();
        assert_eq!(back, map);
    }

    #[test]
    fn unknown_fields_are_ignored_on_parse() {
        let text = r#"{"index":0,"name":"A","segments":[],"version":2}"#;
        let map: SegmentMap = serde_json::from_str(text).unwrap();
        assert!(map.segments().is_empty());
    }

    #[test]
    fn invalid_maps_are_refused_on_parse() {
        let overlapping = json!({"index": 0, "name": "A", "segments": [
            {"speech_start": 0.0, "meeting_start": 0.0, "duration": 3.0},
            {"speech_start": 2.0, "meeting_start": 5.0, "duration": 1.0}
        ]});
        let err = serde_json::from_value::<SegmentMap>(overlapping).unwrap_err();
        assert!(err.to_string().contains("segment 1"), "{err}");

        let out_of_order = json!({"index": 0, "name": "A", "segments": [
            {"speech_start": 0.0, "meeting_start": 10.0, "duration": 1.0},
            {"speech_start": 1.0, "meeting_start": 2.0, "duration": 1.0}
        ]});
        assert!(serde_json::from_value::<SegmentMap>(out_of_order).is_err());

        let negative = json!({"index": 0, "name": "A", "segments": [
            {"speech_start": 0.0, "meeting_start": 0.0, "duration": -1.0}
        ]});
        assert!(serde_json::from_value::<SegmentMap>(negative).is_err());

        let missing_field = json!({"index": 0, "segments": []});
        assert!(serde_json::from_value::<SegmentMap>(missing_field).is_err());
    }

    #[test]
    fn a_bad_offset_or_inverted_segment_is_refused() {
        let speech = [SpeechSegment { start: 1.0, end: 2.0 }];
        assert!(matches!(
            SegmentMap::from_speech(0, "A", &speech, f64::NAN),
            Err(SegmentMapError::InvalidOffset(_))
        ));
        assert!(SegmentMap::from_speech(0, "A", &speech, -1.0).is_err());
        let inverted = [SpeechSegment { start: 2.0, end: 1.0 }];
        assert!(SegmentMap::from_speech(0, "A", &inverted, 0.0).is_err());
    }

    #[test]
    fn times_inside_segments_map_linearly() {
        let map = two_segments();
        assert_near(map.to_meeting_time(0.0), 32.0);
        assert_near(map.to_meeting_time(1.5), 33.5);
        assert_near(map.to_meeting_time(4.0), 41.0);
    }

    #[test]
    fn a_cut_belongs_to_the_later_segment_for_starts_and_the_earlier_for_ends() {
        let map = two_segments();
        assert_near(map.to_meeting_time(3.0), 40.0);
        assert_near(map.to_meeting_time_end(3.0), 35.0);
        // The very start and the very end have one reading only.
        assert_near(map.to_meeting_time_end(0.0), 32.0);
        assert_near(map.to_meeting_time(5.0), 42.0);
        assert_near(map.to_meeting_time_end(5.0), 42.0);
    }

    #[test]
    fn times_past_the_end_are_clamped_to_the_last_segment() {
        let map = two_segments();
        assert_near(map.to_meeting_time(9.5), 42.0);
        assert_near(map.to_meeting_time_end(1e6), 42.0);
        assert_near(map.to_meeting_time(f64::INFINITY), 42.0);
    }

    #[test]
    fn negative_and_nan_times_have_no_meeting_time() {
        let map = two_segments();
        assert_eq!(map.to_meeting_time(-0.1), None);
        assert_eq!(map.to_meeting_time(f64::NAN), None);
        assert_eq!(map.to_meeting_time_end(f64::NAN), None);
    }

    #[test]
    fn a_participant_who_never_spoke_has_an_empty_map() {
        let map = SegmentMap::from_speech(2, "Bob", &[], 12.0).unwrap();
        assert!(map.segments().is_empty());
        assert_eq!(map.speech_seconds(), 0.0);
        assert_eq!(map.to_meeting_time(0.0), None);
        assert_eq!(
            serde_json::to_value(&map).unwrap(),
            json!({"index": 2, "name": "Bob", "segments": []})
        );
    }

    #[test]
    fn the_key_sits_under_the_meetings_speech_prefix() {
        assert_eq!(SegmentMap::key("meetings/YWI/", 3), "meetings/YWI/speech/3.json");
        assert_eq!(SegmentMap::key("meetings/YWI", 0), "meetings/YWI/speech/0.json");
    }
}
