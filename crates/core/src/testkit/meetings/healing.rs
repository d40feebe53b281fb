//! The reconciler's healers, as [`DynamoSubmissions`](crate::aws::submissions::DynamoSubmissions)
//! finds and moves meetings past their deadline.

use super::MemMeetings;
use crate::lifecycle::{MeetingState, Step};
use crate::ports::{DueMeeting, DueMeetings};
use crate::{Error, Result};

impl DueMeetings for MemMeetings {
    async fn due(&self, state: MeetingState, before: i64, limit: usize) -> Result<Vec<DueMeeting>> {
        self.enter("due")?;
        let rows = self.rows.lock().unwrap();
        let mut due: Vec<DueMeeting> = rows
            .iter()
            .filter(|(_, r)| r.status == Some(state))
            .filter_map(|(key, r)| {
                let due_at = r.due_at.filter(|d| *d < before)?;
                Some(DueMeeting {
                    meeting_key: key.clone(),
                    state,
                    due_at,
                    heals: r.heals,
                    event: r.claim.as_ref().map(|c| c.event.clone()),
                    claim_id: r.claim_id().unwrap_or_default().to_owned(),
                    received_at: r.received_at.clone().unwrap_or_default(),
                    tracking_id: r.claim.as_ref().and_then(|c| c.tracking_id.clone()),
                    run: r.run.unwrap_or(1),
                    replay: r.claim.as_ref().and_then(|c| c.replay.clone()),
                })
            })
            .collect();
        // The index's order: oldest deadline first.
        due.sort_by_key(|d| d.due_at);
        due.truncate(limit);
        Ok(due)
    }

    async fn heal(&self, seen: &DueMeeting, step: Step, next_due: i64, reason: Option<&str>) -> Result<bool> {
        self.enter("heal")?;
        if !step.from().contains(&seen.state) {
            return Err(Error::Invalid(format!("{step:?} does not start from {}", seen.state)));
        }
        let mut rows = self.rows.lock().unwrap();
        let Some(row) = rows.get_mut(&seen.meeting_key) else {
            return Ok(false);
        };
        if row.status != Some(seen.state) || row.due_at != Some(seen.due_at) {
            return Ok(false);
        }
        row.status = Some(step.to());
        row.due_at = Some(next_due);
        row.heals += 1;
        if let Some(reason) = reason {
            row.failure_reason = Some(reason.into());
        }
        if matches!(step, Step::Dispatch | Step::Redispatch) {
            row.claim_until = None;
        }
        Ok(true)
    }
}
