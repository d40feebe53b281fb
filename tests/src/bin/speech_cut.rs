//! How well and how fast the aws provider's speech cut works (issue #14), in one run:
//!
//! - billed: the seconds Transcribe bills (each participant's speech-only FLAC, at least 15 s
//!   each) against the participants' total presence (what whole tracks would bill, 15 s
//!   minimum each too) and against the ground-truth speech (target: at most 1.3 times);
//! - kept: the share of the ground-truth speech inside the cut (target: at least 99.5 %);
//! - time: the aws producer's whole audio work (`merge_and_cut`, as the Lambda runs it: the
//!   merge's decoders, one per track, the MP3 mixdown, the detector and the cut streamed into
//!   one FLAC encoder per speaker) against the decode floor, the producer's own ffmpeg decoder
//!   reading the same tracks to 16 kHz mono once, in the same run: wall and CPU (this process
//!   and its children, from `/proc/self/stat`) as ratios (target: within 1.2 times), never
//!   asserted;
//! - memory: the peak sum of the ffmpeg children's PSS while the producer works, and how many
//!   ran at once (this process holds the stored objects in memory, so its own size is not the
//!   Lambda's).
//!
//! Meetings: `speech:<participants>x<minutes>` (the default is `speech:8x60`) is real speech,
//! espeak-ng voices with natural pauses over low background noise, encoded like Zoom's
//! per-participant audio (mono AAC-LC 32 kHz), see `e2e::speech_meeting`; `<n>x<minutes>`
//! is the Zoom sandbox's meeting, whose "speech" is sine tones.
//!
//! `cargo run --release -p e2e --bin speech-cut -- [speech:]<n>x<minutes> ...`; a table on
//! stdout, JSON to `target/bench/speech_cut.json`. Generated audio goes under the system
//! temporary directory and is deleted at the end.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use e2e::speech_meeting;
use producer::ffmpeg::Ffmpeg;
use producer::ports::{CodecProcess, Codecs, Decoder};
use producer::speech::{merge_and_cut, mixdown_only, Mixdown, Participant, SpeechPiece, SpeechTarget};
use serde_json::json;
use tokio::io::AsyncReadExt;
use zoom_sandbox::MeetingSpec;
use zoom_symbl_core::testkit::MemObjects;

/// Transcribe's minimum bill per job, in seconds.
const MIN_BILLED_SECS: f64 = 15.0;
/// The seed of the real-speech meeting: the same meeting on every run.
const SEED: u64 = 14;

/// A participant's track, wherever it came from.
struct Track {
    name: String,
    path: PathBuf,
    join_secs: f64,
    leave_secs: f64,
    /// Ground truth, meeting seconds.
    speech: Vec<(f64, f64)>,
}

struct Meeting {
    kind: &'static str,
    participants: usize,
    minutes: f64,
    tracks: Vec<Track>,
    /// For the record: how it was made.
    about: serde_json::Value,
}

#[tokio::main]
async fn main() -> Result<()> {
    let sizes: Vec<String> = std::env::args().skip(1).collect();
    let sizes = if sizes.is_empty() {
        vec!["speech:8x60".to_owned()]
    } else {
        sizes
    };
    let mut results = Vec::new();
    for size in &sizes {
        let (speech, spec) = match size.strip_prefix("speech:") {
            Some(rest) => (true, rest),
            None => (false, size.as_str()),
        };
        let (n, minutes) = spec
            .split_once('x')
            .and_then(|(n, m)| Some((n.parse::<usize>().ok()?, m.parse::<f64>().ok()?)))
            .with_context(|| format!("{size}: expected [speech:]<participants>x<minutes>"))?;
        let dir = std::env::temp_dir().join(format!("zs-speech-bench-{}", uuid::Uuid::new_v4().simple()));
        let result = async {
            let meeting = if speech {
                real_speech(&dir, n, minutes).await?
            } else {
                sine_tones(&dir, n, minutes).await?
            };
            measure(&meeting).await
        }
        .await;
        let _ = std::fs::remove_dir_all(&dir);
        results.push(result?);
    }
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join("speech_cut.json"),
        serde_json::to_string_pretty(&json!({ "runs": results }))?,
    )?;
    println!("JSON: {}", out.join("speech_cut.json").display());
    Ok(())
}

async fn real_speech(dir: &Path, n: usize, minutes: f64) -> Result<Meeting> {
    eprintln!("synthesizing {n} x {minutes} min of espeak-ng speech (seed {SEED}) ...");
    let m = speech_meeting::generate(dir, n, minutes, SEED).await?;
    eprintln!("  espeak-ng {:.1} s, AAC encodes {:.1} s", m.synth_secs, m.encode_secs);
    let voices: Vec<serde_json::Value> = m
        .participants
        .iter()
        .map(|p| json!({ "name": p.name, "voice": p.voice, "utterances": p.utterances }))
        .collect();
    Ok(Meeting {
        kind: "espeak-ng speech",
        participants: n,
        minutes,
        about: json!({ "seed": SEED, "voices": voices, "synth_secs": m.synth_secs, "encode_secs": m.encode_secs }),
        tracks: m
            .participants
            .into_iter()
            .map(|p| Track {
                name: p.name,
                path: p.path,
                join_secs: p.join_secs,
                leave_secs: p.leave_secs,
                speech: p.speech,
            })
            .collect(),
    })
}

async fn sine_tones(dir: &Path, n: usize, minutes: f64) -> Result<Meeting> {
    let spec = MeetingSpec::staggered(n, minutes * 60.0);
    let meeting = spec.generate(dir).await?;
    let mut tracks = Vec::new();
    for (k, p) in spec.participants.iter().enumerate() {
        let track = meeting
            .tracks
            .iter()
            .find(|t| t.participant == Some(k))
            .context("a participant without a track")?;
        tracks.push(Track {
            name: p.name.clone(),
            path: track.path.clone(),
            join_secs: p.join_secs,
            leave_secs: p.leave_secs,
            speech: p.speech.clone(),
        });
    }
    Ok(Meeting {
        kind: "Zoom sandbox sine tones",
        participants: n,
        minutes,
        about: json!({}),
        tracks,
    })
}

/// Every track decoded once to 16 kHz mono by the producer's decoder, one after the other:
/// (wall, CPU) seconds.
async fn floor(ffmpeg: &Ffmpeg, meeting: &Meeting, hz: f64) -> Result<(f64, f64)> {
    let (wall0, cpu0) = (Instant::now(), cpu_secs(hz)?);
    for track in &meeting.tracks {
        let Decoder { mut pcm, process } = ffmpeg.decoder(&track.path.to_string_lossy(), 16_000)?;
        let mut buf = vec![0u8; 64 << 10];
        while pcm.read(&mut buf).await? > 0 {}
        drop(pcm);
        process.finish().await?;
    }
    Ok((wall0.elapsed().as_secs_f64(), cpu_secs(hz)? - cpu0))
}

/// CPU seconds of this process and its waited-for children so far.
fn cpu_secs(ticks_per_sec: f64) -> Result<f64> {
    let (own, children) = cpu_parts(ticks_per_sec)?;
    Ok(own + children)
}

/// CPU seconds so far: this process's own, and its waited-for children's.
fn cpu_parts(ticks_per_sec: f64) -> Result<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    let rest = stat.rsplit_once(')').context("/proc/self/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime, cutime, cstime are fields 14 to 17.
    let ticks: Vec<f64> = fields
        .get(11..15)
        .context("/proc/self/stat is short")?
        .iter()
        .map(|f| f.parse::<f64>().unwrap_or(0.0))
        .collect();
    Ok((
        (ticks[0] + ticks[1]) / ticks_per_sec,
        (ticks[2] + ticks[3]) / ticks_per_sec,
    ))
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Union length of ordered intervals.
fn covered(truth: &[(f64, f64)], segments: &[(f64, f64)]) -> f64 {
    truth
        .iter()
        .map(|&(a, b)| {
            segments
                .iter()
                .map(|&(s, e)| (e.min(b) - s.max(a)).max(0.0))
                .sum::<f64>()
        })
        .sum()
}

/// What a perfect detector would cut: the truth padded by 0.3 s each side (within the
/// track), pieces less than 1 s apart joined, as the producer's detector pads and joins.
fn perfect_cut(truth: &[(f64, f64)], join_secs: f64, leave_secs: f64) -> f64 {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for &(a, b) in truth {
        let (a, b) = ((a - 0.3).max(join_secs), (b + 0.3).min(leave_secs));
        match out.last_mut() {
            Some(last) if a - last.1 < 1.0 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out.iter().map(|(a, b)| b - a).sum()
}

async fn measure(meeting: &Meeting) -> Result<serde_json::Value> {
    let ffmpeg = Ffmpeg::locate(None);
    let objects = MemObjects::default();
    let hz = clock_ticks();

    // The floor: the producer's decoder reading every track once to 16 kHz mono; measured
    // before and after the producer (the machine is shared), the mean of both is the floor.
    let (floor_wall_before, floor_cpu_before) = floor(&ffmpeg, meeting, hz).await?;

    // The aws producer's audio work: every track decoded once by the merge, the mixdown,
    // and each participant's speech cut from the same decoders.
    let pieces: Vec<[SpeechPiece; 1]> = meeting
        .tracks
        .iter()
        .map(|t| {
            [SpeechPiece {
                source: t.path.to_string_lossy().into_owned(),
                offset_seconds: t.join_secs,
            }]
        })
        .collect();
    let participants: Vec<Participant> = meeting
        .tracks
        .iter()
        .zip(&pieces)
        .enumerate()
        .map(|(k, (t, pieces))| Participant {
            index: k as u16,
            name: &t.name,
            pieces,
        })
        .collect();
    let meeting_secs = meeting
        .tracks
        .iter()
        .map(|t| t.leave_secs)
        .fold(meeting.minutes * 60.0, f64::max);
    let target = SpeechTarget {
        bucket: "bench",
        meeting_prefix: "meetings/bench",
    };
    let mixdown = Mixdown {
        bucket: "bench",
        key: "meetings/bench/mixdown.mp3",
    };
    // The merge as the aws producer made it before the cut joined it: the mixdown alone.
    let (wall0, cpu0) = (Instant::now(), cpu_secs(hz)?);
    mixdown_only(&ffmpeg, &objects, &participants, meeting_secs, 16_000, &mixdown).await?;
    let merge_wall = wall0.elapsed().as_secs_f64();
    let merge_cpu = cpu_secs(hz)? - cpu0;

    let (wall0, (own0, children0)) = (Instant::now(), cpu_parts(hz)?);
    let cuts = merge_and_cut(
        &ffmpeg,
        &objects,
        &participants,
        meeting_secs,
        16_000,
        &mixdown,
        &target,
    )
    .await?;
    let cut_wall = wall0.elapsed().as_secs_f64();
    let (own1, children1) = cpu_parts(hz)?;
    let (cut_own_cpu, cut_children_cpu) = (own1 - own0, children1 - children0);
    let cut_cpu = cut_own_cpu + cut_children_cpu;

    let (floor_wall_after, floor_cpu_after) = floor(&ffmpeg, meeting, hz).await?;
    let floor_wall = (floor_wall_before + floor_wall_after) / 2.0;
    let floor_cpu = (floor_cpu_before + floor_cpu_after) / 2.0;

    // Memory in runs of their own: reading the children's PSS costs CPU of this process.
    let sampler = MemorySampler::start();
    mixdown_only(&ffmpeg, &objects, &participants, meeting_secs, 16_000, &mixdown).await?;
    let (merge_children_peak_mib, merge_children_most) = sampler.stop();
    let sampler = MemorySampler::start();
    merge_and_cut(
        &ffmpeg,
        &objects,
        &participants,
        meeting_secs,
        16_000,
        &mixdown,
        &target,
    )
    .await?;
    let (children_peak_mib, children_most) = sampler.stop();
    let mixdown_bytes = objects
        .object("bench", "meetings/bench/mixdown.mp3")
        .map_or(0, |o| o.bytes.len());

    let (mut truth, mut kept, mut billed, mut presence, mut flac) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut perfect = 0.0;
    let mut per_participant = Vec::new();
    for (track, result) in meeting.tracks.iter().zip(&cuts) {
        let segments: Vec<(f64, f64)> = result
            .map
            .segments()
            .iter()
            .map(|s| (s.meeting_start, s.meeting_start + s.duration))
            .collect();
        let speech: f64 = track.speech.iter().map(|(a, b)| b - a).sum();
        let inside = covered(&track.speech, &segments);
        let bill = if result.flac_key.is_some() {
            result.flac_seconds.max(MIN_BILLED_SECS)
        } else {
            0.0
        };
        let present = track.leave_secs - track.join_secs;
        let ideal = perfect_cut(&track.speech, track.join_secs, track.leave_secs);
        if ideal > 0.0 {
            perfect += ideal.max(MIN_BILLED_SECS);
        }
        truth += speech;
        kept += inside;
        billed += bill;
        flac += result.flac_seconds;
        presence += present.max(MIN_BILLED_SECS);
        per_participant.push(json!({
            "name": track.name,
            "presence_secs": present,
            "speech_secs": speech,
            "kept_secs": inside,
            "flac_secs": result.flac_seconds,
            "billed_secs": bill,
            "perfect_detector_secs": ideal,
            "segments": segments.len(),
        }));
    }
    let n = meeting.participants;
    let minutes = meeting.minutes;
    println!();
    println!("Speech cut: {n} participants x {minutes} min, {}", meeting.kind);
    println!("| quantity | value |");
    println!("| --- | --- |");
    println!("| ground-truth speech | {truth:.1} s |");
    println!("| participants' presence (whole tracks, >= 15 s each) | {presence:.1} s |");
    println!("| billed: the FLACs, >= 15 s each ({flac:.1} s of FLAC) | {billed:.1} s |");
    println!(
        "| billed / ground-truth speech | {:.3} x (target <= 1.3) |",
        billed / truth
    );
    println!(
        "| a perfect detector, same padding and joins: billed | {perfect:.1} s, {:.3} x the speech |",
        perfect / truth
    );
    println!("| billed / presence | {:.3} x |", billed / presence);
    println!("| presence / ground-truth speech | {:.3} x |", presence / truth);
    println!(
        "| ground-truth speech kept | {:.2} % (target >= 99.5) |",
        100.0 * kept / truth
    );
    println!(
        "| decode floor: wall, CPU (before {floor_cpu_before:.2} s, after {floor_cpu_after:.2} s) | {floor_wall:.2} s, {floor_cpu:.2} s |"
    );
    println!("| producer (merge + mixdown + detection + cut): wall, CPU | {cut_wall:.2} s, {cut_cpu:.2} s |");
    println!(
        "| producer / floor: wall, CPU | {:.2} x, {:.2} x (target <= 1.2) |",
        cut_wall / floor_wall,
        cut_cpu / floor_cpu
    );
    println!(
        "| of which this process (interleave, detector, cut) / the ffmpeg children | {cut_own_cpu:.2} s / {cut_children_cpu:.2} s |"
    );
    println!("| the merge alone (mixdown, no cut): wall, CPU | {merge_wall:.2} s, {merge_cpu:.2} s |");
    println!(
        "| merge alone / floor: wall, CPU | {:.2} x, {:.2} x |",
        merge_wall / floor_wall,
        merge_cpu / floor_cpu
    );
    println!(
        "| the cut's own cost: (producer - merge alone) / floor, CPU | {:.2} x |",
        (cut_cpu - merge_cpu) / floor_cpu
    );
    println!("| ffmpeg children at once, their peak PSS | {children_most}, {children_peak_mib:.1} MiB |");
    println!(
        "| the merge alone: ffmpeg children at once, their peak PSS | {merge_children_most}, {merge_children_peak_mib:.1} MiB |"
    );
    println!("| mixdown MP3 | {mixdown_bytes} bytes |");
    Ok(json!({
        "meeting": meeting.kind,
        "participants": n,
        "minutes": minutes,
        "about": meeting.about,
        "truth_speech_secs": truth,
        "presence_secs": presence,
        "flac_secs": flac,
        "billed_secs": billed,
        "billed_per_truth": billed / truth,
        "billed_per_presence": billed / presence,
        "perfect_detector_billed_secs": perfect,
        "perfect_detector_per_truth": perfect / truth,
        "kept_share": kept / truth,
        "floor_wall_secs": floor_wall,
        "floor_cpu_secs_before_after": [floor_cpu_before, floor_cpu_after],
        "floor_cpu_secs": floor_cpu,
        "producer_wall_secs": cut_wall,
        "producer_cpu_secs": cut_cpu,
        "producer_wall_per_floor": cut_wall / floor_wall,
        "producer_cpu_per_floor": cut_cpu / floor_cpu,
        "producer_work": "merge_and_cut: one decode per track, MP3 mixdown, detector, FLAC per speaker",
        "producer_own_cpu_secs": cut_own_cpu,
        "producer_children_cpu_secs": cut_children_cpu,
        "merge_alone_wall_secs": merge_wall,
        "merge_alone_cpu_secs": merge_cpu,
        "merge_alone_cpu_per_floor": merge_cpu / floor_cpu,
        "cut_own_cpu_per_floor": (cut_cpu - merge_cpu) / floor_cpu,
        "merge_alone_ffmpeg_children_most": merge_children_most,
        "merge_alone_ffmpeg_children_peak_pss_mib": merge_children_peak_mib,
        "ffmpeg_children_most": children_most,
        "ffmpeg_children_peak_pss_mib": children_peak_mib,
        "mixdown_bytes": mixdown_bytes,
        "per_participant": per_participant,
    }))
}

/// Samples, every 50 ms on a thread of its own, the summed PSS of this process's children
/// (the ffmpeg processes) and how many there are.
struct MemorySampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<(f64, usize)>,
}

impl MemorySampler {
    fn start() -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut peak_kib, mut most) = (0u64, 0usize);
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let children = children();
                most = most.max(children.len());
                peak_kib = peak_kib.max(children.iter().map(|&pid| pss_kib(pid)).sum());
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            (peak_kib as f64 / 1024.0, most)
        });
        MemorySampler { stop, thread }
    }

    /// (peak MiB, most children at once)
    fn stop(self) -> (f64, usize) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or((0.0, 0))
    }
}

/// This process's children, from every thread's `children` list.
fn children() -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

fn pss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
