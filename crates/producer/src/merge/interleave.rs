//! The aligned merge: the decoders' output interleaved here sample by sample into the
//! multichannel stream, with a mono mix on the side. Pure (any readers and writers); nothing
//! is buffered beyond one block per channel.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use zoom_symbl_core::Error;

use crate::plan::{ChannelPlan, MergePlan};

/// Frames per block: 0.25 s at 16 kHz, well under a pipe's buffer per channel.
const BLOCK: usize = 4096;

/// How much real audio each channel delivered, for the log and the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelStats {
    pub decoded_frames: u64,
    /// The decoder ended before the meeting did (normal for a participant who left).
    pub ended_early: bool,
}

/// Writes `plan.total_samples` frames of interleaved s16le to `out` (after `header`), and
/// the clamped sum of all channels to `mix` as mono s16le. `decoders[k]` yields channel
/// k+1's mono s16le from the participant's first sample on.
pub async fn interleave<R, W, M>(
    plan: &MergePlan,
    decoders: &mut [R],
    header: &[u8],
    out: &mut W,
    mix: &mut M,
) -> Result<Vec<ChannelStats>, Error>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    M: AsyncWrite + Unpin,
{
    let n = plan.channels.len();
    if decoders.len() != n {
        return Err(Error::Invalid(format!("{} decoders for {n} channels", decoders.len())));
    }
    let write_err = |e: std::io::Error| Error::retryable("merge output", e);
    out.write_all(header).await.map_err(write_err)?;
    let mut stats = vec![
        ChannelStats {
            decoded_frames: 0,
            ended_early: false
        };
        n
    ];
    let mut block = Block::new(n);
    let mut pos = 0u64;
    while pos < plan.total_samples {
        let len = (plan.total_samples - pos).min(BLOCK as u64) as usize;
        for (k, c) in plan.channels.iter().enumerate() {
            block.fill(k, c, &mut decoders[k], &mut stats[k], pos, len).await?;
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

    /// Channel `k`'s `len` samples from `pos`: silence before its offset, then what its
    /// decoder delivers, then silence once it has ended.
    async fn fill<R: AsyncRead + Unpin>(
        &mut self,
        k: usize,
        c: &ChannelPlan,
        decoder: &mut R,
        stats: &mut ChannelStats,
        pos: u64,
        len: usize,
    ) -> Result<(), Error> {
        let buf = &mut self.chan[k][..len];
        buf.fill(0);
        let silent = (c.offset_samples.saturating_sub(pos) as usize).min(len);
        if silent < len && !stats.ended_early {
            let want = (len - silent) * 2;
            let got = read_full(decoder, &mut self.raw[..want])
                .await
                .map_err(|e| Error::retryable("decoder", format!("channel {}: {e}", c.channel)))?;
            for (i, s) in self.raw[..got & !1].chunks_exact(2).enumerate() {
                buf[silent + i] = i16::from_le_bytes([s[0], s[1]]);
            }
            stats.decoded_frames += (got / 2) as u64;
            if got < want {
                stats.ended_early = true;
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

    fn plan(offsets: &[u64], total: u64) -> MergePlan {
        MergePlan {
            sample_rate: 8,
            total_samples: total,
            channels: offsets
                .iter()
                .enumerate()
                .map(|(i, o)| ChannelPlan {
                    channel: i as u16 + 1,
                    name: format!("p{i}"),
                    source: String::new(),
                    offset_samples: *o,
                })
                .collect(),
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
        let stats = interleave(&plan(&[0, 2], 6), &mut decoders, b"HDR", &mut out, &mut mix)
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
        assert_eq!(
            stats[0],
            ChannelStats {
                decoded_frames: 3,
                ended_early: true
            }
        );
        assert_eq!(
            stats[1],
            ChannelStats {
                decoded_frames: 4,
                ended_early: false
            }
        );
    }

    #[tokio::test]
    async fn spans_blocks_and_clamps_the_mix() {
        let total = BLOCK as u64 * 2 + 7;
        let a = pcm(&vec![i16::MAX; total as usize]);
        let b = pcm(&vec![i16::MAX; total as usize]);
        let mut decoders = vec![&a[..], &b[..]];
        let (mut out, mut mix) = (Vec::new(), Vec::new());
        interleave(
            &plan(&[0, BLOCK as u64 + 3], total),
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
        let err = interleave(&plan(&[0], 1), &mut decoders, b"", &mut Vec::new(), &mut Vec::new()).await;
        assert!(err.is_err());
    }
}
