//! Symbl.ai behind one port ([`crate::ports::InsightsProvider`]): the HTTP client with its
//! token cache, and the request and response models (contract §g to §k).

pub mod client;
pub mod insights;
pub mod model;

pub use client::{SymblClient, SymblError};
pub use insights::{Insights, RawInsights};
pub use model::{ChannelSpeaker, JobStatus, SubmitAudio, Submitted};
