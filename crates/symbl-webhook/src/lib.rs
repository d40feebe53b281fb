//! symbl-webhook: Symbl's job-status callbacks. A library so that the tests and fuzz targets
//! drive the real code; `main.rs` composes it.

pub mod config;
pub mod handler;
