//! Reading back what the producer wrote: ffprobe for the container, and per-channel energy
//! over time from the WAV samples, to check who speaks where and when.

use std::path::Path;

use anyhow::{bail, Context, Result};

pub struct Probe {
    pub codec: String,
    pub channels: u32,
    pub sample_rate: u32,
    pub duration_secs: f64,
    pub channel_layout: String,
}

pub fn ffprobe(path: &Path) -> Result<Probe> {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=codec_name,channels,sample_rate,channel_layout:format=duration",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .context("running ffprobe")?;
    if !out.status.success() {
        bail!("ffprobe failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let s = &v["streams"][0];
    Ok(Probe {
        codec: s["codec_name"].as_str().unwrap_or_default().to_owned(),
        channels: s["channels"].as_u64().unwrap_or_default() as u32,
        sample_rate: s["sample_rate"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .unwrap_or_default(),
        duration_secs: v["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .unwrap_or_default(),
        channel_layout: s["channel_layout"].as_str().unwrap_or_default().to_owned(),
    })
}

/// RMS per channel per window of a 16-bit PCM WAV (canonical or extensible header).
pub struct Energy {
    pub window_secs: f64,
    /// `rms[channel][window]`, full scale = 1.0.
    pub rms: Vec<Vec<f64>>,
}

pub fn energy(wav: &[u8], window_secs: f64) -> Result<Energy> {
    if wav.len() < 12 || &wav[0..4] != b"RIFF" || &wav[8..12] != b"WAVE" {
        bail!("not a RIFF/WAVE file");
    }
    let (mut pos, mut channels, mut rate, mut data) = (12usize, 0usize, 0u32, None);
    while pos + 8 <= wav.len() {
        let id = &wav[pos..pos + 4];
        let len = u32::from_le_bytes(wav[pos + 4..pos + 8].try_into()?) as usize;
        let body = &wav[pos + 8..(pos + 8 + len).min(wav.len())];
        match id {
            b"fmt " => {
                channels = u16::from_le_bytes(body[2..4].try_into()?) as usize;
                rate = u32::from_le_bytes(body[4..8].try_into()?);
                let bits = u16::from_le_bytes(body[14..16].try_into()?);
                if bits != 16 {
                    bail!("{bits}-bit samples");
                }
            }
            b"data" => data = Some(body),
            _ => {}
        }
        pos += 8 + len + (len & 1);
    }
    let data = data.context("no data chunk")?;
    if channels == 0 {
        bail!("no fmt chunk");
    }
    let per_window = ((rate as f64 * window_secs) as usize).max(1);
    let frames = data.len() / (2 * channels);
    let windows = frames / per_window;
    let mut rms = vec![vec![0.0; windows]; channels];
    for w in 0..windows {
        for (c, ch) in rms.iter_mut().enumerate() {
            let mut sum = 0.0;
            for f in w * per_window..(w + 1) * per_window {
                let at = (f * channels + c) * 2;
                let s = i16::from_le_bytes([data[at], data[at + 1]]) as f64 / 32768.0;
                sum += s * s;
            }
            ch[w] = (sum / per_window as f64).sqrt();
        }
    }
    Ok(Energy { window_secs, rms })
}

impl Energy {
    /// Windows that lie entirely inside [from, to] seconds, shrunk by `margin` at both ends.
    pub fn windows_within(&self, from: f64, to: f64, margin: f64) -> std::ops::Range<usize> {
        let start = ((from + margin) / self.window_secs).ceil() as usize;
        let end = (((to - margin) / self.window_secs).floor() as usize).max(start);
        start..end.min(self.rms[0].len())
    }

    /// Whether `t` seconds lies within `margin` of any of the intervals.
    pub fn near(intervals: &[(f64, f64)], t0: f64, t1: f64, margin: f64) -> bool {
        intervals.iter().any(|(a, b)| t1 > a - margin && t0 < b + margin)
    }
}
