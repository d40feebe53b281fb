//! The kit's doubles answer as the adapters do: the rules the handler tests rely on.

use super::*;
use crate::lifecycle::JobState;
use crate::lifecycle::MeetingState;
use crate::ports::{
    ClaimOutcome, EmailOutcome, JobLookup, JobStore, MeetingClaims, MeetingStore, ObjectStore, ProductionStart,
    Semaphore, SlotGrant, SubmissionStore, SubmittedJob,
};

#[tokio::test]
async fn each_production_start_has_a_row_that_gives_it() {
    let key = samples::meeting_key();
    for start in [
        ProductionStart::Produce { attempt: 1 },
        ProductionStart::Produce { attempt: 3 },
        ProductionStart::EnqueueOnly,
        ProductionStart::AlreadyDone,
        ProductionStart::Busy,
        ProductionStart::Failed { reason: "r".into() },
        ProductionStart::Superseded { run: 2 },
    ] {
        let meetings = MemMeetings::default().with(key.as_str(), MeetingRow::where_production_starts(&start));
        assert_eq!(meetings.begin_production(&key, 1, 30).await.unwrap(), start);
    }
}

#[tokio::test]
async fn a_claim_is_taken_over_only_when_its_lease_lapsed_before_the_producer_was_invoked() {
    let meetings = MemMeetings::default();
    let first = samples::claim("first", 100);
    assert_eq!(meetings.claim(&first, 90).await.unwrap(), ClaimOutcome::Claimed);
    let second = samples::claim("second", 200);
    assert_eq!(
        meetings.claim(&second, 100).await.unwrap(),
        ClaimOutcome::AlreadyClaimed,
        "live"
    );
    assert_eq!(
        meetings.claim(&second, 101).await.unwrap(),
        ClaimOutcome::Claimed,
        "lapsed"
    );
    // The first delivery can neither release nor dispatch what is no longer its claim.
    meetings.release(&first).await.unwrap();
    meetings.mark_dispatched(&first).await.unwrap();
    let key = first.key.as_str();
    assert_eq!(meetings.row(key).unwrap().status, Some(MeetingState::Received));
    meetings.mark_dispatched(&second).await.unwrap();
    assert_eq!(meetings.in_status(MeetingState::Dispatched), [key]);
    let third = samples::claim("third", 1000);
    assert_eq!(
        meetings.claim(&third, 500).await.unwrap(),
        ClaimOutcome::AlreadyClaimed,
        "dispatched"
    );
}

#[tokio::test]
async fn a_meeting_goes_from_claim_to_submission_through_one_table() {
    let key = samples::meeting_key();
    let jobs = MemJobs::default();
    let meetings = MemMeetings::default().with_jobs(jobs.clone());
    meetings.claim(&samples::claim("c", i64::MAX), 0).await.unwrap();
    meetings.mark_dispatched(&samples::claim("c", i64::MAX)).await.unwrap();
    assert_eq!(
        meetings.begin_production(&key, 1, 30).await.unwrap(),
        ProductionStart::Produce { attempt: 1 }
    );
    assert!(meetings.renew_lease(&key, 1, 30).await.unwrap());
    assert!(!meetings.renew_lease(&key, 2, 30).await.unwrap(), "another attempt's");
    meetings
        .save_produced(&key, 1, &AudioBuilder::sample().build())
        .await
        .unwrap();
    meetings.mark_queued(&key).await.unwrap();
    assert_eq!(*meetings.production_log.lock().unwrap(), ["produced", "queued"]);
    assert!(meetings.claim_submission(&key, "s", i64::MAX).await.unwrap());
    assert!(!meetings.claim_submission(&key, "t", i64::MAX).await.unwrap(), "held");
    let job = SubmittedJob {
        job_id: "j".into(),
        conversation_id: "c".into(),
        meeting_key: key.to_string(),
        submitted_at: "2024-05-31T18:50:00Z".into(),
        deadline: 5,
    };
    meetings.record_submission(&job).await.unwrap();
    let row = meetings.row(key.as_str()).unwrap();
    assert_eq!(row.status, Some(MeetingState::Submitted));
    assert_eq!(row.submit_claim, None);
    // The jobs table the notifier reads has the job.
    assert_eq!(jobs.get("j").await.unwrap().unwrap().meeting_key, key.as_str());
    assert_eq!(jobs.overdue(6).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_failure_does_not_overwrite_a_later_stage() {
    let key = samples::meeting_key();
    let meetings = MemMeetings::default().with(key.as_str(), MeetingRow::queued(AudioBuilder::sample().build()));
    meetings
        .mark_failed(&key, 1, "late", crate::ports::Finality::Final)
        .await
        .unwrap();
    assert_eq!(meetings.status_line(key.as_str()), "queued");
    assert_eq!(
        *meetings.production_log.lock().unwrap(),
        ["failed: late"],
        "the call is recorded"
    );
}

#[tokio::test]
async fn a_full_semaphore_heals_expired_leases_and_releases_once() {
    let slots = MemSemaphore::with_limit(1).with_clock(Clock::at(100));
    assert_eq!(slots.acquire("a", 150).await.unwrap(), SlotGrant::Granted);
    assert_eq!(slots.acquire("a", 160).await.unwrap(), SlotGrant::AlreadyHeld);
    assert_eq!(slots.acquire("b", 170).await.unwrap(), SlotGrant::Full);
    slots.clock.set(161);
    assert_eq!(
        slots.acquire("b", 170).await.unwrap(),
        SlotGrant::Granted,
        "a's lease lapsed"
    );
    assert!(slots.extend("a", 200).await.is_err(), "a lost its slot");
    assert!(slots.release("b").await.unwrap());
    assert!(!slots.release("b").await.unwrap());
    assert_eq!(slots.free(), 1);
}

#[tokio::test]
async fn an_email_is_claimed_once_unless_its_claim_goes_stale() {
    let clock = Clock::at(1000);
    let jobs = MemJobs::default()
        .with_clock(clock.clone())
        .with_job(samples::scheduled_job("j", "m"));
    assert!(jobs.claim_email("j", "a", 60).await.unwrap());
    assert!(!jobs.claim_email("j", "b", 60).await.unwrap());
    clock.advance(61);
    assert!(jobs.claim_email("j", "b", 60).await.unwrap(), "a's claim went stale");
    // a's late settlement changes nothing; b's counts.
    let sent = EmailOutcome::Sent {
        message_id: "<x>".into(),
    };
    jobs.email_settled("j", "a", &sent).await.unwrap();
    assert_eq!(jobs.row("j").email_state, Some(crate::lifecycle::EmailState::Sending));
    jobs.email_settled("j", "b", &sent).await.unwrap();
    assert!(!jobs.claim_email("j", "c", 0).await.unwrap(), "sent");
    assert!(jobs.finish("j", JobState::Completed).await.unwrap());
    assert!(!jobs.finish("j", JobState::Failed).await.unwrap(), "once");
    assert!(jobs.advance("j", JobState::Completed).await.is_err());
}

#[tokio::test]
async fn knobs_fail_or_forbid_an_operation() {
    let objects = MemObjects::default().failing("put_stream");
    let err = objects.put_stream("b", "k", "text/plain", &b"x"[..]).await.unwrap_err();
    assert!(err.is_retryable());
    objects.heal("put_stream");
    assert_eq!(objects.put_stream("b", "k", "text/plain", &b"xy"[..]).await.unwrap(), 2);
    assert_eq!(objects.object("b", "k").unwrap().bytes, b"xy");
    let forbidden = MemObjects::default().forbidding(&["presign_get"]);
    let reached = tokio::spawn(async move { forbidden.presign_get("b", "k", std::time::Duration::ZERO).await });
    assert!(reached.await.unwrap_err().is_panic());
}

#[test]
#[should_panic(expected = "has no operation `clam`")]
fn a_misspelt_operation_is_refused() {
    let _ = MemMeetings::default().failing("clam");
}

#[test]
fn the_sample_audio_has_the_sample_participants_in_channel_order() {
    let audio = AudioBuilder::sample().build();
    let speakers: Vec<_> = audio.speakers().collect();
    assert_eq!(speakers, [(1, "Dana Host"), (2, "Mary-Jane O'Neil"), (3, "李雷")]);
    assert_eq!(audio.channels, 3);
    let partial = AudioBuilder::sample().channels(&[Some(1), None, Some(2)]).build();
    assert_eq!(partial.channels, 2);
    assert_eq!(partial.participants[1].failure.as_deref(), Some("HTTP 503"));
}

#[tokio::test]
async fn an_attempt_that_lost_its_lease_writes_neither_its_audio_nor_its_failure() {
    let key = samples::meeting_key();
    let clock = Clock::at(1_000);
    let meetings = MemMeetings::default().with_clock(clock.clone());
    assert_eq!(
        meetings.begin_production(&key, 1, 30).await.unwrap(),
        ProductionStart::Produce { attempt: 1 }
    );
    clock.advance(31);
    assert_eq!(
        meetings.begin_production(&key, 1, 30).await.unwrap(),
        ProductionStart::Produce { attempt: 2 },
        "the lapsed lease is taken over"
    );
    let late = AudioBuilder::sample().topic("attempt one's channels").build();
    assert!(meetings.save_produced(&key, 1, &late).await.unwrap_err().is_retryable());
    meetings
        .mark_failed(&key, 1, "attempt one gave up", crate::ports::Finality::Final)
        .await
        .unwrap();
    assert_eq!(
        meetings.status_line(key.as_str()),
        "producing",
        "attempt two still holds it"
    );
    let winner = AudioBuilder::sample().build();
    meetings.save_produced(&key, 2, &winner).await.unwrap();
    assert_eq!(meetings.row(key.as_str()).unwrap().audio, Some(winner));
}
