//! Shared domain model, ports and adapters of the zoom-symbl pipeline.
//!
//! No handler code lives here: each Lambda crate composes these pieces in its
//! `main.rs` and keeps its handler generic over the traits in [`ports`].

pub mod aws;
pub mod config;
pub mod error;
pub mod keys;
pub mod meeting;
pub mod ports;
pub mod secret;
pub mod symbl;
pub mod telemetry;
pub mod timefmt;
pub mod zoom;

pub use error::{Error, Result};
