//! Channel assignment: the tracks that arrived take channels in event order, and one list
//! feeds both the decoders and `channelMetadata`, so a failed track never shifts a label.

use tracing::warn;

use zoom_symbl_core::meeting::{AudioMode, Participant};
use zoom_symbl_core::Error;

use crate::archive::Archived;
use crate::sources::Source;

/// Who is on which channel, and what the merge reads.
#[derive(Debug)]
pub struct Cast<'a> {
    /// The mode after the downloads: one participant's track is kept alone.
    pub mode: AudioMode,
    /// Every chosen source, in event order, with its channel or why it has none.
    pub participants: Vec<Participant>,
    /// The archived tracks in channel order, with their original's key.
    pub tracks: Vec<(&'a Source, String)>,
}

/// Fails (for good) when no track arrived: there is nothing to merge.
pub fn assign(mode: AudioMode, sources: &[Source], archived: Vec<Archived>) -> Result<Cast<'_>, Error> {
    let mut participants = Vec::with_capacity(sources.len());
    let mut tracks = Vec::new();
    for (src, (original_key, result)) in sources.iter().zip(archived) {
        let channel = match &result {
            Ok(_) => {
                tracks.push((src, original_key.clone()));
                Some(tracks.len() as u16)
            }
            Err(e) => {
                warn!(participant = %src.name, file_id = %src.file_id, reason = %e, "track left out of the merge");
                None
            }
        };
        // A mixed track is one voice for the diarizer, not a participant's channel.
        let channel = channel.filter(|_| mode != AudioMode::MixedDiarization);
        participants.push(participant(src, original_key, result, channel));
    }
    if tracks.is_empty() {
        let reasons: Vec<String> = participants
            .iter()
            .map(|p| format!("{}: {}", p.name, p.failure.as_deref().unwrap_or("?")))
            .collect();
        return Err(Error::permanent(
            "zoom download",
            format!("no track could be downloaded ({})", reasons.join("; ")),
        ));
    }
    let mode = if mode == AudioMode::Multichannel && tracks.len() == 1 {
        AudioMode::SingleParticipant
    } else {
        mode
    };
    Ok(Cast {
        mode,
        participants,
        tracks,
    })
}

fn participant(
    src: &Source,
    original_key: String,
    result: Result<u64, crate::download::FetchError>,
    channel: Option<u16>,
) -> Participant {
    let (bytes, failure) = match result {
        Ok(bytes) => (Some(bytes), None),
        Err(e) => (None, Some(e.to_string())),
    };
    Participant {
        channel,
        name: src.name.clone(),
        file_id: src.file_id.clone(),
        recording_start: src.start.clone(),
        recording_end: src.end.clone(),
        original_key: bytes.map(|_| original_key),
        bytes,
        failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::download::FetchError;
    use crate::sources::select_sources;
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
        let (mode, sources) = select_sources(&samples::meeting()).unwrap();
        let cast = assign(
            mode,
            &sources,
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
        let tracks: Vec<_> = cast.tracks.iter().map(|(s, k)| (s.name.as_str(), k.as_str())).collect();
        assert_eq!(
            tracks,
            [("Dana Host", "originals/00.m4a"), ("李雷", "originals/02.m4a")]
        );
    }

    #[test]
    fn one_track_left_is_a_single_participant_and_none_fails_for_good() {
        let (mode, sources) = select_sources(&samples::meeting()).unwrap();
        let failed = || Err(FetchError::NotAudio("an HTML page instead of audio".into()));
        let one = assign(mode, &sources, archived(vec![failed(), Ok(1), failed()])).unwrap();
        assert_eq!(one.mode, AudioMode::SingleParticipant);
        assert_eq!(one.participants[1].channel, Some(1));

        let none = assign(
            mode,
            &sources,
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
        let (mode, sources) = select_sources(&o).unwrap();
        let cast = assign(mode, &sources, archived(vec![Ok(5)])).unwrap();
        assert_eq!(cast.mode, AudioMode::MixedDiarization);
        assert_eq!(cast.participants[0].channel, None);
        assert_eq!(cast.tracks.len(), 1);
    }
}
