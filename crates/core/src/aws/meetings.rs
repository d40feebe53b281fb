//! The meetings table: one item per meeting instance, keyed by [`MeetingKey`](crate::keys::MeetingKey).

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::sdk_error;
use crate::ports::{ClaimOutcome, MeetingClaim, MeetingClaims};
use crate::timefmt::now_rfc3339;
use crate::Result;

/// Partition key attribute of the meetings table.
pub const PK: &str = "meeting_key";

/// Meeting statuses as stored, in the order a meeting moves through them.
pub mod status {
    pub const RECEIVED: &str = "received";
    pub const DISPATCHED: &str = "dispatched";
}

#[derive(Clone)]
pub struct DynamoMeetings {
    client: Client,
    table: String,
}

impl DynamoMeetings {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoMeetings { client, table: table.into() }
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

impl MeetingClaims for DynamoMeetings {
    async fn claim(&self, c: &MeetingClaim) -> Result<ClaimOutcome> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(c.key.as_str()))
            .item("uuid", s(&c.uuid))
            .item("meeting_id", s(&c.meeting_id))
            .item("topic", s(&c.topic))
            .item("host_email", s(&c.host_email))
            .item("status", s(status::RECEIVED))
            .item("claim_id", s(&c.claim_id))
            .item("received_at", s(&c.received_at))
            .item("updated_at", s(&c.received_at))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK);
        if let Some(ts) = c.event_ts {
            put = put.item("event_ts", AttributeValue::N(ts.to_string()));
        }
        if let Some(t) = &c.tracking_id {
            put = put.item("zoom_tracking_id", s(t));
        }
        match put.send().await {
            Ok(_) => Ok(ClaimOutcome::Claimed),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(ClaimOutcome::AlreadyClaimed)
            }
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }

    async fn release(&self, c: &MeetingClaim) -> Result<()> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(c.key.as_str()))
            .condition_expression("claim_id = :claim AND #st = :received")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":claim", s(&c.claim_id))
            .expression_attribute_values(":received", s(status::RECEIVED))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            // Not ours any more (or already gone): nothing to undo.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }

    async fn mark_dispatched(&self, c: &MeetingClaim) -> Result<()> {
        let now = now_rfc3339();
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(c.key.as_str()))
            .update_expression("SET #st = :dispatched, dispatched_at = :now, updated_at = :now")
            .condition_expression("claim_id = :claim AND #st = :received")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":dispatched", s(status::DISPATCHED))
            .expression_attribute_values(":received", s(status::RECEIVED))
            .expression_attribute_values(":claim", s(&c.claim_id))
            .expression_attribute_values(":now", s(&now))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            // The producer may already have moved the meeting on; that is progress, not an error.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }
}
