//! The speech cut in the merge, end to end: real ffmpeg on generated recordings, and the codec
//! doubles the handler tests use (whose FLAC "encoder" passes PCM through, so the cut is
//! checked to the sample).

use std::collections::BTreeSet;
use std::path::Path;

use tokio::io::AsyncReadExt;

use zoom_symbl_core::speech::vad::PADDING_SECONDS;
use zoom_symbl_core::speech::SegmentMap;
use zoom_symbl_core::testkit::MemObjects;

use super::*;
use crate::ffmpeg::Ffmpeg;
use crate::ports::{CodecProcess, Decoder};
use crate::testing::MemCodecs;

const BUCKET: &str = "out";
const PREFIX: &str = "meetings/YWI";
const MIXDOWN: &str = "meetings/YWI/mixdown.mp3";
const RATE: f64 = 16_000.0;

/// The aws producer's audio work for these participants over `meeting_seconds`.
async fn cut<C: Codecs>(
    codecs: &C,
    objects: &MemObjects,
    participants: &[Participant<'_>],
    meeting_seconds: f64,
) -> Result<Vec<ParticipantSpeech>, Error> {
    let mixdown = Mixdown {
        bucket: BUCKET,
        key: MIXDOWN,
    };
    merge_and_cut(
        codecs,
        objects,
        participants,
        meeting_seconds,
        16_000,
        &mixdown,
        &target(),
    )
    .await
}

/// What was stored under the meeting's `speech/`.
fn speech_keys(objects: &MemObjects) -> Vec<String> {
    objects
        .puts
        .lock()
        .unwrap()
        .iter()
        .filter_map(|put| put.strip_prefix("out/"))
        .filter(|key| key.contains("/speech/"))
        .map(str::to_owned)
        .collect()
}

/// An AAC recording at 48 kHz like Zoom's: quiet noise (about -55 dBFS) with 220 Hz bursts
/// (about -13 dBFS) over `bursts`, made by ffmpeg's expression source.
async fn recording(dir: &Path, name: &str, seconds: f64, bursts: &[(f64, f64)]) -> String {
    let gate = if bursts.is_empty() {
        "0".to_owned()
    } else {
        bursts
            .iter()
            .map(|(a, b)| format!("between(t,{a},{b})"))
            .collect::<Vec<_>>()
            .join("+")
    };
    let path = dir.join(name).to_string_lossy().into_owned();
    let expr = format!("aevalsrc='0.003*(2*random(0)-1)+0.3*sin(2*PI*220*t)*({gate})':s=48000:d={seconds}");
    let args: Vec<String> = [
        "-nostdin",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        &expr,
        "-c:a",
        "aac",
        &path,
    ]
    .map(String::from)
    .to_vec();
    Ffmpeg::locate(None)
        .spawn("recording", &args, false)
        .unwrap()
        .finish()
        .await
        .unwrap();
    path
}

/// Length of an encoded file, by decoding it to 16 kHz mono with ffmpeg.
async fn decoded_seconds(dir: &Path, bytes: &[u8]) -> f64 {
    let path = dir.join("speech.flac");
    std::fs::write(&path, bytes).unwrap();
    let Decoder { mut pcm, process } = Ffmpeg::locate(None).decoder(&path.to_string_lossy(), 16_000).unwrap();
    let mut all = Vec::new();
    pcm.read_to_end(&mut all).await.unwrap();
    process.finish().await.unwrap();
    all.len() as f64 / 2.0 / RATE
}

fn piece(source: &str, offset_seconds: f64) -> SpeechPiece {
    SpeechPiece {
        source: source.into(),
        offset_seconds,
    }
}

fn target() -> SpeechTarget<'static> {
    SpeechTarget {
        bucket: BUCKET,
        meeting_prefix: PREFIX,
    }
}

/// The map as stored, parsed (and so validated) again.
fn stored_map(objects: &MemObjects, index: u16) -> SegmentMap {
    let stored = objects.object(BUCKET, &SegmentMap::key(PREFIX, index)).unwrap();
    assert_eq!(stored.content_type, "application/json");
    serde_json::from_slice(&stored.bytes).unwrap()
}

fn assert_near(actual: f64, expected: f64, tolerance: f64) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{actual} is not within {tolerance} of {expected}"
    );
}

#[tokio::test]
async fn two_bursts_make_two_segments_and_a_flac_as_long_as_them() {
    let dir = tempfile::tempdir().unwrap();
    let source = recording(dir.path(), "a.m4a", 7.0, &[(1.0, 2.0), (4.0, 5.0)]).await;
    let pieces = [piece(&source, 5.0)];
    let objects = MemObjects::default();
    let who = Participant {
        index: 1,
        name: "Mary-Jane O'Neil",
        pieces: &pieces,
    };
    let got = cut(&Ffmpeg::locate(None), &objects, &[who], 12.0)
        .await
        .unwrap()
        .remove(0);

    let segments = got.map.segments();
    assert_eq!(segments.len(), 2, "{segments:?}");
    for (s, burst_start) in segments.iter().zip([1.0, 4.0]) {
        assert_near(s.meeting_start, burst_start - PADDING_SECONDS + 5.0, 0.05);
    }
    assert_eq!(segments[0].speech_start, 0.0);
    assert_eq!(segments[1].speech_start, segments[0].duration, "back to back");
    assert_eq!(got.talk_seconds, segments[0].duration + segments[1].duration);
    assert_near(got.flac_seconds, got.talk_seconds, 1e-9);

    assert_eq!(got.flac_key.as_deref(), Some("meetings/YWI/speech/1.flac"));
    let flac = objects.object(BUCKET, "meetings/YWI/speech/1.flac").unwrap();
    assert_eq!(flac.content_type, "audio/flac");
    assert_eq!(&flac.bytes[..4], b"fLaC");
    assert_eq!(flac.bytes.len() as u64, got.flac_bytes);
    assert_near(decoded_seconds(dir.path(), &flac.bytes).await, got.talk_seconds, 0.05);

    assert_eq!(got.map_key, "meetings/YWI/speech/1.json");
    assert_eq!(stored_map(&objects, 1), got.map);
    assert_eq!(got.map.name(), "Mary-Jane O'Neil");
    let mixdown = objects.object(BUCKET, MIXDOWN).unwrap();
    assert_eq!(mixdown.content_type, "audio/mpeg");
    assert!(!mixdown.bytes.is_empty(), "the mixdown is made in the same pass");
}

#[tokio::test]
async fn a_silent_track_stores_an_empty_map_and_no_flac() {
    let dir = tempfile::tempdir().unwrap();
    let source = recording(dir.path(), "quiet.m4a", 4.0, &[]).await;
    let pieces = [piece(&source, 2.0)];
    let objects = MemObjects::default();
    let who = Participant {
        index: 0,
        name: "Bob",
        pieces: &pieces,
    };
    let got = cut(&Ffmpeg::locate(None), &objects, &[who], 6.0)
        .await
        .unwrap()
        .remove(0);
    assert!(got.map.segments().is_empty());
    assert_eq!((got.flac_key, got.talk_seconds, got.flac_seconds), (None, 0.0, 0.0));
    assert!(objects.object(BUCKET, "meetings/YWI/speech/0.flac").is_none());
    let stored = objects.object(BUCKET, "meetings/YWI/speech/0.json").unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&stored.bytes).unwrap(),
        serde_json::json!({"index": 0, "name": "Bob", "segments": []})
    );
    assert_eq!(speech_keys(&objects), ["meetings/YWI/speech/0.json"], "the map only");
}

#[tokio::test]
async fn pieces_at_different_offsets_give_segments_in_meeting_order() {
    let dir = tempfile::tempdir().unwrap();
    let first = recording(dir.path(), "first.m4a", 4.0, &[(1.0, 2.0)]).await;
    let second = recording(dir.path(), "second.m4a", 4.0, &[(1.5, 2.5)]).await;
    // Given out of order: the restarted recording's pieces come as Zoom lists them.
    let pieces = [piece(&second, 20.0), piece(&first, 3.0)];
    let objects = MemObjects::default();
    let who = Participant {
        index: 2,
        name: "李雷",
        pieces: &pieces,
    };
    let got = cut(&Ffmpeg::locate(None), &objects, &[who], 24.0)
        .await
        .unwrap()
        .remove(0);
    let segments = got.map.segments();
    assert_eq!(segments.len(), 2, "{segments:?}");
    assert_near(segments[0].meeting_start, 3.0 + 1.0 - PADDING_SECONDS, 0.05);
    assert_near(segments[1].meeting_start, 20.0 + 1.5 - PADDING_SECONDS, 0.05);
    assert_eq!(segments[1].speech_start, segments[0].duration);
    let flac = objects.object(BUCKET, "meetings/YWI/speech/2.flac").unwrap();
    assert_near(decoded_seconds(dir.path(), &flac.bytes).await, got.talk_seconds, 0.05);
    assert_eq!(stored_map(&objects, 2), got.map);
}

/// Everything goes through pipes: the run adds nothing to the temp dir. What other programs on
/// the machine make there meanwhile is not this code's (see [`is_someone_elses`]).
#[tokio::test]
async fn nothing_is_left_in_the_temp_dir() {
    let inputs = tempfile::Builder::new().prefix("speech-inputs-").tempdir().unwrap();
    let source = recording(inputs.path(), "a.m4a", 4.0, &[(1.0, 2.0)]).await;
    let listing = || -> BTreeSet<String> {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| !is_someone_elses(name))
            .collect()
    };
    let before = listing();
    let pieces = [piece(&source, 0.0), piece(&source, 10.0)];
    let who = Participant {
        index: 0,
        name: "A",
        pieces: &pieces,
    };
    let got = cut(&Ffmpeg::locate(None), &MemObjects::default(), &[who], 14.0)
        .await
        .unwrap()
        .remove(0);
    assert!(got.flac_key.is_some());
    let added: Vec<_> = listing().difference(&before).cloned().collect();
    assert!(added.is_empty(), "left in the temp dir: {added:?}");
}

#[tokio::test]
async fn a_piece_that_cannot_be_decoded_fails_and_stores_no_speech() {
    let pieces = [piece("/nonexistent/piece.m4a", 0.0)];
    let objects = MemObjects::default();
    let who = Participant {
        index: 0,
        name: "A",
        pieces: &pieces,
    };
    let err = cut(&Ffmpeg::locate(None), &objects, &[who], 3.0)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("decoder exited"), "{err}");
    assert!(speech_keys(&objects).is_empty());
}

/// Noise at -60 dBFS with -20 dBFS tone over `bursts`, as 16 kHz samples (deterministic).
pub(crate) fn pcm(seconds: f64, bursts: &[(f64, f64)]) -> Vec<i16> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..(seconds * RATE) as usize)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = ((state >> 11) as f64 / (1u64 << 52) as f64 - 1.0) * 57.0;
            let t = i as f64 / RATE;
            let tone = if bursts.iter().any(|&(a, b)| t >= a && t < b) {
                4_600.0 * (2.0 * std::f64::consts::PI * 220.0 * t).sin()
            } else {
                0.0
            };
            (noise + tone).round() as i16
        })
        .collect()
}

/// With the doubles the handler tests use: the FLAC, read back, holds every segment's samples
/// where the map says they are; each piece is decoded once, by the merge, the only encoder
/// process is the mixdown's, and each process ends.
#[tokio::test]
async fn the_cut_holds_exactly_the_mapped_samples_through_the_codec_doubles() {
    let (a, b) = (pcm(6.0, &[(1.0, 2.0), (4.0, 4.6)]), pcm(3.0, &[(0.5, 1.5)]));
    let codecs = MemCodecs::default()
        .decoding("piece-a", a.clone())
        .decoding("piece-b", b.clone())
        .decoding("quiet", pcm(8.0, &[]));
    let objects = MemObjects::default();
    // Piece b starts 4.2 s into piece a: a's second burst is cut off there.
    let pieces = [piece("s3://piece-b", 14.2), piece("s3://piece-a", 10.0)];
    let quiet = [piece("s3://quiet", 1.0)];
    let who = [
        Participant {
            index: 4,
            name: "Dana",
            pieces: &pieces,
        },
        Participant {
            index: 5,
            name: "Quiet",
            pieces: &quiet,
        },
    ];
    let mut got = cut(&codecs, &objects, &who, 18.0).await.unwrap();
    let silent = got.pop().unwrap();
    let got = got.pop().unwrap();
    let segments = got.map.segments();
    assert_eq!(segments.len(), 3, "{segments:?}");
    assert_near(segments[1].meeting_end(), 14.2, 1e-9);

    let cut = flac::decode(&objects.object(BUCKET, "meetings/YWI/speech/4.flac").unwrap().bytes);
    assert_eq!(cut.len() as f64 / RATE, got.flac_seconds);
    for s in segments {
        let (track, offset) = if s.meeting_start < 14.2 { (&a, 10.0) } else { (&b, 14.2) };
        let at = |secs: f64| (secs * RATE).round() as usize;
        let from = at(s.meeting_start - offset);
        let len = at(s.duration);
        assert_eq!(
            cut[at(s.speech_start)..at(s.speech_start) + len],
            track[from..from + len],
            "{s:?}"
        );
    }
    assert!(silent.flac_key.is_none() && silent.map.segments().is_empty());

    assert_eq!(
        *codecs.decoded.lock().unwrap(),
        ["s3://piece-a", "s3://piece-b", "s3://quiet"],
        "each piece decoded once"
    );
    assert_eq!(*codecs.encoders.lock().unwrap(), ["mp3 16000 Hz"]);
    assert_eq!(
        *codecs.ended.lock().unwrap(),
        [
            "stopped decoder piece-a",
            "finished decoder piece-b",
            "finished decoder quiet",
            "finished mp3 encoder",
        ]
    );
    assert_eq!(
        speech_keys(&objects),
        [
            "meetings/YWI/speech/4.flac",
            "meetings/YWI/speech/4.json",
            "meetings/YWI/speech/5.json"
        ],
        "each map after its FLAC"
    );
}

#[tokio::test]
async fn a_decoder_that_fails_fails_the_cut_and_stores_no_map() {
    let codecs = MemCodecs::default()
        .decoding("piece-a", pcm(3.0, &[(1.0, 2.0)]))
        .failing("piece-a");
    let objects = MemObjects::default();
    let pieces = [piece("s3://piece-a", 0.0)];
    let who = Participant {
        index: 0,
        name: "A",
        pieces: &pieces,
    };
    assert!(cut(&codecs, &objects, &[who], 4.0).await.is_err());
    assert!(speech_keys(&objects).iter().all(|k| !k.ends_with(".json")));
}

/// A participant who speaks through a long meeting: the cut streams (what is held stays
/// bounded, see `cut`'s tests) and its samples are still exactly the mapped ones.
#[tokio::test]
async fn a_long_speaker_is_cut_exactly_in_one_pass() {
    let bursts: Vec<(f64, f64)> = (0..30).map(|i| (i as f64 * 4.0 + 0.5, i as f64 * 4.0 + 2.0)).collect();
    let track = pcm(125.0, &bursts);
    let codecs = MemCodecs::default().decoding("long", track.clone());
    let objects = MemObjects::default();
    let pieces = [piece("s3://long", 0.0)];
    let who = Participant {
        index: 0,
        name: "A",
        pieces: &pieces,
    };
    let got = cut(&codecs, &objects, &[who], 125.0).await.unwrap().remove(0);
    assert_eq!(got.map.segments().len(), 30);
    let flac = flac::decode(&objects.object(BUCKET, "meetings/YWI/speech/0.flac").unwrap().bytes);
    let expected: Vec<i16> = got
        .map
        .segments()
        .iter()
        .flat_map(|s| {
            let from = (s.meeting_start * RATE).round() as usize;
            track[from..from + (s.duration * RATE).round() as usize].to_vec()
        })
        .collect();
    assert!(flac == expected, "the FLAC is the mapped samples");
}

/// gcc's driver names its temporaries `cc` + six characters + an extension.
/// Temp-dir entries of other programs that may run beside the tests: other tests' tempfile
/// directories (`.tmp…`), a C compiler's temporaries (`ccXXXXXX.*`), pip's and Python's
/// (`pip-…`, `tmp…`), the e2e suite's generated meetings (`zs-e2e-…`) and its browser's profiles.
fn is_someone_elses(name: &str) -> bool {
    let compiler = name.len() > 9 && name.starts_with("cc") && name.as_bytes()[8] == b'.';
    compiler
        || [".tmp", "tmp", "pip-", "zs-e2e-", "org.chromium."]
            .iter()
            .any(|p| name.starts_with(p))
}
