//! Synthetic meetings: per-participant tracks and the mixed `audio_only` file,
//! written by the real ffmpeg so downstream code decodes genuine AAC in MP4.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use base64::Engine;
use rand::Rng;
use time::{Duration, OffsetDateTime};

/// Sample rate Zoom uses for its audio-only files.
pub const SAMPLE_RATE: u32 = 32_000;
/// Peak amplitude of a speech tone.
pub const AMPLITUDE: f64 = 0.5;

#[derive(Clone, Debug)]
pub struct ParticipantSpec {
    /// Display name; the file_name becomes "Audio only - {name}".
    pub name: String,
    /// Offset from meeting start when their track starts.
    pub join_secs: f64,
    /// Offset from meeting start when their track ends.
    pub leave_secs: f64,
    /// Meeting-relative intervals where they "speak"; inside [join, leave].
    pub speech: Vec<(f64, f64)>,
    /// Speech is a sine at this frequency, silence elsewhere.
    pub tone_hz: f64,
}

impl ParticipantSpec {
    /// Speech relative to the start of their own track, which begins when they join.
    fn speech_in_track(&self) -> Vec<(f64, f64)> {
        self.speech
            .iter()
            .map(|&(a, b)| (a - self.join_secs, b - self.join_secs))
            .collect()
    }
}

#[derive(Clone, Debug)]
pub struct MeetingSpec {
    pub uuid: String,
    pub meeting_id: u64,
    pub topic: String,
    /// The meeting's host; in the sandbox's API also the user it is listed under.
    pub host_email: String,
    /// `staggered` makes it just past; set it days back before `generate` for backfill tests
    /// (every track's recording_start/end follows it).
    pub start: OffsetDateTime,
    pub duration_secs: f64,
    pub participants: Vec<ParticipantSpec>,
    /// false = the account setting is off: only the mixed audio_only file.
    pub per_participant_files: bool,
}

#[derive(Clone, Debug)]
pub struct GeneratedTrack {
    pub file_id: String,
    /// Index into `spec.participants`; None for the mixed audio_only file.
    pub participant: Option<usize>,
    pub path: PathBuf,
    pub size: u64,
    pub recording_start: OffsetDateTime,
    pub recording_end: OffsetDateTime,
}

#[derive(Clone, Debug)]
pub struct GeneratedMeeting {
    pub spec: MeetingSpec,
    /// Participants in order, then the mixed file (participant None).
    pub tracks: Vec<GeneratedTrack>,
}

impl GeneratedMeeting {
    /// The mixed audio_only track.
    pub fn mixed(&self) -> Option<&GeneratedTrack> {
        self.tracks.iter().find(|t| t.participant.is_none())
    }

    pub fn track(&self, file_id: &str) -> Option<&GeneratedTrack> {
        self.tracks.iter().find(|t| t.file_id == file_id)
    }
}

// Names that have broken parsers before: hyphens, apostrophes, non-Latin script, duplicates.
const NAMES: &[&str] = &[
    "Dana Host",
    "Mary-Jane O'Neil",
    "李雷",
    "Alex",
    "Alex",
    "Priya N",
    "José Álvarez",
];

impl MeetingSpec {
    /// `n` participants with staggered joins, the last of several leaving early, distinct
    /// tones and deterministic, non-overlapping speech. Joins and leaves are whole seconds.
    ///
    /// Panics unless `n >= 1` and `duration_secs >= 4 * n` (enough room for everyone to speak).
    pub fn staggered(n: usize, duration_secs: f64) -> MeetingSpec {
        assert!(n >= 1, "a meeting needs at least one participant");
        assert!(
            duration_secs >= 4.0 * n as f64,
            "need at least 4 s of meeting per participant"
        );
        let whole = duration_secs.floor();
        let step = (whole / (4 * n) as f64).floor().max(1.0);
        let early_leave = (whole * 0.8).floor();

        let mut participants: Vec<ParticipantSpec> = (0..n)
            .map(|i| ParticipantSpec {
                name: NAMES
                    .get(i)
                    .map_or_else(|| format!("Guest {}", i + 1), |s| (*s).to_owned()),
                join_secs: i as f64 * step,
                leave_secs: if n > 1 && i == n - 1 { early_leave } else { whole },
                speech: Vec::new(),
                tone_hz: 300.0 + 120.0 * i as f64,
            })
            .collect();

        // Round-robin time slots keep speakers from ever overlapping.
        let slots = 4 * n;
        let slot = whole / slots as f64;
        for k in 0..slots {
            let p = &mut participants[k % n];
            let from = (k as f64 * slot + 0.1 * slot).max(p.join_secs + 0.2);
            let to = ((k + 1) as f64 * slot - 0.1 * slot).min(p.leave_secs - 0.2);
            if to - from >= 0.25 {
                p.speech.push((round_ms(from), round_ms(to)));
            }
        }

        let mut rng = rand::rng();
        let now = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        MeetingSpec {
            uuid: random_instance_uuid(&mut rng),
            meeting_id: rng.random_range(80_000_000_000..90_000_000_000),
            topic: "Sandbox planning sync".to_owned(),
            host_email: "host@example.com".to_owned(),
            start: now - Duration::seconds(whole as i64 + 60),
            duration_secs: whole,
            participants,
            per_participant_files: true,
        }
    }

    /// Writes mono AAC-LC M4A tracks (ffmpeg, 32 kHz) into `dir`, plus the mixed audio_only M4A.
    pub async fn generate(&self, dir: &Path) -> anyhow::Result<GeneratedMeeting> {
        self.validate()?;
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("creating {}", dir.display()))?;
        // Start every encode first so they run in parallel, then collect.
        let running = self
            .track_plans()
            .into_iter()
            .map(|plan| Encoding::start(plan, dir))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut tracks = Vec::new();
        for encoding in running {
            tracks.push(encoding.finish(self.start).await?);
        }
        Ok(GeneratedMeeting {
            spec: self.clone(),
            tracks,
        })
    }

    /// One plan per participant (when the account writes per-participant files), then the mix.
    fn track_plans(&self) -> Vec<TrackPlan> {
        let mut plans = Vec::new();
        if self.per_participant_files {
            for (i, p) in self.participants.iter().enumerate() {
                plans.push(TrackPlan {
                    participant: Some(i),
                    expr: tone_expr(&[(p.tone_hz, &p.speech_in_track())]),
                    from: p.join_secs,
                    to: p.leave_secs,
                });
            }
        }
        let all: Vec<_> = self
            .participants
            .iter()
            .map(|p| (p.tone_hz, p.speech.as_slice()))
            .collect();
        plans.push(TrackPlan {
            participant: None,
            expr: tone_expr(&all),
            from: 0.0,
            to: self.duration_secs,
        });
        plans
    }

    fn validate(&self) -> anyhow::Result<()> {
        // Written as "all in order" so that NaN fails every check.
        if !ascending(&[0.0, self.duration_secs]) || self.duration_secs == 0.0 {
            bail!("duration_secs must be positive");
        }
        for p in &self.participants {
            if !ascending(&[0.0, p.join_secs, p.leave_secs, self.duration_secs]) || p.join_secs == p.leave_secs {
                bail!("participant {:?}: need 0 <= join < leave <= duration", p.name);
            }
            if !ascending(&[1.0, p.tone_hz, f64::from(SAMPLE_RATE) / 2.0 - 1.0]) {
                bail!("participant {:?}: tone must be below Nyquist", p.name);
            }
            if p.speech
                .iter()
                .any(|&(a, b)| !ascending(&[p.join_secs, a, b, p.leave_secs]) || a == b)
            {
                bail!("participant {:?}: speech must lie inside [join, leave]", p.name);
            }
        }
        Ok(())
    }
}

/// One file to encode: whose track it is (None for the mix), what it sounds like, and the
/// meeting-relative span it covers.
struct TrackPlan {
    participant: Option<usize>,
    /// The aevalsrc expression, in track-relative seconds.
    expr: String,
    from: f64,
    to: f64,
}

/// A running ffmpeg writing `<file_id>.m4a`.
struct Encoding {
    file_id: String,
    plan: TrackPlan,
    path: PathBuf,
    child: tokio::process::Child,
}

impl Encoding {
    fn start(plan: TrackPlan, dir: &Path) -> anyhow::Result<Encoding> {
        let file_id = uuid::Uuid::new_v4().to_string();
        let path = dir.join(format!("{file_id}.m4a"));
        let child = encode(&plan.expr, plan.to - plan.from, &path)?;
        Ok(Encoding {
            file_id,
            plan,
            path,
            child,
        })
    }

    /// Waits for ffmpeg and describes the file it wrote.
    async fn finish(self, meeting_start: OffsetDateTime) -> anyhow::Result<GeneratedTrack> {
        let out = self.child.wait_with_output().await.context("waiting for ffmpeg")?;
        if !out.status.success() {
            bail!(
                "ffmpeg failed for {}: {}",
                self.path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let size = tokio::fs::metadata(&self.path).await?.len();
        Ok(GeneratedTrack {
            file_id: self.file_id,
            participant: self.plan.participant,
            path: self.path,
            size,
            recording_start: meeting_start + Duration::seconds_f64(self.plan.from),
            recording_end: meeting_start + Duration::seconds_f64(self.plan.to),
        })
    }
}

fn ascending(xs: &[f64]) -> bool {
    xs.windows(2).all(|w| w[0] <= w[1])
}

fn round_ms(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// 22 base64 characters plus "==", starting with '/' and holding a '+': the forms
/// that need double URL encoding in the recordings API.
fn random_instance_uuid(rng: &mut impl Rng) -> String {
    let bytes: [u8; 16] = rng.random();
    let mut chars: Vec<char> = base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .chars()
        .collect();
    chars[0] = '/';
    chars[11] = '+';
    chars.into_iter().collect()
}

/// An aevalsrc expression: each tone gated on by its intervals (track-relative seconds).
fn tone_expr(tones: &[(f64, &[(f64, f64)])]) -> String {
    let terms: Vec<String> = tones
        .iter()
        .filter(|(_, spans)| !spans.is_empty())
        .map(|(hz, spans)| {
            let gate: Vec<String> = spans.iter().map(|(a, b)| format!("between(t,{a:.3},{b:.3})")).collect();
            format!("{AMPLITUDE}*sin(2*PI*{hz:.3}*t)*({})", gate.join("+"))
        })
        .collect();
    if terms.is_empty() {
        "0".to_owned()
    } else {
        terms.join("+")
    }
}

fn encode(expr: &str, duration: f64, out: &Path) -> anyhow::Result<tokio::process::Child> {
    let source = format!("aevalsrc=exprs='{expr}':s={SAMPLE_RATE}:d={duration:.3}:c=mono");
    tokio::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            &source,
        ])
        .args(["-ac", "1", "-c:a", "aac", "-b:a", "48k", "-movflags", "+faststart"])
        .arg(out)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting ffmpeg (is it installed?)")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::temp_dir;

    fn ffprobe(path: &Path) -> serde_json::Value {
        let out = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
            .arg(path)
            .output()
            .unwrap();
        assert!(out.status.success());
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Decodes to mono s16le at the sample rate.
    fn pcm(path: &Path) -> Vec<f64> {
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(path)
            .args(["-f", "s16le", "-ac", "1", "-ar", "32000", "-"])
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
            .chunks_exact(2)
            .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
            .collect()
    }

    fn rms(samples: &[f64], from: f64, to: f64) -> f64 {
        let (a, b) = ((from * 32000.0) as usize, ((to * 32000.0) as usize).min(samples.len()));
        let s = &samples[a..b];
        (s.iter().map(|x| x * x).sum::<f64>() / s.len() as f64).sqrt()
    }

    #[test]
    fn staggered_is_well_formed() {
        let spec = MeetingSpec::staggered(4, 40.0);
        assert!(spec.uuid.starts_with('/') && spec.uuid.contains('+') && spec.uuid.ends_with("=="));
        assert_eq!(spec.uuid.len(), 24);
        spec.validate().unwrap();
        let ps = &spec.participants;
        assert!(ps.windows(2).all(|w| w[0].join_secs < w[1].join_secs));
        assert!(ps[3].leave_secs < spec.duration_secs);
        assert!(ps
            .iter()
            .all(|p| p.join_secs.fract() == 0.0 && p.leave_secs.fract() == 0.0));
        assert!(ps.iter().all(|p| !p.speech.is_empty()));
        let mut tones: Vec<_> = ps.iter().map(|p| p.tone_hz as u64).collect();
        tones.dedup();
        assert_eq!(tones.len(), 4);
        let mut spans: Vec<_> = ps.iter().flat_map(|p| p.speech.clone()).collect();
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "speech overlaps: {spans:?}");
        // Deterministic apart from identity and time.
        let again = MeetingSpec::staggered(4, 40.0);
        assert_eq!(format!("{:?}", again.participants), format!("{:?}", spec.participants));
    }

    #[test]
    fn single_participant_stays_to_the_end() {
        let spec = MeetingSpec::staggered(1, 8.0);
        assert_eq!(spec.participants[0].leave_secs, 8.0);
        assert!(!spec.participants[0].speech.is_empty());
    }

    #[tokio::test]
    async fn generates_mono_aac_tracks_with_speech_where_specified() {
        let dir = temp_dir("gen");
        let spec = MeetingSpec::staggered(2, 12.0);
        let m = spec.generate(&dir).await.unwrap();
        assert_eq!(m.tracks.len(), 3);
        assert_eq!(
            m.tracks.iter().map(|t| t.participant).collect::<Vec<_>>(),
            [Some(0), Some(1), None]
        );

        for t in &m.tracks {
            let probe = ffprobe(&t.path);
            let stream = &probe["streams"][0];
            assert_eq!(stream["codec_name"], "aac");
            assert_eq!(stream["profile"], "LC");
            assert_eq!(stream["channels"], 1);
            assert_eq!(stream["sample_rate"], "32000");
            assert!(probe["format"]["format_name"].as_str().unwrap().contains("mp4"));
            let expected = (t.recording_end - t.recording_start).as_seconds_f64();
            let got: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
            assert!((got - expected).abs() <= 0.05, "duration {got} vs {expected}");
            assert_eq!(t.size, std::fs::metadata(&t.path).unwrap().len());
            let head = std::fs::read(&t.path).unwrap();
            assert_eq!(&head[4..8], b"ftyp");
        }

        let p1 = &m.spec.participants[1];
        let track = pcm(&m.tracks[1].path);
        let (a, b) = p1.speech[0];
        let (a, b) = (a - p1.join_secs, b - p1.join_secs);
        let loud = rms(&track, a + 0.05, b - 0.05);
        assert!(loud > 0.25, "speech rms {loud}");
        // Participant 0 speaks first, while participant 1's track is silent.
        let (a0, b0) = m.spec.participants[0].speech[1];
        let quiet = rms(&track, a0 - p1.join_secs + 0.05, b0 - p1.join_secs - 0.05);
        assert!(quiet < 0.01, "silence rms {quiet}");

        let mixed = pcm(&m.tracks[2].path);
        assert!(rms(&mixed, a0 + 0.05, b0 - 0.05) > 0.25);
        let gap = (b0 + 0.06, p1.speech.iter().find(|s| s.0 > b0).unwrap().0 - 0.06);
        assert!(rms(&mixed, gap.0, gap.1) < 0.02);
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn without_participant_files_only_the_mix_is_written() {
        let dir = temp_dir("mixonly");
        let mut spec = MeetingSpec::staggered(2, 8.0);
        spec.per_participant_files = false;
        let m = spec.generate(&dir).await.unwrap();
        assert_eq!(m.tracks.len(), 1);
        assert!(m.mixed().is_some());
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn rejects_speech_outside_presence() {
        let mut spec = MeetingSpec::staggered(2, 8.0);
        spec.participants[1].speech.push((0.0, 0.5));
        assert!(spec.generate(&temp_dir("bad")).await.is_err());
    }
}
