//! meeting-page: a meeting's insights, whole transcript and audio behind a signed, expiring
//! link (`GET /meetings/{key}?t=<token>`). A library so that the tests drive the real code;
//! `main.rs` composes it.

pub mod config;
pub mod handler;
pub mod http_io;
pub mod view;
