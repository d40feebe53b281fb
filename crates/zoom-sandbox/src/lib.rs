//! A local stand-in for Zoom used by the end-to-end tests and the demo: synthetic
//! meetings encoded by ffmpeg, signed webhooks, an HTTPS download server with a 302
//! to a signed CDN path, S2S OAuth, the recordings API and fault knobs
//! (docs/zoom.md).

mod listing;
pub mod meeting;
pub mod server;
pub mod webhook;

mod payload;
pub mod tls;
mod tokens;

pub use listing::user_id;
pub use meeting::{GeneratedMeeting, GeneratedTrack, MeetingSpec, ParticipantSpec};
pub use server::{Fault, RequestRecord, Sandbox, SandboxConfig};

#[cfg(test)]
pub(crate) mod test_support {
    use std::path::PathBuf;

    pub fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("zoom-sandbox-{tag}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
