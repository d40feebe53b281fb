//! The merged file's format: WAV or FLAC, as configured, within what each can hold.

use tracing::warn;

/// FLAC stops at 8 channels; larger meetings are written as WAV whatever the setting.
const FLAC_MAX_CHANNELS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Wav,
    Flac,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "wav" => Ok(OutputFormat::Wav),
            "flac" => Ok(OutputFormat::Flac),
            other => Err(format!("{other:?} is not wav or flac")),
        }
    }
}

impl OutputFormat {
    /// The format a merge of `channels` channels is written in, given this setting.
    pub fn for_channels(self, channels: usize) -> Self {
        if self == OutputFormat::Flac && channels > FLAC_MAX_CHANNELS {
            warn!(channels, "FLAC holds at most 8 channels; writing WAV");
            return OutputFormat::Wav;
        }
        self
    }

    /// The merged file's extension, also recorded as its format.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Wav => "wav",
            OutputFormat::Flac => "flac",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Wav => "audio/wav",
            OutputFormat::Flac => "audio/flac",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse() {
        assert_eq!("flac".parse::<OutputFormat>(), Ok(OutputFormat::Flac));
        assert_eq!("WAV".parse::<OutputFormat>(), Ok(OutputFormat::Wav));
        assert!("mp3".parse::<OutputFormat>().is_err());
    }

    #[test]
    fn flac_up_to_eight_channels_then_wav() {
        assert_eq!(OutputFormat::Flac.for_channels(8), OutputFormat::Flac);
        assert_eq!(OutputFormat::Flac.for_channels(9), OutputFormat::Wav);
        assert_eq!(OutputFormat::Wav.for_channels(1), OutputFormat::Wav);
        assert_eq!(
            (OutputFormat::Flac.extension(), OutputFormat::Flac.content_type()),
            ("flac", "audio/flac")
        );
        assert_eq!(
            (OutputFormat::Wav.extension(), OutputFormat::Wav.content_type()),
            ("wav", "audio/wav")
        );
    }
}
