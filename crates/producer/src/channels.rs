//! Channel assignment: each speaker whose pieces arrived (any of them) takes the next
//! channel, in speaker order, and one list feeds both the decoders and `channelMetadata`,
//! so a failed track never shifts a label.

use tracing::warn;

use zoom_symbl_core::meeting::{AudioMode, Participant};
use zoom_symbl_core::Error;

use crate::archive::Archived;
use crate::download::FetchError;
use crate::sources::{Source, Speaker};

/// Who is on which channel, and what the merge reads.
#[derive(Debug)]
pub struct Cast<'a> {
    /// The mode after the downloads: one participant's track is kept alone.
    pub mode: AudioMode,
    /// Every speaker, in order, with its channel or why it has none.
    pub participants: Vec<Participant>,
    /// The merged channels in order.
    pub channels: Vec<Channel<'a>>,
}

/// One channel of the merge: a speaker's archived pieces, in time order.
#[derive(Debug)]
pub struct Channel<'a> {
    pub name: &'a str,
    /// Each piece with its original's key.
    pub pieces: Vec<(&'a Source, String)>,
}

/// `archived` holds the results of `sources::pieces(speakers)`, in that order. Fails (for
/// good) when no track arrived: there is nothing to merge.
pub fn assign(mode: AudioMode, speakers: &[Speaker], archived: Vec<Archived>) -> Result<Cast<'_>, Error> {
    let mut archived = archived.into_iter();
    let mut participants = Vec::with_capacity(speakers.len());
    let mut channels = Vec::new();
    for speaker in speakers {
        let mut arrived = Vec::new();
        let mut failed = Vec::new();
        let mut bytes = 0;
        for (src, (original_key, result)) in speaker.pieces.iter().zip(archived.by_ref()) {
            match result {
                Ok(n) => {
                    bytes += n;
                    arrived.push((src, original_key));
                }
                Err(e) => {
                    warn!(participant = %src.name, file_id = %src.file_id, reason = %e, "track left out of the merge");
                    failed.push((src, e));
                }
            }
        }
        let original_key = arrived.first().map(|(_, key)| key.clone());
        let channel = (!arrived.is_empty()).then(|| {
            channels.push(Channel {
                name: &speaker.name,
                pieces: arrived,
            });
            channels.len() as u16
        });
        // A mixed track is one voice for the diarizer, not a participant's channel.
        let channel = channel.filter(|_| mode != AudioMode::MixedDiarization);
        participants.push(Participant {
            channel,
            bytes: original_key.as_ref().map(|_| bytes),
            original_key,
            failure: failure(speaker, &failed),
            ..described(speaker)
        });
    }
    if channels.is_empty() {
        let reasons: Vec<String> = participants
            .iter()
            .map(|p| format!("{}: {}", p.name, p.failure.as_deref().unwrap_or("?")))
            .collect();
        return Err(Error::permanent(
            "zoom download",
            format!("no track could be downloaded ({})", reasons.join("; ")),
        ));
    }
    let mode = if mode == AudioMode::Multichannel && channels.len() == 1 {
        AudioMode::SingleParticipant
    } else {
        mode
    };
    Ok(Cast {
        mode,
        participants,
        channels,
    })
}

/// The speaker as the record describes it: its first piece's file and start, its last
/// piece's end.
fn described(speaker: &Speaker) -> Participant {
    let first = speaker.pieces.first();
    Participant {
        channel: None,
        name: speaker.name.clone(),
        file_id: first.map(|s| s.file_id.clone()).unwrap_or_default(),
        recording_start: first.map(|s| s.start.clone()).unwrap_or_default(),
        recording_end: speaker.pieces.last().map(|s| s.end.clone()).unwrap_or_default(),
        original_key: None,
        bytes: None,
        failure: None,
    }
}

/// Why pieces are missing: the reason alone for a one-piece speaker, else each piece's.
fn failure(speaker: &Speaker, failed: &[(&Source, FetchError)]) -> Option<String> {
    match failed {
        [] => None,
        [(_, e)] if speaker.pieces.len() == 1 => Some(e.to_string()),
        _ => Some(
            failed
                .iter()
                .map(|(src, e)| format!("{}: {e}", src.file_id))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{pieces, select_speakers};
    use zoom_symbl_core::testkit::samples;

    fn archived(results: Vec<Result<u64, FetchError>>) -> Vec<Archived> {
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| (format!("originals/{i:02}.m4a"), r))
            .collect()
    }

    #[test]
    fn a_failed_track_keeps_its_place_and_reason_and_takes_no_channel() {
        let (mode, speakers) = select_speakers(&samples::meeting()).unwrap();
        let cast = assign(
            mode,
            &speakers,
            archived(vec![Ok(10), Err(FetchError::Status(503)), Ok(30)]),
        )
        .unwrap();
        assert_eq!(cast.mode, AudioMode::Multichannel);
        let got: Vec<_> = cast
            .participants
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.channel,
                    p.bytes,
                    p.original_key.as_deref(),
                    p.failure.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("Dana Host", Some(1), Some(10), Some("originals/00.m4a"), None),
                ("Mary-Jane O'Neil", None, None, None, Some("HTTP 503")),
                ("李雷", Some(2), Some(30), Some("originals/02.m4a"), None),
            ]
        );
        let tracks: Vec<_> = cast
            .channels
            .iter()
            .map(|c| (c.name, c.pieces.iter().map(|(_, k)| k.as_str()).collect::<Vec<_>>()))
            .collect();
        assert_eq!(
            tracks,
            [
                ("Dana Host", vec!["originals/00.m4a"]),
                ("李雷", vec!["originals/02.m4a"])
            ]
        );
    }

    #[test]
    fn one_track_left_is_a_single_participant_and_none_fails_for_good() {
        let (mode, speakers) = select_speakers(&samples::meeting()).unwrap();
        let failed = || Err(FetchError::NotAudio("an HTML page instead of audio".into()));
        let one = assign(mode, &speakers, archived(vec![failed(), Ok(1), failed()])).unwrap();
        assert_eq!(one.mode, AudioMode::SingleParticipant);
        assert_eq!(one.participants[1].channel, Some(1));

        let none = assign(
            mode,
            &speakers,
            archived(vec![failed(), failed(), Err(FetchError::Status(503))]),
        )
        .unwrap_err();
        assert!(!none.is_retryable());
        assert_eq!(
            none.to_string(),
            "zoom download: no track could be downloaded (Dana Host: not audio: an HTML page instead of audio; \
             Mary-Jane O'Neil: not audio: an HTML page instead of audio; 李雷: HTTP 503)"
        );
    }

    #[test]
    fn the_mixed_track_takes_no_channel() {
        let mut o = samples::meeting();
        o.participant_audio_files = None;
        let (mode, speakers) = select_speakers(&o).unwrap();
        let cast = assign(mode, &speakers, archived(vec![Ok(5)])).unwrap();
        assert_eq!(cast.mode, AudioMode::MixedDiarization);
        assert_eq!(cast.participants[0].channel, None);
        assert_eq!(cast.channels.len(), 1);
    }

    /// The sample with Mary-Jane's recording restarted: her pieces are files 3 (first) and 1.
    fn restarted() -> Vec<Speaker> {
        let mut o = samples::meeting();
        let files = o.participant_audio_files.as_mut().unwrap();
        let mut first = files[1].clone();
        (first.id, first.recording_start, first.recording_end) = (
            "mj-1".into(),
            "2024-05-31T18:01:00Z".into(),
            "2024-05-31T18:03:00Z".into(),
        );
        files.push(first);
        select_speakers(&o).unwrap().1
    }

    /// Archives named by event index, with these results in `pieces()` order.
    fn archived_by_index(speakers: &[Speaker], results: Vec<Result<u64, FetchError>>) -> Vec<Archived> {
        pieces(speakers)
            .into_iter()
            .zip(results)
            .map(|(s, r)| (format!("originals/{:02}.m4a", s.index), r))
            .collect()
    }

    #[test]
    fn a_restarted_participant_is_one_channel_with_its_pieces_in_time_order() {
        let speakers = restarted();
        let archived = archived_by_index(&speakers, vec![Ok(10), Ok(3), Ok(20), Ok(30)]);
        let cast = assign(AudioMode::Multichannel, &speakers, archived).unwrap();
        let channels: Vec<_> = cast
            .channels
            .iter()
            .map(|c| (c.name, c.pieces.iter().map(|(s, _)| s.index).collect::<Vec<_>>()))
            .collect();
        assert_eq!(
            channels,
            [
                ("Dana Host", vec![0]),
                ("Mary-Jane O'Neil", vec![3, 1]),
                ("李雷", vec![2])
            ]
        );
        assert_eq!(cast.participants.len(), 3, "one entry per participant");
        let mj = &cast.participants[1];
        assert_eq!(
            (
                mj.channel,
                mj.file_id.as_str(),
                mj.recording_start.as_str(),
                mj.recording_end.as_str()
            ),
            (Some(2), "mj-1", "2024-05-31T18:01:00Z", "2024-05-31T18:42:11Z")
        );
        assert_eq!(
            (mj.original_key.as_deref(), mj.bytes, mj.failure.as_deref()),
            (Some("originals/03.m4a"), Some(23), None)
        );
    }

    #[test]
    fn a_failed_piece_is_left_out_with_its_reason_and_the_participant_keeps_its_channel() {
        let speakers = restarted();
        let archived = archived_by_index(&speakers, vec![Ok(10), Err(FetchError::Status(503)), Ok(20), Ok(30)]);
        let cast = assign(AudioMode::Multichannel, &speakers, archived).unwrap();
        let mj = &cast.participants[1];
        assert_eq!(
            (mj.channel, mj.original_key.as_deref(), mj.bytes, mj.failure.as_deref()),
            (Some(2), Some("originals/01.m4a"), Some(20), Some("mj-1: HTTP 503"))
        );
        assert_eq!(cast.channels[1].pieces.len(), 1);
        assert_eq!(cast.participants[2].channel, Some(3));

        // Both pieces lost: no channel, and 李雷 moves up without changing name.
        let failed = || Err(FetchError::Status(503));
        let archived = archived_by_index(&speakers, vec![Ok(10), failed(), failed(), Ok(30)]);
        let cast = assign(AudioMode::Multichannel, &speakers, archived).unwrap();
        let got: Vec<_> = cast
            .participants
            .iter()
            .map(|p| (p.name.as_str(), p.channel, p.bytes))
            .collect();
        assert_eq!(
            got,
            [
                ("Dana Host", Some(1), Some(10)),
                ("Mary-Jane O'Neil", None, None),
                ("李雷", Some(2), Some(30))
            ]
        );
        assert_eq!(
            cast.participants[1].failure.as_deref(),
            Some("mj-1: HTTP 503; a1a1a1a1-0002-4c3d-8e9f-000000000002: HTTP 503")
        );
    }
}
