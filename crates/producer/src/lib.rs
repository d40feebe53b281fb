//! producer: one meeting's audio, from Zoom to a merged multichannel file in S3. A library
//! so that the tests drive the real code; `main.rs` composes it.
//!
//! The steps, in order: `sources` (which tracks), [`archive`] (each streamed from Zoom into
//! S3), `channels` (who is on which channel), `plan` and `merge` (the aligned merge), and
//! [`output`] (WAV or FLAC); [`handler`] runs them and keeps the meeting's record. Zoom and
//! ffmpeg are behind [`ports`], with their adapters in [`download`], [`zoom_api`] and [`ffmpeg`].

pub mod archive;
mod channels;
pub mod config;
pub mod download;
pub mod ffmpeg;
pub mod handler;
mod merge;
pub mod output;
mod plan;
pub mod ports;
pub mod preflight;
mod sources;
pub mod speech;
#[cfg(test)]
mod testing;
mod wav;
pub mod zoom_api;
