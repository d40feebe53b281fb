//! The merge path on the local stack, measured against two references in the same run:
//!
//! ```text
//! cargo run -p e2e --release --bin producer-bench -- [N MINUTES] [--sizes 2x10,8x60,16x60]
//!     [--no-baseline] [--fresh] [--keep-objects] [--prepare-only] [--out target/bench/merge.json]
//! ```
//!
//! `--prepare-only` generates (and caches) the meetings' audio and exits: it needs neither the
//! stack nor the sandbox ports, so it can run outside the stack lock.
//!
//! For each meeting size (N participants x MINUTES, staggered joins, generated with the Zoom
//! sandbox and cached under `target/bench/meetings/`):
//! - the floor: ffmpeg decoding the same inputs from local disk to null (one ffmpeg with every
//!   input, as before), and beside it the same decode with one ffmpeg per input, all at once;
//! - ours: the webhook is sent and the producer's process tree followed until the meeting is
//!   `queued`: wall and CPU time (per role: the function, its decoders, its encoders; and the
//!   local S3 and the in-process Zoom sandbox beside it), peak RSS of the function alone and
//!   with its ffmpeg children, peak /tmp use (files there held open by the function's
//!   processes), output size, and the producer's own stage timings read from its log;
//! - the baseline: `scripts/bench/baseline.py`, the Python original's approach (every track
//!   downloaded fully to disk, twice, one after another, then one ffmpeg `amerge` to AAC M4A).
//!
//! Results go to `target/bench/merge.json` (entries for other sizes are kept) and a table with
//! the ratios is printed. Asserts nothing about time. Needs the deployed local stack and the
//! sandbox ports: run it under `flock /tmp/zs-stack.lock`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use e2e::{attr_s, audio_of, deliver, sandbox, Stack};
use serde_json::{json, Value};
use zoom_sandbox::{GeneratedMeeting, GeneratedTrack, MeetingSpec};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The workspace root, without the `tests/..` in paths the bench prints.
fn root() -> PathBuf {
    std::fs::canonicalize(ROOT).unwrap_or_else(|_| PathBuf::from(ROOT))
}

struct Options {
    sizes: Vec<(usize, f64)>,
    baseline: bool,
    fresh: bool,
    keep_objects: bool,
    prepare_only: bool,
    out: PathBuf,
}

fn options() -> Result<Options> {
    let mut o = Options {
        sizes: Vec::new(),
        baseline: true,
        fresh: false,
        keep_objects: false,
        prepare_only: false,
        out: root().join("target/bench/merge.json"),
    };
    let mut positional = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--sizes" => {
                let list = args.next().context("--sizes needs a list like 2x10,8x60")?;
                for s in list.split(',').filter(|s| !s.is_empty()) {
                    let (n, m) = s.split_once('x').with_context(|| format!("{s:?} is not NxMINUTES"))?;
                    o.sizes.push((n.trim().parse()?, m.trim().parse()?));
                }
            }
            "--no-baseline" => o.baseline = false,
            "--fresh" => o.fresh = true,
            "--keep-objects" => o.keep_objects = true,
            "--prepare-only" => o.prepare_only = true,
            "--out" => o.out = PathBuf::from(args.next().context("--out needs a path")?),
            "-h" | "--help" => {
                println!("producer-bench [N MINUTES] [--sizes 2x10,8x60,16x60] [--no-baseline] [--fresh] [--keep-objects] [--prepare-only] [--out FILE]");
                std::process::exit(0);
            }
            other if other.starts_with("--") => bail!("unknown option {other}"),
            other => positional.push(other.to_owned()),
        }
    }
    match positional.as_slice() {
        [] => {}
        [n] => o.sizes.push((n.parse()?, 60.0)),
        [n, m] => o.sizes.push((n.parse()?, m.parse()?)),
        _ => bail!("expected at most N MINUTES"),
    }
    if o.sizes.is_empty() {
        o.sizes = vec![(2, 10.0), (8, 60.0), (16, 60.0)];
    }
    Ok(o)
}

#[tokio::main]
async fn main() -> Result<()> {
    let opts = options()?;
    if opts.prepare_only {
        // Generating the audio needs neither the stack nor the sandbox ports (no lock needed).
        for &(n, minutes) in &opts.sizes {
            meeting(n, minutes, opts.fresh).await?;
        }
        return Ok(());
    }
    let stack = Stack::load();
    // Symbl down for the whole run: otherwise, once a meeting is queued, the consumer submits
    // it and the Symbl sandbox fetches the merged file from the local S3 (0.9 GB at 8 x 60),
    // which would overlap what is measured next and delay seeing `queued` by seconds. In
    // production that fetch is Symbl's, from S3, not the producer's work.
    e2e::symbl().set_faults(symbl_sandbox::Faults {
        down: true,
        ..symbl_sandbox::Faults::default()
    });
    let bench_started = Instant::now();
    let mut entries = Vec::new();
    for &(n, minutes) in &opts.sizes {
        let entry = bench_size(&stack, &opts, n, minutes)
            .await
            .with_context(|| format!("size {n}x{minutes}"))?;
        print_entry(&entry);
        entries.push(entry);
    }
    let total = bench_started.elapsed().as_secs_f64();
    write_results(&opts.out, &entries, total)?;
    print_table(&entries);
    println!("\nresults: {} (whole run {:.0} s)", opts.out.display(), total);
    Ok(())
}

async fn bench_size(stack: &Stack, opts: &Options, n: usize, minutes: f64) -> Result<Value> {
    let label = format!("{n}x{}", fmt_num(minutes));
    eprintln!("== {label}: {n} participants x {minutes} min");
    let loadavg = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let meeting = meeting(n, minutes, opts.fresh).await?;
    sandbox().add_meeting(&meeting);
    let inputs: Vec<PathBuf> = meeting
        .tracks
        .iter()
        .filter(|t| t.participant.is_some())
        .map(|t| t.path.clone())
        .collect();
    let input_bytes: u64 = meeting
        .tracks
        .iter()
        .filter(|t| t.participant.is_some())
        .map(|t| t.size)
        .sum();
    let track_secs: f64 = meeting
        .tracks
        .iter()
        .filter(|t| t.participant.is_some())
        .map(|t| (t.recording_end - t.recording_start).as_seconds_f64())
        .sum();

    // Page cache warm for every reference alike: each input read once before timing.
    for p in &inputs {
        let _ = std::fs::read(p)?;
    }
    eprintln!("   floor (one ffmpeg, every input, to null)");
    let floor = run_measured(vec![floor_command(&inputs)])?;
    eprintln!("   floor, one ffmpeg per input in parallel");
    let floor_parallel = run_measured(inputs.iter().map(|i| floor_command(std::slice::from_ref(i))).collect())?;
    eprintln!("   ours (webhook to queued)");
    let ours = run_ours(stack, &meeting, opts.keep_objects).await?;
    let baseline = if opts.baseline {
        eprintln!("   baseline (scripts/bench/baseline.py)");
        run_baseline(&meeting).unwrap_or_else(|e| json!({ "error": format!("{e:#}") }))
    } else {
        Value::Null
    };

    let ours_wall = ours["wall_s"].as_f64().unwrap_or(f64::NAN);
    let floor_wall = floor["wall_s"].as_f64().unwrap_or(f64::NAN);
    let base_wall = baseline["wall_s"].as_f64();
    let output_bytes = ours["output_bytes"].as_u64().unwrap_or(0);
    let rss_limit = 256 * 1024 * 1024u64;
    Ok(json!({
        "label": label,
        "participants": n,
        "minutes": minutes,
        "participant_hours": n as f64 * minutes / 60.0,
        "track_hours": track_secs / 3600.0,
        "input_bytes": input_bytes,
        "loadavg_before": loadavg,
        "measured_at": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?,
        "floor": floor,
        "floor_parallel": floor_parallel,
        "ours": ours,
        "baseline": baseline,
        "ratios": {
            "ours_over_floor": ours_wall / floor_wall,
            "ours_over_floor_parallel": ours_wall / floor_parallel["wall_s"].as_f64().unwrap_or(f64::NAN),
            "baseline_over_ours": base_wall.map(|b| b / ours_wall),
        },
        "targets": {
            "within_1_2x_floor": ours_wall <= 1.2 * floor_wall,
            "at_least_8x_faster_than_baseline": base_wall.map(|b| b >= 8.0 * ours_wall),
            "function_rss_under_256mib": ours["peak_rss_function"].as_u64().is_some_and(|r| r < rss_limit),
            "tree_rss_under_256mib": ours["peak_rss_tree"].as_u64().is_some_and(|r| r < rss_limit),
            "tree_rss_shared_once_under_256mib": ours["peak_rss_tree_shared_once"].as_u64().is_some_and(|r| r < rss_limit),
            "tmp_bounded_by_output": ours["peak_tmp_bytes"].as_u64().is_some_and(|t| t <= output_bytes),
        },
    }))
}

/// The staggered meeting's audio, generated once per size and reused: every run gets a fresh
/// meeting (UUID, times, file ids) over the cached files, which only depend on the size.
async fn meeting(n: usize, minutes: f64, fresh: bool) -> Result<GeneratedMeeting> {
    let spec = MeetingSpec::staggered(n, minutes * 60.0);
    let dir = root().join(format!("target/bench/meetings/{n}x{}", fmt_num(minutes)));
    let manifest_path = dir.join("manifest.json");
    let cached: Option<Vec<(Option<usize>, String, u64)>> = if fresh {
        None
    } else {
        std::fs::read(&manifest_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    };
    let valid = cached.filter(|files| {
        files.len() == n + 1
            && files
                .iter()
                .all(|(_, f, size)| std::fs::metadata(dir.join(f)).is_ok_and(|m| m.len() == *size))
    });
    let files = match valid {
        Some(files) => {
            eprintln!("   reusing the generated audio in {}", dir.display());
            files
        }
        None => {
            let _ = std::fs::remove_dir_all(&dir);
            let t = Instant::now();
            let generated = spec.generate(&dir).await?;
            eprintln!("   generated {n} x {minutes} min in {:.1} s", t.elapsed().as_secs_f64());
            let mut files = Vec::new();
            for t in &generated.tracks {
                let name = match t.participant {
                    Some(i) => format!("p{i:02}.m4a"),
                    None => "mixed.m4a".to_owned(),
                };
                std::fs::rename(&t.path, dir.join(&name))?;
                files.push((t.participant, name, t.size));
            }
            std::fs::write(&manifest_path, serde_json::to_vec_pretty(&files)?)?;
            files
        }
    };
    let tracks = files
        .into_iter()
        .map(|(participant, name, size)| {
            let (from, to) = match participant {
                Some(i) => (spec.participants[i].join_secs, spec.participants[i].leave_secs),
                None => (0.0, spec.duration_secs),
            };
            GeneratedTrack {
                file_id: uuid::Uuid::new_v4().to_string(),
                participant,
                path: dir.join(name),
                size,
                recording_start: spec.start + time::Duration::seconds_f64(from),
                recording_end: spec.start + time::Duration::seconds_f64(to),
            }
        })
        .collect();
    Ok(GeneratedMeeting { spec, tracks })
}

fn floor_command(inputs: &[PathBuf]) -> std::process::Command {
    let mut cmd = std::process::Command::new("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-loglevel", "error"]);
    for i in inputs {
        cmd.arg("-i").arg(i);
    }
    for k in 0..inputs.len() {
        cmd.args(["-map", &format!("{k}:a")]);
    }
    cmd.args(["-f", "null", "-"]);
    cmd
}

/// Runs the commands at once; wall time until the last exits, CPU time of all of them (this
/// process's reaped children), peak of their summed RSS (sampled) and the largest one's VmHWM.
fn run_measured(cmds: Vec<std::process::Command>) -> Result<Value> {
    let cpu_before = self_stat()?.children_cpu;
    let busy_before = system_busy_secs();
    let t = Instant::now();
    let mut children = Vec::new();
    for mut c in cmds {
        children.push(Some(c.spawn().context("running ffmpeg")?));
    }
    let (mut peak_sum, mut max_hwm) = (0u64, 0u64);
    let mut hwm: HashMap<u32, u64> = HashMap::new();
    loop {
        let mut sum = 0;
        for c in children.iter().flatten() {
            if let Some((rss, h)) = vm_rss_hwm(c.id()) {
                sum += rss;
                hwm.insert(c.id(), h);
            }
        }
        peak_sum = peak_sum.max(sum);
        let mut running = false;
        for slot in children.iter_mut() {
            if let Some(c) = slot {
                match c.try_wait()? {
                    Some(status) if !status.success() => bail!("ffmpeg exited with {status}"),
                    Some(_) => *slot = None,
                    None => running = true,
                }
            }
        }
        if !running {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let wall = t.elapsed().as_secs_f64();
    max_hwm = max_hwm.max(hwm.values().copied().max().unwrap_or(0));
    let cpu = self_stat()?.children_cpu - cpu_before;
    let busy = system_busy_secs() - busy_before;
    Ok(json!({
        "wall_s": wall,
        "cpu_s": cpu,
        "processes": hwm.len(),
        "peak_rss": peak_sum.max(max_hwm),
        "peak_rss_one_process": max_hwm,
        // Everything the machine ran meanwhile; well above cpu_s means someone else was busy.
        "host_busy_cpu_s": busy,
    }))
}

fn vm_anon_file(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((
        (kb("RssAnon:")? + kb("RssShmem:").unwrap_or(0)) * 1024,
        kb("RssFile:")? * 1024,
    ))
}

fn vm_rss_hwm(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((kb("VmRSS:")? * 1024, kb("VmHWM:")? * 1024))
}

async fn run_ours(stack: &Stack, meeting: &GeneratedMeeting, keep_objects: bool) -> Result<Value> {
    let function = stack.output("ProducerFunctionName").to_owned();
    let log_path = root().join(".local/ministack.log");
    let log_from = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
    let ministack = std::fs::read_to_string(root().join(".local/ministack.pid"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let ministack_cpu = || ministack.and_then(stat).map(|s| s.cpu_secs).unwrap_or(0.0);

    let event = sandbox().recording_completed(meeting, &sandbox().default_download_token());
    let (ms_before, self_before) = (ministack_cpu(), self_stat()?.cpu_secs);
    let busy_before = system_busy_secs();
    let baseline: HashMap<u32, (f64, f64)> = processes(&function)
        .into_iter()
        .map(|p| (p.pid, (p.cpu_secs, p.reaped_cpu_secs)))
        .collect();
    let sent_at = time::OffsetDateTime::now_utc();
    let started = Instant::now();
    let (status, reply) = deliver(stack, &event).await;
    if status != 200 {
        bail!("webhook answered {status}: {reply}");
    }
    let mut peak_tmp = 0u64;
    // Highest CPU time seen per process; roles from each child's command line.
    let mut cpu: HashMap<u32, (&'static str, f64)> = HashMap::new();
    let mut reaped: HashMap<u32, f64> = HashMap::new();
    // Memory per sample, kept per function process: the local stack may keep an idle process
    // of an earlier deployment alive beside the one that works, and only the latter counts.
    let mut mem: Vec<Sample> = Vec::new();
    let item = loop {
        let procs = processes(&function);
        for p in &procs {
            let (cpu0, reaped0) = baseline.get(&p.pid).copied().unwrap_or((0.0, 0.0));
            let e = cpu.entry(p.pid).or_insert((p.role, 0.0));
            if e.0 == "other" {
                // Seen between fork and exec: the command line was not ffmpeg's yet.
                e.0 = p.role;
            }
            e.1 = e.1.max(p.cpu_secs - cpu0);
            if p.root {
                let r = reaped.entry(p.pid).or_insert(0.0);
                *r = r.max(p.reaped_cpu_secs - reaped0);
            }
        }
        let tmp = tmp_bytes(&procs);
        peak_tmp = peak_tmp.max(tmp);
        let sum_role = |pred: &dyn Fn(&str) -> bool| cpu.values().filter(|(r, _)| pred(r)).map(|(_, c)| c).sum::<f64>();
        let kids = procs.iter().filter(|p| !p.root);
        mem.push(Sample {
            t: round3(started.elapsed().as_secs_f64()),
            roots: procs
                .iter()
                .filter(|p| p.root)
                .map(|p| (p.pid, p.rss, p.rss_anon + p.rss_file))
                .collect(),
            kids_rss: kids.clone().map(|p| p.rss).sum(),
            kids_anon: kids.clone().map(|p| p.rss_anon).sum(),
            kids_file_max: kids.clone().map(|p| p.rss_file).max().unwrap_or(0),
            kids: kids.count(),
            cpu_function: round3(sum_role(&|r| r == "function")),
            cpu_children: round3(sum_role(&|r| r != "function")),
            cpu_ministack: round3(ministack_cpu() - ms_before),
            tmp,
        });
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
    // The function processes that worked during the run (CPU used, by themselves or children).
    let active: Vec<u32> = reaped
        .keys()
        .copied()
        .filter(|pid| reaped[pid] + cpu.get(pid).map_or(0.0, |c| c.1) > 0.05)
        .collect();
    let fn_rss = |s: &Sample| {
        s.roots
            .iter()
            .filter(|r| active.contains(&r.0))
            .map(|r| r.1)
            .sum::<u64>()
    };
    let fn_private = |s: &Sample| {
        s.roots
            .iter()
            .filter(|r| active.contains(&r.0))
            .map(|r| r.2)
            .sum::<u64>()
    };
    let peak_fn = mem.iter().map(fn_rss).max().unwrap_or(0);
    let peak_tree = mem.iter().map(|s| fn_rss(s) + s.kids_rss).max().unwrap_or(0);
    // What a memory cgroup (Lambda's limit) would be charged: every process's private pages,
    // and file pages (ffmpeg's code and libraries, shared by all its processes) about once.
    let peak_tree_private = mem
        .iter()
        .map(|s| fn_private(s) + s.kids_anon + s.kids_file_max)
        .max()
        .unwrap_or(0);
    let samples: Vec<Value> = mem
        .iter()
        .map(|s| {
            json!([
                s.t,
                fn_rss(s),
                fn_rss(s) + s.kids_rss,
                s.cpu_function,
                s.cpu_children,
                s.cpu_ministack,
                s.tmp,
                s.kids
            ])
        })
        .collect();
    let idle_function_processes = reaped.len() - active.len();
    let ministack_used = ministack_cpu() - ms_before;
    let self_used = self_stat()?.cpu_secs - self_before;
    let host_busy = system_busy_secs() - busy_before;
    let audio = audio_of(&item);
    let role_cpu = |role: &str| cpu.values().filter(|(r, _)| *r == role).map(|(_, c)| c).sum::<f64>();
    let sampled_children: f64 = cpu.values().filter(|(r, _)| *r != "function").map(|(_, c)| c).sum();
    let function_own = role_cpu("function");
    // The function's reaped children are exact (the kernel adds them when they are waited for);
    // the sampled per-role numbers miss up to 200 ms of each child's last moments.
    let reaped_total: f64 = reaped.values().sum();
    let children_cpu = reaped_total.max(sampled_children);

    let s3 = stack.s3().await;
    let out_bucket = audio["merged_bucket"].as_str().unwrap_or_default().to_owned();
    let mixdown_key = audio["mixdown_key"].as_str().unwrap_or_default().to_owned();
    let mixdown_bytes = s3
        .head_object()
        .bucket(&out_bucket)
        .key(&mixdown_key)
        .send()
        .await
        .ok()
        .and_then(|h| h.content_length());

    // The function's log lines reach ministack.log shortly after they are written.
    let mut stages = stages_from_log(&log_path, log_from, &meeting.spec.uuid, sent_at);
    for _ in 0..20 {
        if stages.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        stages = stages_from_log(&log_path, log_from, &meeting.spec.uuid, sent_at);
    }
    let stages = stages.unwrap_or_else(|e| json!({ "error": format!("{e:#}") }));
    let exe = active
        .first()
        .and_then(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).ok());
    if !keep_objects {
        delete_objects(stack, &audio).await;
    }
    Ok(json!({
        "wall_s": wall,
        "cpu_s": function_own + children_cpu,
        "cpu": {
            "function": function_own,
            "children": children_cpu,
            "decoders": role_cpu("decoder"),
            "mp3_encoder": role_cpu("mp3 encoder"),
            "flac_encoder": role_cpu("flac encoder"),
            "other_children": role_cpu("other"),
            "local_s3_ministack": ministack_used,
            "bench_process_zoom_sandbox": self_used,
            // The whole machine meanwhile, and what none of the above explains (other work).
            "host_busy": host_busy,
            "host_unaccounted": host_busy - (function_own + children_cpu + ministack_used + self_used),
        },
        "decoders": cpu.values().filter(|(r, _)| *r == "decoder").count(),
        "idle_function_processes": idle_function_processes,
        "peak_rss_function": peak_fn,
        "peak_rss_tree": peak_tree,
        "peak_rss_tree_shared_once": peak_tree_private,
        "peak_tmp_bytes": peak_tmp,
        "output_bytes": audio["merged_bytes"],
        "output_format": audio["merged_format"],
        "channels": audio["channels"],
        "sample_rate": audio["sample_rate"],
        "duration_secs": audio["duration_secs"],
        "mixdown_bytes": mixdown_bytes,
        "producer_build": exe.as_deref().map(build_kind),
        "stages": stages,
        "samples_columns": ["t_s", "rss_function", "rss_tree", "cpu_function_s", "cpu_children_s", "cpu_ministack_s", "tmp_growth", "children"],
        "samples": samples,
    }))
}

/// The producer's stage timings from its own log lines (JSON, forwarded into ministack.log):
/// `producing` (invocation started), `merged` (with the merge's elapsed_ms), `queued for the consumer`.
fn stages_from_log(path: &Path, from: u64, uuid: &str, sent_at: time::OffsetDateTime) -> Result<Value> {
    use std::io::{Read, Seek};
    let mut f = std::fs::File::open(path)?;
    f.seek(std::io::SeekFrom::Start(from))?;
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    let mut at: HashMap<String, time::OffsetDateTime> = HashMap::new();
    let mut merge_ms = None;
    let mut warnings = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line.trim()) else {
            continue;
        };
        if v["span"]["meeting_uuid"].as_str() != Some(uuid) {
            continue;
        }
        let Some(ts) = v["timestamp"]
            .as_str()
            .and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
        else {
            continue;
        };
        let msg = v["fields"]["message"].as_str().unwrap_or_default().to_owned();
        if msg == "merged" {
            merge_ms = v["fields"]["elapsed_ms"].as_f64();
        }
        if v["level"].as_str() != Some("INFO") {
            warnings.push(format!("{}: {msg}", v["level"].as_str().unwrap_or("?")));
        }
        at.entry(msg).or_insert(ts);
    }
    let (Some(producing), Some(merged), Some(queued), Some(merge_ms)) = (
        at.get("producing"),
        at.get("merged"),
        at.get("queued for the consumer"),
        merge_ms,
    ) else {
        bail!(
            "producer log lines not found (have {:?})",
            at.keys().collect::<Vec<_>>()
        );
    };
    let secs = |a: time::OffsetDateTime, b: time::OffsetDateTime| (b - a).as_seconds_f64();
    let merge_start = *merged - time::Duration::seconds_f64(merge_ms / 1000.0);
    Ok(json!({
        "invoke_s": secs(sent_at, *producing),
        "archive_s": secs(*producing, merge_start),
        "merge_s": merge_ms / 1000.0,
        "record_and_queue_s": secs(*merged, *queued),
        "webhook_to_queued_log_s": secs(sent_at, *queued),
        "warnings": warnings,
    }))
}

/// Debug builds keep line tables (`[profile.dev] debug = "line-tables-only"`): a `.debug_line`
/// ELF section. Release builds strip it (the name alone also appears as a string in both).
fn build_kind(exe: &Path) -> &'static str {
    let Ok(b) = std::fs::read(exe) else { return "unknown" };
    let u16_at = |o: usize| b.get(o..o + 2).map(|x| u16::from_le_bytes([x[0], x[1]]) as usize);
    let u32_at = |o: usize| {
        b.get(o..o + 4)
            .map(|x| u32::from_le_bytes(x.try_into().unwrap()) as usize)
    };
    let u64_at = |o: usize| {
        b.get(o..o + 8)
            .map(|x| u64::from_le_bytes(x.try_into().unwrap()) as usize)
    };
    let sections = || -> Option<Vec<String>> {
        // ELF64 little-endian only (what the local stack runs).
        if b.get(0..6)? != b"\x7fELF\x02\x01" {
            return None;
        }
        let (shoff, shentsize, shnum, shstrndx) = (u64_at(0x28)?, u16_at(0x3a)?, u16_at(0x3c)?, u16_at(0x3e)?);
        let header = |i: usize| shoff + i * shentsize;
        let strtab = u64_at(header(shstrndx) + 0x18)?;
        (0..shnum)
            .map(|i| {
                let name = strtab + u32_at(header(i))?;
                let end = name + b.get(name..)?.iter().position(|c| *c == 0)?;
                Some(String::from_utf8_lossy(&b[name..end]).into_owned())
            })
            .collect()
    };
    match sections() {
        Some(names) if names.iter().any(|n| n == ".debug_line") => "debug",
        Some(_) => "release",
        None => "unknown",
    }
}

async fn delete_objects(stack: &Stack, audio: &Value) {
    let s3 = stack.s3().await;
    let input = stack.output("InputBucketName").to_owned();
    if let Some(prefix) = audio["originals_prefix"].as_str() {
        if let Ok(list) = s3.list_objects_v2().bucket(&input).prefix(prefix).send().await {
            for o in list.contents() {
                if let Some(k) = o.key() {
                    let _ = s3.delete_object().bucket(&input).key(k).send().await;
                }
            }
        }
    }
    let out = audio["merged_bucket"].as_str().unwrap_or_default();
    for key in [audio["merged_key"].as_str(), audio["mixdown_key"].as_str()]
        .into_iter()
        .flatten()
    {
        let _ = s3.delete_object().bucket(out).key(key).send().await;
    }
}

fn run_baseline(meeting: &GeneratedMeeting) -> Result<Value> {
    let event = sandbox().recording_completed(meeting, &sandbox().default_download_token());
    let object = &event["payload"]["object"];
    let tracks: Vec<Value> = object["participant_audio_files"]
        .as_array()
        .context("no participant_audio_files")?
        .iter()
        .map(|f| json!({ "url": f["download_url"], "name": f["file_name"], "size": f["file_size"] }))
        .collect();
    let manifest = json!({
        "tracks": tracks,
        "token": event["download_token"],
        "cafile": sandbox().ca_pem_path,
    });
    let path = std::env::temp_dir().join(format!("zs-baseline-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, serde_json::to_vec(&manifest)?)?;
    let python = std::env::var("ZS_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(python)
        .arg(root().join("scripts/bench/baseline.py"))
        .arg(&path)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running scripts/bench/baseline.py");
    let _ = std::fs::remove_file(&path);
    let out = out?;
    if !out.status.success() {
        bail!("baseline.py exited with {}", out.status);
    }
    serde_json::from_slice(&out.stdout).context("baseline.py printed no JSON")
}

fn write_results(path: &Path, entries: &[Value], total_secs: f64) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Sizes measured in earlier runs are kept; each entry carries its own run's references.
    let mut sizes: Vec<Value> = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["sizes"].as_array().cloned())
        .unwrap_or_default();
    for e in entries {
        sizes.retain(|s| s["label"] != e["label"]);
        sizes.push(e.clone());
    }
    sizes.sort_by(|a, b| {
        let key = |v: &Value| v["participant_hours"].as_f64().unwrap_or(0.0);
        key(a).total_cmp(&key(b))
    });
    let ffmpeg = std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_owned));
    let doc = json!({
        "description": "merge path (producer: download, archive, merge, upload) on the local stack vs the floor (ffmpeg decoding the inputs from local disk to null) and the baseline (the Python original's approach)",
        "host": { "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), "ffmpeg": ffmpeg },
        "last_run_s": total_secs,
        "sizes": sizes,
    });
    std::fs::write(path, serde_json::to_vec_pretty(&doc)?)?;
    Ok(())
}

fn print_entry(e: &Value) {
    let o = &e["ours"];
    eprintln!(
        "   {}: floor {:.2} s (parallel {:.2} s), ours {:.2} s, baseline {}",
        e["label"].as_str().unwrap_or(""),
        e["floor"]["wall_s"].as_f64().unwrap_or(f64::NAN),
        e["floor_parallel"]["wall_s"].as_f64().unwrap_or(f64::NAN),
        o["wall_s"].as_f64().unwrap_or(f64::NAN),
        e["baseline"]["wall_s"]
            .as_f64()
            .map_or_else(|| format!("{}", e["baseline"]), |w| format!("{w:.2} s")),
    );
}

fn print_table(entries: &[Value]) {
    let f = |v: &Value| v.as_f64().map_or("-".to_owned(), |x| format!("{x:.2}"));
    let m = |v: &Value| v.as_u64().map_or("-".to_owned(), |x| format!("{:.1}", mib(x)));
    let yn = |v: &Value| match v.as_bool() {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "-",
    };
    println!();
    println!(
        "{:<7} {:>8} {:>9} {:>8} {:>10} {:>10} {:>10} {:>8} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9} {:>9}",
        "size",
        "floor s",
        "floor‖ s",
        "ours s",
        "ours/floor",
        "baseline s",
        "base/ours",
        "CPU s",
        "RSS fn",
        "RSS tree",
        "tree 1x",
        "/tmp",
        "output",
        "base CPU",
        "base RSS"
    );
    for e in entries {
        let o = &e["ours"];
        println!(
            "{:<7} {:>8} {:>9} {:>8} {:>10} {:>10} {:>10} {:>8} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9} {:>9}",
            e["label"].as_str().unwrap_or(""),
            f(&e["floor"]["wall_s"]),
            f(&e["floor_parallel"]["wall_s"]),
            f(&o["wall_s"]),
            f(&e["ratios"]["ours_over_floor"]),
            f(&e["baseline"]["wall_s"]),
            f(&e["ratios"]["baseline_over_ours"]),
            f(&o["cpu_s"]),
            m(&o["peak_rss_function"]),
            m(&o["peak_rss_tree"]),
            m(&o["peak_rss_tree_shared_once"]),
            m(&o["peak_tmp_bytes"]),
            m(&o["output_bytes"]),
            f(&e["baseline"]["cpu_s"]),
            m(&e["baseline"]["peak_rss"]),
        );
    }
    println!("(RSS, /tmp and output in MiB; floor‖ = one ffmpeg per input, all at once; tree 1x = the tree's private");
    println!(" pages plus shared file pages counted once, as a memory cgroup charges them)");
    println!();
    println!(
        "{:<7} {:>12} {:>8} {:>8} {:>8} {:>8}   producer stages (s): invoke / archive / merge / record+queue; CPU s: decoders / mp3 / local S3",
        "size", "<=1.2x floor", ">=8x base", "RSS fn", "RSS tree", "/tmp"
    );
    for e in entries {
        let t = &e["targets"];
        let s = &e["ours"]["stages"];
        let c = &e["ours"]["cpu"];
        println!(
            "{:<7} {:>12} {:>8} {:>8} {:>8} {:>8}   {} / {} / {} / {}; {} / {} / {}",
            e["label"].as_str().unwrap_or(""),
            yn(&t["within_1_2x_floor"]),
            yn(&t["at_least_8x_faster_than_baseline"]),
            yn(&t["function_rss_under_256mib"]),
            yn(&t["tree_rss_under_256mib"]),
            yn(&t["tmp_bounded_by_output"]),
            f(&s["invoke_s"]),
            f(&s["archive_s"]),
            f(&s["merge_s"]),
            f(&s["record_and_queue_s"]),
            f(&c["decoders"]),
            f(&c["mp3_encoder"]),
            f(&c["local_s3_ministack"]),
        );
    }
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

struct Sample {
    t: f64,
    /// (pid, RSS, private + file pages) of each function process.
    roots: Vec<(u32, u64, u64)>,
    kids_rss: u64,
    kids_anon: u64,
    kids_file_max: u64,
    kids: usize,
    cpu_function: f64,
    cpu_children: f64,
    cpu_ministack: f64,
    tmp: u64,
}

struct Proc {
    pid: u32,
    root: bool,
    role: &'static str,
    rss: u64,
    /// Private (anonymous) resident memory and resident file pages, from /proc/PID/status.
    rss_anon: u64,
    rss_file: u64,
    cpu_secs: f64,
    /// CPU of children this process has waited for (cutime + cstime).
    reaped_cpu_secs: f64,
}

/// Every process of the function (found by its AWS_LAMBDA_FUNCTION_NAME; the local stack may
/// run several) and all their descendants.
fn processes(function: &str) -> Vec<Proc> {
    let needle = format!("AWS_LAMBDA_FUNCTION_NAME={function}");
    let mut stats: HashMap<u32, Stat> = HashMap::new();
    let mut roots = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Some(st) = stat(pid) else { continue };
        let is_bootstrap = std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "bootstrap");
        if is_bootstrap
            && std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
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
        .map(|(pid, s)| {
            let root = roots.contains(pid);
            let (rss_anon, rss_file) = vm_anon_file(*pid).unwrap_or((s.rss, 0));
            Proc {
                pid: *pid,
                root,
                role: if root { "function" } else { role(*pid) },
                rss: s.rss,
                rss_anon,
                rss_file,
                cpu_secs: s.cpu_secs,
                reaped_cpu_secs: s.children_cpu,
            }
        })
        .collect()
}

/// What an ffmpeg child of the producer is doing, from its arguments (see producer/src/ffmpeg.rs).
fn role(pid: u32) -> &'static str {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return "other";
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let has = |a: &str| args.contains(&a.as_bytes());
    if has("libmp3lame") {
        "mp3 encoder"
    } else if has("flac") && has("pipe:0") {
        "flac encoder"
    } else if has("s16le") && has("pipe:1") && !has("pipe:0") {
        "decoder"
    } else {
        "other"
    }
}

struct Stat {
    ppid: u32,
    rss: u64,
    cpu_secs: f64,
    children_cpu: f64,
}

fn stat(pid: u32) -> Option<Stat> {
    stat_file(&format!("/proc/{pid}/stat"))
}

fn self_stat() -> Result<Stat> {
    stat_file("/proc/self/stat").context("reading /proc/self/stat")
}

fn stat_file(path: &str) -> Option<Stat> {
    let text = std::fs::read_to_string(path).ok()?;
    let after = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = 100.0; // USER_HZ on Linux
    let page = 4096u64;
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    Some(Stat {
        ppid: f.get(1)?.parse().ok()?,
        cpu_secs: (num(11)? + num(12)?) / ticks,
        children_cpu: (num(13)? + num(14)?) / ticks,
        rss: f.get(21)?.parse::<u64>().ok()? * page,
    })
}

/// CPU seconds the whole machine has spent busy (all CPUs), from /proc/stat.
fn system_busy_secs() -> f64 {
    let Ok(text) = std::fs::read_to_string("/proc/stat") else {
        return 0.0;
    };
    let Some(line) = text.lines().next() else { return 0.0 };
    let v: Vec<f64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
    let busy: f64 = v
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, x)| x)
        .sum();
    busy / 100.0
}

/// Bytes of the files under /tmp that the function's processes hold open (deleted ones
/// included). Walking all of /tmp instead is slow on a shared machine (seconds per sample)
/// and counts everyone else's files.
fn tmp_bytes(procs: &[Proc]) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    for p in procs {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{}/fd", p.pid)) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if !target.starts_with("/tmp/") {
                continue;
            }
            if let Ok(m) = std::fs::metadata(fd.path()) {
                if m.is_file() && seen.insert((m.dev(), m.ino())) {
                    total += m.len();
                }
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_a_debug_build_by_its_line_tables() {
        let exe = std::env::current_exe().unwrap();
        let expected = if cfg!(debug_assertions) { "debug" } else { "release" };
        assert_eq!(build_kind(&exe), expected);
        assert_eq!(build_kind(Path::new("/nonexistent")), "unknown");
    }
}
