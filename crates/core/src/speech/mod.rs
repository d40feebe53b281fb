//! Finding a participant's speech in their track, and putting times in the speech-only file
//! back at meeting time (the `aws` provider transcribes speech only: it bills per second).

pub mod segment_map;
pub mod vad;

pub use segment_map::{Segment, SegmentMap};
pub use vad::{Speech, SpeechSegment, Vad, VadError, VadSettings};
