//! Running ffmpeg: where it is, the arguments for each role, and a checked exit with the
//! tail of its stderr.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use zoom_symbl_core::Error;

use crate::ports::{CodecProcess, Codecs, Decoder, Encoder};

/// The layer puts ffmpeg here in Lambda.
const LAYER_PATH: &str = "/opt/bin/ffmpeg";
const STDERR_TAIL: usize = 4096;

#[derive(Debug, Clone)]
pub struct Ffmpeg {
    pub path: PathBuf,
}

impl Ffmpeg {
    /// `FFMPEG_PATH` if set, else the layer's binary, else `ffmpeg` on `PATH` (local stack).
    pub fn locate(explicit: Option<String>) -> Self {
        let path = explicit.map(PathBuf::from).unwrap_or_else(|| {
            let layer = PathBuf::from(LAYER_PATH);
            if layer.exists() {
                layer
            } else {
                PathBuf::from("ffmpeg")
            }
        });
        Ffmpeg { path }
    }

    /// Spawns ffmpeg with the given arguments; stdout always piped, stdin piped when asked.
    pub fn spawn(&self, role: &'static str, args: &[String], stdin: bool) -> Result<Running, Error> {
        let mut child = Command::new(&self.path)
            .args(args)
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::Config(format!("cannot run {}: {e}", self.path.display())))?;
        let stderr = child.stderr.take().map(|mut err| {
            tokio::spawn(async move {
                let mut all = Vec::new();
                let _ = err.read_to_end(&mut all).await;
                let from = all.len().saturating_sub(STDERR_TAIL);
                String::from_utf8_lossy(&all[from..]).into_owned()
            })
        });
        Ok(Running { role, child, stderr })
    }

    /// An encoder: s16le on its stdin, the encoded file on its stdout.
    fn encoder(&self, role: &'static str, args: &[String]) -> Result<Encoder<Running>, Error> {
        let mut enc = self.spawn(role, args, true)?;
        let pcm = enc
            .child
            .stdin
            .take()
            .ok_or_else(|| Error::retryable("ffmpeg", "encoder has no stdin"))?;
        let encoded = enc
            .child
            .stdout
            .take()
            .ok_or_else(|| Error::retryable("ffmpeg", "encoder has no stdout"))?;
        Ok(Encoder {
            pcm: Box::new(pcm),
            encoded: Box::new(encoded),
            process: enc,
        })
    }
}

impl Codecs for Ffmpeg {
    type Process = Running;

    async fn probe(&self, source: &str) -> Result<(), String> {
        let mut p = self
            .spawn("probe", &probe_args(source), false)
            .map_err(|e| e.to_string())?;
        // Its stdout is empty (`-f null`); dropping the pipe lets it run to its end.
        drop(p.child.stdout.take());
        let status = p.child.wait().await.map_err(|e| e.to_string())?;
        let tail = match p.stderr.take() {
            Some(h) => h.await.unwrap_or_default(),
            None => String::new(),
        };
        if status.success() {
            return Ok(());
        }
        // The first line says it ("moov atom not found", "matches no streams"); URLs redacted.
        let first = tail
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no audio could be decoded");
        Err(redact_urls(first.trim()))
    }

    fn decoder(&self, source: &str, sample_rate: u32) -> Result<Decoder<Running>, Error> {
        let mut d = self.spawn("decoder", &decoder_args(source, sample_rate), false)?;
        let pcm = d
            .child
            .stdout
            .take()
            .ok_or_else(|| Error::retryable("ffmpeg", "decoder has no stdout"))?;
        Ok(Decoder {
            pcm: Box::new(pcm),
            process: d,
        })
    }

    fn flac_encoder(&self, channels: u16, sample_rate: u32) -> Result<Encoder<Running>, Error> {
        self.encoder("flac encoder", &flac_encoder_args(channels, sample_rate))
    }

    fn mp3_encoder(&self, sample_rate: u32) -> Result<Encoder<Running>, Error> {
        self.encoder("mp3 encoder", &mp3_encoder_args(sample_rate))
    }
}

/// A running ffmpeg whose stderr is being collected.
pub struct Running {
    pub role: &'static str,
    pub child: Child,
    stderr: Option<JoinHandle<String>>,
}

impl CodecProcess for Running {
    /// Waits for the exit; a failure carries the stderr tail (logged, and kept in the error).
    async fn finish(mut self) -> Result<(), Error> {
        let status = self.child.wait().await.map_err(|e| Error::retryable("ffmpeg", e))?;
        let tail = match self.stderr.take() {
            Some(h) => h.await.unwrap_or_default(),
            None => String::new(),
        };
        // Inputs are presigned URLs: never let one reach a log line (at any level) or an error.
        let tail = redact_urls(tail.trim());
        if status.success() {
            if !tail.is_empty() {
                tracing::debug!(role = self.role, stderr = %tail, "ffmpeg finished with messages");
            }
            return Ok(());
        }
        tracing::error!(role = self.role, %status, stderr = %tail, "ffmpeg failed");
        Err(Error::retryable(
            "ffmpeg",
            format!("{} exited with {status}: {tail}", self.role),
        ))
    }

    /// Stops a process whose remaining output is not needed.
    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn common() -> Vec<String> {
    ["-nostdin", "-hide_banner", "-loglevel", "error"]
        .map(String::from)
        .to_vec()
}

/// Output to stdout in full buffers: ffmpeg otherwise writes (and wakes the reader) once per
/// packet, about a kilobyte, which cost a track-hour's decoder 0.4 CPU-s of system time.
fn buffered_stdout(a: &mut Vec<String>) {
    a.extend(["-flush_packets", "0", "pipe:1"].map(String::from));
}

/// First audio stream of `source`, forced to mono and resampled, as raw s16le on stdout.
pub fn decoder_args(source: &str, sample_rate: u32) -> Vec<String> {
    let mut a = common();
    a.extend(["-i", source, "-map", "0:a:0", "-vn", "-ac", "1", "-ar"].map(String::from));
    a.push(sample_rate.to_string());
    a.extend(["-f", "s16le", "-acodec", "pcm_s16le"].map(String::from));
    buffered_stdout(&mut a);
    a
}

/// Interleaved s16le on stdin to FLAC on stdout, with a layout that names no speakers.
pub fn flac_encoder_args(channels: u16, sample_rate: u32) -> Vec<String> {
    let mut a = common();
    a.extend(["-f", "s16le", "-ar"].map(String::from));
    a.push(sample_rate.to_string());
    a.push("-ch_layout".into());
    a.push(format!("{channels}c"));
    a.extend(["-i", "pipe:0", "-c:a", "flac", "-f", "flac"].map(String::from));
    buffered_stdout(&mut a);
    a
}

/// Mono s16le on stdin to a small MP3 on stdout (the summary page's player).
///
/// LAME at quality 7 rather than its default 3: under half the CPU (the mixdown was most of
/// the producer's time above decoding; BENCHMARKS.md §8), and on speech at 32 kbit/s its
/// waveform is no further from the input (18 dB SNR at 3, 21.6 dB at 7).
pub fn mp3_encoder_args(sample_rate: u32) -> Vec<String> {
    let mut a = common();
    a.extend(["-f", "s16le", "-ac", "1", "-ar"].map(String::from));
    a.push(sample_rate.to_string());
    a.extend(
        [
            "-i",
            "pipe:0",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "32k",
            "-compression_level",
            "7",
            "-f",
            "mp3",
        ]
        .map(String::from),
    );
    buffered_stdout(&mut a);
    a
}

/// Replaces query strings of URLs (presigned signatures, tokens) with `?…`.
/// Reads the container and decodes the first half second of its first audio stream: a file
/// cut before its index, or one without audio, fails here.
fn probe_args(source: &str) -> Vec<String> {
    [
        "-nostdin", "-v", "error", "-i", source, "-map", "0:a:0", "-t", "0.5", "-f", "null", "-",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

pub fn redact_urls(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|word| match (word.contains("://"), word.find('?')) {
            (true, Some(q)) => {
                let tail = &word[q..];
                let ws = tail.len() - tail.trim_end().len();
                format!("{}?…{}", &word[..q], &tail[tail.len() - ws..])
            }
            _ => word.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_forces_mono_and_rate() {
        let a = decoder_args("https://b.s3/x.m4a?sig=1", 16_000).join(" ");
        assert!(
            a.contains("-i https://b.s3/x.m4a?sig=1 -map 0:a:0 -vn -ac 1 -ar 16000 -f s16le"),
            "{a}"
        );
        assert!(a.ends_with("-flush_packets 0 pipe:1"), "{a}");
    }

    #[test]
    fn encoders() {
        let f = flac_encoder_args(5, 16_000).join(" ");
        assert!(
            f.contains("-f s16le -ar 16000 -ch_layout 5c -i pipe:0 -c:a flac"),
            "{f}"
        );
        let m = mp3_encoder_args(16_000).join(" ");
        assert!(
            m.contains("-ac 1 -ar 16000 -i pipe:0 -c:a libmp3lame -b:a 32k -compression_level 7"),
            "{m}"
        );
        assert!(
            f.ends_with("-flush_packets 0 pipe:1") && m.ends_with("-flush_packets 0 pipe:1"),
            "{f} / {m}"
        );
    }

    #[test]
    fn urls_lose_their_query() {
        assert_eq!(
            redact_urls("http://h/b/k.m4a?X-Amz-Signature=abc: Server returned 403\nnext"),
            "http://h/b/k.m4a?… Server returned 403\nnext"
        );
        assert_eq!(redact_urls("no url here"), "no url here");
    }

    #[tokio::test]
    async fn failure_carries_the_stderr_tail() {
        let ff = Ffmpeg::locate(None);
        let run = ff
            .spawn("decoder", &decoder_args("/nonexistent/input.m4a", 16_000), false)
            .unwrap();
        let err = run.finish().await.unwrap_err().to_string();
        assert!(err.contains("decoder exited") && err.contains("No such file"), "{err}");
    }

    /// Makes a file with ffmpeg's own generators (`lavfi`), as a real recording would be.
    async fn generated(dir: &std::path::Path, name: &str, args: &[&str]) -> String {
        let path = dir.join(name);
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y"])
            .args(args)
            .arg(&path)
            .status()
            .await
            .unwrap();
        assert!(status.success(), "could not make {name}");
        path.to_string_lossy().into_owned()
    }

    #[tokio::test]
    async fn the_probe_passes_audio_and_names_why_a_file_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let ff = Ffmpeg::locate(None);
        let audio = generated(dir.path(), "a.m4a", &["-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac"]).await;
        assert_eq!(ff.probe(&audio).await, Ok(()));

        let video = generated(
            dir.path(),
            "v.mp4",
            &["-f", "lavfi", "-i", "color=d=1:s=32x32", "-c:v", "mpeg4"],
        )
        .await;
        let err = ff.probe(&video).await.unwrap_err();
        assert!(err.contains("matches no streams"), "{err}");

        // Cut right after its `ftyp` box: the index (`moov`) never arrived.
        let bytes = std::fs::read(&audio).unwrap();
        let cut = dir.path().join("cut.m4a");
        std::fs::write(&cut, &bytes[..32]).unwrap();
        let err = ff.probe(&cut.to_string_lossy()).await.unwrap_err();
        assert!(!err.is_empty(), "a reason is given");
    }
}
