//! A meeting of real speech for the speech-cut benchmark (issue #14): each participant an
//! espeak-ng voice of their own, speaking turns of varied sentences with natural pauses,
//! over low background noise, encoded as Zoom's per-participant audio (mono AAC-LC, 32 kHz,
//! `.m4a`), with the speech intervals known.
//!
//! Deterministic for a seed: the schedule comes from a seeded generator, and espeak-ng and
//! ffmpeg's AAC encoder are deterministic.
//!
//! The ground truth is where each utterance has voice: espeak-ng's clean output trimmed of
//! its leading and trailing silence (the first and last sample within 45 dB of the
//! utterance's peak), measured before any noise is added. Pauses inside a sentence (commas)
//! count as speech; pauses between sentences and turns do not.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use futures_util::{StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;

/// espeak-ng's output rate; the tracks are mixed at this rate and resampled to 32 kHz by the
/// AAC encode, as Zoom's are.
pub const SYNTH_RATE: u32 = 22_050;
/// A sample counts as voice when within this many dB of its utterance's peak.
const TRIM_BELOW_PEAK_DB: f64 = 45.0;

/// One participant's voice, room and manner.
struct Voice {
    name: &'static str,
    /// espeak-ng `-v`: language and variant.
    voice: &'static str,
    /// espeak-ng `-p` (0 to 99) and `-s` (words per minute).
    pitch: u32,
    speed: u32,
    /// espeak-ng `-g`: extra pause between words, in 10 ms units.
    word_gap: u32,
    /// Gain applied to espeak-ng's output: microphones and speakers differ.
    gain_db: f64,
    /// The room's noise, RMS dBFS (it wanders ±3 dB around this).
    noise_dbfs: f64,
    /// Relative share of the turns.
    talkativeness: f64,
}

const VOICES: [Voice; 8] = [
    Voice {
        name: "Ada Okafor",
        voice: "en-us+f3",
        pitch: 55,
        speed: 165,
        word_gap: 0,
        gain_db: -6.0,
        noise_dbfs: -58.0,
        talkativeness: 3.0,
    },
    Voice {
        name: "Bruno Keller",
        voice: "en-gb+m3",
        pitch: 40,
        speed: 150,
        word_gap: 1,
        gain_db: -10.0,
        noise_dbfs: -52.0,
        talkativeness: 2.0,
    },
    Voice {
        name: "Chiara Romano",
        voice: "en-gb-x-rp+f2",
        pitch: 65,
        speed: 180,
        word_gap: 0,
        gain_db: -14.0,
        noise_dbfs: -60.0,
        talkativeness: 1.5,
    },
    Voice {
        name: "Dev Patel",
        voice: "en-us+m1",
        pitch: 35,
        speed: 190,
        word_gap: 0,
        gain_db: -8.0,
        noise_dbfs: -55.0,
        talkativeness: 1.5,
    },
    Voice {
        name: "Eilidh Campbell",
        voice: "en-gb-scotland+f4",
        pitch: 60,
        speed: 155,
        word_gap: 2,
        gain_db: -16.0,
        noise_dbfs: -62.0,
        talkativeness: 1.0,
    },
    Voice {
        name: "Femi Adeyemi",
        voice: "en-029+m7",
        pitch: 30,
        speed: 170,
        word_gap: 1,
        gain_db: -12.0,
        noise_dbfs: -50.0,
        talkativeness: 1.0,
    },
    Voice {
        name: "Greta Lindqvist",
        voice: "en-gb-x-gbclan+f1",
        pitch: 70,
        speed: 160,
        word_gap: 0,
        gain_db: -9.0,
        noise_dbfs: -56.0,
        talkativeness: 0.7,
    },
    Voice {
        name: "Hiro Tanaka",
        voice: "en-us+m5",
        pitch: 45,
        speed: 140,
        word_gap: 3,
        gain_db: -18.0,
        noise_dbfs: -60.0,
        talkativeness: 0.5,
    },
];

const OPENERS: [&str; 12] = [
    "So",
    "Okay",
    "Well",
    "Right",
    "Actually",
    "I think",
    "To be honest",
    "As I said earlier",
    "If I remember correctly",
    "Just to add to that",
    "From my side",
    "Quick update",
];
const SUBJECTS: [&str; 14] = [
    "the database migration",
    "our quarterly budget",
    "the customer pilot in Lisbon",
    "the new onboarding flow",
    "the data pipeline",
    "the marketing launch",
    "the hiring plan for the platform team",
    "the release candidate",
    "the vendor contract",
    "the support backlog",
    "the pricing page",
    "the security review",
    "the mobile app",
    "the board presentation",
];
const PREDICATES: [&str; 14] = [
    "needs another round of review",
    "is running about two weeks late",
    "looks much better than last month",
    "should be ready by Friday",
    "depends on the sign-off from legal",
    "was discussed with finance yesterday",
    "still has three open questions",
    "is blocked on the infrastructure team",
    "went live on Monday without any incidents",
    "costs more than we planned",
    "got very positive feedback from the first customers",
    "will need two more engineers",
    "is on track",
    "has to be split into smaller pieces",
];
const TAILS: [&str; 9] = [
    "",
    "",
    ", so we should look at it again next week",
    ", and I can take that action item",
    ", but the numbers are still moving",
    ", which surprised everyone",
    " before the end of the quarter",
    ", if nobody objects",
    ". I will send the details by email after this call",
];
const QUESTIONS: [&str; 6] = [
    "Does anyone have concerns about {s}?",
    "Can we agree that {s} {p}?",
    "Who is going to follow up on {s}?",
    "What do you all think?",
    "Should we move on to the next item?",
    "Sorry, could you repeat the last part about {s}?",
];
const SHORT: [&str; 10] = [
    "Yes.",
    "Right.",
    "Okay.",
    "Sure.",
    "Agreed.",
    "Exactly.",
    "Good point.",
    "Thanks.",
    "Makes sense.",
    "No, I don't think so.",
];

/// SplitMix64: small, seeded, the same everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.unit()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// Standard normal (Box-Muller).
    fn gauss(&mut self) -> f64 {
        let u = self.unit().max(1e-12);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn sentence(rng: &mut Rng) -> String {
    let r = rng.unit();
    if r < 0.12 {
        return rng.pick(&SHORT).to_owned();
    }
    let s = rng.pick(&SUBJECTS);
    let p = rng.pick(&PREDICATES);
    if r < 0.27 {
        return rng.pick(&QUESTIONS).replace("{s}", s).replace("{p}", p);
    }
    let opener = if rng.chance(0.5) {
        format!("{}, ", rng.pick(&OPENERS))
    } else {
        String::new()
    };
    format!("{opener}{s} {p}{}.", rng.pick(&TAILS))
}

/// One participant of the generated meeting.
#[derive(Debug, Clone)]
pub struct SpeakingParticipant {
    pub name: String,
    /// The espeak-ng voice and settings, for the record.
    pub voice: String,
    pub join_secs: f64,
    pub leave_secs: f64,
    /// Their track: it starts at `join_secs` and lasts until `leave_secs`.
    pub path: PathBuf,
    /// Ground truth: where their voice is, meeting seconds, ordered and disjoint.
    pub speech: Vec<(f64, f64)>,
    pub utterances: usize,
}

#[derive(Debug, Clone)]
pub struct SpeechMeeting {
    pub duration_secs: f64,
    pub participants: Vec<SpeakingParticipant>,
    /// How long espeak-ng and the AAC encodes took (wall), for the record.
    pub synth_secs: f64,
    pub encode_secs: f64,
}

/// A synthesized utterance, placed.
struct Placed {
    /// Meeting time of the WAV's first sample.
    at: f64,
    /// Index into the clips.
    clip: usize,
}

struct Clip {
    samples: Vec<i16>,
    /// Voice: samples `[first, last]`.
    first: usize,
    last: usize,
}

impl Clip {
    fn voice_secs(&self) -> f64 {
        (self.last + 1 - self.first) as f64 / f64::from(SYNTH_RATE)
    }

    fn lead_secs(&self) -> f64 {
        self.first as f64 / f64::from(SYNTH_RATE)
    }
}

/// Generates an `n`-participant, `minutes`-long meeting in `dir` (created).
pub async fn generate(dir: &Path, n: usize, minutes: f64, seed: u64) -> Result<SpeechMeeting> {
    ensure!((1..=VOICES.len()).contains(&n), "1 to {} participants", VOICES.len());
    ensure!(minutes >= 1.0, "at least one minute");
    std::fs::create_dir_all(dir)?;
    let d = minutes * 60.0;
    let mut rng = Rng::new(seed);

    // Presence: the host throughout; most join in the first minute and a half and leave
    // near the end; one joins late and one leaves early.
    let mut presence = Vec::with_capacity(n);
    for k in 0..n {
        let (mut join, mut leave) = if k == 0 {
            (0.0, d)
        } else {
            (
                rng.range(0.0, 90.0_f64.min(d * 0.05)),
                d - rng.range(0.0, 20.0_f64.min(d * 0.02)),
            )
        };
        if n > 2 && k == n - 2 {
            join = d * rng.range(0.08, 0.25);
        }
        if n > 3 && k == 3 {
            leave = d * rng.range(0.7, 0.85);
        }
        presence.push((join, leave));
    }

    let started = std::time::Instant::now();
    let mut clips: Vec<Clip> = Vec::new();
    let mut placed: Vec<Vec<Placed>> = (0..n).map(|_| Vec::new()).collect();
    let mut busy = vec![0.0_f64; n];
    // Places `text` in `k`'s voice with its voice starting at `start`; None if it would run
    // past their leaving.
    async fn utter(
        k: usize,
        start: f64,
        text: &str,
        clips: &mut Vec<Clip>,
        placed: &mut [Vec<Placed>],
        leave: f64,
    ) -> Result<Option<f64>> {
        let clip = synthesize(&VOICES[k], text).await?;
        let end = start + clip.voice_secs();
        if end + clip.lead_secs() + 0.5 > leave {
            return Ok(None);
        }
        placed[k].push(Placed {
            at: start - clip.lead_secs(),
            clip: clips.len(),
        });
        clips.push(clip);
        Ok(Some(end))
    }

    let mut t = 3.0;
    let mut last = usize::MAX;
    while t < d - 8.0 {
        let present: Vec<usize> = (0..n)
            .filter(|&k| presence[k].0 + 2.0 <= t && t + 6.0 <= presence[k].1 && busy[k] <= t)
            .collect();
        let candidates: Vec<usize> = if present.len() > 1 {
            present.iter().copied().filter(|&k| k != last).collect()
        } else {
            present.clone()
        };
        if candidates.is_empty() {
            t += 1.0;
            continue;
        }
        let total: f64 = candidates.iter().map(|&k| VOICES[k].talkativeness).sum();
        let mut x = rng.range(0.0, total);
        let mut k = candidates[0];
        for &c in &candidates {
            x -= VOICES[c].talkativeness;
            k = c;
            if x < 0.0 {
                break;
            }
        }
        // A turn: one to seven sentences, short pauses between them, now and then a longer one.
        let mut sentences = 1;
        while sentences < 7 && rng.chance(0.6) {
            sentences += 1;
        }
        let (turn_start, mut cursor, mut turn_end) = (t, t, t);
        for _ in 0..sentences {
            let text = sentence(&mut rng);
            match utter(k, cursor, &text, &mut clips, &mut placed, presence[k].1).await? {
                Some(end) => {
                    turn_end = end;
                    cursor = end
                        + if rng.chance(0.15) {
                            rng.range(1.2, 2.5)
                        } else {
                            rng.range(0.25, 0.9)
                        };
                }
                None => break,
            }
        }
        busy[k] = turn_end + 0.3;
        // Now and then a listener answers briefly during the turn.
        if turn_end - turn_start > 3.0 && rng.chance(0.25) {
            let at = rng.range(turn_start + 1.0, turn_end - 1.0);
            let listeners: Vec<usize> = present.iter().copied().filter(|&j| j != k && busy[j] <= at).collect();
            if !listeners.is_empty() {
                let j = listeners[rng.below(listeners.len())];
                let text = rng.pick(&SHORT).to_owned();
                if let Some(end) = utter(j, at, &text, &mut clips, &mut placed, presence[j].1).await? {
                    busy[j] = end + 0.3;
                }
            }
        }
        last = k;
        let r = rng.unit();
        t = if r < 0.12 {
            // The next speaker cuts in before this one is done.
            (turn_end - rng.range(0.3, 1.5)).max(turn_start + 0.5)
        } else if r < 0.17 {
            // Nobody speaks for a while (someone shares a screen, looks something up).
            turn_end + rng.range(8.0, 40.0)
        } else {
            turn_end + rng.range(0.2, 1.6)
        };
    }
    let synth_secs = started.elapsed().as_secs_f64();

    // Each participant's track: their utterances over their room's noise, encoded like Zoom's.
    let started = std::time::Instant::now();
    let clips = &clips;
    let jobs = (0..n).map(|k| {
        let (join, leave) = presence[k];
        let path = dir.join(format!("audio{k:02}.m4a"));
        let mine = &placed[k];
        let noise_seed = seed ^ (k as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407);
        async move {
            let pcm = render(mine, clips, join, leave, &VOICES[k], noise_seed);
            encode_aac(&pcm, &path).await?;
            let speech: Vec<(f64, f64)> = mine
                .iter()
                .map(|p| {
                    let c = &clips[p.clip];
                    let a = p.at + c.lead_secs();
                    (a, a + c.voice_secs())
                })
                .collect();
            let v = &VOICES[k];
            Ok::<_, anyhow::Error>(SpeakingParticipant {
                name: v.name.to_owned(),
                voice: format!(
                    "{} -p {} -s {} -g {}, {:+} dB, noise {} dBFS",
                    v.voice, v.pitch, v.speed, v.word_gap, v.gain_db, v.noise_dbfs
                ),
                join_secs: join,
                leave_secs: leave,
                path,
                speech,
                utterances: mine.len(),
            })
        }
    });
    let participants: Vec<SpeakingParticipant> = futures_util::stream::iter(jobs).buffered(2).try_collect().await?;
    for p in &participants {
        ensure!(
            p.speech.windows(2).all(|w| w[0].1 <= w[1].0),
            "{}: overlapping utterances",
            p.name
        );
    }
    Ok(SpeechMeeting {
        duration_secs: d,
        participants,
        synth_secs,
        encode_secs: started.elapsed().as_secs_f64(),
    })
}

/// espeak-ng's clean output for `text`, with where its voice starts and ends.
async fn synthesize(voice: &Voice, text: &str) -> Result<Clip> {
    let out = tokio::process::Command::new("espeak-ng")
        .args(["-v", voice.voice])
        .args(["-p", &voice.pitch.to_string()])
        .args(["-s", &voice.speed.to_string()])
        .args(["-g", &voice.word_gap.to_string()])
        .arg("--stdout")
        .arg(text)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .context("running espeak-ng (apt-get install espeak-ng)")?;
    ensure!(
        out.status.success(),
        "espeak-ng failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gain = 10f64.powf(voice.gain_db / 20.0);
    let samples: Vec<i16> = wav_samples(&out.stdout)?
        .into_iter()
        .map(|s| (f64::from(s) * gain).round() as i16)
        .collect();
    let peak = samples.iter().map(|s| i32::from(*s).abs()).max().unwrap_or(0);
    let threshold = (f64::from(peak) * 10f64.powf(-TRIM_BELOW_PEAK_DB / 20.0)).max(2.0);
    let loud = |s: &i16| f64::from(*s).abs() >= threshold;
    let (Some(first), Some(last)) = (samples.iter().position(loud), samples.iter().rposition(loud)) else {
        bail!("espeak-ng produced no voice for {text:?}");
    };
    Ok(Clip { samples, first, last })
}

/// The samples of a mono 16-bit WAV at [`SYNTH_RATE`] (espeak-ng's `--stdout` states no real
/// data length: the data runs to the end).
fn wav_samples(wav: &[u8]) -> Result<Vec<i16>> {
    ensure!(
        wav.len() >= 12 && &wav[..4] == b"RIFF" && &wav[8..12] == b"WAVE",
        "not a WAV"
    );
    let mut pos = 12;
    let mut format_ok = false;
    while pos + 8 <= wav.len() {
        let id = &wav[pos..pos + 4];
        let size = u32::from_le_bytes([wav[pos + 4], wav[pos + 5], wav[pos + 6], wav[pos + 7]]) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            ensure!(body + 16 <= wav.len(), "short fmt chunk");
            let channels = u16::from_le_bytes([wav[body + 2], wav[body + 3]]);
            let rate = u32::from_le_bytes([wav[body + 4], wav[body + 5], wav[body + 6], wav[body + 7]]);
            let bits = u16::from_le_bytes([wav[body + 14], wav[body + 15]]);
            ensure!(
                channels == 1 && rate == SYNTH_RATE && bits == 16,
                "espeak-ng wrote {channels} channel(s) at {rate} Hz, {bits} bits"
            );
            format_ok = true;
        } else if id == b"data" {
            ensure!(format_ok, "data before fmt");
            let end = body.saturating_add(size).min(wav.len());
            return Ok(wav[body..end]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect());
        }
        pos = body.saturating_add(size + (size & 1));
    }
    bail!("no data chunk")
}

/// The participant's track at [`SYNTH_RATE`], from `join` to `leave`: their utterances over
/// colored noise whose level wanders slowly around the room's.
fn render(mine: &[Placed], clips: &[Clip], join: f64, leave: f64, voice: &Voice, seed: u64) -> Vec<i16> {
    let rate = f64::from(SYNTH_RATE);
    let len = ((leave - join) * rate).round() as usize;
    let mut mix = vec![0.0_f32; len];
    for p in mine {
        let offset = ((p.at - join) * rate).round() as isize;
        for (i, &s) in clips[p.clip].samples.iter().enumerate() {
            let at = offset + i as isize;
            if at >= 0 && (at as usize) < len {
                mix[at as usize] += f32::from(s);
            }
        }
    }
    // White plus low-passed noise (a fan's rumble and hiss), unit RMS before scaling.
    let mut rng = Rng::new(seed);
    let base = 32_768.0 * 10f64.powf(voice.noise_dbfs / 20.0);
    let phase = rng.range(0.0, std::f64::consts::TAU);
    let (a, mut low) = (0.95_f64, 0.0_f64);
    let low_rms = ((1.0 - a) / (1.0 + a)).sqrt();
    for (i, m) in mix.iter_mut().enumerate() {
        let w = rng.gauss();
        low = a * low + (1.0 - a) * w;
        let noise = 0.5 * w + 0.866 * low / low_rms;
        let t = i as f64 / rate;
        let level = base * 10f64.powf(3.0 * (std::f64::consts::TAU * t / 37.0 + phase).sin() / 20.0);
        *m += (noise * level) as f32;
    }
    mix.into_iter()
        .map(|v| v.round().clamp(-32_768.0, 32_767.0) as i16)
        .collect()
}

/// Mono AAC-LC at 32 kHz in `.m4a`, as Zoom's per-participant audio.
async fn encode_aac(pcm: &[i16], out: &Path) -> Result<()> {
    let mut child = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "s16le",
            "-ar",
            &SYNTH_RATE.to_string(),
            "-ac",
            "1",
            "-i",
            "pipe:0",
        ])
        .args([
            "-ar",
            "32000",
            "-ac",
            "1",
            "-c:a",
            "aac",
            "-profile:a",
            "aac_low",
            "-b:a",
            "48k",
        ])
        .args(["-movflags", "+faststart"])
        .arg(out)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting ffmpeg (is it installed?)")?;
    let mut stdin = child.stdin.take().context("ffmpeg has no stdin")?;
    let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
    stdin.write_all(&bytes).await?;
    stdin.shutdown().await?;
    drop(stdin);
    let out = child.wait_with_output().await?;
    ensure!(
        out.status.success(),
        "ffmpeg (AAC encode) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
