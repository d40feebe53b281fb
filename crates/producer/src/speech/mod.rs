//! The `aws` provider's speech cut (issue #14): per participant, the stretches where they
//! speak, written back to back as one mono FLAC for Transcribe (it bills per second, silence
//! included), and the segment map that puts times in that file back on the meeting timeline.
//!
//! Two passes over the participant's pieces, both through the [`Codecs`] port (ffmpeg in
//! Lambda, doubles in handler tests): `detect` decodes each piece to 16 kHz mono on a pipe
//! into the detector, `cut` decodes the pieces that have speech again and copies only the
//! speech into one FLAC encoder, whose output is streamed into the store. Nothing is held
//! whole in memory and nothing is written to `/tmp`.

mod cut;
mod detect;
#[cfg(test)]
pub(crate) mod tests;
mod timeline;

use tokio::io::AsyncWriteExt;

use zoom_symbl_core::ports::ObjectStore;
use zoom_symbl_core::speech::{SegmentMap, VadSettings};
use zoom_symbl_core::Error;

use crate::ports::{CodecProcess, Codecs, Encoder};
use timeline::PieceSpeech;

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

/// Finds `participant`'s speech, stores its FLAC (when there is any) and then its segment map
/// (last, so a stored map means the FLAC it describes is complete).
pub async fn cut_speech<C: Codecs, O: ObjectStore>(
    codecs: &C,
    objects: &O,
    participant: &Participant<'_>,
    to: &SpeechTarget<'_>,
) -> Result<ParticipantSpeech, Error> {
    let settings = VadSettings::default();
    let rate = settings.sample_rate_hz;
    let ordered = timeline::in_meeting_order(participant.pieces)?;
    let mut pieces = Vec::with_capacity(ordered.len());
    for (i, piece) in ordered.iter().enumerate() {
        let speech = detect::detect(codecs, &piece.source, settings).await?;
        let limit = ordered
            .get(i + 1)
            .map(|next| next.offset_seconds - piece.offset_seconds);
        pieces.push(PieceSpeech {
            source: &piece.source,
            offset_seconds: piece.offset_seconds,
            stretches: timeline::stretches(&speech.segments, limit, rate),
        });
    }
    let map = timeline::segment_map(participant.index, participant.name, &pieces, rate)?;
    let expected = timeline::total_samples(&pieces);
    let (flac_key, flac_bytes) = if expected == 0 {
        (None, 0)
    } else {
        let key = flac_key(to.meeting_prefix, participant.index);
        let (samples, bytes) = upload_flac(codecs, objects, to.bucket, &key, &pieces, rate).await?;
        if samples != expected {
            // Cannot happen with a deterministic decoder; if it does, the map would lie.
            return Err(Error::retryable(
                "speech cut",
                format!("wrote {samples} samples where the map has {expected}"),
            ));
        }
        (Some(key), bytes)
    };
    let map_key = SegmentMap::key(to.meeting_prefix, participant.index);
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
        participant = participant.index,
        pieces = participant.pieces.len(),
        segments = result.map.segments().len(),
        talk_seconds = result.talk_seconds,
        flac_bytes,
        "speech cut"
    );
    Ok(result)
}

/// The cut PCM through one mono FLAC encoder into the store, concurrently (the encoder's
/// pipe is small); returns the samples fed and the bytes stored.
async fn upload_flac<C: Codecs, O: ObjectStore>(
    codecs: &C,
    objects: &O,
    bucket: &str,
    key: &str,
    pieces: &[PieceSpeech<'_>],
    rate: u32,
) -> Result<(u64, u64), Error> {
    let Encoder { pcm, encoded, process } = codecs.flac_encoder(1, rate)?;
    let feeding = async move {
        let mut pcm = pcm;
        let samples = cut::write_speech(codecs, rate, pieces, &mut pcm).await?;
        pcm.shutdown()
            .await
            .map_err(|e| Error::retryable("speech encoder", e))?;
        // Closing its input lets the encoder finish, and the upload with it.
        drop(pcm);
        Ok::<_, Error>(samples)
    };
    let (samples, bytes) = tokio::try_join!(feeding, objects.put_stream(bucket, key, FLAC_CONTENT_TYPE, encoded))?;
    process.finish().await?;
    Ok((samples, bytes))
}
