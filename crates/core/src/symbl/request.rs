//! What a meeting's insights request becomes at Symbl's Async Audio API (docs/symbl.md).

use super::model::{ChannelSpeaker, SubmitAudio};
use crate::meeting::AudioMode;
use crate::ports::InsightsRequest;

/// Multichannel: one recognition per channel, labelled in channel order. Mixed track:
/// diarization with the speaker count left to Symbl (never both: Symbl lets diarization win).
/// One participant: neither.
pub fn submit_request(request: &InsightsRequest<'_>) -> SubmitAudio {
    let audio = request.audio;
    let mut req = SubmitAudio {
        url: request.audio_url.to_owned(),
        name: Some(if audio.topic.trim().is_empty() {
            "Zoom meeting".into()
        } else {
            audio.topic.clone()
        }),
        webhook_url: Some(request.callback_url.to_owned()),
        language_code: Some(request.language.to_owned()),
        ..Default::default()
    };
    match audio.mode {
        AudioMode::Multichannel => {
            req.enable_separate_recognition_per_channel = Some(true);
            let mut speakers: Vec<_> = audio.speakers().map(|(c, name)| ChannelSpeaker::new(c, name)).collect();
            speakers.sort_by_key(|s| s.channel);
            req.channel_metadata = speakers;
        }
        AudioMode::MixedDiarization => {
            // The only participant entry is the mixed track itself, and Zoom's event does not say how
            // many people spoke: a count of 1 would fold every voice into one speaker, so Symbl counts.
            req.enable_speaker_diarization = Some(true);
            req.diarization_speaker_count = None;
        }
        AudioMode::SingleParticipant => {}
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting::ProducedAudio;
    use crate::testkit::AudioBuilder;

    /// The sample meeting's participants, in order, on `channels` (`None`: the track failed).
    fn audio(mode: AudioMode, channels: &[Option<u16>]) -> ProducedAudio {
        AudioBuilder::sample().mode(mode).channels(channels).build()
    }

    fn request<'a>(audio: &'a ProducedAudio, language: &'a str) -> SubmitAudio {
        submit_request(&InsightsRequest {
            meeting_key: &crate::testkit::samples::meeting_key(),
            audio,
            audio_url: "u",
            callback_url: "w",
            language,
        })
    }

    #[test]
    fn multichannel_labels_follow_channels_and_skip_failed_tracks() {
        let req = request(&audio(AudioMode::Multichannel, &[Some(1), None, Some(2)]), "en-US");
        assert_eq!(req.enable_separate_recognition_per_channel, Some(true));
        assert_eq!(
            req.channel_metadata,
            [ChannelSpeaker::new(1, "Dana Host"), ChannelSpeaker::new(2, "李雷")]
        );
        assert_eq!(req.enable_speaker_diarization, None);
        assert_eq!(req.name.as_deref(), Some("Q3 planning sync"));
        assert_eq!(req.language_code.as_deref(), Some("en-US"));
        assert_eq!((req.url.as_str(), req.webhook_url.as_deref()), ("u", Some("w")));
    }

    /// The producer's mixed meeting: one entry, the mixed track, on no channel.
    #[test]
    fn mixed_track_leaves_the_speaker_count_to_symbl() {
        let audio = AudioBuilder::sample()
            .mode(AudioMode::MixedDiarization)
            .channels(&[None])
            .build();
        assert_eq!(audio.participants.len(), 1);
        let req = request(&audio, "en-US");
        assert_eq!(req.enable_speaker_diarization, Some(true));
        assert_eq!(
            req.diarization_speaker_count, None,
            "one mixed channel is not one speaker"
        );
        let body = serde_json::to_value(&req).unwrap();
        assert!(body.get("diarizationSpeakerCount").is_none(), "{body}");
    }

    #[test]
    fn mixed_track_is_diarized_and_single_is_plain() {
        let mixed = request(&audio(AudioMode::MixedDiarization, &[None, None]), "es-ES");
        assert_eq!(mixed.enable_speaker_diarization, Some(true));
        assert_eq!(mixed.enable_separate_recognition_per_channel, None);
        assert!(mixed.channel_metadata.is_empty());
        let single = request(&audio(AudioMode::SingleParticipant, &[Some(1)]), "en-US");
        assert_eq!(
            (
                single.enable_speaker_diarization,
                single.enable_separate_recognition_per_channel
            ),
            (None, None)
        );
    }
}
