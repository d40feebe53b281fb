//! The DynamoDB semaphore adapter against the deployed table: never over its limit under
//! concurrent acquirers, each release exactly once, and expired leases reclaimed.

use std::sync::Arc;

use e2e::Stack;
use zoom_symbl_core::aws::semaphore::DynamoSemaphore;
use zoom_symbl_core::ports::{Semaphore, SlotGrant};
use zoom_symbl_core::timefmt::unix_now;

async fn semaphore(limit: u32) -> DynamoSemaphore {
    let stack = Stack::load();
    // A semaphore of its own, so the deployed functions' one is untouched.
    let name = format!("test-{}", uuid::Uuid::new_v4().simple());
    DynamoSemaphore::new(stack.dynamodb().await, stack.output("SemaphoreTableName"), name, limit)
}

#[tokio::test]
async fn concurrent_acquirers_never_exceed_the_limit() {
    let sem = Arc::new(semaphore(3).await);
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let sem = sem.clone();
            tokio::spawn(async move { sem.acquire(&format!("h{i}"), unix_now() + 600).await.unwrap() })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        if t.await.unwrap() == SlotGrant::Granted {
            granted += 1;
        }
    }
    assert_eq!(granted, 3);
    assert_eq!(sem.acquire("late", unix_now() + 600).await.unwrap(), SlotGrant::Full);
}

#[tokio::test]
async fn release_is_exactly_once_and_frees_a_slot() {
    let sem = semaphore(1).await;
    assert_eq!(sem.acquire("a", unix_now() + 600).await.unwrap(), SlotGrant::Granted);
    assert_eq!(
        sem.acquire("a", unix_now() + 600).await.unwrap(),
        SlotGrant::AlreadyHeld
    );
    assert_eq!(sem.acquire("b", unix_now() + 600).await.unwrap(), SlotGrant::Full);
    assert!(sem.release("a").await.unwrap());
    assert!(
        !sem.release("a").await.unwrap(),
        "a second release must not free another slot"
    );
    assert_eq!(sem.acquire("b", unix_now() + 600).await.unwrap(), SlotGrant::Granted);
    assert_eq!(sem.acquire("c", unix_now() + 600).await.unwrap(), SlotGrant::Full);
}

#[tokio::test]
async fn an_expired_lease_heals_itself() {
    let sem = semaphore(2).await;
    assert_eq!(sem.acquire("lost", unix_now() - 1).await.unwrap(), SlotGrant::Granted);
    assert_eq!(sem.acquire("live", unix_now() + 600).await.unwrap(), SlotGrant::Granted);
    // Full, but one holder's lease has ended: the newcomer takes its place.
    assert_eq!(sem.acquire("new", unix_now() + 600).await.unwrap(), SlotGrant::Granted);
    assert!(
        !sem.release("lost").await.unwrap(),
        "the reclaimed slot is not released twice"
    );
    assert_eq!(sem.acquire("more", unix_now() + 600).await.unwrap(), SlotGrant::Full);
}
