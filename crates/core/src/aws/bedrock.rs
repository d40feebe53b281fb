//! Amazon Bedrock's Converse API as the [`InsightsModel`]: one request with the
//! `record_insights` tool as the required answer.

use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseOutput, InferenceConfiguration, Message, SpecificToolChoice,
    SystemContentBlock, Tool, ToolChoice, ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use aws_sdk_bedrockruntime::Client;
use aws_smithy_types::{Document, Number};
use serde_json::Value;

use crate::llm::{ModelReply, Request, Role};
use crate::ports::{InsightsModel, ProviderError};

#[derive(Clone)]
pub struct BedrockModel {
    client: Client,
    model_id: String,
    max_output_tokens: i32,
}

impl BedrockModel {
    pub fn new(sdk: &aws_config::SdkConfig, model_id: impl Into<String>, max_output_tokens: i32) -> Self {
        BedrockModel {
            client: Client::new(sdk),
            model_id: model_id.into(),
            max_output_tokens,
        }
    }
}

impl InsightsModel for BedrockModel {
    async fn ask(&self, request: &Request) -> Result<ModelReply, ProviderError> {
        let refused =
            |e: aws_smithy_types::error::operation::BuildError| ProviderError::Refused(format!("bedrock: {e}"));
        let spec = ToolSpecification::builder()
            .name(request.tool.name)
            .description(request.tool.description)
            .input_schema(ToolInputSchema::Json(to_document(&request.tool.input_schema)))
            .build()
            .map_err(refused)?;
        let tools = ToolConfiguration::builder()
            .tools(Tool::ToolSpec(spec))
            .tool_choice(ToolChoice::Tool(
                SpecificToolChoice::builder()
                    .name(request.tool.name)
                    .build()
                    .map_err(refused)?,
            ))
            .build()
            .map_err(refused)?;
        let mut messages = Vec::with_capacity(request.messages.len());
        for m in &request.messages {
            let role = match m.role {
                Role::User => ConversationRole::User,
                Role::Assistant => ConversationRole::Assistant,
            };
            messages.push(
                Message::builder()
                    .role(role)
                    .content(ContentBlock::Text(m.text.clone()))
                    .build()
                    .map_err(refused)?,
            );
        }
        let out = self
            .client
            .converse()
            .model_id(&self.model_id)
            .system(SystemContentBlock::Text(request.system.clone()))
            .set_messages(Some(messages))
            .tool_config(tools)
            // Deterministic as the model allows: the same transcript gives the same insights.
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(self.max_output_tokens)
                    .temperature(0.0)
                    .build(),
            )
            .send()
            .await
            .map_err(provider_error)?;
        let Some(ConverseOutput::Message(message)) = out.output else {
            return Ok(ModelReply::Text(String::new()));
        };
        Ok(reply_of(message.content()))
    }
}

/// The tool call if the model made one, else its text (which the conversation asks again about).
fn reply_of(content: &[ContentBlock]) -> ModelReply {
    for block in content {
        if let ContentBlock::ToolUse(call) = block {
            return ModelReply::Tool(to_json(call.input()));
        }
    }
    let text = content
        .iter()
        .filter_map(|b| b.as_text().ok().cloned())
        .collect::<Vec<_>>()
        .join("\n");
    ModelReply::Text(text)
}

/// Bedrock's answers in the provider vocabulary. Throttling is "later, without a retry spent";
/// a model that is not enabled, or a request it refuses, is "never" and says so.
fn provider_error<E>(err: SdkError<E>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = match &err {
        SdkError::ServiceError(s) => s.err().code().unwrap_or_default().to_owned(),
        _ => String::new(),
    };
    let message = format!("bedrock: {}", aws_sdk_bedrockruntime::error::DisplayErrorContext(&err));
    match code.as_str() {
        "ThrottlingException" | "TooManyRequestsException" => ProviderError::AtCapacity(message),
        "AccessDeniedException" => ProviderError::Refused(format!(
            "{message} (is model access enabled for this model in Amazon Bedrock, and the Anthropic use-case form sent?)"
        )),
        "ValidationException" | "ResourceNotFoundException" => ProviderError::Refused(message),
        _ => ProviderError::Unavailable(message),
    }
}

pub(crate) fn to_document(v: &Value) -> Document {
    match v {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or_default())
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(to_document).collect()),
        Value::Object(map) => Document::Object(map.iter().map(|(k, v)| (k.clone(), to_document(v))).collect()),
    }
}

pub(crate) fn to_json(d: &Document) -> Value {
    match d {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        // A float that JSON cannot hold (NaN, infinity) is no valid answer anyway.
        Document::Number(Number::Float(f)) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Document::String(s) => Value::String(s.clone()),
        Document::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Document::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<serde_json::Map<_, _>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_bedrockruntime::types::ToolUseBlock;
    use serde_json::json;

    use super::*;

    #[test]
    fn json_and_documents_convert_both_ways() {
        let v = json!({"a": [1, -2, 2.5, "x", true, null], "b": {"c": {}}});
        assert_eq!(to_json(&to_document(&v)), v);
        assert_eq!(
            to_json(&to_document(&crate::llm::tool_schema())),
            crate::llm::tool_schema()
        );
    }

    #[test]
    fn a_tool_call_is_the_answer_and_text_alone_is_not() {
        let call = ToolUseBlock::builder()
            .tool_use_id("t1")
            .name("record_insights")
            .input(to_document(&json!({"summary": ["s"]})))
            .build()
            .unwrap();
        let content = [ContentBlock::Text("thinking".into()), ContentBlock::ToolUse(call)];
        assert_eq!(reply_of(&content), ModelReply::Tool(json!({"summary": ["s"]})));
        assert_eq!(
            reply_of(&[ContentBlock::Text("no tool".into())]),
            ModelReply::Text("no tool".into())
        );
    }
}
