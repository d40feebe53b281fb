//! Voice activity detection over 16 kHz mono 16-bit PCM: an energy detector with an adaptive
//! noise floor.
//!
//! Zoom gives one clean track per participant, so the question per frame is only "is this
//! person louder than their own background?". Each frame's RMS level (dBFS) is compared with
//! a noise floor that follows the quietest frames down at once and rises slowly, so a long
//! sentence does not become "noise" and a room that gets noisier is learnt within seconds.
//!
//! Streaming with a bounded delay: [`Vad::push`] takes chunks as a decoder's pipe yields them.
//! The floor is tracked forwards and backwards, so speech at the very start of a track, before
//! any quiet frame, is judged against the quiet that follows; the backward floor of a frame
//! needs only the next [`LOOK_AHEAD_SECONDS`] (it rises 3 dB/s, so a quiet frame further
//! ahead could not lower it), so each frame is judged once that much more has been heard.
//! Memory is one level per frame of that window and the segments found, never the samples;
//! [`Vad::settled_seconds`] says how much of the track is decided, for a caller that cuts the
//! speech while the track is still being decoded.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The rate the producer decodes every track to.
pub const SAMPLE_RATE_HZ: u32 = 16_000;
/// Frame length: short enough to follow syllables, long enough for a stable level.
pub const FRAME_SECONDS: f64 = 0.02;
/// How far above the noise floor a frame must be to count as speech.
pub const MARGIN_DB: f32 = 10.0;
/// No frame quieter than this is speech, whatever the floor (digital silence, faint hiss).
pub const MIN_SPEECH_DBFS: f32 = -55.0;
/// Frames quieter than this (a muted stretch, digital zero) do not teach the noise floor, so
/// unmuting into a normal room is not taken for speech.
pub const FLOOR_IGNORE_BELOW_DBFS: f32 = -80.0;
/// How fast the floor may rise while frames stay above it.
pub const FLOOR_RISE_DB_PER_SECOND: f32 = 3.0;
/// How far ahead the backward floor looks. In 30 s of frames that teach it, it rises 90 dB,
/// more than the 80 dB between the loudest level and the ignored ones: over such a window the
/// floor is exactly the one seen from the track's end (only a muted stretch, which teaches
/// nothing, widens the window in time; the floor behind it is then judged on 30 s of the room).
pub const LOOK_AHEAD_SECONDS: f64 = 30.0;
/// Active stretches shorter than this are clicks, not words.
pub const MIN_ONSET_SECONDS: f64 = 0.06;
/// Speech is held this long after the last active frame; shorter dips are bridged.
pub const HANGOVER_SECONDS: f64 = 0.1;
/// Each segment is widened by this much on both sides (soft word starts and ends).
pub const PADDING_SECONDS: f64 = 0.3;
/// Padded segments closer than this are joined: a cut that short saves little and may clip.
pub const JOIN_GAP_SECONDS: f64 = 1.0;
/// The level reported for a frame of exact zeros (log of zero is not a number).
const DIGITAL_ZERO_DBFS: f32 = -120.0;
const FULL_SCALE: f64 = 32_768.0;

/// Tuning of the detector; [`VadSettings::default`] holds the named constants above.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VadSettings {
    pub sample_rate_hz: u32,
    pub frame_seconds: f64,
    pub margin_db: f32,
    pub min_speech_dbfs: f32,
    pub floor_ignore_below_dbfs: f32,
    pub floor_rise_db_per_second: f32,
    pub look_ahead_seconds: f64,
    pub min_onset_seconds: f64,
    pub hangover_seconds: f64,
    pub padding_seconds: f64,
    pub join_gap_seconds: f64,
}

impl Default for VadSettings {
    fn default() -> Self {
        VadSettings {
            sample_rate_hz: SAMPLE_RATE_HZ,
            frame_seconds: FRAME_SECONDS,
            margin_db: MARGIN_DB,
            min_speech_dbfs: MIN_SPEECH_DBFS,
            floor_ignore_below_dbfs: FLOOR_IGNORE_BELOW_DBFS,
            floor_rise_db_per_second: FLOOR_RISE_DB_PER_SECOND,
            look_ahead_seconds: LOOK_AHEAD_SECONDS,
            min_onset_seconds: MIN_ONSET_SECONDS,
            hangover_seconds: HANGOVER_SECONDS,
            padding_seconds: PADDING_SECONDS,
            join_gap_seconds: JOIN_GAP_SECONDS,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VadError {
    #[error("invalid VAD settings: {0}")]
    InvalidSettings(&'static str),
}

impl VadSettings {
    /// Rejects settings that would divide by zero or make frames of no samples.
    pub fn validate(&self) -> Result<(), VadError> {
        let finite_non_negative = |v: f64| v.is_finite() && v >= 0.0;
        if self.sample_rate_hz == 0 {
            return Err(VadError::InvalidSettings("sample_rate_hz must be positive"));
        }
        if !(self.frame_seconds.is_finite() && self.frame_seconds > 0.0) || self.frame_samples() == 0 {
            return Err(VadError::InvalidSettings("frame_seconds must hold at least one sample"));
        }
        let levels = [
            self.margin_db,
            self.min_speech_dbfs,
            self.floor_ignore_below_dbfs,
            self.floor_rise_db_per_second,
        ];
        if levels.iter().any(|v| !v.is_finite()) || self.margin_db < 0.0 {
            return Err(VadError::InvalidSettings(
                "levels must be finite and the margin non-negative",
            ));
        }
        let spans = [
            self.look_ahead_seconds,
            self.min_onset_seconds,
            self.hangover_seconds,
            self.padding_seconds,
            self.join_gap_seconds,
        ];
        if !spans.into_iter().all(finite_non_negative) {
            return Err(VadError::InvalidSettings("durations must be finite and non-negative"));
        }
        Ok(())
    }

    fn frame_samples(&self) -> usize {
        // Validated positive and small: the cast cannot overflow for any sane rate.
        (self.frame_seconds * f64::from(self.sample_rate_hz)).round() as usize
    }

    fn frames_in(&self, seconds: f64) -> usize {
        (seconds / self.frame_seconds).round() as usize
    }
}

/// A stretch of speech in the track, in seconds from the track's first sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpeechSegment {
    pub start: f64,
    pub end: f64,
}

impl SpeechSegment {
    pub fn duration(&self) -> f64 {
        self.end - self.start
    }
}

/// What the detector found in one track.
#[derive(Debug, Clone, PartialEq)]
pub struct Speech {
    /// Padded, joined, in order, within `[0, media_seconds]`.
    pub segments: Vec<SpeechSegment>,
    /// Length of the audio that was fed, in seconds.
    pub media_seconds: f64,
}

impl Speech {
    /// Seconds of audio the segments cover: what a speech-only file would last.
    pub fn speech_seconds(&self) -> f64 {
        self.segments.iter().map(SpeechSegment::duration).sum()
    }
}

/// Frames `[start, end)` with active frames, dips up to the hangover bridged.
#[derive(Debug, Clone, Copy)]
struct Run {
    start: usize,
    /// One past the last active frame.
    end: usize,
    active: usize,
    /// Long enough to be speech: its segment is in the list (and grows with it).
    kept: bool,
}

/// The streaming detector: push samples (or little-endian bytes) in any chunking, then finish.
#[derive(Debug, Clone)]
pub struct Vad {
    settings: VadSettings,
    frame_samples: usize,
    look_ahead: usize,
    hangover: usize,
    onset: usize,
    /// The floor's rise per frame, as the forward tracker adds it.
    rise: f32,
    frame_sum_squares: u64,
    frame_len: usize,
    total_samples: u64,
    /// A byte of a sample split across two [`Vad::push_le_bytes`] chunks.
    pending_byte: Option<u8>,
    /// Frames heard but not judged yet: level (dBFS), and how many frames that teach the floor
    /// came before it.
    waiting: VecDeque<(f32, u64)>,
    /// Frames judged so far (the first waiting frame's number).
    judged: usize,
    /// Frames heard that teach the floor.
    taught: u64,
    /// The forward floor after the last judged frame.
    forward: f32,
    /// The backward floor's candidates among the waiting frames: (frame, level + rise × taught
    /// frames before it), keys increasing from the front, so the front is the window's minimum.
    lows: VecDeque<(usize, f64)>,
    run: Option<Run>,
    /// Padded and joined; the last one may still grow while a run is open.
    segments: Vec<SpeechSegment>,
}

impl Vad {
    pub fn new(settings: VadSettings) -> Result<Self, VadError> {
        settings.validate()?;
        Ok(Vad {
            frame_samples: settings.frame_samples(),
            look_ahead: settings.frames_in(settings.look_ahead_seconds),
            hangover: settings.frames_in(settings.hangover_seconds),
            onset: settings.frames_in(settings.min_onset_seconds).max(1),
            rise: settings.floor_rise_db_per_second * settings.frame_seconds as f32,
            settings,
            frame_sum_squares: 0,
            frame_len: 0,
            total_samples: 0,
            pending_byte: None,
            waiting: VecDeque::new(),
            judged: 0,
            taught: 0,
            forward: f32::INFINITY,
            lows: VecDeque::new(),
            run: None,
            segments: Vec::new(),
        })
    }

    pub fn settings(&self) -> &VadSettings {
        &self.settings
    }

    /// Feeds samples; chunk boundaries need not fall on frames.
    pub fn push(&mut self, samples: &[i16]) {
        let mut rest = samples;
        while !rest.is_empty() {
            // A frame's part at a time, its squares summed exactly in integers (the loop the
            // compiler vectorizes: this runs on every sample of every track).
            let take = (self.frame_samples - self.frame_len).min(rest.len());
            let (now, later) = rest.split_at(take);
            self.frame_sum_squares += now.iter().map(|&s| square(s)).sum::<u64>();
            self.frame_len += take;
            self.total_samples += take as u64;
            if self.frame_len == self.frame_samples {
                self.close_frame();
            }
            rest = later;
        }
    }

    /// Feeds raw `s16le` bytes as a decoder writes them to a pipe; an odd byte at the end of
    /// a chunk waits for the next.
    pub fn push_le_bytes(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        if let Some(low) = self.pending_byte.take() {
            match rest.split_first() {
                Some((&high, tail)) => {
                    self.push_sample(i16::from_le_bytes([low, high]));
                    rest = tail;
                }
                None => {
                    self.pending_byte = Some(low);
                    return;
                }
            }
        }
        let mut pairs = rest.chunks_exact(2);
        for pair in &mut pairs {
            self.push_sample(i16::from_le_bytes([pair[0], pair[1]]));
        }
        self.pending_byte = pairs.remainder().first().copied();
    }

    /// Seconds of audio fed so far.
    pub fn media_seconds(&self) -> f64 {
        self.total_samples as f64 / f64::from(self.settings.sample_rate_hz)
    }

    /// The segments found so far: final before [`Vad::settled_seconds`]; the last one may still
    /// end later, and ends are not yet clamped to the media.
    pub fn segments(&self) -> &[SpeechSegment] {
        &self.segments
    }

    /// Time before which the speech found is final: no segment will start, grow or be joined
    /// before it, whatever is pushed next. It lags what was pushed by about the look-ahead
    /// plus the padding and the join gap, so a caller holding the samples after it holds a
    /// bounded amount.
    pub fn settled_seconds(&self) -> f64 {
        let s = &self.settings;
        let frame = |f: usize| f as f64 * s.frame_seconds;
        // A run not yet judged, or one judged but too short to be kept yet, starts no earlier.
        let mut next_start = frame(self.judged) - s.padding_seconds;
        if let Some(run) = self.run.filter(|r| !r.kept) {
            next_start = next_start.min(frame(run.start) - s.padding_seconds);
        }
        let next_start = next_start.max(0.0);
        match self.segments.last() {
            // A segment starting there would join the last one (the gap becoming speech), or
            // the last one still grows: everything after its end may change.
            Some(last) if next_start - last.end < s.join_gap_seconds => last.end,
            _ => next_start,
        }
    }

    /// The speech found: a trailing partial frame counts as a frame of its own length.
    pub fn finish(mut self) -> Speech {
        if self.frame_len > 0 {
            self.close_frame();
        }
        while !self.waiting.is_empty() {
            self.judge_next();
        }
        let media_seconds = self.media_seconds();
        for segment in &mut self.segments {
            segment.end = segment.end.min(media_seconds);
        }
        Speech {
            segments: self.segments,
            media_seconds,
        }
    }

    fn push_sample(&mut self, s: i16) {
        self.frame_sum_squares += square(s);
        self.frame_len += 1;
        self.total_samples += 1;
        if self.frame_len == self.frame_samples {
            self.close_frame();
        }
    }

    fn close_frame(&mut self) {
        // Exact: at most 2^30 per sample, far under 2^53 for any frame.
        let level = dbfs(self.frame_sum_squares as f64, self.frame_len);
        self.frame_sum_squares = 0;
        self.frame_len = 0;
        let frame = self.judged + self.waiting.len();
        if level >= self.settings.floor_ignore_below_dbfs {
            // The backward floor at frame i is min over later taught frames j of level_j plus
            // the rise for each taught frame in [i, j): a sliding minimum of these keys.
            let key = f64::from(level) + f64::from(self.rise) * self.taught as f64;
            while self.lows.back().is_some_and(|&(_, k)| k >= key) {
                self.lows.pop_back();
            }
            self.lows.push_back((frame, key));
            self.waiting.push_back((level, self.taught));
            self.taught += 1;
        } else {
            self.waiting.push_back((level, self.taught));
        }
        if self.waiting.len() > self.look_ahead {
            self.judge_next();
        }
    }

    /// Judges the oldest waiting frame against the lower of the forward and backward floors:
    /// each has risen only since its last quiet frame.
    fn judge_next(&mut self) {
        let Some((level, taught_before)) = self.waiting.pop_front() else {
            return;
        };
        let s = &self.settings;
        let i = self.judged;
        self.judged += 1;
        while self.lows.front().is_some_and(|&(j, _)| j < i) {
            self.lows.pop_front();
        }
        let backward = self.lows.front().map_or(f32::INFINITY, |&(_, key)| {
            (key - f64::from(self.rise) * taught_before as f64) as f32
        });
        if level >= s.floor_ignore_below_dbfs {
            self.forward = if level <= self.forward {
                level
            } else {
                (self.forward + self.rise).min(level)
            };
        }
        let active = level >= s.min_speech_dbfs && level > self.forward.min(backward) + s.margin_db;
        self.step_run(i, active);
    }

    /// Active frames with dips up to the hangover bridged make a run; a run with fewer active
    /// frames than the onset is dropped, a longer one is a segment from then on.
    fn step_run(&mut self, i: usize, active: bool) {
        let hangover = self.hangover;
        if !active {
            if self.run.is_some_and(|r| i >= r.end + hangover) {
                self.run = None;
            }
            return;
        }
        let run = match &mut self.run {
            Some(run) if i - run.end <= hangover => {
                run.end = i + 1;
                run.active += 1;
                *run
            }
            open => *open.insert(Run {
                start: i,
                end: i + 1,
                active: 1,
                kept: false,
            }),
        };
        if run.active >= self.onset {
            self.keep(run);
        }
    }

    /// The run's segment (held for the hangover, padded), joined to the last one when the gap
    /// is short; ends are clamped to the media at the finish.
    fn keep(&mut self, run: Run) {
        let s = &self.settings;
        let segment = SpeechSegment {
            start: (run.start as f64 * s.frame_seconds - s.padding_seconds).max(0.0),
            end: (run.end + self.hangover) as f64 * s.frame_seconds + s.padding_seconds,
        };
        let joins = |last: &SpeechSegment| run.kept || segment.start - last.end < s.join_gap_seconds;
        match self.segments.last_mut() {
            Some(last) if joins(last) => last.end = last.end.max(segment.end),
            _ => self.segments.push(segment),
        }
        if let Some(open) = &mut self.run {
            open.kept = true;
        }
    }
}

/// Runs the detector over samples already in memory (tests, short clips).
pub fn detect(samples: &[i16], settings: VadSettings) -> Result<Speech, VadError> {
    let mut vad = Vad::new(settings)?;
    vad.push(samples);
    Ok(vad.finish())
}

fn square(s: i16) -> u64 {
    let v = i64::from(s);
    (v * v) as u64
}

/// RMS level relative to full scale; exact zeros get a fixed floor instead of minus infinity.
fn dbfs(sum_squares: f64, n: usize) -> f32 {
    if n == 0 || sum_squares <= 0.0 {
        return DIGITAL_ZERO_DBFS;
    }
    let rms = (sum_squares / n as f64).sqrt();
    ((20.0 * (rms / FULL_SCALE).log10()) as f32).max(DIGITAL_ZERO_DBFS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The detector as it was before it streamed: every level kept, both floors tracked over
    /// the whole track at the end. The streaming one must find the same.
    mod whole_track {
        use super::super::*;

        pub fn detect(samples: &[i16], s: &VadSettings) -> Speech {
            let n = s.frame_samples();
            let levels: Vec<f32> = samples
                .chunks(n)
                .map(|c| dbfs(c.iter().map(|&v| f64::from(v) * f64::from(v)).sum(), c.len()))
                .collect();
            let media = samples.len() as f64 / f64::from(s.sample_rate_hz);
            let active = active_frames(&levels, s);
            let runs = speech_runs(&active, s);
            Speech {
                segments: to_segments(&runs, s, media),
                media_seconds: media,
            }
        }

        fn track_floor<'a>(levels: impl Iterator<Item = &'a f32>, s: &VadSettings) -> Vec<f32> {
            let rise = s.floor_rise_db_per_second * s.frame_seconds as f32;
            let mut floor = f32::INFINITY;
            levels
                .map(|&level| {
                    if level >= s.floor_ignore_below_dbfs {
                        floor = if level <= floor {
                            level
                        } else {
                            (floor + rise).min(level)
                        };
                    }
                    floor
                })
                .collect()
        }

        fn active_frames(levels: &[f32], s: &VadSettings) -> Vec<bool> {
            let forward = track_floor(levels.iter(), s);
            let mut backward = track_floor(levels.iter().rev(), s);
            backward.reverse();
            levels
                .iter()
                .zip(forward.iter().zip(&backward))
                .map(|(&level, (&f, &b))| level >= s.min_speech_dbfs && level > f.min(b) + s.margin_db)
                .collect()
        }

        fn speech_runs(active: &[bool], s: &VadSettings) -> Vec<(usize, usize)> {
            let hangover = s.frames_in(s.hangover_seconds);
            let onset = s.frames_in(s.min_onset_seconds).max(1);
            let mut runs: Vec<(usize, usize, usize)> = Vec::new();
            for (i, _) in active.iter().enumerate().filter(|(_, &a)| a) {
                match runs.last_mut() {
                    Some((_, end, count)) if i - *end <= hangover => {
                        *end = i + 1;
                        *count += 1;
                    }
                    _ => runs.push((i, i + 1, 1)),
                }
            }
            runs.into_iter()
                .filter(|&(_, _, count)| count >= onset)
                .map(|(start, end, _)| (start, (end + hangover).min(active.len())))
                .collect()
        }

        fn to_segments(runs: &[(usize, usize)], s: &VadSettings, media: f64) -> Vec<SpeechSegment> {
            let mut out: Vec<SpeechSegment> = Vec::with_capacity(runs.len());
            for &(a, b) in runs {
                let seg = SpeechSegment {
                    start: (a as f64 * s.frame_seconds - s.padding_seconds).max(0.0),
                    end: (b as f64 * s.frame_seconds + s.padding_seconds).min(media),
                };
                match out.last_mut() {
                    Some(prev) if seg.start - prev.end < s.join_gap_seconds => {
                        prev.end = prev.end.max(seg.end);
                    }
                    _ => out.push(seg),
                }
            }
            out
        }
    }

    const RATE: f64 = 16_000.0;

    /// Deterministic noise (xorshift), so the tests never flake.
    struct Noise(u64);

    impl Noise {
        /// Roughly uniform in [-1, 1).
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        }
    }

    /// Amplitude whose RMS is `db` dBFS for a sine (peak = rms·√2) or uniform noise (rms·√3).
    fn amplitude(db: f64, crest: f64) -> f64 {
        FULL_SCALE * 10f64.powf(db / 20.0) * crest
    }

    /// `seconds` of uniform noise at `noise_db` dBFS, with 220 Hz tone bursts at `tone_db`
    /// over the given intervals (a syllable-like 4 Hz wobble keeps it speech-shaped).
    fn track(seconds: f64, noise_db: Option<f64>, tone_db: f64, bursts: &[(f64, f64)]) -> Vec<i16> {
        let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
        let n = (seconds * RATE) as usize;
        let na = noise_db.map_or(0.0, |db| amplitude(db, 3f64.sqrt()));
        let ta = amplitude(tone_db, 2f64.sqrt());
        (0..n)
            .map(|i| {
                let t = i as f64 / RATE;
                let mut v = na * noise.next();
                if bursts.iter().any(|&(a, b)| t >= a && t < b) {
                    let wobble = 0.75 + 0.25 * (2.0 * std::f64::consts::PI * 4.0 * t).sin();
                    v += ta * wobble * (2.0 * std::f64::consts::PI * 220.0 * t).sin();
                }
                v.round().clamp(-32_768.0, 32_767.0) as i16
            })
            .collect()
    }

    /// The streaming detector's result, checked against the whole-track one.
    fn run(samples: &[i16]) -> Speech {
        let speech = detect(samples, VadSettings::default()).unwrap();
        assert_eq!(speech, whole_track::detect(samples, &VadSettings::default()));
        speech
    }

    /// Segments clipped to `[0, until)`.
    fn clipped(segments: &[SpeechSegment], until: f64) -> Vec<SpeechSegment> {
        segments
            .iter()
            .filter(|s| s.start < until)
            .map(|s| SpeechSegment {
                start: s.start,
                end: s.end.min(until),
            })
            .collect()
    }

    /// Two minutes and a half: a room whose noise steps up and down, a muted minute, speech
    /// at the start, in the middle and at the end, quiet and loud.
    fn long_track() -> (Vec<i16>, Vec<(f64, f64)>) {
        // 30.0 and 32.3: padded, 0.6 s apart, joined once the second is heard.
        let mut samples = track(
            40.0,
            Some(-35.0),
            -12.0,
            &[(0.0, 3.0), (10.0, 12.5), (30.0, 30.8), (32.3, 33.0)],
        );
        samples.extend(track(
            30.0,
            Some(-62.0),
            -30.0,
            &[(5.0, 9.0), (9.5, 10.0), (20.0, 21.0)],
        ));
        samples.extend(vec![0; 16_000 * 45]);
        samples.extend(track(35.0, Some(-48.0), -20.0, &[(2.0, 4.0), (33.0, 35.0)]));
        let bursts = [
            (0.0, 3.0),
            (10.0, 12.5),
            (30.0, 30.8),
            (32.3, 33.0),
            (45.0, 49.0),
            (49.5, 50.0),
            (60.0, 61.0),
            (117.0, 119.0),
            (148.0, 150.0),
        ];
        (samples, bursts.to_vec())
    }

    #[test]
    fn a_long_track_streams_to_the_same_speech_as_the_whole_track() {
        let (samples, bursts) = long_track();
        let speech = run(&samples);
        assert_covers(&speech, &bursts, PADDING_SECONDS);
        // The abrupt room changes cost some seconds, the same as over the whole track.
        assert!(speech.speech_seconds() < 35.0, "{:?}", speech.segments);
    }

    #[test]
    fn what_is_settled_never_changes_and_lags_by_a_bounded_time() {
        let (samples, _) = long_track();
        let mut vad = Vad::new(VadSettings::default()).unwrap();
        let mut seen = Vec::new();
        let mut last = 0.0;
        for chunk in samples.chunks(7_919) {
            vad.push(chunk);
            let settled = vad.settled_seconds();
            assert!(settled >= last, "settled went back from {last} to {settled}");
            let lag = vad.media_seconds() - settled;
            assert!(
                lag <= LOOK_AHEAD_SECONDS + PADDING_SECONDS + JOIN_GAP_SECONDS + 0.1,
                "{lag} s behind"
            );
            assert!(vad.waiting.len() <= vad.look_ahead && vad.lows.len() <= vad.look_ahead);
            seen.push((settled, clipped(vad.segments(), settled)));
            last = settled;
        }
        let speech = vad.finish();
        for (settled, segments) in seen {
            assert_eq!(clipped(&speech.segments, settled), segments, "before {settled} s");
        }
    }

    #[test]
    fn nothing_is_settled_past_what_was_heard_only_after_the_finish() {
        let mut vad = Vad::new(VadSettings::default()).unwrap();
        vad.push(&track(5.0, Some(-60.0), -25.0, &[(1.0, 2.0)]));
        // Under the look-ahead: nothing judged yet.
        assert_eq!(vad.settled_seconds(), 0.0);
        assert!(vad.segments().is_empty());
        assert_eq!(vad.finish().segments.len(), 1);
    }

    fn assert_near(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{actual} is not within {tolerance} of {expected}"
        );
    }

    /// Every burst lies inside some segment, padded by at least `pad` where the media allows.
    fn assert_covers(speech: &Speech, bursts: &[(f64, f64)], pad: f64) {
        for &(a, b) in bursts {
            let start = (a - pad).max(0.0);
            let end = (b + pad).min(speech.media_seconds);
            assert!(
                speech
                    .segments
                    .iter()
                    .any(|s| s.start <= start + 1e-9 && s.end >= end - 1e-9),
                "burst {a}..{b} not covered by {:?}",
                speech.segments
            );
        }
    }

    #[test]
    fn defaults_are_the_named_constants_and_valid() {
        let s = VadSettings::default();
        assert_eq!(s.sample_rate_hz, SAMPLE_RATE_HZ);
        assert_eq!(s.padding_seconds, PADDING_SECONDS);
        assert_eq!(s.join_gap_seconds, JOIN_GAP_SECONDS);
        assert_eq!(s.frame_samples(), 320);
        assert_eq!(s.look_ahead_seconds, LOOK_AHEAD_SECONDS);
        s.validate().unwrap();
    }

    #[test]
    fn invalid_settings_are_refused() {
        let zero_rate = VadSettings {
            sample_rate_hz: 0,
            ..VadSettings::default()
        };
        assert!(Vad::new(zero_rate).is_err());
        let tiny_frame = VadSettings {
            frame_seconds: 1e-6,
            ..VadSettings::default()
        };
        assert!(Vad::new(tiny_frame).is_err());
        let nan_pad = VadSettings {
            padding_seconds: f64::NAN,
            ..VadSettings::default()
        };
        assert!(Vad::new(nan_pad).is_err());
    }

    #[test]
    fn digital_zero_is_never_speech() {
        let speech = run(&vec![0; 16_000 * 10]);
        assert!(speech.segments.is_empty());
        assert_near(speech.media_seconds, 10.0, 1e-9);
    }

    #[test]
    fn quiet_hiss_alone_is_not_speech() {
        let speech = run(&track(10.0, Some(-70.0), -20.0, &[]));
        assert!(speech.segments.is_empty(), "{:?}", speech.segments);
    }

    #[test]
    fn steady_room_noise_alone_is_not_speech() {
        // Well above the absolute minimum: only the adaptive floor keeps it out.
        let speech = run(&track(20.0, Some(-40.0), -20.0, &[]));
        assert!(speech.segments.is_empty(), "{:?}", speech.segments);
    }

    #[test]
    fn empty_input_has_no_speech() {
        let speech = run(&[]);
        assert!(speech.segments.is_empty());
        assert_eq!(speech.media_seconds, 0.0);
    }

    #[test]
    fn tone_bursts_over_a_noise_floor_are_found_and_padded() {
        let bursts = [(2.0, 3.5), (8.0, 9.0)];
        let speech = run(&track(12.0, Some(-60.0), -25.0, &bursts));
        assert_eq!(speech.segments.len(), 2, "{:?}", speech.segments);
        assert_covers(&speech, &bursts, PADDING_SECONDS);
        // Tight: the padding and hangover, not seconds of the floor.
        let first = speech.segments[0];
        assert_near(first.start, 2.0 - PADDING_SECONDS, 0.03);
        assert_near(first.end, 3.5 + HANGOVER_SECONDS + PADDING_SECONDS, 0.05);
    }

    #[test]
    fn speech_above_a_loud_noisy_background_is_found() {
        let bursts = [(1.0, 2.5), (5.0, 7.0), (12.0, 13.0)];
        let speech = run(&track(15.0, Some(-28.0), -8.0, &bursts));
        assert_eq!(speech.segments.len(), 3, "{:?}", speech.segments);
        assert_covers(&speech, &bursts, PADDING_SECONDS);
        assert!(speech.speech_seconds() < 8.0, "{:?}", speech.segments);
    }

    #[test]
    fn speech_at_the_very_start_is_judged_against_the_quiet_after_it() {
        let bursts = [(0.0, 2.0)];
        let speech = run(&track(8.0, Some(-35.0), -12.0, &bursts));
        assert_eq!(speech.segments.len(), 1, "{:?}", speech.segments);
        assert_eq!(speech.segments[0].start, 0.0);
        assert_covers(&speech, &bursts, PADDING_SECONDS);
    }

    #[test]
    fn a_long_sentence_does_not_become_noise() {
        let bursts = [(3.0, 15.0)];
        let speech = run(&track(18.0, Some(-50.0), -20.0, &bursts));
        assert_eq!(speech.segments.len(), 1, "{:?}", speech.segments);
        assert_covers(&speech, &bursts, PADDING_SECONDS);
    }

    #[test]
    fn unmuting_into_room_noise_is_not_speech() {
        // Digital zero (muted), then the room's noise: the muted stretch taught no floor.
        let mut samples = vec![0; 16_000 * 5];
        samples.extend(track(10.0, Some(-42.0), -20.0, &[]));
        let speech = run(&samples);
        assert!(speech.segments.is_empty(), "{:?}", speech.segments);
    }

    #[test]
    fn a_room_getting_noisier_is_learnt_within_seconds() {
        let mut samples = track(10.0, Some(-65.0), -20.0, &[]);
        samples.extend(track(20.0, Some(-45.0), -20.0, &[]));
        let speech = run(&samples);
        // Some false speech right after the step is the price of a slowly rising floor.
        assert!(speech.speech_seconds() < 6.0, "{:?}", speech.segments);
        assert!(speech.segments.iter().all(|s| s.end < 18.0), "{:?}", speech.segments);
    }

    #[test]
    fn gaps_under_the_join_gap_are_joined_and_longer_ones_kept() {
        // 1.2 s apart: padded (0.3 + 0.1 hangover + 0.3) the gap is 0.5 s, joined.
        // 3 s apart: padded the gap is 2.3 s, kept.
        let bursts = [(1.0, 2.0), (3.2, 4.0), (7.0, 8.0)];
        let speech = run(&track(10.0, Some(-60.0), -25.0, &bursts));
        assert_eq!(speech.segments.len(), 2, "{:?}", speech.segments);
        assert_covers(&speech, &bursts[..2], PADDING_SECONDS);
        assert!(speech.segments[0].start < 1.0 && speech.segments[0].end > 4.0);
    }

    #[test]
    fn padding_is_clamped_to_the_media() {
        let bursts = [(0.1, 1.0), (4.0, 5.0)];
        let speech = run(&track(5.0, Some(-60.0), -25.0, &bursts));
        let first = speech.segments.first().unwrap();
        let last = speech.segments.last().unwrap();
        assert_eq!(first.start, 0.0);
        assert_near(last.end, 5.0, 1e-9);
    }

    #[test]
    fn a_click_shorter_than_the_onset_is_ignored() {
        let speech = run(&track(5.0, Some(-60.0), -10.0, &[(2.0, 2.03)]));
        assert!(speech.segments.is_empty(), "{:?}", speech.segments);
    }

    #[test]
    fn chunking_and_byte_splitting_do_not_change_the_result() {
        let samples = track(6.0, Some(-55.0), -22.0, &[(1.0, 2.0), (4.0, 4.5)]);
        let whole = run(&samples);
        let mut by_samples = Vad::new(VadSettings::default()).unwrap();
        for chunk in samples.chunks(777) {
            by_samples.push(chunk);
        }
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut by_bytes = Vad::new(VadSettings::default()).unwrap();
        for chunk in bytes.chunks(1_001) {
            by_bytes.push_le_bytes(chunk);
        }
        assert_eq!(by_samples.finish(), whole);
        assert_eq!(by_bytes.finish(), whole);
    }

    #[test]
    fn a_trailing_partial_frame_counts_toward_the_media_length() {
        let mut vad = Vad::new(VadSettings::default()).unwrap();
        vad.push(&vec![0; 16_000 + 100]);
        assert_near(vad.finish().media_seconds, 1.00625, 1e-9);
    }

    #[test]
    fn levels_are_in_dbfs() {
        let full_square = 32_768.0f64 * 32_768.0 * 10.0;
        assert_near(f64::from(dbfs(full_square, 10)), 0.0, 1e-3);
        assert_eq!(dbfs(0.0, 10), DIGITAL_ZERO_DBFS);
        let half = 16_384.0f64 * 16_384.0;
        assert_near(f64::from(dbfs(half, 1)), -6.0206, 1e-3);
    }
}
