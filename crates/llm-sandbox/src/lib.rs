//! A local stand-in for Amazon Bedrock (issue #14). ministack, started with
//! `MINISTACK_BEDROCK_PROXY_URL=http://127.0.0.1:PORT`, forwards `Converse` here as an OpenAI
//! Chat Completions request; the sandbox answers the `record_insights` tool call with
//! insights derived deterministically from the transcript it is given (see [`insights`]),
//! with fault knobs and a record of every request under `/admin` (see [`server`]).

pub mod insights;
pub mod server;

pub use insights::{insights_for, Insights, Item, Question, Topic};
pub use server::{Faults, LlmSandbox, RequestRecord, FOREIGN_ASSIGNEE, TOOL_NAME};
