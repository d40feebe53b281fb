//! Shared domain model, ports and adapters of the zoom-symbl pipeline.
//!
//! No handler code lives here: each Lambda crate composes these pieces in its
//! `main.rs` and keeps its handler generic over the traits in [`ports`].

pub mod aws;
pub mod config;
pub mod error;
pub mod insights;
pub mod lifecycle;
pub mod llm;
pub mod meeting;
pub mod meeting_key;
pub mod page_link;
pub mod ports;
pub mod secret;
pub mod speech;
pub mod symbl;
pub mod telemetry;
/// In-memory ports for tests; its own tests run with the crate's.
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod timefmt;
pub mod transcribed;
pub mod transcript;
pub mod zoom;

pub use error::{Error, Result};
