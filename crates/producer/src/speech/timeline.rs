//! Pure bookkeeping between the detector and the cut: the pieces in meeting order, each
//! piece's speech as whole-sample stretches, and the segment map of those stretches played
//! back to back. Whole samples on both sides, so the map's `speech_start`s are exactly where
//! the cut put each stretch in the FLAC.

use zoom_symbl_core::speech::{Segment, SegmentMap, SpeechSegment};
use zoom_symbl_core::Error;

use super::SpeechPiece;

/// Samples `[from, to)` of one piece's decode, kept for the speech file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stretch {
    pub from: u64,
    pub to: u64,
}

impl Stretch {
    pub fn len(&self) -> u64 {
        self.to - self.from
    }
}

/// One piece and the stretches of it that are speech.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PieceSpeech {
    pub offset_seconds: f64,
    pub stretches: Vec<Stretch>,
}

/// Seconds to whole samples, as every cut and map rounds them.
pub(super) fn to_samples(seconds: f64, rate: u32) -> u64 {
    (seconds * f64::from(rate)).round().max(0.0) as u64
}

/// The pieces by offset, as the merge plays them; an offset that is not a finite,
/// non-negative number of seconds would put speech nowhere on the timeline.
pub(super) fn in_meeting_order(pieces: &[SpeechPiece]) -> Result<Vec<&SpeechPiece>, Error> {
    if let Some(bad) = pieces
        .iter()
        .find(|p| !(p.offset_seconds.is_finite() && p.offset_seconds >= 0.0))
    {
        return Err(Error::Invalid(format!(
            "speech piece offset must be finite and non-negative, got {}",
            bad.offset_seconds
        )));
    }
    let mut ordered: Vec<&SpeechPiece> = pieces.iter().collect();
    ordered.sort_by(|a, b| a.offset_seconds.total_cmp(&b.offset_seconds));
    Ok(ordered)
}

/// The detector's segments (track time) as whole samples, cut at `limit_seconds` into the
/// piece: like the merge, a piece plays only until the next one starts, which also keeps the
/// segments of successive pieces from overlapping in meeting time.
pub(super) fn stretches(segments: &[SpeechSegment], limit_seconds: Option<f64>, rate: u32) -> Vec<Stretch> {
    let limit = limit_seconds.map_or(u64::MAX, |l| to_samples(l, rate));
    segments
        .iter()
        .map(|s| Stretch {
            from: to_samples(s.start, rate).min(limit),
            to: to_samples(s.end, rate).min(limit),
        })
        .filter(|s| s.to > s.from)
        .collect()
}

/// The map of the speech file: every piece's stretches in order, back to back, each at its
/// piece's offset plus its own start on the meeting timeline.
pub(super) fn segment_map(index: u16, name: &str, pieces: &[PieceSpeech], rate: u32) -> Result<SegmentMap, Error> {
    let seconds = |samples: u64| samples as f64 / f64::from(rate);
    let mut written = 0u64;
    let mut segments = Vec::new();
    for piece in pieces {
        for s in &piece.stretches {
            segments.push(Segment {
                // From the running sample count, not a sum of floats: exact where the cut is.
                speech_start: seconds(written),
                meeting_start: piece.offset_seconds + seconds(s.from),
                duration: seconds(s.len()),
            });
            written += s.len();
        }
    }
    SegmentMap::new(index, name, segments)
        .map_err(|e| Error::Invalid(format!("speech map of participant {index}: {e}")))
}

/// Samples the speech file holds.
pub(super) fn total_samples(pieces: &[PieceSpeech]) -> u64 {
    pieces.iter().flat_map(|p| &p.stretches).map(Stretch::len).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 16_000;

    fn seg(start: f64, end: f64) -> SpeechSegment {
        SpeechSegment { start, end }
    }

    fn piece(source: &str, offset_seconds: f64) -> SpeechPiece {
        SpeechPiece {
            source: source.into(),
            offset_seconds,
        }
    }

    #[test]
    fn pieces_are_put_in_offset_order_and_bad_offsets_refused() {
        let pieces = [piece("late", 30.0), piece("early", 0.5)];
        let order: Vec<_> = in_meeting_order(&pieces)
            .unwrap()
            .iter()
            .map(|p| p.source.as_str())
            .collect();
        assert_eq!(order, ["early", "late"]);
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert!(in_meeting_order(&[piece("a", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn segments_become_whole_samples_cut_where_the_next_piece_starts() {
        let segments = [seg(0.7, 2.4), seg(3.7, 5.4), seg(9.0, 9.5)];
        assert_eq!(
            stretches(&segments, None, RATE),
            [
                Stretch {
                    from: 11_200,
                    to: 38_400
                },
                Stretch {
                    from: 59_200,
                    to: 86_400
                },
                Stretch {
                    from: 144_000,
                    to: 152_000
                },
            ]
        );
        // The next piece starts 5 s in: the second segment is cut there, the third dropped.
        assert_eq!(
            stretches(&segments, Some(5.0), RATE),
            [
                Stretch {
                    from: 11_200,
                    to: 38_400
                },
                Stretch {
                    from: 59_200,
                    to: 80_000
                },
            ]
        );
        assert!(stretches(&segments, Some(0.0), RATE).is_empty());
    }

    #[test]
    fn the_map_lays_stretches_back_to_back_at_their_pieces_offsets() {
        let pieces = [
            PieceSpeech {
                offset_seconds: 2.0,
                stretches: vec![Stretch {
                    from: 16_000,
                    to: 24_000,
                }],
            },
            PieceSpeech {
                offset_seconds: 60.0,
                stretches: vec![
                    Stretch { from: 0, to: 4_000 },
                    Stretch {
                        from: 32_000,
                        to: 48_000,
                    },
                ],
            },
        ];
        let map = segment_map(3, "Ann", &pieces, RATE).unwrap();
        let got: Vec<_> = map
            .segments()
            .iter()
            .map(|s| (s.speech_start, s.meeting_start, s.duration))
            .collect();
        assert_eq!(got, [(0.0, 3.0, 0.5), (0.5, 60.0, 0.25), (0.75, 62.0, 1.0)]);
        assert_eq!(total_samples(&pieces), 28_000);
        assert_eq!(map.speech_seconds(), 1.75);
        assert_eq!((map.index(), map.name()), (3, "Ann"));
    }

    #[test]
    fn no_stretches_make_an_empty_map() {
        let pieces = [PieceSpeech {
            offset_seconds: 0.0,
            stretches: vec![],
        }];
        let map = segment_map(0, "Quiet", &pieces, RATE).unwrap();
        assert!(map.segments().is_empty());
        assert_eq!(total_samples(&pieces), 0);
    }
}
