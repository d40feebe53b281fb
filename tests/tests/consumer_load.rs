//! Twenty meetings at once against a Symbl account limited to three concurrent jobs.

use std::time::{Duration, Instant};

use e2e::{deliver, record, sandbox, submissions_of, symbl, Stack};
use zoom_sandbox::MeetingSpec;

#[tokio::test]
async fn twenty_meetings_with_a_limit_of_three_are_each_submitted_once_and_never_more_than_three_at_once() {
    let stack = Stack::load();
    symbl().set_limit(3);
    let meetings = generate_meetings(20).await;
    let started = Instant::now();
    for m in &meetings {
        let event = sandbox().recording_completed(m, &sandbox().default_download_token());
        let (status, reply) = deliver(&stack, &event).await;
        assert_eq!(status, 200, "{reply}");
    }
    for m in &meetings {
        stack
            .meeting_in(&m.spec.uuid, &["transcribed"], Duration::from_secs(600))
            .await
            .unwrap();
    }
    let elapsed = started.elapsed();
    for m in &meetings {
        assert_eq!(submissions_of(&m.spec.uuid).len(), 1, "meeting {}", m.spec.uuid);
    }
    assert!(
        symbl().peak_concurrency() <= 3,
        "Symbl saw {} concurrent jobs",
        symbl().peak_concurrency()
    );
    // Every slot was given back.
    let keys: Vec<String> = meetings
        .iter()
        .map(|m| zoom_symbl_core::meeting_key::MeetingKey::from_uuid(&m.spec.uuid).to_string())
        .collect();
    e2e::eventually("all slots released", Duration::from_secs(120), || async {
        let holders = stack.slot_holders().await?;
        Ok((!keys.iter().any(|k| holders.contains(k))).then_some(()))
    })
    .await
    .unwrap();
    println!(
        "20 meetings, Symbl limit 3: all transcribed in {:.1} s; peak concurrency {}; {} submits answered 429",
        elapsed.as_secs_f64(),
        symbl().peak_concurrency(),
        symbl().rejected_429()
    );
}

async fn generate_meetings(n: usize) -> Vec<zoom_sandbox::GeneratedMeeting> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(record(MeetingSpec::staggered(2, 8.0)).await);
    }
    out
}
