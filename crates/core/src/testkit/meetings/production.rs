//! The producer's view, as [`DynamoMeetings`](crate::aws::meetings::DynamoMeetings) keeps it.

use super::MemMeetings;
use crate::lifecycle::{deadline, MeetingState, Step};
use crate::meeting::ProducedAudio;
use crate::meeting_key::MeetingKey;
use crate::ports::{Finality, MeetingStore, ProductionStart};
use crate::{Error, Result};

impl MemMeetings {
    fn log(&self, line: String) {
        self.production_log.lock().unwrap().push(line);
    }
}

impl MeetingStore for MemMeetings {
    async fn begin_production(&self, key: &MeetingKey, run: u32, lease_secs: u64) -> Result<ProductionStart> {
        self.enter("begin_production")?;
        let now = self.clock.now();
        let mut rows = self.rows.lock().unwrap();
        let stored_run = rows.get(key.as_str()).map_or(1, |r| r.run.unwrap_or(1));
        if stored_run > run {
            return Ok(ProductionStart::Superseded { run: stored_run });
        }
        let may_start = rows.get(key.as_str()).is_none_or(|r| {
            r.status.is_some_and(MeetingState::before_production)
                || (r.status == Some(MeetingState::Producing) && r.lease_until.is_some_and(|l| l < now))
        });
        if may_start {
            // An update of an absent key creates the item.
            let row = rows.entry(key.as_str().into()).or_default();
            row.status = MeetingState::Producing.into();
            row.lease_until = Some(now.saturating_add_unsigned(lease_secs));
            let attempt = row.attempt.unwrap_or(0) + 1;
            row.attempt = Some(attempt);
            return Ok(ProductionStart::Produce { attempt });
        }
        let row = &rows[key.as_str()];
        Ok(match row.status {
            Some(MeetingState::Produced) => ProductionStart::EnqueueOnly,
            Some(MeetingState::Producing) => ProductionStart::Busy,
            Some(MeetingState::Failed) => ProductionStart::Failed {
                reason: row.failure_reason.clone().unwrap_or_default(),
            },
            _ => ProductionStart::AlreadyDone,
        })
    }

    async fn save_produced(&self, key: &MeetingKey, attempt: u32, audio: &ProducedAudio) -> Result<()> {
        self.enter("save_produced")?;
        self.log("produced".into());
        let mut rows = self.rows.lock().unwrap();
        match rows.get_mut(key.as_str()) {
            Some(row) if row.status == Some(MeetingState::Producing) && row.attempt == Some(attempt) => {
                row.status = MeetingState::Produced.into();
                row.due_at = Some(self.clock.now() + deadline::PRODUCED_SECS);
                row.topic = audio.topic.clone();
                row.host_email = audio.host_email.clone();
                row.start_time = Some(audio.start_time.clone());
                row.audio = Some(audio.clone());
                row.lease_until = None;
                row.failure_reason = None;
                Ok(())
            }
            _ => Err(Error::retryable(
                "dynamodb",
                "lost the production lease to another invocation",
            )),
        }
    }

    async fn mark_queued(&self, key: &MeetingKey) -> Result<()> {
        self.enter("mark_queued")?;
        self.log("queued".into());
        if let Some(row) = self.rows.lock().unwrap().get_mut(key.as_str()) {
            if row.status == Some(MeetingState::Produced) {
                row.status = MeetingState::Queued.into();
                row.due_at = Some(self.clock.now() + deadline::QUEUED_SECS);
            }
        }
        Ok(())
    }

    async fn renew_lease(&self, key: &MeetingKey, attempt: u32, lease_secs: u64) -> Result<bool> {
        self.enter("renew_lease")?;
        let scripted = {
            let mut script = self.renewals.lock().unwrap();
            (!script.is_empty()).then(|| script.remove(0))
        };
        match scripted {
            Some(Some(held)) => return Ok(held),
            Some(None) => return Err(Error::retryable("dynamodb", "throttled")),
            None => {}
        }
        let now = self.clock.now();
        let mut rows = self.rows.lock().unwrap();
        match rows.get_mut(key.as_str()) {
            Some(row) if row.status == Some(MeetingState::Producing) && row.attempt == Some(attempt) => {
                row.lease_until = Some(now.saturating_add_unsigned(lease_secs));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn mark_failed(&self, key: &MeetingKey, attempt: u32, reason: &str, finality: Finality) -> Result<()> {
        self.enter("mark_failed")?;
        let to = match finality {
            Finality::WillRetry => MeetingState::Retrying,
            Finality::Final => MeetingState::Failed,
        };
        self.log(format!("{to}: {reason}"));
        let now = self.clock.now();
        let mut rows = self.rows.lock().unwrap();
        let step = match finality {
            Finality::WillRetry => Step::RetryProduction,
            Finality::Final => Step::FailProduction,
        };
        // A later stage or attempt owns the meeting (or it already failed): a stale failure
        // must not overwrite it.
        let open = rows
            .get(key.as_str())
            .is_some_and(|r| r.status_in(step.from()) && r.attempt == Some(attempt));
        if open {
            let row = rows.entry(key.as_str().into()).or_default();
            row.status = Some(to);
            row.failure_reason = Some(reason.into());
            // Now: the reconciler fails a retry that never comes.
            row.lease_until = Some(now);
        }
        Ok(())
    }
}
