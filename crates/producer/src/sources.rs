//! Source selection: which of the event's files the meeting is made from. Pure.

use zoom_symbl_core::meeting::AudioMode;
use zoom_symbl_core::zoom::names::{disambiguate, display_name};
use zoom_symbl_core::zoom::RecordingObject;
use zoom_symbl_core::Error;

use crate::plan::{parse_time, Timeline};

/// A track chosen from the event, in event order.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// Its position in the event's list (names its archived original).
    pub index: usize,
    pub file_id: String,
    pub name: String,
    pub start: String,
    pub end: String,
    pub url: String,
    pub size: u64,
}

/// Participant tracks when the account records them (completed ones, in event order), else
/// the mixed `audio_only` file for diarization.
pub fn select_sources(object: &RecordingObject) -> Result<(AudioMode, Vec<Source>), Error> {
    let per_participant = participant_tracks(object);
    if !per_participant.is_empty() {
        return Ok((AudioMode::Multichannel, per_participant));
    }
    let (index, f) = object
        .recording_files
        .iter()
        .enumerate()
        .find(|(_, f)| f.recording_type == "audio_only" && f.status.eq_ignore_ascii_case("completed"))
        .ok_or_else(|| {
            Error::permanent(
                "zoom event",
                "the recording has neither participant audio files nor an audio_only file",
            )
        })?;
    Ok((
        AudioMode::MixedDiarization,
        vec![Source {
            index,
            file_id: f.id.clone().unwrap_or_else(|| format!("audio-only-{index}")),
            name: "All participants (mixed)".into(),
            start: f.recording_start.clone(),
            end: f.recording_end.clone(),
            url: f.download_url.clone(),
            size: f.file_size,
        }],
    ))
}

/// The completed participant files, named apart when two display names are the same.
fn participant_tracks(object: &RecordingObject) -> Vec<Source> {
    let completed: Vec<_> = object
        .participant_audio_files
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, f)| f.status.eq_ignore_ascii_case("completed"))
        .collect();
    let names = disambiguate(completed.iter().map(|(_, f)| display_name(&f.file_name)));
    completed
        .into_iter()
        .zip(names)
        .map(|((index, f), name)| Source {
            index,
            file_id: f.id.clone(),
            name,
            start: f.recording_start.clone(),
            end: f.recording_end.clone(),
            url: f.download_url.clone(),
            size: f.file_size,
        })
        .collect()
}

/// The meeting's span over every chosen source, whether or not it downloads later: one
/// failure never moves the others in time.
pub fn timeline(sources: &[Source]) -> Result<Timeline, Error> {
    let spans = sources
        .iter()
        .map(|s| {
            Ok((
                parse_time("recording_start", &s.start)?,
                parse_time("recording_end", &s.end)?,
            ))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Timeline::span(spans.iter().map(|(a, b)| (a, b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoom_symbl_core::testkit::samples;

    fn sample() -> RecordingObject {
        samples::meeting()
    }

    #[test]
    fn participants_in_event_order_with_parsed_names() {
        let (mode, sources) = select_sources(&sample()).unwrap();
        assert_eq!(mode, AudioMode::Multichannel);
        let names: Vec<_> = sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Dana Host", "Mary-Jane O'Neil", "李雷"]);
        assert_eq!(sources[1].start, "2024-05-31T18:03:40Z");
    }

    #[test]
    fn incomplete_tracks_are_skipped_and_duplicates_named_apart() {
        let mut o = sample();
        let files = o.participant_audio_files.as_mut().unwrap();
        files[0].status = "processing".into();
        files[2].file_name = "Audio only - Mary-Jane O'Neil".into();
        let (_, sources) = select_sources(&o).unwrap();
        let got: Vec<_> = sources.iter().map(|s| (s.index, s.name.as_str())).collect();
        assert_eq!(got, [(1, "Mary-Jane O'Neil"), (2, "Mary-Jane O'Neil (2)")]);
    }

    #[test]
    fn without_participant_files_the_mixed_track_is_used() {
        let mut o = sample();
        o.participant_audio_files = None;
        let (mode, sources) = select_sources(&o).unwrap();
        assert_eq!(mode, AudioMode::MixedDiarization);
        assert_eq!(sources.len(), 1);
        assert!(sources[0].url.ends_with("m4a-opaque"));
        o.recording_files.retain(|f| f.recording_type != "audio_only");
        assert!(select_sources(&o).is_err());
    }

    #[test]
    fn the_timeline_spans_every_source_and_refuses_bad_times() {
        let (_, mut sources) = select_sources(&sample()).unwrap();
        let t = timeline(&sources).unwrap();
        // Dana from 18:00:07 to 18:42:11.
        assert_eq!(t.duration_secs(), 2524.0);
        sources[2].end = "later".into();
        assert!(timeline(&sources).unwrap_err().to_string().contains("recording_end"));
    }
}
