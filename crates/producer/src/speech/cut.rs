//! Pass 2: the speech stretches of every piece, back to back, as one PCM stream for the FLAC
//! encoder. The cut is made here on whole samples (each piece decoded again through the same
//! codec port), not in an ffmpeg filter graph: no argument grows with the number of
//! segments, and the file's timeline is exactly the one the segment map states.

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use zoom_symbl_core::Error;

use super::timeline::{PieceSpeech, Stretch};
use crate::merge::read_full;
use crate::ports::{CodecProcess, Codecs, Decoder};

/// Samples per read: 0.25 s at 16 kHz.
const BLOCK_SAMPLES: usize = 4096;

/// Writes each piece's stretches, in order, to `out`; returns the samples written.
pub(super) async fn write_speech<C: Codecs, W: AsyncWrite + Unpin>(
    codecs: &C,
    sample_rate: u32,
    pieces: &[PieceSpeech<'_>],
    out: &mut W,
) -> Result<u64, Error> {
    let mut written = 0;
    for piece in pieces.iter().filter(|p| !p.stretches.is_empty()) {
        let Decoder { mut pcm, process } = codecs.decoder(piece.source, sample_rate)?;
        match copy_stretches(&mut pcm, &piece.stretches, out).await? {
            Copied::All(n) => {
                written += n;
                // The rest of the piece is not needed.
                drop(pcm);
                process.stop().await;
            }
            Copied::EndedAt(sample) => {
                drop(pcm);
                // The decoder's own failure says more than the shortfall, when there is one.
                process.finish().await?;
                return Err(Error::retryable(
                    "ffmpeg",
                    format!(
                        "the second decode of a piece ended at {:.3} s, before its speech did",
                        sample as f64 / f64::from(sample_rate)
                    ),
                ));
            }
        }
    }
    out.flush().await.map_err(|e| Error::retryable("speech encoder", e))?;
    Ok(written)
}

#[derive(Debug, PartialEq, Eq)]
enum Copied {
    /// Every stretch was copied: this many samples.
    All(u64),
    /// The input ended at this sample, inside or before a stretch.
    EndedAt(u64),
}

/// Copies samples `[from, to)` of each stretch (ordered, disjoint) from mono s16le `pcm` to
/// `out`, and reads no further than the last stretch's end.
async fn copy_stretches<R, W>(pcm: &mut R, stretches: &[Stretch], out: &mut W) -> Result<Copied, Error>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BLOCK_SAMPLES * 2];
    let mut pos = 0u64; // sample at buf[0]
    let mut written = 0u64;
    let mut next = stretches.iter().peekable();
    while let Some(&&stretch) = next.peek() {
        // Full blocks (read_full fills the buffer unless the input ends), so every block
        // starts on a whole sample.
        let want = stretch.to.saturating_sub(pos).min(BLOCK_SAMPLES as u64) as usize * 2;
        let got = read_full(pcm, &mut buf[..want])
            .await
            .map_err(|e| Error::retryable("ffmpeg", format!("reading decoded audio: {e}")))?;
        let end = pos + (got / 2) as u64;
        while let Some(&&s) = next.peek() {
            let (from, to) = (s.from.max(pos), s.to.min(end));
            if from < to {
                let bytes = &buf[((from - pos) * 2) as usize..((to - pos) * 2) as usize];
                out.write_all(bytes)
                    .await
                    .map_err(|e| Error::retryable("speech encoder", e))?;
                written += to - from;
            }
            if s.to > end {
                break;
            }
            next.next();
        }
        if got < want {
            if next.peek().is_some() {
                return Ok(Copied::EndedAt(end));
            }
            break;
        }
        pos = end;
    }
    Ok(Copied::All(written))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcm(samples: impl IntoIterator<Item = i16>) -> Vec<u8> {
        samples.into_iter().flat_map(i16::to_le_bytes).collect()
    }

    fn samples(bytes: &[u8]) -> Vec<i16> {
        bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }

    #[tokio::test]
    async fn stretches_are_copied_exactly_across_block_boundaries() {
        let input = pcm((0..20_000).map(|i| (i % 30_000) as i16));
        let stretches = [
            Stretch { from: 10, to: 20 },
            Stretch { from: 4_090, to: 4_100 },
            Stretch {
                from: 8_000,
                to: 12_500,
            },
        ];
        let mut out = Vec::new();
        let copied = copy_stretches(&mut &input[..], &stretches, &mut out).await.unwrap();
        assert_eq!(copied, Copied::All(4_520));
        let expected: Vec<i16> = (10..20).chain(4_090..4_100).chain(8_000..12_500).collect();
        assert_eq!(samples(&out), expected);
    }

    #[tokio::test]
    async fn reading_stops_at_the_last_stretch() {
        let input = pcm(0..30_000);
        let mut reader = &input[..];
        let mut out = Vec::new();
        let stretches = [Stretch { from: 100, to: 200 }];
        copy_stretches(&mut reader, &stretches, &mut out).await.unwrap();
        assert_eq!(input.len() - reader.len(), 400, "read up to sample 200 only");
    }

    #[tokio::test]
    async fn an_input_shorter_than_its_stretches_says_where_it_ended() {
        let input = pcm(0..1_000);
        let mut out = Vec::new();
        let stretches = [Stretch { from: 0, to: 10 }, Stretch { from: 900, to: 1_100 }];
        let copied = copy_stretches(&mut &input[..], &stretches, &mut out).await.unwrap();
        assert_eq!(copied, Copied::EndedAt(1_000));
        // A stretch ending exactly at the end of the input is complete.
        let exact = [Stretch { from: 900, to: 1_000 }];
        let copied = copy_stretches(&mut &input[..], &exact, &mut Vec::new()).await.unwrap();
        assert_eq!(copied, Copied::All(100));
    }
}
