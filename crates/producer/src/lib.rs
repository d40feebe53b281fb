//! producer: one meeting's audio, from Zoom to a merged multichannel file in S3. A library
//! so that the tests drive the real code; `main.rs` composes it.

pub mod config;
pub mod download;
pub mod ffmpeg;
pub mod handler;
mod merge;
mod plan;
mod wav;
pub mod zoom_api;
