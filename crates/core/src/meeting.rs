//! The meeting record the producer writes and the later stages read.

use serde::{Deserialize, Serialize};

/// How the meeting's audio reaches Symbl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudioMode {
    /// One channel per participant; Symbl recognises each channel separately.
    Multichannel,
    /// Exactly one participant track: sent as is, mono.
    SingleParticipant,
    /// No per-participant files (account setting off): the mixed track, diarized by Symbl.
    MixedDiarization,
}

/// One participant track as found in the event, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Participant {
    /// 1-based channel in the merged file; `None` when the track could not be used.
    pub channel: Option<u16>,
    pub name: String,
    pub file_id: String,
    pub recording_start: String,
    pub recording_end: String,
    /// Archived original in the input bucket.
    pub original_key: Option<String>,
    pub bytes: Option<u64>,
    /// Why the track is missing from the merge, if it is.
    pub failure: Option<String>,
}

/// The delivery a run was made from (without its download token), beside the run's originals
/// in the input bucket: an operator's replay reads it.
pub const ORIGINAL_EVENT: &str = "event.json";

/// What the producer made of a meeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProducedAudio {
    pub mode: AudioMode,
    pub topic: String,
    pub host_email: String,
    pub start_time: String,
    /// The meeting's IANA time zone as Zoom gave it (`America/Los_Angeles`); records written
    /// before it existed have none.
    #[serde(default)]
    pub timezone: Option<String>,
    /// From the earliest track start to the latest track end.
    pub duration_secs: f64,
    pub participants: Vec<Participant>,
    pub sample_rate: u32,
    pub channels: u16,
    pub merged_bucket: String,
    pub merged_key: String,
    pub merged_format: String,
    pub merged_bytes: u64,
    /// Small playable mono file for Symbl's summary page.
    pub mixdown_key: String,
    pub originals_prefix: String,
    /// The meeting's run this audio is of (a richer delivery starts the next): each run's
    /// email has its own Message-ID.
    #[serde(default = "crate::ports::first_run")]
    pub run: u32,
    /// The `aws` provider's speech cut, one per participant in the merge (channel order):
    /// empty for the Symbl provider and for records written before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub speech: Vec<SpeechTrack>,
}

/// One participant's speech, as the `aws` provider transcribes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeechTrack {
    /// The participant's number in the speech and transcript keys (channel - 1).
    pub index: u16,
    pub name: String,
    /// The segment map (`meetings/<key>/speech/<k>.json`), in the output bucket.
    pub map_key: String,
    /// The speech-only FLAC; `None` for a participant who never spoke.
    #[serde(default)]
    pub flac_key: Option<String>,
    /// Seconds of speech.
    pub talk_seconds: f64,
}

impl ProducedAudio {
    /// `channelMetadata` order: channel k is the k-th participant that made it into the merge.
    pub fn speakers(&self) -> impl Iterator<Item = (u16, &str)> {
        self.participants
            .iter()
            .filter_map(|p| p.channel.map(|c| (c, p.name.as_str())))
    }
}
