//! The `aws` provider's transcript: Transcribe's per-participant output read into words,
//! put back at meeting time and merged into one list of utterances, rendered as WebVTT.

pub mod jobs;
pub mod merge;
pub mod talk;
pub mod transcribe;
pub mod vtt;

pub use merge::{merge_participants, participant_utterances, split_by_speaker, Transcript, Utterance};
pub use talk::{clock, talk_times, TalkTime};
pub use transcribe::{parse_words, TranscribeError, Word};
