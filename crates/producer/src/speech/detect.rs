//! Pass 1: one piece decoded on a pipe straight into the detector. The detector keeps one
//! level per 20 ms frame, never the samples, so memory stays small for any length.

use tokio::io::AsyncReadExt;

use zoom_symbl_core::speech::{Speech, Vad, VadSettings};
use zoom_symbl_core::Error;

use crate::ports::{CodecProcess, Codecs, Decoder};

/// Read size from the decoder's pipe.
const CHUNK: usize = 64 << 10;

/// The speech in `source`, in the piece's own time (padded and joined by the detector).
pub(super) async fn detect<C: Codecs>(codecs: &C, source: &str, settings: VadSettings) -> Result<Speech, Error> {
    let mut vad = Vad::new(settings).map_err(|e| Error::Config(e.to_string()))?;
    let Decoder { mut pcm, process } = codecs.decoder(source, settings.sample_rate_hz)?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        // On an error the decoder is dropped, which ends it.
        let n = pcm
            .read(&mut buf)
            .await
            .map_err(|e| Error::retryable("ffmpeg", format!("reading decoded audio: {e}")))?;
        if n == 0 {
            break;
        }
        vad.push_le_bytes(&buf[..n]);
    }
    drop(pcm);
    // A decoder that failed midway yields a short track: its "silence" would be a lie.
    process.finish().await?;
    Ok(vad.finish())
}
