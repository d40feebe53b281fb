//! Provider-neutral logic for deriving meeting insights with an LLM through one tool call
//! (issue #14's `aws` provider; the Bedrock Converse adapter calls into this).
//!
//! - [`schema`]: the `record_insights` tool and its input schema.
//! - [`prompt`]: the system prompt, the user messages and splitting a long transcript into parts.
//! - [`answer`]: validating the tool input the model returns and mapping it to [`Insights`].
//! - [`combine`]: the conversation as a state machine: one request per part, one retry on an
//!   invalid answer, then a request combining the parts.
//!
//! Nothing here does I/O, so the formats the LLM sandbox parses are tested byte for byte.
//!
//! [`Insights`]: crate::insights::Insights

pub mod answer;
pub mod combine;
pub mod prompt;
pub mod schema;

pub use answer::{to_tool_input, validate, InvalidAnswer};
pub use combine::{ConversationError, InsightsConversation, Message, ModelReply, Request, Role, Step};
pub use prompt::{estimate_tokens, split_into_parts, MeetingFacts, TranscriptLine};
pub use schema::{tool_schema, ToolSpec, TOOL_DESCRIPTION, TOOL_NAME};
