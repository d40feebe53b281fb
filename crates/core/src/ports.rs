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

/// Streaming object storage (S3 in production).
pub trait ObjectStore: Send + Sync {
    /// Streams `body` into `bucket/key`, returning the bytes written. Memory stays bounded
    /// whatever the size.
    fn put_stream<R: tokio::io::AsyncRead + Unpin + Send>(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        body: R,
    ) -> impl Future<Output = Result<u64>> + Send;

    fn presign_get(&self, bucket: &str, key: &str, ttl: std::time::Duration)
        -> impl Future<Output = Result<String>> + Send;
}

/// The message the producer queues for the consumer: the meeting record is the payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkItem {
    pub meeting_key: String,
    pub produced_at: String,
}

pub trait WorkQueue: Send + Sync {
    fn enqueue(&self, item: &WorkItem) -> impl Future<Output = Result<()>> + Send;
}

/// Where a retried or concurrent producer invocation stands.
#[derive(Debug, Clone, PartialEq)]
pub enum ProductionStart {
    /// We hold the lease; produce (again, if an earlier attempt died).
    Produce { attempt: u32 },
    /// Audio exists but the consumer was not told yet.
    EnqueueOnly,
    /// Queued (or further along): nothing to do.
    AlreadyDone,
    /// Another invocation holds a live lease.
    Busy,
}

/// The producer's view of the meetings table.
pub trait MeetingStore: Send + Sync {
    fn begin_production(&self, key: &MeetingKey, lease_secs: u64)
        -> impl Future<Output = Result<ProductionStart>> + Send;
    fn save_produced(&self, key: &MeetingKey, audio: &crate::meeting::ProducedAudio)
        -> impl Future<Output = Result<()>> + Send;
    fn mark_queued(&self, key: &MeetingKey) -> impl Future<Output = Result<()>> + Send;
    fn mark_failed(&self, key: &MeetingKey, reason: &str) -> impl Future<Output = Result<()>> + Send;
}
