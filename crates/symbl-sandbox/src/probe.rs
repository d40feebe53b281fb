//! What Symbl does with a submitted URL: fetch it (no redirects), look at it with
//! ffprobe, and refuse what it cannot transcribe.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

/// Symbl's documented ceiling per file (FAQ).
pub const MAX_DURATION_SECS: f64 = 4.0 * 3600.0;

#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub format: String,
    pub channels: u32,
    pub duration_secs: f64,
}

/// Why a submitted file was not probed.
#[derive(Debug, PartialEq)]
pub enum ProbeError {
    /// The file or its URL: the 400 answer carries the text.
    Refused(String),
    /// The sandbox's own trouble (its disk, its ffprobe): Symbl would answer 5xx, and a
    /// client may try again.
    Internal(String),
}

impl From<String> for ProbeError {
    fn from(text: String) -> Self {
        ProbeError::Refused(text)
    }
}

/// Downloads `url` into a temporary file, probes it and deletes the file.
pub async fn fetch_and_probe(client: &reqwest::Client, url: &str) -> Result<Probe, ProbeError> {
    let parsed = url::Url::parse(url).map_err(|e| format!("\"url\" must be a valid uri: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ProbeError::Refused(
            "\"url\" must be a valid uri with a scheme matching the http|https pattern".into(),
        ));
    }
    let mut response = client
        .get(parsed)
        .send()
        .await
        .map_err(|e| format!("Could not fetch the file at url: {e}"))?;
    let status = response.status();
    if status.is_redirection() {
        return Err(ProbeError::Refused(
            "Redirected links are not supported. Please provide a direct link to the file.".into(),
        ));
    }
    if !status.is_success() {
        return Err(ProbeError::Refused(format!(
            "Could not fetch the file at url: the server answered {}",
            status.as_u16()
        )));
    }
    let path = std::env::temp_dir().join(format!("symbl-sandbox-{}", uuid::Uuid::new_v4()));
    let internal = |e: std::io::Error| ProbeError::Internal(format!("the sandbox's temp file: {e}"));
    let result = async {
        let mut file = tokio::fs::File::create(&path).await.map_err(internal)?;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("Could not fetch the file at url: {e}"))?
        {
            file.write_all(&chunk).await.map_err(internal)?;
        }
        file.flush().await.map_err(internal)?;
        drop(file);
        ffprobe(&path).await
    }
    .await;
    let _ = tokio::fs::remove_file(&path).await;
    result
}

fn ffprobe_bin() -> PathBuf {
    std::env::var_os("FFPROBE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("ffprobe"))
}

#[derive(Deserialize)]
struct ProbeOutput {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    format: Option<ProbeFormat>,
}

#[derive(Deserialize)]
struct ProbeStream {
    codec_type: Option<String>,
    channels: Option<u32>,
    duration: Option<String>,
}

#[derive(Deserialize)]
struct ProbeFormat {
    format_name: Option<String>,
    duration: Option<String>,
}

pub async fn ffprobe(path: &Path) -> Result<Probe, ProbeError> {
    ffprobe_with(&ffprobe_bin(), path).await
}

async fn ffprobe_with(bin: &Path, path: &Path) -> Result<Probe, ProbeError> {
    let out = tokio::process::Command::new(bin)
        .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
        .arg(path)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| ProbeError::Internal(format!("cannot run ffprobe: {e}")))?;
    if !out.status.success() {
        return Err(ProbeError::Refused(
            "The file at url is not a supported audio file.".into(),
        ));
    }
    Ok(parse_ffprobe(&out.stdout)?)
}

pub fn parse_ffprobe(json: &[u8]) -> Result<Probe, String> {
    let not_audio = || "The file at url is not a supported audio file.".to_string();
    let parsed: ProbeOutput = serde_json::from_slice(json).map_err(|_| not_audio())?;
    let audio = parsed
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"))
        .ok_or_else(not_audio)?;
    let channels = audio.channels.filter(|c| *c > 0).ok_or_else(not_audio)?;
    let format = parsed.format.as_ref();
    let duration_secs = format
        .and_then(|f| f.duration.as_deref())
        .or(audio.duration.as_deref())
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d > 0.0)
        .ok_or_else(|| "The audio file has no measurable duration.".to_string())?;
    Ok(Probe {
        format: format.and_then(|f| f.format_name.clone()).unwrap_or_default(),
        channels,
        duration_secs,
    })
}

/// The checks Symbl makes on a probed file against the request's options.
pub fn check(probe: &Probe, separate_channels: bool, channel_metadata: Option<&[Value]>) -> Result<(), String> {
    if probe.duration_secs > MAX_DURATION_SECS {
        return Err(format!(
            "The audio file is {:.0} seconds long; the maximum duration is 4 hours (14400 seconds).",
            probe.duration_secs
        ));
    }
    if !separate_channels {
        return Ok(());
    }
    let metadata = channel_metadata.unwrap_or(&[]);
    if metadata.len() != probe.channels as usize {
        return Err(format!(
            "\"channelMetadata\" has {} entries but the audio file has {} channels.",
            metadata.len(),
            probe.channels
        ));
    }
    let mut seen = vec![false; probe.channels as usize];
    for (i, entry) in metadata.iter().enumerate() {
        let channel = entry.get("channel").and_then(Value::as_u64);
        match channel {
            Some(c) if (1..=probe.channels as u64).contains(&c) && !seen[c as usize - 1] => seen[c as usize - 1] = true,
            Some(c) if (1..=probe.channels as u64).contains(&c) => {
                return Err(format!("\"channelMetadata[{i}].channel\" {c} is given more than once."))
            }
            _ => {
                return Err(format!(
                    "\"channelMetadata[{i}].channel\" must be an integer from 1 to {}.",
                    probe.channels
                ))
            }
        }
        if let Some(speaker) = entry.get("speaker") {
            if !speaker.is_object() {
                return Err(format!("\"channelMetadata[{i}].speaker\" must be an object."));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn probe(channels: u32, duration_secs: f64) -> Probe {
        Probe {
            format: "wav".into(),
            channels,
            duration_secs,
        }
    }

    #[tokio::test]
    async fn the_sandboxs_own_trouble_is_not_a_refusal_of_the_file() {
        let missing = Path::new("/nonexistent/ffprobe");
        let err = ffprobe_with(missing, Path::new("/dev/null")).await.unwrap_err();
        assert!(matches!(err, ProbeError::Internal(_)), "{err:?}");
        let not_audio = ffprobe(Path::new("/dev/null")).await.unwrap_err();
        assert_eq!(
            not_audio,
            ProbeError::Refused("The file at url is not a supported audio file.".into())
        );
    }

    #[test]
    fn parses_ffprobe_output() {
        let out = br#"{"streams":[{"codec_type":"video"},{"codec_type":"audio","channels":3,"duration":"1.5"}],
                       "format":{"format_name":"wav","duration":"2.000000"}}"#;
        assert_eq!(
            parse_ffprobe(out).unwrap(),
            Probe {
                format: "wav".into(),
                channels: 3,
                duration_secs: 2.0
            }
        );
        let no_audio = br#"{"streams":[{"codec_type":"video"}],"format":{"format_name":"tty","duration":"1"}}"#;
        assert!(parse_ffprobe(no_audio).is_err());
        assert!(parse_ffprobe(b"garbage").is_err());
        let stream_duration = br#"{"streams":[{"codec_type":"audio","channels":1,"duration":"7.5"}],"format":{}}"#;
        assert_eq!(parse_ffprobe(stream_duration).unwrap().duration_secs, 7.5);
    }

    #[test]
    fn channel_metadata_must_cover_each_channel_once() {
        let md = |chs: &[u64]| {
            chs.iter()
                .map(|c| json!({"channel": c, "speaker": {"name": "x"}}))
                .collect::<Vec<_>>()
        };
        assert!(check(&probe(2, 10.0), true, Some(&md(&[1, 2]))).is_ok());
        assert!(check(&probe(2, 10.0), true, Some(&md(&[2, 1]))).is_ok());
        assert!(check(&probe(2, 10.0), true, Some(&md(&[1]))).is_err());
        assert!(check(&probe(2, 10.0), true, Some(&md(&[1, 1]))).is_err());
        assert!(check(&probe(2, 10.0), true, Some(&md(&[0, 1]))).is_err());
        assert!(check(&probe(2, 10.0), true, Some(&md(&[1, 3]))).is_err());
        assert!(check(&probe(2, 10.0), true, None).is_err());
        let string_channel = [json!({"channel": "1"}), json!({"channel": 2})];
        assert!(check(&probe(2, 10.0), true, Some(&string_channel)).is_err());
        // Only honoured with per-channel recognition on.
        assert!(check(&probe(2, 10.0), false, Some(&md(&[1]))).is_ok());
    }

    #[test]
    fn four_hours_at_most() {
        assert!(check(&probe(1, MAX_DURATION_SECS), false, None).is_ok());
        assert!(check(&probe(1, MAX_DURATION_SECS + 1.0), false, None).is_err());
    }
}
