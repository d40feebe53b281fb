//! Source selection: which of the event's files the meeting is made from, and whose voice
//! each one is. Pure.

mod group;

use time::OffsetDateTime;

use zoom_symbl_core::meeting::AudioMode;
use zoom_symbl_core::zoom::names::{disambiguate, display_name};
use zoom_symbl_core::zoom::{ParticipantAudioFile, RecordingFile, RecordingObject};
use zoom_symbl_core::Error;

use crate::plan::{parse_time, Timeline};
use group::Span;

/// One file chosen from the event.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// Its position in the event's list (names its archived original).
    pub index: usize,
    pub file_id: String,
    /// Its speaker's name.
    pub name: String,
    pub start: String,
    pub end: String,
    pub url: String,
    pub size: u64,
}

/// One voice of the meeting, a participant or the mixed recording: its files by start time
/// (several when the recording was stopped and restarted).
#[derive(Debug, Clone, PartialEq)]
pub struct Speaker {
    pub name: String,
    pub pieces: Vec<Source>,
}

const MIXED_NAME: &str = "All participants (mixed)";

/// Participant speakers when the account records each participant (completed files, people
/// in event order), else the completed `audio_only` files as one mixed speaker for diarization.
pub fn select_speakers(object: &RecordingObject) -> Result<(AudioMode, Vec<Speaker>), Error> {
    let participants = participant_speakers(object)?;
    if !participants.is_empty() {
        return Ok((AudioMode::Multichannel, participants));
    }
    let mut mixed: Vec<(OffsetDateTime, Source)> = object
        .recording_files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.recording_type == "audio_only" && is_completed(&f.status))
        .map(|(index, f)| {
            Ok((
                parse_time("recording_start", &f.recording_start)?,
                mixed_source(index, f),
            ))
        })
        .collect::<Result<_, Error>>()?;
    if mixed.is_empty() {
        return Err(Error::permanent(
            "zoom event",
            "the recording has neither participant audio files nor an audio_only file",
        ));
    }
    mixed.sort_by_key(|(start, s)| (*start, s.index));
    Ok((
        AudioMode::MixedDiarization,
        vec![Speaker {
            name: MIXED_NAME.into(),
            pieces: mixed.into_iter().map(|(_, s)| s).collect(),
        }],
    ))
}

/// Every speaker's files, in the order they are archived (and their results returned).
pub fn pieces(speakers: &[Speaker]) -> Vec<&Source> {
    speakers.iter().flat_map(|s| &s.pieces).collect()
}

/// The completed participant files grouped into people, named apart when two people share
/// a display name.
fn participant_speakers(object: &RecordingObject) -> Result<Vec<Speaker>, Error> {
    let completed: Vec<(usize, &ParticipantAudioFile)> = object
        .participant_audio_files
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, f)| is_completed(&f.status))
        .collect();
    let spans = completed
        .iter()
        .map(|(_, f)| {
            Ok(Span {
                name: display_name(&f.file_name),
                start: parse_time("recording_start", &f.recording_start)?,
                end: parse_time("recording_end", &f.recording_end)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let people = group::people(&spans);
    let names = disambiguate(people.iter().map(|files| spans[files[0]].name.as_str()));
    Ok(people
        .into_iter()
        .zip(names)
        .map(|(files, name)| Speaker {
            pieces: files
                .into_iter()
                .map(|i| participant_source(completed[i].0, completed[i].1, &name))
                .collect(),
            name,
        })
        .collect())
}

fn participant_source(index: usize, f: &ParticipantAudioFile, name: &str) -> Source {
    Source {
        index,
        file_id: f.id.clone(),
        name: name.to_owned(),
        start: f.recording_start.clone(),
        end: f.recording_end.clone(),
        url: f.download_url.clone(),
        size: f.file_size,
    }
}

fn mixed_source(index: usize, f: &RecordingFile) -> Source {
    Source {
        index,
        file_id: f.id.clone().unwrap_or_else(|| format!("audio-only-{index}")),
        name: MIXED_NAME.into(),
        start: f.recording_start.clone(),
        end: f.recording_end.clone(),
        url: f.download_url.clone(),
        size: f.file_size,
    }
}

fn is_completed(status: &str) -> bool {
    status.eq_ignore_ascii_case("completed")
}

/// The meeting's span over every chosen source, whether or not it downloads later: one
/// failure never moves the others in time.
pub fn timeline<'a>(sources: impl IntoIterator<Item = &'a Source>) -> Result<Timeline, Error> {
    let spans = sources
        .into_iter()
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

    fn names_and_files(speakers: &[Speaker]) -> Vec<(&str, Vec<usize>)> {
        speakers
            .iter()
            .map(|s| (s.name.as_str(), s.pieces.iter().map(|p| p.index).collect()))
            .collect()
    }

    #[test]
    fn participants_in_event_order_with_parsed_names() {
        let (mode, speakers) = select_speakers(&sample()).unwrap();
        assert_eq!(mode, AudioMode::Multichannel);
        assert_eq!(
            names_and_files(&speakers),
            [("Dana Host", vec![0]), ("Mary-Jane O'Neil", vec![1]), ("李雷", vec![2])]
        );
        assert_eq!(speakers[1].pieces[0].start, "2024-05-31T18:03:40Z");
        assert_eq!(speakers[1].pieces[0].name, "Mary-Jane O'Neil");
    }

    #[test]
    fn incomplete_tracks_are_skipped_and_two_people_of_one_name_named_apart() {
        let mut o = sample();
        let files = o.participant_audio_files.as_mut().unwrap();
        files[0].status = "processing".into();
        // 李雷's file renamed: it overlaps Mary-Jane's, so it is someone else of that name.
        files[2].file_name = "Audio only - Mary-Jane O'Neil".into();
        let (_, speakers) = select_speakers(&o).unwrap();
        assert_eq!(
            names_and_files(&speakers),
            [("Mary-Jane O'Neil", vec![1]), ("Mary-Jane O'Neil (2)", vec![2])]
        );
        assert_eq!(speakers[1].pieces[0].name, "Mary-Jane O'Neil (2)");
    }

    /// Issue #13: a participant's files after the recording was stopped and restarted.
    #[test]
    fn a_restarted_participant_is_one_speaker_with_its_pieces_in_time_order() {
        let mut o = sample();
        let files = o.participant_audio_files.as_mut().unwrap();
        let mut again = files[1].clone();
        // Mary-Jane's first piece is listed after the restart's.
        (again.id, again.recording_start, again.recording_end) = (
            "mj-1".into(),
            "2024-05-31T18:01:00Z".into(),
            "2024-05-31T18:03:00Z".into(),
        );
        files.push(again);
        let (mode, speakers) = select_speakers(&o).unwrap();
        assert_eq!(mode, AudioMode::Multichannel);
        assert_eq!(
            names_and_files(&speakers),
            [
                ("Dana Host", vec![0]),
                ("Mary-Jane O'Neil", vec![3, 1]),
                ("李雷", vec![2])
            ]
        );
        assert_eq!(pieces(&speakers).len(), 4);
        assert!(speakers[1].pieces.iter().all(|p| p.name == "Mary-Jane O'Neil"));
    }

    #[test]
    fn without_participant_files_the_mixed_track_is_used() {
        let mut o = sample();
        o.participant_audio_files = None;
        let (mode, speakers) = select_speakers(&o).unwrap();
        assert_eq!(mode, AudioMode::MixedDiarization);
        assert_eq!(names_and_files(&speakers), [("All participants (mixed)", vec![1])]);
        assert!(speakers[0].pieces[0].url.ends_with("m4a-opaque"));
        o.recording_files.retain(|f| f.recording_type != "audio_only");
        assert!(select_speakers(&o).is_err());
    }

    /// Issue #13: a stopped and restarted recording has an `audio_only` file per part.
    #[test]
    fn every_completed_audio_only_file_is_a_piece_of_the_mixed_speaker_in_time_order() {
        let mut o = sample();
        o.participant_audio_files = None;
        let first = o.recording_files[1].clone();
        let mut later = first.clone();
        (later.id, later.recording_start, later.recording_end) = (
            Some("mixed-2".into()),
            "2024-05-31T18:50:00Z".into(),
            "2024-05-31T18:55:00Z".into(),
        );
        let mut unfinished = later.clone();
        unfinished.status = "processing".into();
        // Listed before the first part, then one not finished.
        o.recording_files.insert(0, later);
        o.recording_files.push(unfinished);
        let (mode, speakers) = select_speakers(&o).unwrap();
        assert_eq!(mode, AudioMode::MixedDiarization);
        assert_eq!(names_and_files(&speakers), [("All participants (mixed)", vec![2, 0])]);
        assert_eq!(speakers[0].pieces[1].file_id, "mixed-2");
    }

    #[test]
    fn the_timeline_spans_every_source_and_refuses_bad_times() {
        let (_, speakers) = select_speakers(&sample()).unwrap();
        let mut sources: Vec<Source> = pieces(&speakers).into_iter().cloned().collect();
        let t = timeline(&sources).unwrap();
        // Dana from 18:00:07 to 18:42:11.
        assert_eq!(t.duration_secs(), 2524.0);
        sources[2].end = "later".into();
        assert!(timeline(&sources).unwrap_err().to_string().contains("recording_end"));
        let mut o = sample();
        o.participant_audio_files.as_mut().unwrap()[0].recording_start = "soon".into();
        assert!(select_speakers(&o).unwrap_err().to_string().contains("recording_start"));
    }
}
