//! One piece's speech cut while the piece is decoded: its samples go through the detector and
//! are held only until the detector has settled whether they are speech (about half a minute:
//! its look-ahead, padding and join gap), then the speech among them is handed on and the rest
//! dropped. The cut is made on whole samples, the same ones the segment map states.

use std::collections::VecDeque;

use zoom_symbl_core::speech::{SpeechSegment, Vad, VadSettings};
use zoom_symbl_core::Error;

use super::timeline::{self, Stretch};

pub(super) struct PieceCutter {
    vad: Vad,
    rate: u32,
    /// Samples from `held_from` on, not settled yet.
    held: VecDeque<i16>,
    held_from: u64,
    /// The first of the detector's segments not wholly handed on.
    next: usize,
}

impl PieceCutter {
    pub fn new(settings: VadSettings) -> Result<Self, Error> {
        Ok(PieceCutter {
            vad: Vad::new(settings).map_err(|e| Error::Config(e.to_string()))?,
            rate: settings.sample_rate_hz,
            held: VecDeque::new(),
            held_from: 0,
            next: 0,
        })
    }

    /// Feeds the piece's next samples; appends the speech settled since to `out`.
    pub fn push(&mut self, samples: &[i16], out: &mut Vec<i16>) {
        self.vad.push(samples);
        self.held.extend(samples);
        let heard = self.held_from + self.held.len() as u64;
        let settled = timeline::to_samples(self.vad.settled_seconds(), self.rate).min(heard);
        let vad = &self.vad;
        self.next = hand_on(
            vad.segments(),
            self.next,
            settled,
            self.rate,
            &mut self.held,
            &mut self.held_from,
            out,
        );
    }

    /// The rest of the piece's speech to `out`, and the piece's stretches: exactly what was
    /// handed on, in the piece's own samples.
    pub fn finish(self, out: &mut Vec<i16>) -> Vec<Stretch> {
        let PieceCutter {
            vad,
            rate,
            mut held,
            mut held_from,
            next,
        } = self;
        let heard = held_from + held.len() as u64;
        let speech = vad.finish();
        hand_on(&speech.segments, next, heard, rate, &mut held, &mut held_from, out);
        timeline::stretches(&speech.segments, None, rate)
    }

    /// Samples held now (for the memory bound).
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

/// Hands on the speech among the held samples before `until` (where the detector has settled)
/// and drops the held samples before it; returns the first segment not wholly handed on.
fn hand_on(
    segments: &[SpeechSegment],
    mut next: usize,
    until: u64,
    rate: u32,
    held: &mut VecDeque<i16>,
    held_from: &mut u64,
    out: &mut Vec<i16>,
) -> usize {
    for segment in &segments[next.min(segments.len())..] {
        let (from, to) = (
            timeline::to_samples(segment.start, rate),
            timeline::to_samples(segment.end, rate),
        );
        if from >= until {
            break;
        }
        let (a, b) = (from.max(*held_from), to.min(until));
        if a < b {
            let (start, end) = ((a - *held_from) as usize, (b - *held_from) as usize);
            out.extend(held.range(start..end));
        }
        // A segment ending right where the settled part ends may still grow.
        if to < until {
            next += 1;
        } else {
            break;
        }
    }
    let settled = (until.saturating_sub(*held_from) as usize).min(held.len());
    held.drain(..settled);
    *held_from += settled as u64;
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::speech::tests::pcm;

    /// The cut made in chunks, against the whole track's stretches copied afterwards.
    fn cut_in_chunks(track: &[i16], chunk: usize) -> (Vec<i16>, Vec<Stretch>, usize) {
        let mut cutter = PieceCutter::new(VadSettings::default()).unwrap();
        let mut out = Vec::new();
        let mut most_held = 0;
        for c in track.chunks(chunk) {
            cutter.push(c, &mut out);
            most_held = most_held.max(cutter.held());
        }
        let stretches = cutter.finish(&mut out);
        (out, stretches, most_held)
    }

    #[test]
    fn the_cut_is_the_stretches_samples_back_to_back_whatever_the_chunking() {
        // Long enough that most of it is settled before the end; bursts near the start,
        // in the middle, near a chunk edge and at the very end.
        // 20.0 and 22.0 overlap once padded, 45.0 and 47.9 are 0.6 s apart: both joined.
        let bursts = [
            (0.1, 1.0),
            (20.0, 21.5),
            (22.0, 22.4),
            (45.0, 47.0),
            (47.9, 48.5),
            (79.0, 80.0),
        ];
        let track = pcm(80.0, &bursts);
        let expected_stretches = timeline::stretches(
            &zoom_symbl_core::speech::vad::detect(&track, VadSettings::default())
                .unwrap()
                .segments,
            None,
            16_000,
        );
        let expected: Vec<i16> = expected_stretches
            .iter()
            .flat_map(|s| track[s.from as usize..s.to as usize].iter().copied())
            .collect();
        assert_eq!(expected_stretches.len(), 4, "{expected_stretches:?}");
        for chunk in [1, 4_096, 16_000 * 7 + 3] {
            let (cut, stretches, most_held) = cut_in_chunks(&track, chunk);
            assert_eq!(stretches, expected_stretches, "chunks of {chunk}");
            assert_eq!(cut, expected, "chunks of {chunk}");
            // The look-ahead, padding and join gap, and one chunk.
            assert!(most_held <= 16_000 * 32 + chunk, "held {most_held} samples");
        }
    }

    #[test]
    fn silence_hands_on_nothing_and_holds_a_bounded_amount() {
        let track = pcm(70.0, &[]);
        let (cut, stretches, most_held) = cut_in_chunks(&track, 4_096);
        assert!(cut.is_empty() && stretches.is_empty());
        assert!(most_held <= 16_000 * 32 + 4_096, "held {most_held} samples");
    }
}
