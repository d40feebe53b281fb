//! Everything Zoom: the webhook model, its signature, participant names and the
//! download-host allow list (docs/zoom.md).

pub mod hosts;
pub mod names;
pub mod signature;
pub mod webhook;

pub use hosts::HostAllowList;
pub use signature::{SignatureError, WebhookVerifier};
pub use webhook::{ParticipantAudioFile, RecordingCompleted, RecordingFile, RecordingObject, ZoomEvent};
