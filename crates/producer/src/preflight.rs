//! Checks made before anything is downloaded: a meeting the provider or this function's
//! memory cannot take fails at once, with a reason its host can act on, instead of after
//! minutes of downloads (or an out-of-memory kill three times over).

use zoom_symbl_core::Error;

use crate::plan::Timeline;

/// Zoom's recordings are one meeting instance; a day is far beyond any real one, so an
/// event that claims more is malformed.
const MAX_MEETING_SECS: f64 = 24.0 * 3600.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// The insights provider's longest file (Symbl: 4 hours).
    pub max_audio_secs: f64,
    /// Tracks one merge can decode at once in the function's memory (BENCHMARKS.md: about
    /// 40 in 1024 MB).
    pub max_tracks: usize,
}

/// Refuses a meeting that cannot be produced, before any download.
pub fn check(timeline: &Timeline, tracks: usize, limits: &Limits) -> Result<(), Error> {
    let secs = timeline.duration_secs();
    let hours = secs / 3600.0;
    if secs > MAX_MEETING_SECS {
        return Err(Error::Invalid(format!(
            "the recording claims to last {hours:.1} hours; more than a day is not a meeting recording"
        )));
    }
    if secs > limits.max_audio_secs {
        return Err(Error::Invalid(format!(
            "the recording is {hours:.1} hours long; the insights provider processes at most {} hours",
            limits.max_audio_secs / 3600.0
        )));
    }
    if tracks > limits.max_tracks {
        return Err(Error::Invalid(format!(
            "the recording has {tracks} participant tracks; at most {} can be merged",
            limits.max_tracks
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const LIMITS: Limits = Limits {
        max_audio_secs: 4.0 * 3600.0,
        max_tracks: 40,
    };

    fn lasting(hours: i64) -> Timeline {
        let start = datetime!(2026-12-01 09:00 UTC);
        Timeline {
            origin: start,
            end: start + time::Duration::hours(hours),
        }
    }

    #[test]
    fn a_meeting_within_every_limit_passes() {
        assert!(check(&lasting(4), 40, &LIMITS).is_ok());
    }

    #[test]
    fn too_long_for_the_provider_is_refused_with_its_length() {
        let err = check(&lasting(5), 2, &LIMITS).unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("5.0 hours long"), "{err}");
        assert!(err.to_string().contains("at most 4 hours"), "{err}");
    }

    #[test]
    fn more_than_a_day_is_refused_as_malformed() {
        let err = check(
            &lasting(25),
            2,
            &Limits {
                max_audio_secs: f64::MAX,
                ..LIMITS
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("more than a day"), "{err}");
    }

    #[test]
    fn more_tracks_than_memory_allows_are_refused() {
        let err = check(&lasting(1), 41, &LIMITS).unwrap_err();
        assert!(err.to_string().contains("41 participant tracks"), "{err}");
    }
}
