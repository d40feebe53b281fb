//! zoom-webhook's claims, as [`DynamoMeetings`](crate::aws::meetings::DynamoMeetings) makes them.

use super::{MeetingRow, MemMeetings};
use crate::lifecycle::{deadline, MeetingState, Step};
use crate::ports::{ClaimOutcome, MeetingClaim, MeetingClaims};
use crate::Result;

impl MeetingClaims for MemMeetings {
    async fn claim(&self, c: &MeetingClaim, now: i64) -> Result<ClaimOutcome> {
        self.enter("claim")?;
        let mut rows = self.rows.lock().unwrap();
        let (mut run, mut attempt, mut restarted) = (1, None, false);
        if let Some(row) = rows.get_mut(c.key.as_str()) {
            // attribute_not_exists(pk) OR (status = received AND claim_until < now)
            let lapsed = row.status == Some(MeetingState::Received) && row.claim_until.is_some_and(|until| until < now);
            if lapsed {
                // The same run, taken over: its number and attempts go on.
                run = row.run.unwrap_or(1);
                attempt = row.attempt;
            } else {
                let Some(state) = row.status else {
                    return Ok(ClaimOutcome::AlreadyClaimed);
                };
                // A record from before the count was kept is never poorer than a delivery.
                let claimed = row.claim.as_ref().map_or(u32::MAX, |c| c.audio_files);
                let deferred = row.deferred.as_ref().map(|c| c.audio_files);
                match Step::for_richer_delivery(state, claimed, deferred, c.audio_files) {
                    None => return Ok(ClaimOutcome::AlreadyClaimed),
                    Some(Step::Restart) => {
                        run = row.run.unwrap_or(1) + 1;
                        attempt = row.attempt;
                        restarted = true;
                    }
                    Some(_) => {
                        row.deferred = Some(c.clone());
                        return Ok(ClaimOutcome::Deferred);
                    }
                }
            }
        }
        // A put replaces the whole item: the taken-over claim (or earlier run) leaves nothing behind.
        rows.insert(c.key.as_str().into(), MeetingRow::claimed(c, run, attempt));
        Ok(if restarted {
            ClaimOutcome::Restarted { run }
        } else {
            ClaimOutcome::Claimed
        })
    }

    async fn release(&self, c: &MeetingClaim) -> Result<()> {
        self.enter("release")?;
        let mut rows = self.rows.lock().unwrap();
        let ours = rows
            .get(c.key.as_str())
            .is_some_and(|r| r.claim_id() == Some(c.claim_id.as_str()) && r.status == Some(MeetingState::Received));
        if ours {
            rows.remove(c.key.as_str());
        }
        Ok(())
    }

    async fn mark_dispatched(&self, c: &MeetingClaim) -> Result<()> {
        self.enter("mark_dispatched")?;
        let mut rows = self.rows.lock().unwrap();
        if let Some(row) = rows.get_mut(c.key.as_str()) {
            if row.claim_id() == Some(c.claim_id.as_str()) && row.status == Some(MeetingState::Received) {
                row.status = MeetingState::Dispatched.into();
                row.claim_until = None;
                row.due_at = Some(self.clock.now() + deadline::DISPATCHED_SECS);
            }
        }
        Ok(())
    }
}
