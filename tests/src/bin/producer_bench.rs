//! Producer on the local stack, measured: `cargo run -p e2e --release --bin producer-bench -- N MINUTES`.
//!
//! Generates an N-participant meeting with the Zoom sandbox, measures the floor (ffmpeg
//! decoding the same inputs from local disk to null), then sends the webhook and follows the
//! producer's process tree until the meeting is queued: wall time, CPU time, peak RSS (the
//! function alone and with its ffmpeg children) and peak /tmp use. Prints the numbers and
//! the ratio to the floor; asserts nothing about time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use e2e::{attr_s, audio_of, deliver, sandbox, Stack};
use zoom_sandbox::MeetingSpec;

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(8);
    let minutes: f64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(60.0);
    let stack = Stack::load();

    let dir = std::env::temp_dir().join(format!("zs-bench-{}", uuid::Uuid::new_v4().simple()));
    let t = Instant::now();
    let meeting = MeetingSpec::staggered(n, minutes * 60.0).generate(&dir).await?;
    eprintln!("generated {n} x {minutes} min in {:.1} s", t.elapsed().as_secs_f64());
    sandbox().add_meeting(&meeting);

    let inputs: Vec<_> = meeting.tracks.iter().filter(|t| t.participant.is_some()).map(|t| t.path.clone()).collect();
    let floor = decode_floor(&inputs)?;

    let tmp_before = dir_bytes(std::path::Path::new("/tmp"));
    let event = sandbox().recording_completed(&meeting, &sandbox().default_download_token());
    let started = Instant::now();
    let (status, reply) = deliver(&stack, &event).await;
    if status != 200 {
        bail!("webhook answered {status}: {reply}");
    }
    let function = stack.output("ProducerFunctionName").to_owned();
    let (mut peak_fn, mut peak_tree, mut peak_tmp) = (0u64, 0u64, 0u64);
    // Highest CPU time seen per process, function processes and their children apart.
    let mut cpu: HashMap<u32, (bool, f64)> = HashMap::new();
    let baseline: HashMap<u32, f64> = processes(&function).into_iter().map(|p| (p.pid, p.cpu_secs)).collect();
    let item = loop {
        let procs = processes(&function);
        peak_fn = peak_fn.max(procs.iter().filter(|p| p.root).map(|p| p.rss).sum());
        peak_tree = peak_tree.max(procs.iter().map(|p| p.rss).sum());
        for p in &procs {
            let used = p.cpu_secs - baseline.get(&p.pid).copied().unwrap_or(0.0);
            let e = cpu.entry(p.pid).or_insert((p.root, 0.0));
            e.1 = e.1.max(used);
        }
        peak_tmp = peak_tmp.max(dir_bytes(std::path::Path::new("/tmp")).saturating_sub(tmp_before));
        if let Some(item) = stack.meeting(&meeting.spec.uuid).await {
            match attr_s(&item, "status") {
                Some("queued") => break item,
                Some("failed") => bail!("production failed: {:?}", attr_s(&item, "failure_reason")),
                _ => {}
            }
        }
        if started.elapsed() > Duration::from_secs(1800) {
            bail!("not produced after 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let wall = started.elapsed().as_secs_f64();
    let audio = audio_of(&item);
    let _ = std::fs::remove_dir_all(&dir);
    println!("meeting: {n} participants x {minutes} min ({:.0} s of audio)", audio["duration_secs"].as_f64().unwrap_or(0.0));
    println!("floor (ffmpeg decoding the inputs from local disk to null): {floor:.2} s");
    println!("producer, webhook to queued: {wall:.2} s = {:.2}x the floor", wall / floor);
    let cpu_of = |root: bool| cpu.values().filter(|(r, _)| *r == root).map(|(_, c)| c).sum::<f64>();
    println!("producer CPU time: function {:.2} s, ffmpeg children {:.2} s (sampled every 200 ms)", cpu_of(true), cpu_of(false));
    println!("peak RSS: function {:.1} MiB, function + ffmpeg children {:.1} MiB", mib(peak_fn), mib(peak_tree));
    println!("peak /tmp growth while producing: {:.1} MiB", mib(peak_tmp));
    println!("merged output: {:.1} MiB {}", mib(audio["merged_bytes"].as_u64().unwrap_or(0)), audio["merged_format"]);
    Ok(())
}

fn decode_floor(inputs: &[std::path::PathBuf]) -> Result<f64> {
    let mut cmd = std::process::Command::new("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-loglevel", "error"]);
    for i in inputs {
        cmd.arg("-i").arg(i);
    }
    for k in 0..inputs.len() {
        cmd.args(["-map", &format!("{k}:a")]);
    }
    cmd.args(["-f", "null", "-"]);
    let t = Instant::now();
    let status = cmd.status().context("running ffmpeg")?;
    if !status.success() {
        bail!("ffmpeg floor run failed");
    }
    Ok(t.elapsed().as_secs_f64())
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

struct Proc {
    pid: u32,
    root: bool,
    rss: u64,
    cpu_secs: f64,
}

/// Every process of the function (found by its AWS_LAMBDA_FUNCTION_NAME; the local stack may
/// run several) and all their descendants.
fn processes(function: &str) -> Vec<Proc> {
    let needle = format!("AWS_LAMBDA_FUNCTION_NAME={function}");
    let mut stats: HashMap<u32, Stat> = HashMap::new();
    let mut roots = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Some(st) = stat(pid) else { continue };
        let is_bootstrap = std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "bootstrap");
        if is_bootstrap
            && std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
        {
            roots.push(pid);
        }
        stats.insert(pid, st);
    }
    let root_of = |mut p: u32| loop {
        if roots.contains(&p) {
            return true;
        }
        match stats.get(&p).map(|s| s.ppid) {
            Some(pp) if pp != 0 && pp != p => p = pp,
            _ => return false,
        }
    };
    stats
        .iter()
        .filter(|(pid, _)| root_of(**pid))
        .map(|(pid, s)| Proc { pid: *pid, root: roots.contains(pid), rss: s.rss, cpu_secs: s.cpu_secs })
        .collect()
}

struct Stat {
    ppid: u32,
    rss: u64,
    cpu_secs: f64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = 100.0; // USER_HZ on Linux
    let page = 4096u64;
    Some(Stat {
        ppid: f.get(1)?.parse().ok()?,
        cpu_secs: (f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / ticks,
        rss: f.get(21)?.parse::<u64>().ok()? * page,
    })
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}
