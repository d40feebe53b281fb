//! A hundred meetings at once on an account limited to five concurrent Symbl jobs, with a
//! tenth of Symbl's status webhooks lost and a fifth duplicated. Every host gets exactly one
//! email, Symbl never runs more than five jobs, every slot is given back and nothing ends in
//! a dead-letter queue. Prints how long it took (not asserted).

use std::time::{Duration, Instant};

use e2e::{attr_s, deliver, eventually, record, sandbox, submissions_of, symbl, Stack};
use futures_util::future::join_all;
use symbl_sandbox::WebhookPlan;
use zoom_sandbox::MeetingSpec;
use zoom_symbl_core::keys::MeetingKey;

const MEETINGS: usize = 100;
/// The stack's SymblConcurrencyLimit on the local stack (scripts/stack.sh).
const LIMIT: usize = 5;

#[tokio::test]
async fn a_hundred_meetings_with_lost_and_duplicated_webhooks_each_get_one_email() {
    let stack = Stack::load();
    // The sandbox would accept more: the limit that holds is ours.
    symbl().set_limit(50);
    symbl().set_webhooks(WebhookPlan {
        lose_fraction: 0.10,
        duplicate_fraction: 0.20,
        ..WebhookPlan::default()
    });
    let run = uuid::Uuid::new_v4().simple().to_string()[..6].to_owned();
    let mut meetings = Vec::with_capacity(MEETINGS);
    for i in 0..MEETINGS {
        let mut spec = MeetingSpec::staggered(2, 30.0);
        spec.topic = format!("Load {run} #{i:03}");
        spec.host_email = format!("host{i:03}@example.com");
        meetings.push(record(spec).await);
    }

    let started = Instant::now();
    let replies = join_all(meetings.iter().map(|m| {
        let stack = &stack;
        async move {
            deliver(
                stack,
                &sandbox().recording_completed(m, &sandbox().default_download_token()),
            )
            .await
        }
    }))
    .await;
    for (status, reply) in replies {
        assert_eq!(status, 200, "{reply}");
    }
    let all_mails = eventually("an email for every meeting", Duration::from_secs(1500), || async {
        let n = stack.mails(&format!("Load {run} #")).len();
        Ok((n >= MEETINGS).then_some(n))
    })
    .await
    .unwrap();
    let elapsed = started.elapsed();
    // Time for a duplicate to show up before counting.
    tokio::time::sleep(Duration::from_secs(10)).await;
    symbl().set_webhooks(WebhookPlan::default());

    let mails = stack.mails(&format!("Load {run} #"));
    for (i, m) in meetings.iter().enumerate() {
        let subject = format!("Meeting insights: Load {run} #{i:03}");
        // The cause first: a second Symbl job would mean a second email.
        assert_eq!(submissions_of(&m.spec.uuid).len(), 1, "{subject} submitted once");
        let mine: Vec<_> = mails.iter().filter(|mail| mail.subject == subject).collect();
        assert_eq!(mine.len(), 1, "{subject}");
        assert_eq!(mine[0].to, m.spec.host_email);
        let item = stack.meeting(&m.spec.uuid).await.unwrap();
        assert_eq!(attr_s(&item, "email_status"), Some("sent"), "{subject}");
    }
    assert_eq!(mails.len(), MEETINGS, "one email per meeting, no other");
    let peak = symbl().peak_concurrency();
    assert!(peak <= LIMIT, "Symbl saw {peak} concurrent jobs");
    let holders = stack.slot_holders().await.unwrap();
    let keys: Vec<String> = meetings
        .iter()
        .map(|m| MeetingKey::from_uuid(&m.spec.uuid).to_string())
        .collect();
    assert!(
        !keys.iter().any(|k| holders.contains(k)),
        "slots still held: {holders:?}"
    );
    for q in [
        "ProducerFailureQueueUrl",
        "WorkDeadLetterQueueUrl",
        "NotifierFailureQueueUrl",
    ] {
        for k in &keys {
            assert!(stack.queued_bodies(q, k).await.unwrap().is_empty(), "{q} holds {k}");
        }
    }
    let sent = symbl().webhooks_sent().len();
    println!(
        "{MEETINGS} meetings, limit {LIMIT}, 10% of webhooks lost and 20% duplicated: {all_mails} emails in {:.1} s; \
         peak Symbl concurrency {peak}; {} submits answered 429; {sent} status webhooks sent",
        elapsed.as_secs_f64(),
        symbl().rejected_429(),
    );
}
