//! zoom-webhook: Zoom's front door. The handler and its API Gateway translation, as a
//! library so that the tests and fuzz targets drive the real code; `main.rs` composes it.

pub mod config;
pub mod handler;
pub mod http_io;
