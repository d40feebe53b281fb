//! How well and how fast the aws provider's speech cut works, on meetings the Zoom sandbox
//! generates (AAC tracks like Zoom's, each participant's speech at known times):
//!
//! - kept: the share of each participant's real speech inside the cut (target: at least 99.5 %);
//! - billed: the cut's length against the real speech (target: at most 1.3 times), and against
//!   the meeting (what Transcribe bills, against every whole track's presence);
//! - time: the cut (two decoding passes, the detector, one FLAC encoder) against ffmpeg alone
//!   decoding the same tracks to 16 kHz in the same process: a ratio, not a timing.
//!
//! `cargo run --release -p e2e --bin speech-cut -- [participants]x[minutes] ...` (default
//! `3x2 8x10`); JSON to `target/bench/speech_cut.json`.

use std::time::Instant;

use anyhow::{Context, Result};
use producer::ffmpeg::Ffmpeg;
use producer::speech::{cut_speech, Participant, SpeechPiece, SpeechTarget};
use serde_json::json;
use zoom_sandbox::MeetingSpec;
use zoom_symbl_core::testkit::MemObjects;

#[tokio::main]
async fn main() -> Result<()> {
    let sizes: Vec<String> = std::env::args().skip(1).collect();
    let sizes = if sizes.is_empty() {
        vec!["3x2".to_owned(), "8x10".to_owned()]
    } else {
        sizes
    };
    let mut results = Vec::new();
    for size in &sizes {
        let (n, minutes) = size
            .split_once('x')
            .and_then(|(n, m)| Some((n.parse::<usize>().ok()?, m.parse::<f64>().ok()?)))
            .with_context(|| format!("{size}: expected <participants>x<minutes>"))?;
        results.push(run(n, minutes).await?);
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join("speech_cut.json"),
        serde_json::to_string_pretty(&json!({ "runs": results }))?,
    )?;
    Ok(())
}

async fn run(n: usize, minutes: f64) -> Result<serde_json::Value> {
    let spec = MeetingSpec::staggered(n, minutes * 60.0);
    let dir = std::env::temp_dir().join(format!("zs-speech-bench-{}", uuid::Uuid::new_v4().simple()));
    let meeting = spec.generate(&dir).await?;
    let ffmpeg = Ffmpeg::locate(None);
    let objects = MemObjects::default();

    // The baseline: ffmpeg decoding every track to 16 kHz mono, the output discarded.
    let started = Instant::now();
    for track in meeting.tracks.iter().filter(|t| t.participant.is_some()) {
        let status = tokio::process::Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-i"])
            .arg(&track.path)
            .args(["-ac", "1", "-ar", "16000", "-f", "s16le", "-y", "/dev/null"])
            .status()
            .await?;
        anyhow::ensure!(status.success(), "ffmpeg failed on {}", track.path.display());
    }
    let decode_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let (mut speech, mut kept, mut cut, mut presence) = (0.0, 0.0, 0.0, 0.0);
    let mut per_participant = Vec::new();
    for (k, p) in spec.participants.iter().enumerate() {
        let track = meeting
            .tracks
            .iter()
            .find(|t| t.participant == Some(k))
            .context("a participant without a track")?;
        let pieces = [SpeechPiece {
            source: track.path.to_string_lossy().into_owned(),
            offset_seconds: p.join_secs,
        }];
        let participant = Participant {
            index: k as u16,
            name: &p.name,
            pieces: &pieces,
        };
        let target = SpeechTarget {
            bucket: "bench",
            meeting_prefix: "meetings/bench",
        };
        let result = cut_speech(&ffmpeg, &objects, &participant, &target).await?;
        let segments: Vec<(f64, f64)> = result
            .map
            .segments()
            .iter()
            .map(|s| (s.meeting_start, s.meeting_start + s.duration))
            .collect();
        let truth: f64 = p.speech.iter().map(|(a, b)| b - a).sum();
        let covered: f64 = p
            .speech
            .iter()
            .map(|&(a, b)| {
                segments
                    .iter()
                    .map(|&(s, e)| (e.min(b) - s.max(a)).max(0.0))
                    .sum::<f64>()
            })
            .sum();
        speech += truth;
        kept += covered;
        cut += result.talk_seconds;
        presence += p.leave_secs - p.join_secs;
        per_participant.push(json!({
            "name": p.name,
            "speech_secs": truth,
            "kept_secs": covered,
            "cut_secs": result.talk_seconds,
            "segments": segments.len(),
        }));
    }
    let cut_secs_taken = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    let duration = spec.duration_secs;
    let line = format!(
        "{n} participants x {minutes} min: kept {:.2} % of the speech; cut = {:.3} x the speech, \
         {:.3} x the meeting, {:.3} x every track's presence; cut time = {:.2} x ffmpeg's decode alone",
        100.0 * kept / speech,
        cut / speech,
        cut / duration,
        cut / presence,
        cut_secs_taken / decode_secs
    );
    println!("{line}");
    Ok(json!({
        "participants": n,
        "minutes": minutes,
        "speech_secs": speech,
        "kept_share": kept / speech,
        "cut_per_speech": cut / speech,
        "cut_per_meeting": cut / duration,
        "cut_per_presence": cut / presence,
        "cut_time_per_decode_time": cut_secs_taken / decode_secs,
        "per_participant": per_participant,
    }))
}
