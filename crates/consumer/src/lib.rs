//! consumer: submits produced meetings to the insights provider within the account's concurrency limit. A
//! library so that the tests drive the real code; `main.rs` composes it.

pub mod config;
pub mod handler;
