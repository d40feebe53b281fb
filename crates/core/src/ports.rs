//! Small port traits the handlers are generic over. AWS adapters live in [`crate::aws`];
//! tests use in-memory ones.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::keys::MeetingKey;
use crate::zoom::RecordingCompleted;
use crate::Result;

/// The first sighting of a meeting instance, written once per UUID.
#[derive(Debug, Clone, PartialEq)]
pub struct MeetingClaim {
    pub key: MeetingKey,
    pub uuid: String,
    pub meeting_id: String,
    pub topic: String,
    pub host_email: String,
    pub event_ts: Option<i64>,
    /// Random per delivery, so only the delivery that claimed can release.
    pub claim_id: String,
    pub received_at: String,
    pub tracking_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed,
    /// Another delivery of the same meeting instance got there first.
    AlreadyClaimed,
}

/// Idempotent ingestion of meeting instances (conditional writes).
pub trait MeetingClaims: Send + Sync {
    fn claim(&self, claim: &MeetingClaim) -> impl Future<Output = Result<ClaimOutcome>> + Send;
    /// Undoes our own claim (and nothing else) so that Zoom's retry can claim again.
    fn release(&self, claim: &MeetingClaim) -> impl Future<Output = Result<()>> + Send;
    /// Records that the producer was handed the meeting.
    fn mark_dispatched(&self, claim: &MeetingClaim) -> impl Future<Output = Result<()>> + Send;
}

/// What `zoom-webhook` hands the producer (async invoke payload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProducerJob {
    pub meeting_key: String,
    pub claim_id: String,
    pub received_at: String,
    #[serde(default)]
    pub tracking_id: Option<String>,
    pub event: RecordingCompleted,
}

/// Starts the producer without waiting for it.
pub trait ProducerInvoker: Send + Sync {
    fn invoke(&self, job: &ProducerJob) -> impl Future<Output = Result<()>> + Send;
}
