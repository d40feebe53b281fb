//! The merge: one decoder per channel (each its own process), the interleaver between them
//! and the encoders, and both outputs streamed into S3 as they are made: the merged file
//! (WAV written here, or FLAC by an encoder) and the MP3 mixdown.

mod interleave;

use std::future::Future;

pub(crate) use interleave::read_full;
pub(crate) use interleave::{NoTap, Tap};

use zoom_symbl_core::ports::ObjectStore;
use zoom_symbl_core::Error;

use crate::output::OutputFormat;
use crate::plan::MergePlan;
use crate::ports::{CodecProcess, Codecs, Decoder, Reader, Writer};
use crate::wav;
use interleave::{interleave, PieceStats};

/// Where the merge writes.
pub struct Target<'a> {
    pub bucket: &'a str,
    /// `None`: no multichannel file (the `aws` provider transcribes each participant's own
    /// speech); the mixdown is still made.
    pub merged_key: Option<&'a str>,
    pub mixdown_key: &'a str,
    pub format: OutputFormat,
}

/// The merged file's stream: what the interleaver writes (after `header`), what is uploaded,
/// and the encoder in between when there is one.
struct MergedStream<P> {
    pcm: Writer,
    upload: Reader,
    header: Vec<u8>,
    encoder: Option<P>,
}

/// Decoders (one per piece) → interleaver → (WAV | FLAC encoder) → S3, and mono mix → MP3 encoder → S3.
/// Returns the merged file's size.
pub async fn merge<C: Codecs, O: ObjectStore>(
    codecs: &C,
    objects: &O,
    plan: &MergePlan,
    to: &Target<'_>,
) -> Result<u64, Error> {
    let (bytes, (), ()) = merge_tapped(codecs, objects, plan, to, NoTap, async { Ok(()) }).await?;
    Ok(bytes)
}

/// The merge, with `tap` shown every piece's samples as they are decoded, and `beside` run
/// concurrently with it (what drains the tap's own outputs: the tap may wait on it, so it
/// must run while the merge does). `beside` must end once the tap is finished.
pub(crate) async fn merge_tapped<C, O, T, B, Out>(
    codecs: &C,
    objects: &O,
    plan: &MergePlan,
    to: &Target<'_>,
    mut tap: T,
    beside: B,
) -> Result<(u64, T::Done, Out), Error>
where
    C: Codecs,
    O: ObjectStore,
    T: Tap,
    B: Future<Output = Result<Out, Error>>,
{
    let (mut readers, decoders): (Vec<Reader>, Vec<C::Process>) = start_decoders(codecs, plan)?
        .into_iter()
        .map(|d| (d.pcm, d.process))
        .unzip();
    let mp3 = codecs.mp3_encoder(plan.sample_rate)?;
    let merged = match to.merged_key {
        Some(_) => merged_stream(codecs, plan, to.format)?,
        None => MergedStream {
            pcm: Box::new(tokio::io::sink()),
            upload: Box::new(tokio::io::empty()),
            header: Vec::new(),
            encoder: None,
        },
    };
    // No multichannel file: no frames are woven (a sink would cost the weave all the same).
    let (mut merged_in, mut mp3_in) = (to.merged_key.map(|_| merged.pcm), mp3.pcm);
    let interleaving = async {
        let stats = interleave(
            plan,
            &mut readers,
            &merged.header,
            merged_in.as_mut(),
            &mut mp3_in,
            &mut tap,
        )
        .await?;
        // Closing the inputs lets the encoders and uploads finish.
        drop(merged_in);
        drop(mp3_in);
        let done = tap.finish().await?;
        Ok::<_, Error>((stats, done))
    };
    let upload_merged = async {
        match to.merged_key {
            Some(key) => {
                objects
                    .put_stream(to.bucket, key, to.format.content_type(), merged.upload)
                    .await
            }
            None => Ok(0),
        }
    };
    let ((stats, done), merged_bytes, _mix_bytes, beside) = tokio::try_join!(
        interleaving,
        upload_merged,
        objects.put_stream(to.bucket, to.mixdown_key, "audio/mpeg", mp3.encoded),
        beside,
    )?;
    settle_decoders(decoders, &stats).await?;
    mp3.process.finish().await?;
    if let Some(encoder) = merged.encoder {
        encoder.finish().await?;
    }
    Ok((merged_bytes, done, beside))
}

fn start_decoders<C: Codecs>(codecs: &C, plan: &MergePlan) -> Result<Vec<Decoder<C::Process>>, Error> {
    plan.pieces()
        .map(|p| codecs.decoder(&p.source, plan.sample_rate))
        .collect()
}

/// WAV is written here, its header first (the length is known before the first sample);
/// FLAC goes through an encoder.
fn merged_stream<C: Codecs>(
    codecs: &C,
    plan: &MergePlan,
    format: OutputFormat,
) -> Result<MergedStream<C::Process>, Error> {
    let channels = plan.channels.len() as u16;
    match format {
        OutputFormat::Wav => {
            let (w, r) = tokio::io::duplex(1 << 20);
            Ok(MergedStream {
                pcm: Box::new(w),
                upload: Box::new(r),
                header: wav::header(channels, plan.sample_rate, plan.total_samples),
                encoder: None,
            })
        }
        OutputFormat::Flac => {
            let enc = codecs.flac_encoder(channels, plan.sample_rate)?;
            Ok(MergedStream {
                pcm: enc.pcm,
                upload: enc.encoded,
                header: Vec::new(),
                encoder: Some(enc.process),
            })
        }
    }
}

/// A decoder that stopped early must have stopped cleanly, or its silence is a lie; the
/// others still have output nobody needs.
async fn settle_decoders<P: CodecProcess>(decoders: Vec<P>, stats: &[PieceStats]) -> Result<(), Error> {
    for (d, s) in decoders.into_iter().zip(stats) {
        if s.ended_early {
            d.finish().await?;
        } else {
            d.stop().await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use zoom_symbl_core::testkit::MemObjects;

    use super::*;
    use crate::ffmpeg::Ffmpeg;
    use crate::plan::{ChannelPlan, PiecePlan};

    /// A second of 440 Hz (or `secs` of it) as a WAV file, made by ffmpeg.
    async fn tone(dir: &std::path::Path, name: &str, secs: f64) -> String {
        let path = dir.join(name).to_string_lossy().into_owned();
        let args: Vec<String> = [
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency=440:duration={secs}"),
            "-ar",
            "8000",
            &path,
        ]
        .map(String::from)
        .to_vec();
        Ffmpeg::locate(None)
            .spawn("tone", &args, false)
            .unwrap()
            .finish()
            .await
            .unwrap();
        path
    }

    fn channel(pcm: &[u8], k: usize) -> Vec<i16> {
        pcm.chunks_exact(2)
            .skip(k)
            .step_by(2)
            .map(|s| i16::from_le_bytes([s[0], s[1]]))
            .collect()
    }

    /// The real ffmpeg behind the same ports the handler tests double: two decoders, the
    /// WAV written here or the FLAC encoder, the MP3 encoder, all streamed into the store.
    #[tokio::test]
    async fn ffmpeg_decodes_and_encodes_through_the_codec_ports() {
        let dir = tempfile::tempdir().unwrap();
        let (long, short) = (
            tone(dir.path(), "a.wav", 1.0).await,
            tone(dir.path(), "b.wav", 0.25).await,
        );
        let plan = MergePlan {
            sample_rate: 8000,
            total_samples: 8000,
            channels: [(long, 0), (short, 4000)]
                .into_iter()
                .zip(1..)
                .map(|((source, offset_samples), channel)| ChannelPlan {
                    channel,
                    name: format!("p{channel}"),
                    pieces: vec![PiecePlan { source, offset_samples }],
                })
                .collect(),
        };
        let (ffmpeg, objects) = (Ffmpeg::locate(None), MemObjects::default());
        for format in [OutputFormat::Wav, OutputFormat::Flac] {
            let merged_key = format!("merged.{}", format.extension());
            let to = Target {
                bucket: "out",
                merged_key: Some(&merged_key),
                mixdown_key: "mixdown.mp3",
                format,
            };
            let bytes = merge(&ffmpeg, &objects, &plan, &to).await.unwrap();
            assert_eq!(objects.object("out", &merged_key).unwrap().bytes.len() as u64, bytes);
            assert!(!objects.object("out", "mixdown.mp3").unwrap().bytes.is_empty());
        }
        let wav = objects.object("out", "merged.wav").unwrap().bytes;
        assert_eq!(wav.len(), 68 + 8000 * 2 * 2);
        let (first, second) = (channel(&wav[68..], 0), channel(&wav[68..], 1));
        assert!(first.iter().any(|s| *s != 0));
        assert!(second[..4000].iter().all(|s| *s == 0), "silent before the join");
        assert!(second[4000..6000].iter().any(|s| *s != 0));
        assert!(second[6100..].iter().all(|s| *s == 0), "silent after the track ends");
        assert_eq!(&objects.object("out", "merged.flac").unwrap().bytes[..4], b"fLaC");
    }

    /// Issue #13 with real decoders: channel 1 is two short pieces with silence between,
    /// channel 2 a long piece cut off where the next one starts.
    #[tokio::test]
    async fn pieces_of_one_channel_are_decoded_each_at_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let (short, long) = (
            tone(dir.path(), "short.wav", 0.25).await,
            tone(dir.path(), "long.wav", 1.0).await,
        );
        let piece = |source: &String, offset_samples| PiecePlan {
            source: source.clone(),
            offset_samples,
        };
        let plan = MergePlan {
            sample_rate: 8000,
            total_samples: 8000,
            channels: vec![
                ChannelPlan {
                    channel: 1,
                    name: "restarted".into(),
                    pieces: vec![piece(&short, 0), piece(&short, 4000)],
                },
                ChannelPlan {
                    channel: 2,
                    name: "cut".into(),
                    pieces: vec![piece(&long, 0), piece(&short, 5000)],
                },
            ],
        };
        let objects = MemObjects::default();
        let to = Target {
            bucket: "out",
            merged_key: Some("merged.wav"),
            mixdown_key: "mixdown.mp3",
            format: OutputFormat::Wav,
        };
        merge(&Ffmpeg::locate(None), &objects, &plan, &to).await.unwrap();
        let wav = objects.object("out", "merged.wav").unwrap().bytes;
        let (first, second) = (channel(&wav[68..], 0), channel(&wav[68..], 1));
        let sounds = |s: &[i16]| s.iter().any(|s| *s != 0);
        assert!(sounds(&first[..2000]) && sounds(&first[4000..6000]));
        assert!(!sounds(&first[2100..4000]), "silent between the pieces");
        assert!(!sounds(&first[6100..]), "silent after the last piece");
        assert!(sounds(&second[4000..5000]) && sounds(&second[5000..6900]));
        assert!(
            !sounds(&second[7100..]),
            "the long piece was cut where the short one took over"
        );
    }
}
