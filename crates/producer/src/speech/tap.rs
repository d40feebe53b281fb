//! The speech cut as a tap on the merge: each piece's samples, as the merge's own decoder
//! yields them, go through that piece's [`PieceCutter`], and the speech it settles streams
//! into its participant's FLAC encoder (in the process: see `flac`), started at their first
//! speech (a participant who never speaks gets none). Each encoder's output goes through a
//! small pipe to its upload, which [`uploads`] runs beside the merge.

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use zoom_symbl_core::ports::ObjectStore;
use zoom_symbl_core::speech::VadSettings;
use zoom_symbl_core::Error;

use super::cut::PieceCutter;
use super::flac::FlacEncoder;
use super::timeline::PieceSpeech;
use super::FLAC_CONTENT_TYPE;
use crate::merge::Tap;

/// The pipe between an encoder and its upload: the upload drains it as the merge goes.
const PIPE_BYTES: usize = 64 << 10;

/// A participant's encoder output, to be stored at `key`.
pub(super) struct Upload {
    key: String,
    encoded: tokio::io::DuplexStream,
}

/// The encoders as the tap starts them, for [`uploads`].
pub(super) type Started = UnboundedReceiver<Upload>;

/// A speaker's encoder and the pipe its output goes into.
struct Encoding {
    flac: FlacEncoder,
    pipe: tokio::io::DuplexStream,
}

/// One channel of the merge: a participant.
pub(super) struct Speaker {
    flac_key: String,
    /// In the channel's (meeting) order, as the merge plays them.
    pieces: Vec<Piece>,
    /// From the first speech on.
    encoding: Option<Encoding>,
    written: u64,
}

struct Piece {
    offset_seconds: f64,
    /// `Err` once the piece has ended: its stretches.
    cut: Result<PieceCutter, Vec<super::timeline::Stretch>>,
}

/// What the tap made of one participant.
pub(super) struct SpeakerCut {
    pub pieces: Vec<PieceSpeech>,
    /// Samples written to the encoder; none started when zero.
    pub written: u64,
}

pub(super) struct SpeechTap {
    rate: u32,
    speakers: Vec<Speaker>,
    /// The merge's piece number -> (speaker, piece of theirs).
    owners: Vec<(usize, usize)>,
    uploads: UnboundedSender<Upload>,
    /// Settled speech not encoded yet, reused.
    out: Vec<i16>,
}

impl SpeechTap {
    /// `channels`: per channel, its FLAC key and its pieces' offsets in seconds, in the merge's
    /// order. The receiver goes to [`uploads`].
    pub fn new(settings: VadSettings, channels: Vec<(String, Vec<f64>)>) -> Result<(Self, Started), Error> {
        let mut owners = Vec::new();
        let mut speakers = Vec::with_capacity(channels.len());
        for (k, (flac_key, offsets)) in channels.into_iter().enumerate() {
            let mut pieces = Vec::with_capacity(offsets.len());
            for (j, offset_seconds) in offsets.into_iter().enumerate() {
                owners.push((k, j));
                pieces.push(Piece {
                    offset_seconds,
                    cut: Ok(PieceCutter::new(settings)?),
                });
            }
            speakers.push(Speaker {
                flac_key,
                pieces,
                encoding: None,
                written: 0,
            });
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Ok((
            SpeechTap {
                rate: settings.sample_rate_hz,
                speakers,
                owners,
                uploads: tx,
                out: Vec::with_capacity(32 << 10),
            },
            rx,
        ))
    }

    fn owner(&self, piece: usize) -> Result<(usize, usize), Error> {
        self.owners
            .get(piece)
            .copied()
            .ok_or_else(|| Error::Invalid(format!("speech cut: no piece {piece}")))
    }

    /// Ends piece `j` of speaker `k` and every earlier one of theirs still open (their speech
    /// comes first in the file).
    async fn end_through(&mut self, k: usize, j: usize) -> Result<(), Error> {
        for i in 0..=j {
            let piece = &mut self.speakers[k].pieces[i];
            let cut = std::mem::replace(&mut piece.cut, Err(Vec::new()));
            piece.cut = match cut {
                Ok(cutter) => Err(cutter.finish(&mut self.out)),
                ended => ended,
            };
            self.write(k).await?;
        }
        Ok(())
    }

    /// Encodes the pending speech for speaker `k`, starting their encoder if this is their
    /// first, and writes what it made into the pipe to the upload.
    async fn write(&mut self, k: usize) -> Result<(), Error> {
        if self.out.is_empty() {
            return Ok(());
        }
        let speaker = &mut self.speakers[k];
        let encoding = match &mut speaker.encoding {
            Some(encoding) => encoding,
            None => {
                let (pipe, encoded) = tokio::io::duplex(PIPE_BYTES);
                self.uploads
                    .send(Upload {
                        key: speaker.flac_key.clone(),
                        encoded,
                    })
                    .map_err(|_| Error::retryable("speech upload", "the uploads ended before the cut"))?;
                speaker.encoding.insert(Encoding {
                    flac: FlacEncoder::new(self.rate),
                    pipe,
                })
            }
        };
        encoding.flac.push(&self.out);
        speaker.written += self.out.len() as u64;
        self.out.clear();
        drain(encoding).await
    }
}

/// Writes what the encoder has made into the pipe (waiting while the upload catches up).
async fn drain(encoding: &mut Encoding) -> Result<(), Error> {
    let bytes = encoding.flac.output();
    if !bytes.is_empty() {
        encoding
            .pipe
            .write_all(bytes)
            .await
            .map_err(|e| Error::retryable("speech encoder", e))?;
        bytes.clear();
    }
    Ok(())
}

impl Tap for SpeechTap {
    type Done = Vec<SpeakerCut>;

    async fn samples(&mut self, piece: usize, samples: &[i16]) -> Result<(), Error> {
        let (k, j) = self.owner(piece)?;
        if j > 0 && self.speakers[k].pieces[j - 1].cut.is_ok() {
            self.end_through(k, j - 1).await?;
        }
        match &mut self.speakers[k].pieces[j].cut {
            Ok(cutter) => cutter.push(samples, &mut self.out),
            Err(_) => return Err(Error::Invalid(format!("speech cut: samples after piece {piece} ended"))),
        }
        self.write(k).await
    }

    async fn ended(&mut self, piece: usize) -> Result<(), Error> {
        let (k, j) = self.owner(piece)?;
        self.end_through(k, j).await
    }

    async fn finish(mut self) -> Result<Vec<SpeakerCut>, Error> {
        let mut done = Vec::with_capacity(self.speakers.len());
        for k in 0..self.speakers.len() {
            if let Some(last) = self.speakers[k].pieces.len().checked_sub(1) {
                self.end_through(k, last).await?;
            }
            let speaker = &mut self.speakers[k];
            if let Some(mut encoding) = speaker.encoding.take() {
                encoding.flac.finish();
                drain(&mut encoding).await?;
                // Closing the pipe ends the upload.
                encoding
                    .pipe
                    .shutdown()
                    .await
                    .map_err(|e| Error::retryable("speech encoder", e))?;
            }
            let pieces = std::mem::take(&mut speaker.pieces)
                .into_iter()
                .map(|p| PieceSpeech {
                    offset_seconds: p.offset_seconds,
                    stretches: p.cut.err().unwrap_or_default(),
                })
                .collect();
            done.push(SpeakerCut {
                pieces,
                written: speaker.written,
            });
        }
        Ok(done)
    }
}

/// Stores each encoder's output as the tap starts them, concurrently with the merge; ends when
/// the tap has finished (its sender dropped) and every upload is stored. Returns (key, bytes).
pub(super) async fn uploads<O: ObjectStore>(
    objects: &O,
    bucket: &str,
    mut started: Started,
) -> Result<Vec<(String, u64)>, Error> {
    let upload = |job: Upload| async move {
        let bytes = objects
            .put_stream(bucket, &job.key, FLAC_CONTENT_TYPE, job.encoded)
            .await?;
        Ok::<_, Error>((job.key, bytes))
    };
    let mut running = FuturesUnordered::new();
    let mut stored = Vec::new();
    let mut open = true;
    loop {
        tokio::select! {
            job = started.recv(), if open => match job {
                Some(job) => running.push(upload(job)),
                None => open = false,
            },
            Some(done) = running.next(), if !running.is_empty() => stored.push(done?),
            else => break,
        }
    }
    Ok(stored)
}
