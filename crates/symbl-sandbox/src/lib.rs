//! A local stand-in for Symbl.ai used by the end-to-end tests and the demo (docs/symbl.md):
//! the token endpoint with server-side caching, `POST
//! /v1/process/audio/url` that really fetches the audio and checks it with ffprobe,
//! a per-account concurrency limit answering the documented 429, job status, status
//! webhooks (`id`/`jobId`, duplicated, out of order, lost), conversation insights and
//! the experience API (404 until completed), fault knobs and admin endpoints.

pub mod insights;
pub mod probe;
pub mod server;

pub use server::{Faults, IdKey, JobRecord, RequestRecord, Submission, SymblConfig, SymblSandbox, WebhookPlan};
