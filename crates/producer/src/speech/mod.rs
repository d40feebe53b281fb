//! The `aws` provider's speech cut (issue #14): per participant, the stretches where they
//! speak, written back to back as one mono FLAC for Transcribe (it bills per second, silence
//! included), and the segment map that puts times in that file back on the meeting timeline.
//!
//! One decode of each track: the cut is a tap on the merge that makes the mixdown ([`tap`]),
//! reading each piece's samples from the merge's own decoder into a streaming detector with a
//! bounded look-ahead ([`cut`]); the speech it settles streams into that participant's FLAC
//! encoder ([`flac`], in the process), whose output is stored while the merge goes on. Memory
//! per participant is the detector's window, the samples it has not settled (about half a
//! minute) and one FLAC block, whatever the meeting's length, and nothing is written to
//! `/tmp`. The maps are stored last, each after its FLAC is complete.

mod cut;
pub(crate) mod flac;
mod tap;
#[cfg(test)]
pub(crate) mod tests;
mod timeline;

use zoom_symbl_core::ports::ObjectStore;
use zoom_symbl_core::speech::{SegmentMap, VadSettings};
use zoom_symbl_core::Error;

use crate::merge::{self, Target};
use crate::output::OutputFormat;
use crate::plan::{ChannelPlan, MergePlan, PiecePlan};
use crate::ports::Codecs;
use tap::{SpeakerCut, SpeechTap};

pub const FLAC_CONTENT_TYPE: &str = "audio/flac";
pub const MAP_CONTENT_TYPE: &str = "application/json";

/// One file of a participant's recording (more than one after a stop and restart).
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechPiece {
    /// Where the codec reads it (presigned URL or path).
    pub source: String,
    /// Where its first sample sits on the meeting timeline: seconds from the earliest track's
    /// `recording_start`.
    pub offset_seconds: f64,
}

/// A participant, as numbered in the speech keys and the transcript.
#[derive(Debug, Clone, Copy)]
pub struct Participant<'a> {
    pub index: u16,
    pub name: &'a str,
    /// In any order; a piece plays until it ends or the next one starts, as in the merge.
    pub pieces: &'a [SpeechPiece],
}

/// Where the speech files go: `<meeting_prefix>/speech/<k>.flac` and `.json`.
#[derive(Debug, Clone, Copy)]
pub struct SpeechTarget<'a> {
    pub bucket: &'a str,
    /// `meetings/<key>` (a trailing slash is fine).
    pub meeting_prefix: &'a str,
}

/// What was stored for one participant.
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantSpeech {
    pub map: SegmentMap,
    pub map_key: String,
    /// `None` for a participant who never spoke: no file, an empty map.
    pub flac_key: Option<String>,
    /// Talk time: the sum of the segments' durations.
    pub talk_seconds: f64,
    /// The FLAC's length (samples written / rate); equals `talk_seconds` but for rounding.
    pub flac_seconds: f64,
    pub flac_bytes: u64,
}

/// The key of participant `index`'s speech-only FLAC, beside its [`SegmentMap::key`].
pub fn flac_key(meeting_prefix: &str, index: u16) -> String {
    format!("{}/speech/{index}.flac", meeting_prefix.trim_end_matches('/'))
}

/// Where the mixdown goes.
#[derive(Debug, Clone, Copy)]
pub struct Mixdown<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
}

/// The `aws` provider's audio work for a meeting of `meeting_seconds`: the MP3 mixdown of
/// every participant and each one's speech FLAC and map, from one decode of each piece at
/// `sample_rate`. Participant k is channel k of the mixdown.
pub async fn merge_and_cut<C: Codecs, O: ObjectStore>(
    codecs: &C,
    objects: &O,
    participants: &[Participant<'_>],
    meeting_seconds: f64,
    sample_rate: u32,
    mixdown: &Mixdown<'_>,
    to: &SpeechTarget<'_>,
) -> Result<Vec<ParticipantSpeech>, Error> {
    let plan = plan_of(participants, meeting_seconds, sample_rate)?;
    let indexes: Vec<u16> = participants.iter().map(|p| p.index).collect();
    cut_in_merge(codecs, objects, &plan, mixdown, &indexes, to).await
}

/// The same merge without the cut: the mixdown alone, as the aws producer made it before the
/// speech was cut in the same pass (what a benchmark compares the cut's own cost with).
pub async fn mixdown_only<C: Codecs, O: ObjectStore>(
    codecs: &C,
    objects: &O,
    participants: &[Participant<'_>],
    meeting_seconds: f64,
    sample_rate: u32,
    mixdown: &Mixdown<'_>,
) -> Result<(), Error> {
    let plan = plan_of(participants, meeting_seconds, sample_rate)?;
    let target = Target {
        bucket: mixdown.bucket,
        merged_key: None,
        mixdown_key: mixdown.key,
        format: OutputFormat::Wav,
    };
    merge::merge(codecs, objects, &plan, &target).await.map(|_| ())
}

/// Participant k on channel k + 1, each piece at its offset.
fn plan_of(participants: &[Participant<'_>], meeting_seconds: f64, sample_rate: u32) -> Result<MergePlan, Error> {
    if !(meeting_seconds.is_finite() && meeting_seconds > 0.0) {
        return Err(Error::Invalid(format!("meeting length {meeting_seconds} s")));
    }
    let mut channels = Vec::with_capacity(participants.len());
    for (k, p) in participants.iter().enumerate() {
        let pieces = timeline::in_meeting_order(p.pieces)?
            .into_iter()
            .map(|piece| PiecePlan {
                source: piece.source.clone(),
                offset_samples: timeline::to_samples(piece.offset_seconds, sample_rate),
            })
            .collect();
        channels.push(ChannelPlan {
            channel: k as u16 + 1,
            name: p.name.to_owned(),
            pieces,
        });
    }
    Ok(MergePlan {
        sample_rate,
        total_samples: timeline::to_samples(meeting_seconds, sample_rate),
        channels,
    })
}

/// The merge of `plan` into the mixdown alone, with every channel's speech cut from the same
/// decoders; channel k is participant `indexes[k]`. Returns each participant's speech, in
/// channel order.
pub(crate) async fn cut_in_merge<C: Codecs, O: ObjectStore>(
    codecs: &C,
    objects: &O,
    plan: &MergePlan,
    mixdown: &Mixdown<'_>,
    indexes: &[u16],
    to: &SpeechTarget<'_>,
) -> Result<Vec<ParticipantSpeech>, Error> {
    if indexes.len() != plan.channels.len() {
        return Err(Error::Invalid(format!(
            "{} participants for {} channels",
            indexes.len(),
            plan.channels.len()
        )));
    }
    let rate = plan.sample_rate;
    let settings = VadSettings {
        sample_rate_hz: rate,
        ..VadSettings::default()
    };
    let seconds = |samples: u64| samples as f64 / f64::from(rate);
    let channels = plan
        .channels
        .iter()
        .zip(indexes)
        .map(|(c, &index)| {
            let offsets = c.pieces.iter().map(|p| seconds(p.offset_samples)).collect();
            (flac_key(to.meeting_prefix, index), offsets)
        })
        .collect();
    let (tap, started) = SpeechTap::new(settings, channels)?;
    let target = Target {
        bucket: mixdown.bucket,
        merged_key: None,
        mixdown_key: mixdown.key,
        format: OutputFormat::Wav,
    };
    let uploads = tap::uploads(objects, to.bucket, started);
    let (_, cuts, stored) = merge::merge_tapped(codecs, objects, plan, &target, tap, uploads).await?;
    let mut results = Vec::with_capacity(cuts.len());
    for ((cut, channel), &index) in cuts.into_iter().zip(&plan.channels).zip(indexes) {
        results.push(store_map(objects, to, index, &channel.name, cut, rate, &stored).await?);
    }
    Ok(results)
}

/// Checks that the FLAC holds exactly what the map states, then stores the map (last, so a
/// stored map means the FLAC it describes is complete).
async fn store_map<O: ObjectStore>(
    objects: &O,
    to: &SpeechTarget<'_>,
    index: u16,
    name: &str,
    cut: SpeakerCut,
    rate: u32,
    stored: &[(String, u64)],
) -> Result<ParticipantSpeech, Error> {
    let map = timeline::segment_map(index, name, &cut.pieces, rate)?;
    let expected = timeline::total_samples(&cut.pieces);
    if cut.written != expected {
        // Cannot happen: the map and the file come from the same stretches.
        return Err(Error::retryable(
            "speech cut",
            format!("wrote {} samples where the map has {expected}", cut.written),
        ));
    }
    let key = flac_key(to.meeting_prefix, index);
    let (flac_key, flac_bytes) = match stored.iter().find(|(k, _)| *k == key) {
        Some((_, bytes)) => (Some(key), *bytes),
        None if expected == 0 => (None, 0),
        None => return Err(Error::retryable("speech cut", format!("{key} was not stored"))),
    };
    let map_key = SegmentMap::key(to.meeting_prefix, index);
    let json = serde_json::to_vec(&map).map_err(|e| Error::Invalid(format!("speech map: {e}")))?;
    objects
        .put_stream(to.bucket, &map_key, MAP_CONTENT_TYPE, &json[..])
        .await?;
    let result = ParticipantSpeech {
        talk_seconds: map.speech_seconds(),
        flac_seconds: expected as f64 / f64::from(rate),
        map,
        map_key,
        flac_key,
        flac_bytes,
    };
    tracing::info!(
        participant = index,
        pieces = cut.pieces.len(),
        segments = result.map.segments().len(),
        talk_seconds = result.talk_seconds,
        flac_bytes,
        "speech cut"
    );
    Ok(result)
}
