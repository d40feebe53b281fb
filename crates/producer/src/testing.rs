//! Doubles of the producer's own ports, for its handler tests: Zoom's downloads, Zoom's
//! token minting and the codecs. The stores and the queue are core's ports, with their
//! doubles in core's testkit. Each double records what it was asked.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use url::Url;

use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::Error;

use crate::download::FetchError;
use crate::ports::{CodecProcess, Codecs, Decoder, DownloadTokens, Encoder, RecordingBody, Recordings};

/// What Zoom answers one download request with.
#[derive(Debug, Clone)]
pub enum Answer {
    /// 200 with this media type and body, its length announced.
    Serves {
        content_type: &'static str,
        body: Vec<u8>,
    },
    Fails(FetchError),
}

impl Answer {
    pub fn audio(body: &[u8]) -> Self {
        Answer::Serves {
            content_type: "audio/mp4",
            body: body.to_vec(),
        }
    }
}

/// Zoom's download server: scripted answers by URL, the tokens it takes, every request.
#[derive(Debug, Default)]
pub struct MemRecordings {
    /// URL -> answers in order; the last one repeats. Other URLs answer 404.
    answers: Mutex<BTreeMap<String, Vec<Answer>>>,
    /// Tokens Zoom accepts; any other is refused (401). Empty: any.
    accepted: Vec<String>,
    /// Every request: (URL, token).
    pub requests: Mutex<Vec<(String, String)>>,
}

impl MemRecordings {
    pub fn serving(self, url: &str, answers: Vec<Answer>) -> Self {
        assert!(!answers.is_empty(), "{url} needs an answer");
        self.answers.lock().unwrap().insert(url.into(), answers);
        self
    }

    pub fn accepting(mut self, token: &str) -> Self {
        self.accepted.push(token.into());
        self
    }

    /// The tokens `url` was requested with, in order.
    pub fn requests_for(&self, url: &str) -> Vec<String> {
        let requests = self.requests.lock().unwrap();
        requests
            .iter()
            .filter(|(u, _)| u == url)
            .map(|(_, t)| t.clone())
            .collect()
    }

    fn answer(&self, url: &str, token: &str) -> Result<RecordingBody, FetchError> {
        self.requests.lock().unwrap().push((url.into(), token.into()));
        if !self.accepted.is_empty() && !self.accepted.iter().any(|t| t == token) {
            return Err(FetchError::TokenRejected);
        }
        let answer = {
            let mut answers = self.answers.lock().unwrap();
            let script = answers.get_mut(url).ok_or(FetchError::Status(404))?;
            if script.len() > 1 {
                script.remove(0)
            } else {
                script[0].clone()
            }
        };
        match answer {
            Answer::Serves { content_type, body } => Ok(RecordingBody {
                content_type: content_type.into(),
                length: Some(body.len() as u64),
                body: Box::new(std::io::Cursor::new(body)),
            }),
            Answer::Fails(e) => Err(e),
        }
    }
}

impl Recordings for MemRecordings {
    async fn open(&self, url: &Url, token: &SecretString) -> Result<RecordingBody, FetchError> {
        self.answer(url.as_str(), token.expose())
    }
}

/// Zoom's OAuth and recordings API: mints `token` when it has one.
#[derive(Debug, Default)]
pub struct MemTokens {
    token: Option<String>,
    /// Every meeting a token was minted for.
    pub minted: Mutex<Vec<String>>,
}

impl MemTokens {
    pub fn minting(token: &str) -> Self {
        MemTokens {
            token: Some(token.into()),
            ..Default::default()
        }
    }
}

impl DownloadTokens for MemTokens {
    fn can_mint(&self) -> bool {
        self.token.is_some()
    }

    async fn mint_download_token(&self, meeting_uuid: &str) -> Result<SecretString, Error> {
        self.minted.lock().unwrap().push(meeting_uuid.into());
        self.token
            .clone()
            .map(SecretString::new)
            .ok_or_else(|| Error::Config("no Zoom Server-to-Server OAuth credentials configured".into()))
    }
}

/// The codecs without processes: a decoder yields the PCM given for its source, an encoder
/// passes its input through unchanged (so a test reads what the interleaver wrote).
#[derive(Debug, Default)]
pub struct MemCodecs {
    /// (a part of the source URL, such as an original's file id; its mono PCM).
    tracks: Vec<(String, Vec<i16>)>,
    /// Parts of source URLs whose decoder exits with an error.
    failing: Vec<String>,
    /// Parts of source URLs the probe finds undecodable, with the reason it gives.
    undecodable: Vec<(String, String)>,
    /// Every probed source, in order.
    pub probed: Mutex<Vec<String>>,
    /// Every decoder's source, in the order they were started.
    pub decoded: Mutex<Vec<String>>,
    /// Every encoder started: `mp3 <rate> Hz`, `flac <n> channels <rate> Hz`.
    pub encoders: Mutex<Vec<String>>,
    /// How each process ended, in order: `finished <role>`, `stopped <role>`.
    pub ended: Arc<Mutex<Vec<String>>>,
}

impl MemCodecs {
    /// The decoder of a source whose URL contains `part` yields `pcm`.
    pub fn decoding(mut self, part: &str, pcm: Vec<i16>) -> Self {
        self.tracks.push((part.into(), pcm));
        self
    }

    /// The probe of a source whose URL contains `part` says it holds no decodable audio.
    pub fn undecodable(mut self, part: &str, reason: &str) -> Self {
        self.undecodable.push((part.into(), reason.into()));
        self
    }

    /// The decoder of a source whose URL contains `part` exits with an error.
    pub fn failing(mut self, part: &str) -> Self {
        self.failing.push(part.into());
        self
    }

    fn process(&self, role: String, fails: bool) -> MemProcess {
        MemProcess {
            role,
            fails,
            ended: self.ended.clone(),
        }
    }

    fn encoder(&self, role: &str) -> Encoder<MemProcess> {
        let (pcm, encoded) = tokio::io::duplex(64 << 10);
        Encoder {
            pcm: Box::new(pcm),
            encoded: Box::new(encoded),
            process: self.process(role.into(), false),
        }
    }
}

impl Codecs for MemCodecs {
    type Process = MemProcess;

    async fn probe(&self, source: &str) -> Result<(), String> {
        self.probed.lock().unwrap().push(source.into());
        match self.undecodable.iter().find(|(part, _)| source.contains(part.as_str())) {
            Some((_, reason)) => Err(reason.clone()),
            None => Ok(()),
        }
    }

    fn decoder(&self, source: &str, _sample_rate: u32) -> Result<Decoder<MemProcess>, Error> {
        self.decoded.lock().unwrap().push(source.into());
        let (part, pcm) = self
            .tracks
            .iter()
            .find(|(part, _)| source.contains(part.as_str()))
            .ok_or_else(|| Error::Invalid(format!("MemCodecs: no PCM for {source}")))?;
        let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
        let fails = self.failing.iter().any(|f| source.contains(f.as_str()));
        Ok(Decoder {
            pcm: Box::new(std::io::Cursor::new(bytes)),
            process: self.process(format!("decoder {part}"), fails),
        })
    }

    fn flac_encoder(&self, channels: u16, sample_rate: u32) -> Result<Encoder<MemProcess>, Error> {
        self.encoders
            .lock()
            .unwrap()
            .push(format!("flac {channels} channels {sample_rate} Hz"));
        Ok(self.encoder("flac encoder"))
    }

    fn mp3_encoder(&self, sample_rate: u32) -> Result<Encoder<MemProcess>, Error> {
        self.encoders.lock().unwrap().push(format!("mp3 {sample_rate} Hz"));
        Ok(self.encoder("mp3 encoder"))
    }
}

#[derive(Debug)]
pub struct MemProcess {
    role: String,
    fails: bool,
    ended: Arc<Mutex<Vec<String>>>,
}

impl CodecProcess for MemProcess {
    async fn finish(self) -> Result<(), Error> {
        self.ended.lock().unwrap().push(format!("finished {}", self.role));
        if self.fails {
            return Err(Error::retryable(
                "ffmpeg",
                format!("{} exited with exit status: 1", self.role),
            ));
        }
        Ok(())
    }

    async fn stop(self) {
        self.ended.lock().unwrap().push(format!("stopped {}", self.role));
    }
}
