//! Symbl.ai behind one port ([`crate::ports::InsightsProvider`]): the HTTP client with its
//! token cache, and the request and response models (docs/symbl.md).

pub mod client;
pub mod insights;
pub mod model;
pub mod request;

pub use client::{SymblClient, SymblError};

/// Symbl's API host. Its public API is gone (docs/symbl.md): deployments set `SymblBaseUrl`.
pub const DEFAULT_BASE_URL: &str = "https://api.symbl.ai";
/// Concurrent jobs a paid Symbl account may run.
pub const DEFAULT_CONCURRENCY_LIMIT: u32 = 50;
/// The semaphore item that counts this deployment's Symbl jobs.
pub const SEMAPHORE_NAME: &str = "symbl-jobs";
pub use insights::RawInsights;
pub use model::{ChannelSpeaker, SubmitAudio, Submitted};

/// Symbl's Async Audio API takes at most 4 hours of audio per file.
pub const MAX_AUDIO_SECS: f64 = 4.0 * 3600.0;
