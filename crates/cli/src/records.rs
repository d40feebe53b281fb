//! Meeting and job records as the command line reads them (the functions write them; see
//! docs/lifecycle.md for their states and deadlines).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use zoom_symbl_core::lifecycle::MeetingState;
use zoom_symbl_core::meeting::ProducedAudio;
use zoom_symbl_core::meeting_key::MeetingKey;

use crate::error::{CliError, Result};
use crate::stack::Stack;

pub type Item = HashMap<String, AttributeValue>;

pub fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .filter(|s| !s.is_empty())
}

pub fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

/// A meeting record, read consistently.
pub struct MeetingRecord {
    pub key: MeetingKey,
    pub item: Item,
}

impl MeetingRecord {
    pub async fn load(stack: &Stack, key: &MeetingKey) -> Result<Option<MeetingRecord>> {
        let out = stack
            .dynamodb()
            .get_item()
            .table_name(stack.output("MeetingsTableName")?)
            .key("meeting_key", AttributeValue::S(key.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| CliError::aws("DynamoDB GetItem", e))?;
        Ok(out.item.map(|item| MeetingRecord { key: key.clone(), item }))
    }

    pub fn text(&self, name: &str) -> Option<String> {
        text(&self.item, name)
    }

    pub fn number(&self, name: &str) -> Option<i64> {
        number(&self.item, name)
    }

    pub fn state(&self) -> Option<MeetingState> {
        self.text("status").as_deref().and_then(MeetingState::parse)
    }

    pub fn run(&self) -> u32 {
        self.number("run").and_then(|r| u32::try_from(r).ok()).unwrap_or(1)
    }

    /// What the producer made, once it did.
    pub fn audio(&self) -> Option<ProducedAudio> {
        serde_dynamo::from_attribute_value(self.item.get("audio")?.clone()).ok()
    }
}

/// A provider job's record (the jobs table).
pub async fn job(stack: &Stack, job_id: &str) -> Result<Option<Item>> {
    let out = stack
        .dynamodb()
        .get_item()
        .table_name(stack.output("JobsTableName")?)
        .key("job_id", AttributeValue::S(job_id.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| CliError::aws("DynamoDB GetItem", e))?;
    Ok(out.item)
}
