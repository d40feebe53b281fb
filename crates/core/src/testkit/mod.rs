//! In-memory implementations of every port in [`crate::ports`], written once for the
//! handler tests, the fuzz targets and the benches (feature `testkit`).
//!
//! Each double keeps the rules of the adapter it stands for (the conditions of the DynamoDB
//! writes in [`crate::aws`], SQS's delay limit, a semaphore's leases), so a handler test
//! exercises the handler against the same answers production gives. On top of that every
//! double has knobs: [`Faults`] makes an operation fail or forbids it, scripts answer in
//! order, and the `pub` logs record what the handler asked for.
//!
//! [`samples`] and [`AudioBuilder`] build the sample meeting (`events/`), its
//! [`ProducedAudio`](crate::meeting::ProducedAudio) and the events between the functions.

// Test code: a poisoned lock or a missing sample is a failed test, not a failed Lambda.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audio;
mod clock;
mod insights;
mod invokers;
mod jobs;
mod knobs;
mod mail;
mod meetings;
mod objects;
mod queue;
pub mod samples;
mod semaphore;

pub use audio::AudioBuilder;
pub use clock::Clock;
pub use insights::MemInsights;
pub use invokers::{MemNotifier, MemProducer};
pub use jobs::{JobRow, MemJobs};
pub use knobs::{Faults, Knobs};
pub use mail::MemMailer;
pub use meetings::{MeetingRow, MemMeetings, StoredInsights};
pub use objects::{MemObjects, StoredObject};
pub use queue::MemQueue;
pub use semaphore::MemSemaphore;

#[cfg(test)]
mod tests;
