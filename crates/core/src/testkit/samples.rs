//! The sample meeting of `events/` and the messages between the functions, as values.

use serde_json::json;

use crate::lifecycle::JobState;
use crate::meeting_key::MeetingKey;
use crate::ports::{JobView, MeetingClaim, ProducerJob, StatusEvent, WorkItem};
use crate::symbl::RawInsights;
use crate::zoom::{RecordingCompleted, RecordingObject, ZoomEvent};

/// Zoom's `recording.completed` for the sample meeting: three participant tracks, one of
/// them joining late, names with an apostrophe and in Chinese.
pub const RECORDING_COMPLETED: &str = include_str!("../../../../events/zoom-recording-completed.json");

pub fn recording_completed() -> RecordingCompleted {
    match ZoomEvent::parse(RECORDING_COMPLETED.as_bytes()).expect("the sample event parses") {
        ZoomEvent::RecordingCompleted(rec) => *rec,
        other => panic!("the sample is not recording.completed: {other:?}"),
    }
}

/// The sample meeting instance.
pub fn meeting() -> RecordingObject {
    recording_completed().payload.object
}

pub fn meeting_key() -> MeetingKey {
    MeetingKey::from_uuid(&meeting().uuid)
}

/// A delivery's claim on the sample meeting, with a lease until `lease_until`.
pub fn claim(claim_id: &str, lease_until: i64) -> MeetingClaim {
    claim_of(&recording_completed(), claim_id, lease_until)
}

/// A delivery of `rec` claiming its meeting, with a lease until `lease_until`.
pub fn claim_of(rec: &RecordingCompleted, claim_id: &str, lease_until: i64) -> MeetingClaim {
    MeetingClaim {
        claim_id: claim_id.into(),
        received_at: "2024-05-31T18:42:20Z".into(),
        lease_until,
        ..MeetingClaim::of_delivery(rec, None, 0, 0)
    }
}

/// What zoom-webhook hands the producer for the sample meeting. Its download token expired
/// in 2024.
pub fn producer_job() -> ProducerJob {
    let event = recording_completed();
    ProducerJob {
        meeting_key: MeetingKey::from_uuid(&event.payload.object.uuid).to_string(),
        claim_id: "c".into(),
        received_at: "2026-01-01T00:00:00Z".into(),
        tracking_id: None,
        event,
        run: 1,
        replay: None,
    }
}

/// What the producer queues for the consumer once the sample meeting is made.
pub fn work_item() -> WorkItem {
    WorkItem {
        meeting_key: meeting_key().to_string(),
        produced_at: "2024-05-31T18:47:03Z".into(),
    }
}

/// A status as symbl-webhook hands it to the notifier.
pub fn status_event(job_id: &str, status: JobState) -> StatusEvent {
    StatusEvent {
        meeting_key: None,
        job_id: job_id.into(),
        status,
        source: "webhook".into(),
    }
}

/// A job the consumer recorded and Symbl has scheduled, already past its deadline (0).
pub fn scheduled_job(job_id: &str, meeting_key: &str) -> JobView {
    JobView {
        job_id: job_id.into(),
        meeting_key: meeting_key.into(),
        conversation_id: "c".into(),
        status: JobState::Scheduled,
        deadline: 0,
    }
}

/// Insights as Symbl returns them: markup in the summary (the email must escape it), an
/// action item with an assignee.
pub fn insights() -> RawInsights {
    RawInsights {
        summary: json!({"summary": [{"text": "We agreed <b>things</b>."}]}),
        topics: json!({"topics": [{"text": "launch"}]}),
        questions: json!({"questions": []}),
        action_items: json!({"actionItems": [{"text": "Ship it.", "assignee": {"name": "Dana"}}]}),
        follow_ups: json!({"followUps": []}),
        missing: vec![],
        // No transcript: a provider need not give one (tests that want one add it).
        messages: serde_json::Value::Null,
    }
}
