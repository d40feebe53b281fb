//! The healers (on the reconciler's schedule): a meeting that stopped before the provider had
//! its audio, past its state's deadline (see `zoom_symbl_core::lifecycle`), is moved on: its
//! producer started again from the kept event, or its work item queued again. After
//! [`deadline::MAX_HEALS`] tries it fails with its reason, and the reconciler's failure email
//! tells the host.

use std::time::Instant;

use tracing::{info, info_span, warn, Instrument};
use zoom_symbl_core::lifecycle::{deadline, MeetingState, Step};
use zoom_symbl_core::ports::{DueMeeting, DueMeetings, ProducerInvoker, ProducerJob, WorkItem, WorkQueue};
use zoom_symbl_core::timefmt::now_rfc3339;
use zoom_symbl_core::Error;

/// How far one run may go: it stops cleanly at `until` and the next run continues (the
/// oldest deadlines come first, so nothing starves).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub until: Instant,
}

impl Budget {
    /// Until `safety` before the invocation's deadline (Unix milliseconds, as the Lambda
    /// context gives it), so the run stops before Lambda stops it.
    pub fn before_deadline(deadline_ms: u64, safety: std::time::Duration) -> Budget {
        let deadline = zoom_symbl_core::timefmt::instant_of_unix_ms(deadline_ms);
        Budget {
            until: deadline.checked_sub(safety).unwrap_or_else(Instant::now),
        }
    }

    /// A day: for tests and local runs without a deadline.
    pub fn unlimited() -> Budget {
        Budget {
            until: Instant::now() + std::time::Duration::from_secs(86_400),
        }
    }

    pub fn spent(&self) -> bool {
        Instant::now() >= self.until
    }
}

/// Meetings fetched per state and run; the next run takes the rest.
const BATCH: usize = 200;

/// The states a healer moves on, in pipeline order.
const HEALED: [MeetingState; 4] = [
    MeetingState::Received,
    MeetingState::Dispatched,
    MeetingState::Produced,
    MeetingState::Queued,
];

pub struct Healer<M, P, Q> {
    pub meetings: M,
    pub producer: P,
    pub queue: Q,
}

impl<M: DueMeetings, P: ProducerInvoker, Q: WorkQueue> Healer<M, P, Q> {
    /// Heals what is due at `now`, within `budget`. Returns how many meetings it moved on.
    pub async fn heal(&self, now: i64, budget: Budget) -> usize {
        let mut healed = 0;
        for state in HEALED {
            if budget.spent() {
                info!("time budget spent; the next run continues");
                break;
            }
            let due = match self.meetings.due(state, now, BATCH).await {
                Ok(due) => due,
                Err(e) => {
                    warn!(%state, error = %e, "could not look for meetings past their deadline; next round");
                    continue;
                }
            };
            for meeting in due {
                if budget.spent() {
                    break;
                }
                let span = info_span!("meeting", meeting_key = %meeting.meeting_key, %state, source = "healer");
                // One meeting's error never stops the others.
                match self.heal_one(&meeting, now).instrument(span).await {
                    Ok(true) => healed += 1,
                    Ok(false) => {}
                    Err(e) => warn!(meeting_key = %meeting.meeting_key, error = %e, "could not heal; next round"),
                }
            }
        }
        healed
    }

    async fn heal_one(&self, m: &DueMeeting, now: i64) -> Result<bool, Error> {
        if m.heals >= deadline::MAX_HEALS {
            return self.give_up(m, now, &gave_up_reason(m)).await;
        }
        match m.state {
            MeetingState::Received | MeetingState::Dispatched => self.restart_producer(m, now).await,
            MeetingState::Produced | MeetingState::Queued => self.requeue(m, now).await,
            _ => Ok(false),
        }
    }

    /// A delivery that died before starting the producer, or a producer that never started:
    /// start it again with the event the claim kept.
    async fn restart_producer(&self, m: &DueMeeting, now: i64) -> Result<bool, Error> {
        let Some(event) = &m.event else {
            let reason = "the recording's audio could not be prepared: its preparation never started, \
                          and the recording's event was not kept to start it again";
            return self.give_up(m, now, reason).await;
        };
        let step = if m.state == MeetingState::Received {
            Step::Dispatch
        } else {
            Step::Redispatch
        };
        // Moved first, so a Zoom redelivery racing us is answered `duplicate`, not started twice.
        if !self
            .meetings
            .heal(m, step, now + deadline::DISPATCHED_SECS, None)
            .await?
        {
            return Ok(false);
        }
        let job = ProducerJob {
            meeting_key: m.meeting_key.clone(),
            claim_id: m.claim_id.clone(),
            received_at: m.received_at.clone(),
            tracking_id: m.tracking_id.clone(),
            event: event.clone(),
            run: m.run,
            replay: m.replay.clone(),
        };
        // A failed invoke leaves it `dispatched`: its new deadline brings it back here.
        self.producer.invoke(&job).await?;
        warn!(from = %m.state, heal = m.heals + 1, "the producer never started; started it again");
        Ok(true)
    }

    /// Produced but never queued, or queued and its work item gone (dead-lettered after its
    /// receives ran out, or lost): queue it again.
    async fn requeue(&self, m: &DueMeeting, now: i64) -> Result<bool, Error> {
        if !self
            .meetings
            .heal(m, Step::Requeue, now + deadline::QUEUED_SECS, None)
            .await?
        {
            return Ok(false);
        }
        let item = WorkItem {
            meeting_key: m.meeting_key.clone(),
            produced_at: now_rfc3339(),
        };
        // A failed enqueue leaves it `queued`: its new deadline brings it back here.
        self.queue.enqueue(&item).await?;
        warn!(from = %m.state, heal = m.heals + 1, "the work item was missing; queued it again");
        Ok(true)
    }

    /// Fails the meeting with `reason`; the reconciler's failure email tells the host.
    async fn give_up(&self, m: &DueMeeting, now: i64, reason: &str) -> Result<bool, Error> {
        let failed = self.meetings.heal(m, Step::FailHealing, now, Some(reason)).await?;
        if failed {
            warn!(from = %m.state, heals = m.heals, %reason, "the meeting could not be moved on; it has failed");
        }
        Ok(failed)
    }
}

/// Why a meeting failed after its healers ran out, for the host.
fn gave_up_reason(m: &DueMeeting) -> String {
    let tries = deadline::MAX_HEALS;
    match m.state {
        MeetingState::Produced | MeetingState::Queued => format!(
            "the insights provider did not take the recording: it was queued again {tries} times without being accepted"
        ),
        _ => {
            format!("the recording's audio could not be prepared: its preparation did not start after {tries} restarts")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use zoom_symbl_core::ports::MeetingClaims;
    use zoom_symbl_core::testkit::{
        samples, AudioBuilder, Clock, Faults, MeetingRow, MemMeetings, MemProducer, MemQueue,
    };

    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn healer(meetings: MemMeetings) -> Healer<MemMeetings, MemProducer, MemQueue> {
        Healer {
            meetings,
            producer: MemProducer::default(),
            queue: MemQueue::default(),
        }
    }

    fn budget() -> Budget {
        Budget {
            until: Instant::now() + Duration::from_secs(60),
        }
    }

    fn key() -> String {
        samples::meeting_key().to_string()
    }

    /// The sample meeting claimed by a delivery whose lease ran out at `NOW - 1`.
    async fn claimed_by_a_dead_delivery() -> MemMeetings {
        let meetings = MemMeetings::default().with_clock(Clock::at(NOW - 60));
        meetings
            .claim(&samples::claim("dead", NOW - 1), NOW - 60)
            .await
            .unwrap();
        meetings
    }

    #[tokio::test]
    async fn a_claim_whose_delivery_died_starts_the_producer_once() {
        let h = healer(claimed_by_a_dead_delivery().await);
        assert_eq!(h.heal(NOW - 2, budget()).await, 0, "the lease is live: not due yet");
        assert_eq!(h.heal(NOW, budget()).await, 1);
        let jobs = h.producer.jobs.lock().unwrap().clone();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].event, samples::recording_completed(), "the kept event");
        assert_eq!(jobs[0].meeting_key, key());
        let row = h.meetings.row(&key()).unwrap();
        assert_eq!(row.status, Some(MeetingState::Dispatched));
        assert_eq!(row.due_at, Some(NOW + deadline::DISPATCHED_SECS));
        assert_eq!(h.heal(NOW + 1, budget()).await, 0, "started once");
        assert_eq!(jobs[0].run, 1);
    }

    #[tokio::test]
    async fn a_restarted_run_is_started_as_that_run() {
        let meetings = claimed_by_a_dead_delivery().await;
        meetings.rows.lock().unwrap().get_mut(&key()).unwrap().run = Some(2);
        let h = healer(meetings);
        assert_eq!(h.heal(NOW, budget()).await, 1);
        assert_eq!(h.producer.jobs.lock().unwrap()[0].run, 2);
    }

    #[tokio::test]
    async fn a_producer_that_never_starts_is_restarted_then_the_meeting_fails() {
        let h = healer(claimed_by_a_dead_delivery().await);
        let mut now = NOW;
        for _ in 0..=deadline::MAX_HEALS {
            h.heal(now, budget()).await;
            now += deadline::DISPATCHED_SECS + 1;
        }
        assert_eq!(h.producer.jobs.lock().unwrap().len(), deadline::MAX_HEALS as usize);
        let row = h.meetings.row(&key()).unwrap();
        assert_eq!(row.status, Some(MeetingState::Failed));
        assert!(
            row.failure_reason
                .as_deref()
                .unwrap_or_default()
                .contains("did not start after 3 restarts"),
            "{row:?}"
        );
        assert_eq!(
            row.due_at,
            Some(now - deadline::DISPATCHED_SECS - 1),
            "its failure email is due at once"
        );
    }

    #[tokio::test]
    async fn a_produced_meeting_never_queued_is_queued_and_a_quiet_queued_one_again() {
        let mut row = MeetingRow::queued(AudioBuilder::sample().build());
        row.status = Some(MeetingState::Produced);
        row.due_at = Some(NOW - 1);
        let h = healer(MemMeetings::default().with(&key(), row));
        assert_eq!(h.heal(NOW, budget()).await, 1);
        assert_eq!(h.meetings.status_line(&key()), "queued");
        assert_eq!(h.queue.items.lock().unwrap()[0].meeting_key, key());
        // Nobody touched it for the queued deadline: the item was dead-lettered or lost.
        let later = NOW + deadline::QUEUED_SECS + 1;
        assert_eq!(h.heal(later, budget()).await, 1);
        assert_eq!(h.queue.items.lock().unwrap().len(), 2);
        assert_eq!(h.meetings.row(&key()).unwrap().heals, 2);
    }

    #[tokio::test]
    async fn an_enqueue_that_fails_is_tried_again_at_the_next_deadline() {
        let mut row = MeetingRow::queued(AudioBuilder::sample().build());
        row.due_at = Some(NOW - 1);
        let mut h = healer(MemMeetings::default().with(&key(), row));
        h.queue = MemQueue::default().failing("enqueue");
        assert_eq!(h.heal(NOW, budget()).await, 0, "the error is logged, the run goes on");
        assert_eq!(
            h.meetings.row(&key()).unwrap().due_at,
            Some(NOW + deadline::QUEUED_SECS)
        );
    }

    #[tokio::test]
    async fn a_meeting_without_its_event_fails_with_that_reason() {
        let meetings = MemMeetings::default().with(
            &key(),
            MeetingRow {
                due_at: Some(NOW - 1),
                ..MeetingRow::with_status(MeetingState::Dispatched)
            },
        );
        let h = healer(meetings);
        h.heal(NOW, budget()).await;
        assert!(h.meetings.status_line(&key()).contains("event was not kept"));
        assert!(h.producer.jobs.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_spent_budget_stops_the_run_before_it_starts() {
        let h = healer(claimed_by_a_dead_delivery().await);
        let spent = Budget { until: Instant::now() };
        assert_eq!(h.heal(NOW, spent).await, 0);
        assert_eq!(h.heal(NOW, budget()).await, 1, "the next run continues");
    }
}
