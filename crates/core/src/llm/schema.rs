//! The one tool the model answers through. Its input schema is fixed: the LLM sandbox parses
//! exactly these fields, so change them only together with it.

use serde_json::{json, Value};

pub const TOOL_NAME: &str = "record_insights";

pub const TOOL_DESCRIPTION: &str = "Record the meeting's insights: summary paragraphs, topics with their sentiment, \
     questions with who asked them, action items and follow-ups with their assignee and due date.";

/// A tool as a request declares it, in no provider's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub input_schema: Value,
}

impl ToolSpec {
    pub fn record_insights() -> Self {
        Self {
            name: TOOL_NAME,
            description: TOOL_DESCRIPTION,
            input_schema: tool_schema(),
        }
    }
}

/// The JSON Schema of `record_insights`' input. Action items and follow-ups share one item
/// schema, written out twice: some providers' tool schemas do not resolve `$ref`.
pub fn tool_schema() -> Value {
    json!({
        "type": "object",
        "required": ["summary", "topics", "questions", "action_items", "follow_ups"],
        "properties": {
            "summary": {"type": "array", "items": {"type": "string"}},
            "topics": {"type": "array", "items": {
                "type": "object",
                "required": ["text", "sentiment"],
                "properties": {
                    "text": {"type": "string"},
                    "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]}
                }
            }},
            "questions": {"type": "array", "items": {
                "type": "object",
                "required": ["text", "asked_by"],
                "properties": {
                    "text": {"type": "string"},
                    "asked_by": {"type": ["string", "null"]}
                }
            }},
            "action_items": {"type": "array", "items": action_schema()},
            "follow_ups": {"type": "array", "items": action_schema()}
        }
    })
}

fn action_schema() -> Value {
    json!({
        "type": "object",
        "required": ["text", "assignee", "due_date"],
        "properties": {
            "text": {"type": "string"},
            "assignee": {"type": ["string", "null"]},
            "due_date": {"type": ["string", "null"], "description": "YYYY-MM-DD"}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn required(v: &Value) -> Vec<&str> {
        v["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect()
    }

    #[test]
    fn schema_has_the_exact_required_lists() {
        // Through text and back: what a provider receives is the serialized schema.
        let schema: Value = serde_json::from_str(&tool_schema().to_string()).unwrap();
        assert_eq!(schema["type"], "object");
        assert_eq!(
            required(&schema),
            ["summary", "topics", "questions", "action_items", "follow_ups"]
        );
        let props = &schema["properties"];
        assert_eq!(props.as_object().unwrap().len(), 5);
        assert_eq!(props["summary"], json!({"type": "array", "items": {"type": "string"}}));
        assert_eq!(required(&props["topics"]["items"]), ["text", "sentiment"]);
        assert_eq!(
            props["topics"]["items"]["properties"]["sentiment"]["enum"],
            json!(["positive", "neutral", "negative"])
        );
        assert_eq!(required(&props["questions"]["items"]), ["text", "asked_by"]);
        assert_eq!(
            props["questions"]["items"]["properties"]["asked_by"]["type"],
            json!(["string", "null"])
        );
        for list in ["action_items", "follow_ups"] {
            let items = &props[list]["items"];
            assert_eq!(required(items), ["text", "assignee", "due_date"]);
            assert_eq!(items["properties"]["assignee"]["type"], json!(["string", "null"]));
            assert_eq!(
                items["properties"]["due_date"],
                json!({"type": ["string", "null"], "description": "YYYY-MM-DD"})
            );
        }
        assert_eq!(props["action_items"], props["follow_ups"]);
        assert!(!schema.to_string().contains("$ref"));
    }

    #[test]
    fn tool_spec_names_record_insights() {
        let spec = ToolSpec::record_insights();
        assert_eq!(spec.name, "record_insights");
        assert_eq!(spec.input_schema, tool_schema());
    }
}
