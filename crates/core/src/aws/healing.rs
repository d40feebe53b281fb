//! The reconciler's healers on the meetings table: what is past its state's deadline, found
//! through the `by_due` index, and the steps that move it on.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::meetings::{EVENT, HEALS, PK, REPLAY_ORIGINALS, RUN};
use super::submissions::DynamoSubmissions;
use super::{conditional, guarded, n, query_due, s, DUE_AT};
use crate::lifecycle::{MeetingState, Step};
use crate::ports::{DueMeeting, DueMeetings, Replay};
use crate::timefmt::now_rfc3339;
use crate::{Error, Result};

type Item = HashMap<String, AttributeValue>;

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

fn due_meeting(item: &Item, state: MeetingState) -> Option<DueMeeting> {
    let event = text(item, EVENT).and_then(|json| match serde_json::from_str(&json) {
        Ok(event) => Some(event),
        Err(e) => {
            tracing::warn!(error = %e, "a meeting's kept event does not parse; it cannot be replayed");
            None
        }
    });
    Some(DueMeeting {
        meeting_key: text(item, PK)?,
        state,
        due_at: number(item, DUE_AT)?,
        heals: number(item, HEALS).and_then(|h| u32::try_from(h).ok()).unwrap_or(0),
        event,
        claim_id: text(item, "claim_id").unwrap_or_default(),
        received_at: text(item, "received_at").unwrap_or_default(),
        tracking_id: text(item, "zoom_tracking_id"),
        run: number(item, RUN)
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or_else(crate::ports::first_run),
        replay: text(item, REPLAY_ORIGINALS).map(|originals_prefix| Replay { originals_prefix }),
    })
}

impl DueMeetings for DynamoSubmissions {
    async fn due(&self, state: MeetingState, before: i64, limit: usize) -> Result<Vec<DueMeeting>> {
        let items = query_due(&self.client, &self.meetings_table, state.as_str(), before, limit).await?;
        Ok(items.iter().filter_map(|i| due_meeting(i, state)).collect())
    }

    async fn heal(&self, seen: &DueMeeting, step: Step, next_due: i64, reason: Option<&str>) -> Result<bool> {
        if !step.from().contains(&seen.state) {
            return Err(Error::Invalid(format!("{step:?} does not start from {}", seen.state)));
        }
        let req = self
            .client
            .update_item()
            .table_name(&self.meetings_table)
            .key(PK, s(&seen.meeting_key));
        let (req, guard) = guarded(req, step);
        // Still the state and the deadline the healer saw: nobody moved it in between.
        let mut req = req
            .condition_expression(format!("{guard} AND #st = :seen AND #due = :seen_due"))
            .expression_attribute_names("#due", DUE_AT)
            .expression_attribute_names("#heals", HEALS)
            .expression_attribute_values(":seen", super::state(seen.state))
            .expression_attribute_values(":seen_due", n(seen.due_at))
            .expression_attribute_values(":next", n(next_due))
            .expression_attribute_values(":now", s(&now_rfc3339()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1));
        let mut set = String::from(
            "SET #st = :to, #due = :next, updated_at = :now, healed_at = :now, \
             #heals = if_not_exists(#heals, :zero) + :one",
        );
        if let Some(reason) = reason {
            set.push_str(", failure_reason = :reason, failed_at = :now");
            req = req.expression_attribute_values(":reason", s(reason));
        }
        match step {
            Step::Dispatch | Step::Redispatch => set.push_str(", dispatched_at = :now REMOVE claim_until"),
            Step::Requeue => set.push_str(", queued_at = :now"),
            _ => {}
        }
        conditional(req.update_expression(set).send().await)
    }
}
