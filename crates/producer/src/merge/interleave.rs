//! The aligned merge: the decoders' output interleaved here sample by sample into the
//! multichannel stream, with a mono mix on the side. Pure (any readers and writers); nothing
//! is buffered beyond one block per channel.

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

/// Writes `plan.total_samples` frames of interleaved s16le to `out` (after `header`), and
/// the clamped sum of all channels to `mix` as mono s16le. `decoders` yield each piece's
/// mono s16le from its first sample on, in `plan.pieces()` order.
pub async fn interleave<R, W, M>(
    plan: &MergePlan,
    decoders: &mut [R],
    header: &[u8],
    out: &mut W,
    mix: &mut M,
) -> Result<Vec<PieceStats>, Error>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    M: AsyncWrite + Unpin,
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
    out.write_all(header).await.map_err(write_err)?;
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
                .fill(k, c, &mut decoders[own.clone()], &mut stats[own], pos, len)
                .await?;
            first += c.pieces.len();
        }
        block.weave(len);
        out.write_all(&block.frames[..len * n * 2]).await.map_err(write_err)?;
        mix.write_all(&block.mix[..len * 2]).await.map_err(write_err)?;
        pos += len as u64;
    }
    out.flush().await.map_err(write_err)?;
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
    async fn fill<R: AsyncRead + Unpin>(
        &mut self,
        k: usize,
        c: &ChannelPlan,
        decoders: &mut [R],
        stats: &mut [PieceStats],
        pos: u64,
        len: usize,
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
            for (i, s) in self.raw[..got & !1].chunks_exact(2).enumerate() {
                buf[at + i] = i16::from_le_bytes([s[0], s[1]]);
            }
            stats[j].decoded_frames += (got / 2) as u64;
            if got < want {
                stats[j].ended_early = true;
            }
        }
        Ok(())
    }

    /// Interleaves the first `len` samples of every channel into frames, and their clamped
    /// sum into the mono mix.
    fn weave(&mut self, len: usize) {
        let n = self.chan.len();
        for i in 0..len {
            let mut sum = 0i32;
            for (k, samples) in self.chan.iter().enumerate() {
                let s = samples[i];
                sum += s as i32;
                let at = (i * n + k) * 2;
                self.frames[at..at + 2].copy_from_slice(&s.to_le_bytes());
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
        let got = interleave(&plan(&[&[0], &[2]], 6), &mut decoders, b"HDR", &mut out, &mut mix)
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
        let got = interleave(&plan(&[&[0, 4], &[0, 5]], 8), &mut decoders, b"", &mut out, &mut mix)
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
            &mut out,
            &mut mix,
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
        let err = interleave(&plan(&[&[0]], 1), &mut decoders, b"", &mut Vec::new(), &mut Vec::new()).await;
        assert!(err.is_err());
    }
}
