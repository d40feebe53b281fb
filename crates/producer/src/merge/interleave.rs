//! The aligned merge: the decoders' output interleaved here sample by sample into the
//! multichannel stream, with a mono mix on the side, and each piece's own samples shown to a
//! [`Tap`] (the aws provider's speech cut reads the merge's decoders instead of decoding every
//! track again). Pure (any readers and writers); nothing is buffered beyond one block per channel.

use std::future::Future;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use zoom_symbl_core::Error;

use crate::plan::{ChannelPlan, MergePlan};

/// Frames per block: 0.25 s at 16 kHz, well under a pipe's buffer per channel.
const BLOCK: usize = 4096;

/// How much real audio each piece's decoder delivered, for the log and the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceStats {
    pub decoded_frames: u64,
    /// The decoder ended before its piece's time did (normal for a participant who left).
    pub ended_early: bool,
}

/// What else reads each piece's decoded samples while the merge goes.
pub trait Tap: Send {
    /// What [`Tap::finish`] gives back.
    type Done: Send;

    /// The next samples of piece `piece` (numbered as `plan.pieces()`), in order from the
    /// piece's offset, only those the merge plays (until the channel's next piece starts).
    fn samples(&mut self, piece: usize, samples: &[i16]) -> impl Future<Output = Result<(), Error>> + Send;

    /// Piece `piece` gets no more samples: its decoder ended or its channel's next piece took
    /// over. (Pieces still playing at the meeting's end are told nothing: see `finish`.)
    fn ended(&mut self, piece: usize) -> impl Future<Output = Result<(), Error>> + Send;

    /// The merge is over.
    fn finish(self) -> impl Future<Output = Result<Self::Done, Error>> + Send;
}

/// No one else reads the pieces.
pub struct NoTap;

impl Tap for NoTap {
    type Done = ();

    async fn samples(&mut self, _piece: usize, _samples: &[i16]) -> Result<(), Error> {
        Ok(())
    }

    async fn ended(&mut self, _piece: usize) -> Result<(), Error> {
        Ok(())
    }

    async fn finish(self) -> Result<(), Error> {
        Ok(())
    }
}

/// Writes `plan.total_samples` frames of interleaved s16le to `out` (after `header`; with no
/// `out`, as for the aws provider, no frames are woven at all), and
/// the clamped sum of all channels to `mix` as mono s16le. `decoders` yield each piece's
/// mono s16le from its first sample on, in `plan.pieces()` order.
pub async fn interleave<R, W, M, T>(
    plan: &MergePlan,
    decoders: &mut [R],
    header: &[u8],
    mut out: Option<&mut W>,
    mix: &mut M,
    tap: &mut T,
) -> Result<Vec<PieceStats>, Error>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    M: AsyncWrite + Unpin,
    T: Tap,
{
    let n = plan.channels.len();
    let pieces = plan.pieces().count();
    if decoders.len() != pieces {
        return Err(Error::Invalid(format!(
            "{} decoders for {pieces} pieces",
            decoders.len()
        )));
    }
    let write_err = |e: std::io::Error| Error::retryable("merge output", e);
    if let Some(out) = out.as_mut() {
        out.write_all(header).await.map_err(write_err)?;
    }
    let mut stats = vec![
        PieceStats {
            decoded_frames: 0,
            ended_early: false
        };
        pieces
    ];
    let mut block = Block::new(n);
    let mut pos = 0u64;
    while pos < plan.total_samples {
        let len = (plan.total_samples - pos).min(BLOCK as u64) as usize;
        let mut first = 0;
        for (k, c) in plan.channels.iter().enumerate() {
            let own = first..first + c.pieces.len();
            block
                .fill(k, c, first, &mut decoders[own.clone()], &mut stats[own], pos, len, tap)
                .await?;
            first += c.pieces.len();
        }
        block.weave(len, out.is_some());
        if let Some(out) = out.as_mut() {
            out.write_all(&block.frames[..len * n * 2]).await.map_err(write_err)?;
        }
        mix.write_all(&block.mix[..len * 2]).await.map_err(write_err)?;
        pos += len as u64;
    }
    if let Some(out) = out.as_mut() {
        out.flush().await.map_err(write_err)?;
    }
    mix.flush().await.map_err(write_err)?;
    Ok(stats)
}

/// One block's buffers, reused: each channel's samples, one decoder read, and both outputs.
struct Block {
    chan: Vec<Vec<i16>>,
    raw: Vec<u8>,
    frames: Vec<u8>,
    mix: Vec<u8>,
}

impl Block {
    fn new(channels: usize) -> Self {
        Block {
            chan: vec![vec![0i16; BLOCK]; channels],
            raw: vec![0u8; BLOCK * 2],
            frames: vec![0u8; BLOCK * channels * 2],
            mix: vec![0u8; BLOCK * 2],
        }
    }

    /// Channel `k`'s `len` samples from `pos`: each piece's decoder from its offset until it
    /// ends or the next piece starts (the speaker's next recording takes over), silence elsewhere.
    /// The channel's pieces are numbered from `first` for the tap.
    #[allow(clippy::too_many_arguments)]
    async fn fill<R: AsyncRead + Unpin, T: Tap>(
        &mut self,
        k: usize,
        c: &ChannelPlan,
        first: usize,
        decoders: &mut [R],
        stats: &mut [PieceStats],
        pos: u64,
        len: usize,
        tap: &mut T,
    ) -> Result<(), Error> {
        let buf = &mut self.chan[k][..len];
        buf.fill(0);
        let block_end = pos + len as u64;
        for (j, piece) in c.pieces.iter().enumerate() {
            let until = c.pieces.get(j + 1).map_or(u64::MAX, |next| next.offset_samples);
            let (from, to) = (piece.offset_samples.max(pos), until.min(block_end));
            if from >= to || stats[j].ended_early {
                continue;
            }
            let (at, want) = ((from - pos) as usize, (to - from) as usize * 2);
            let got = read_full(&mut decoders[j], &mut self.raw[..want])
                .await
                .map_err(|e| Error::retryable("decoder", format!("channel {}: {e}", c.channel)))?;
            let n = got / 2;
            for (i, s) in self.raw[..n * 2].chunks_exact(2).enumerate() {
                buf[at + i] = i16::from_le_bytes([s[0], s[1]]);
            }
            tap.samples(first + j, &buf[at..at + n]).await?;
            stats[j].decoded_frames += n as u64;
            if got < want {
                stats[j].ended_early = true;
            }
            if got < want || to == until {
                tap.ended(first + j).await?;
            }
        }
        Ok(())
    }

    /// Interleaves the first `len` samples of every channel into frames (when `frames`), and
    /// their clamped sum into the mono mix.
    fn weave(&mut self, len: usize, frames: bool) {
        let n = self.chan.len();
        for i in 0..len {
            let mut sum = 0i32;
            for (k, samples) in self.chan.iter().enumerate() {
                let s = samples[i];
                sum += s as i32;
                if frames {
                    let at = (i * n + k) * 2;
                    self.frames[at..at + 2].copy_from_slice(&s.to_le_bytes());
                }
            }
            let m = sum.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
            self.mix[i * 2..i * 2 + 2].copy_from_slice(&m.to_le_bytes());
        }
    }
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
pub(crate) async fn read_full<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PiecePlan;

    /// One channel per entry, each with pieces at these offsets.
    fn plan(offsets: &[&[u64]], total: u64) -> MergePlan {
        MergePlan {
            sample_rate: 8,
            total_samples: total,
            channels: offsets
                .iter()
                .enumerate()
                .map(|(i, pieces)| ChannelPlan {
                    channel: i as u16 + 1,
                    name: format!("p{i}"),
                    pieces: pieces
                        .iter()
                        .map(|o| PiecePlan {
                            source: String::new(),
                            offset_samples: *o,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn stats(decoded_frames: u64, ended_early: bool) -> PieceStats {
        PieceStats {
            decoded_frames,
            ended_early,
        }
    }

    fn pcm(samples: &[i16]) -> Vec<u8> {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    fn frames(bytes: &[u8], n: usize) -> Vec<Vec<i16>> {
        bytes
            .chunks_exact(2 * n)
            .map(|f| f.chunks_exact(2).map(|s| i16::from_le_bytes([s[0], s[1]])).collect())
            .collect()
    }

    #[tokio::test]
    async fn delays_pads_and_truncates_each_channel_to_the_meeting() {
        // ch1 from 0, 3 samples then silence; ch2 joins at 2 with 5 samples, one past the end.
        let (a, b) = (pcm(&[1, 2, 3]), pcm(&[10, 20, 30, 40, 50]));
        let mut decoders = vec![&a[..], &b[..]];
        let (mut out, mut mix) = (Vec::new(), Vec::new());
        let got = interleave(
            &plan(&[&[0], &[2]], 6),
            &mut decoders,
            b"HDR",
            Some(&mut out),
            &mut mix,
            &mut NoTap,
        )
        .await
        .unwrap();
        assert_eq!(&out[..3], b"HDR");
        assert_eq!(
            frames(&out[3..], 2),
            [[1, 0], [2, 0], [3, 10], [0, 20], [0, 30], [0, 40]]
                .map(|f| f.to_vec())
                .to_vec()
        );
        assert_eq!(frames(&mix, 1).concat(), [1, 2, 13, 20, 30, 40]);
        assert_eq!(got, [stats(3, true), stats(4, false)]);
    }

    #[tokio::test]
    async fn a_channel_plays_each_piece_from_its_offset_until_the_next_one() {
        // ch1: its first piece runs into the second's start and is cut there; ch2: its first
        // piece ends early, silence until the second.
        let (a, b) = (pcm(&[1, 2, 3, 4, 5, 6]), pcm(&[7, 8]));
        let (c, d) = (pcm(&[11, 12]), pcm(&[17, 18, 19]));
        let mut decoders = vec![&a[..], &b[..], &c[..], &d[..]];
        let (mut out, mut mix) = (Vec::new(), Vec::new());
        let got = interleave(
            &plan(&[&[0, 4], &[0, 5]], 8),
            &mut decoders,
            b"",
            Some(&mut out),
            &mut mix,
            &mut NoTap,
        )
        .await
        .unwrap();
        let f = frames(&out, 2);
        let ch = |k: usize| f.iter().map(|frame| frame[k]).collect::<Vec<_>>();
        assert_eq!(ch(0), [1, 2, 3, 4, 7, 8, 0, 0]);
        assert_eq!(ch(1), [11, 12, 0, 0, 0, 17, 18, 19]);
        assert_eq!(got, [stats(4, false), stats(2, true), stats(2, true), stats(3, false)]);
    }

    #[tokio::test]
    async fn spans_blocks_and_clamps_the_mix() {
        let total = BLOCK as u64 * 2 + 7;
        let a = pcm(&vec![i16::MAX; total as usize]);
        let b = pcm(&vec![i16::MAX; total as usize]);
        let mut decoders = vec![&a[..], &b[..]];
        let (mut out, mut mix) = (Vec::new(), Vec::new());
        interleave(
            &plan(&[&[0], &[BLOCK as u64 + 3]], total),
            &mut decoders,
            b"",
            Some(&mut out),
            &mut mix,
            &mut NoTap,
        )
        .await
        .unwrap();
        let f = frames(&out, 2);
        assert_eq!(f.len(), total as usize);
        assert_eq!(f[BLOCK + 2], [i16::MAX, 0]);
        assert_eq!(f[BLOCK + 3], [i16::MAX, i16::MAX]);
        assert_eq!(*frames(&mix, 1).last().unwrap(), [i16::MAX]);
    }

    #[tokio::test]
    async fn decoder_count_must_match() {
        let mut decoders: Vec<&[u8]> = vec![];
        let err = interleave(
            &plan(&[&[0]], 1),
            &mut decoders,
            b"",
            Some(&mut Vec::new()),
            &mut Vec::new(),
            &mut NoTap,
        )
        .await;
        assert!(err.is_err());
    }

    /// Records what it is shown: each piece's samples and when it was told the piece ended.
    #[derive(Default)]
    struct Recording {
        samples: Vec<Vec<i16>>,
        events: Vec<String>,
    }

    impl Tap for Recording {
        type Done = Self;

        async fn samples(&mut self, piece: usize, samples: &[i16]) -> Result<(), Error> {
            if self.samples.len() <= piece {
                self.samples.resize(piece + 1, Vec::new());
            }
            self.samples[piece].extend_from_slice(samples);
            Ok(())
        }

        async fn ended(&mut self, piece: usize) -> Result<(), Error> {
            self.events
                .push(format!("ended {piece} after {}", self.samples[piece].len()));
            Ok(())
        }

        async fn finish(self) -> Result<Self, Error> {
            Ok(self)
        }
    }

    #[tokio::test]
    async fn the_tap_sees_each_piece_as_it_is_played_and_when_it_ends() {
        // ch1: piece 0 cut where piece 1 starts (4, inside the second block), piece 1 plays
        // to the meeting's end; ch2: piece 2 ends early, piece 3 after the meeting's end.
        let a: Vec<i16> = (1..=BLOCK as i16 + 10).collect();
        let b: Vec<i16> = (1_000..1_000 + BLOCK as i16).collect();
        let (c, d) = (pcm(&[7, 8, 9]), pcm(&[5]));
        let (a, b) = (pcm(&a), pcm(&b));
        let mut decoders = vec![&a[..], &b[..], &c[..], &d[..]];
        let total = BLOCK as u64 + 8;
        let cut = BLOCK as u64 + 4;
        let mut tap = Recording::default();
        let mut mix = Vec::new();
        interleave(
            &plan(&[&[0, cut], &[2, total + 5]], total),
            &mut decoders,
            b"",
            None::<&mut Vec<u8>>,
            &mut mix,
            &mut tap,
        )
        .await
        .unwrap();
        assert_eq!(tap.samples[0], (1..=cut as i16).collect::<Vec<_>>());
        assert_eq!(tap.samples[1], (1_000..1_004).collect::<Vec<_>>());
        assert_eq!(tap.samples[2], [7, 8, 9]);
        assert_eq!(tap.samples.get(3).map_or(0, Vec::len), 0);
        assert_eq!(
            tap.events,
            ["ended 2 after 3".to_owned(), format!("ended 0 after {cut}")]
        );
    }
}
