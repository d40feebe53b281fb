//! Meeting insights in our own terms, whichever provider made them: what the email (and the
//! meeting page) are rendered from.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Insights {
    /// Paragraphs.
    pub summary: Vec<String>,
    pub topics: Vec<Topic>,
    pub questions: Vec<Question>,
    pub action_items: Vec<Action>,
    pub follow_ups: Vec<Action>,
    /// Sections the provider would not give (their document names, `action-items`): those
    /// above are empty because of it, and the email says so. Kept with the stored insights,
    /// so an email sent again still says it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// Participants whose speech could not be transcribed, each with why (`Lei: the media
    /// format is not supported`): the insights are of everyone else, and the email says so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topic {
    pub text: String,
    /// positive, neutral or negative, when the provider judged it.
    pub sentiment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub text: String,
    /// Who asked.
    pub from: Option<String>,
}

/// An action item or a follow-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub text: String,
    pub assignee: Option<String>,
    /// As the provider gave it (an RFC 3339 time or a date).
    pub due_by: Option<String>,
    /// Who said it.
    pub from: Option<String>,
}

/// A finished job's insights, with the provider's own documents as they came: those are
/// stored beside the meeting (`insights/<name>.json`), so nothing the provider said is lost.
#[derive(Debug, Clone, PartialEq)]
pub struct InsightsReport {
    pub insights: Insights,
    pub documents: Vec<(&'static str, Value)>,
    /// The whole transcript at meeting time, when the provider gave one: stored beside the
    /// meeting as `transcript.json` and `transcript.vtt` for its page.
    pub transcript: Option<crate::transcript::Transcript>,
}
