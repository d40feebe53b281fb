//! [`ProducedAudio`] for tests: the sample meeting as the producer makes it, changed where
//! a test needs it.

use crate::meeting::{AudioMode, Participant, ProducedAudio};
use crate::zoom::names::{disambiguate, display_name};

use super::samples;

/// From the first track's start to the last one's end in the sample (18:00:07 to 18:42:11).
const SAMPLE_DURATION_SECS: f64 = 2524.0;

#[derive(Debug, Clone)]
pub struct AudioBuilder(ProducedAudio);

impl Default for AudioBuilder {
    fn default() -> Self {
        AudioBuilder::sample()
    }
}

impl AudioBuilder {
    /// The sample meeting merged: its three participants on channels 1 to 3, in event order.
    pub fn sample() -> Self {
        let meeting = samples::meeting();
        let prefix = samples::meeting_key().s3_prefix();
        let files = meeting.participant_audio_files.clone().unwrap_or_default();
        let names = disambiguate(files.iter().map(|f| display_name(&f.file_name)));
        let participants: Vec<Participant> = files
            .iter()
            .zip(names)
            .zip(1..)
            .map(|((file, name), channel)| Participant {
                channel: Some(channel),
                name,
                file_id: file.id.clone(),
                recording_start: file.recording_start.clone(),
                recording_end: file.recording_end.clone(),
                original_key: Some(format!("{prefix}originals/{channel:02}-{}.m4a", file.id)),
                bytes: Some(file.file_size),
                failure: None,
            })
            .collect();
        AudioBuilder(ProducedAudio {
            mode: AudioMode::Multichannel,
            topic: meeting.topic,
            host_email: meeting.host_email,
            start_time: meeting.start_time,
            timezone: meeting.timezone,
            duration_secs: SAMPLE_DURATION_SECS,
            channels: participants.len() as u16,
            participants,
            sample_rate: 16_000,
            merged_bucket: "out".into(),
            merged_key: format!("{prefix}merged.wav"),
            merged_format: "wav".into(),
            merged_bytes: 1,
            mixdown_key: format!("{prefix}mixdown.mp3"),
            originals_prefix: format!("{prefix}originals/"),
            run: 1,
            speech: Vec::new(),
        })
    }

    pub fn mode(mut self, mode: AudioMode) -> Self {
        self.0.mode = mode;
        self
    }

    pub fn topic(mut self, topic: &str) -> Self {
        self.0.topic = topic.into();
        self
    }

    pub fn host_email(mut self, host_email: &str) -> Self {
        self.0.host_email = host_email.into();
        self
    }

    pub fn timezone(mut self, timezone: Option<&str>) -> Self {
        self.0.timezone = timezone.map(Into::into);
        self
    }

    pub fn duration_secs(mut self, secs: f64) -> Self {
        self.0.duration_secs = secs;
        self
    }

    /// The sample's participants, in order, on these channels: `None` is a track that
    /// failed (HTTP 503) and is left out of the merge. Extra sample participants are dropped.
    pub fn channels(mut self, channels: &[Option<u16>]) -> Self {
        let sample = std::mem::take(&mut self.0.participants);
        assert!(
            channels.len() <= sample.len(),
            "the sample has {} participants",
            sample.len()
        );
        self.0.participants = sample
            .into_iter()
            .zip(channels)
            .map(|(p, channel)| Participant {
                channel: *channel,
                failure: channel.is_none().then(|| "HTTP 503".into()),
                ..p
            })
            .collect();
        self.0.channels = channels.iter().flatten().count() as u16;
        self
    }

    /// Participants with these names, on channels 1, 2, ... in order.
    pub fn speakers(mut self, names: &[&str]) -> Self {
        let template = self.0.participants.first().cloned();
        self.0.participants = names
            .iter()
            .zip(1..)
            .map(|(name, channel)| Participant {
                channel: Some(channel),
                name: (*name).into(),
                file_id: format!("f{channel}"),
                recording_start: template.as_ref().map(|t| t.recording_start.clone()).unwrap_or_default(),
                recording_end: template.as_ref().map(|t| t.recording_end.clone()).unwrap_or_default(),
                original_key: None,
                bytes: None,
                failure: None,
            })
            .collect();
        self.0.channels = names.len() as u16;
        self
    }

    pub fn build(self) -> ProducedAudio {
        self.0
    }
}
