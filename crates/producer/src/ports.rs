//! The producer's own ports: what it needs from Zoom and from the audio codecs, in its terms,
//! so that a whole production runs in a handler test. The stores and the queue are core's
//! ports; only this crate uses these, so they live here.

use std::future::Future;

use tokio::io::{AsyncRead, AsyncWrite};
use url::Url;

use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::Error;

use crate::download::FetchError;

/// A byte stream the merge reads (decoded PCM, an encoder's output, a download's body).
pub type Reader = Box<dyn AsyncRead + Unpin + Send>;
/// A byte stream the merge writes (an encoder's input).
pub type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// One recording file as Zoom serves it, before anything checked that it is audio.
pub struct RecordingBody {
    /// The announced media type, lower-cased; empty when there is none.
    pub content_type: String,
    /// The announced length, when there is one.
    pub length: Option<u64>,
    pub body: Reader,
}

/// Zoom's recording downloads.
pub trait Recordings: Send + Sync {
    /// Opens one recording file with a download token. `url` has passed the host allow list.
    /// A token Zoom refuses is [`FetchError::TokenRejected`].
    fn open(&self, url: &Url, token: &SecretString) -> impl Future<Output = Result<RecordingBody, FetchError>> + Send;
}

/// Fresh download tokens for a meeting, for when the event's has expired or is refused.
pub trait DownloadTokens: Send + Sync {
    /// Whether this deployment can mint tokens at all (Server-to-Server OAuth configured).
    fn can_mint(&self) -> bool;

    fn mint_download_token(&self, meeting_uuid: &str) -> impl Future<Output = Result<SecretString, Error>> + Send;
}

/// A running decoder or encoder. Dropping it ends it.
pub trait CodecProcess: Send {
    /// Waits for it to end; an error says it failed (a lie in the audio otherwise).
    fn finish(self) -> impl Future<Output = Result<(), Error>> + Send;

    /// Ends a process whose remaining output is not needed.
    fn stop(self) -> impl Future<Output = ()> + Send;
}

/// A decoder: the track as mono s16le at the plan's rate, from its first sample on.
pub struct Decoder<P> {
    pub pcm: Reader,
    pub process: P,
}

/// An encoder: s16le in, the encoded file out.
pub struct Encoder<P> {
    pub pcm: Writer,
    pub encoded: Reader,
    pub process: P,
}

/// The codecs the merge runs (ffmpeg processes in Lambda).
pub trait Codecs: Send + Sync {
    type Process: CodecProcess;

    /// Whether `source` holds a decodable audio stream (checked before the merge, so one bad
    /// file is left out instead of failing every decoder's merge); the reason when it does not.
    fn probe(&self, source: &str) -> impl Future<Output = Result<(), String>> + Send;
    /// Decodes the first audio stream of `source` (a URL the codec fetches itself).
    fn decoder(&self, source: &str, sample_rate: u32) -> Result<Decoder<Self::Process>, Error>;

    /// Interleaved s16le of `channels` channels to FLAC.
    fn flac_encoder(&self, channels: u16, sample_rate: u32) -> Result<Encoder<Self::Process>, Error>;

    /// Mono s16le to a small MP3 (the summary page's player).
    fn mp3_encoder(&self, sample_rate: u32) -> Result<Encoder<Self::Process>, Error>;
}
