//! Meeting insights in our own terms, whichever provider made them: what the email (and the
//! meeting page) are rendered from.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Insights {
    /// Paragraphs.
    pub summary: Vec<String>,
    pub topics: Vec<Topic>,
    pub questions: Vec<Question>,
    pub action_items: Vec<Action>,
    pub follow_ups: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Topic {
    pub text: String,
    /// positive, neutral or negative, when the provider judged it.
    pub sentiment: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub text: String,
    /// Who asked.
    pub from: Option<String>,
}

/// An action item or a follow-up.
#[derive(Debug, Clone, PartialEq)]
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
}
