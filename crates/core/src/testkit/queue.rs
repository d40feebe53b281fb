//! The work queue in memory, standing in for [`SqsQueue`](crate::aws::queue::SqsQueue).

use std::sync::Mutex;

use super::{Faults, Knobs};
use crate::ports::{RedeliveryDelay, WorkItem, WorkQueue};
use crate::{Error, Result};

#[derive(Debug, Default)]
pub struct MemQueue {
    /// Every work item enqueued.
    pub items: Mutex<Vec<WorkItem>>,
    /// Every visibility delay set on a received message, in seconds.
    pub delays: Mutex<Vec<i32>>,
    /// Every fresh copy sent: (body, delay in seconds as SQS takes it, 0 to 900).
    pub copies: Mutex<Vec<(String, i32)>>,
    pub knobs: Knobs,
}

impl MemQueue {
    fn enter(&self, op: &'static str) -> Result<()> {
        if self.knobs.hit(Self::NAME, op) {
            return Err(Error::retryable("sqs", "throttled (testkit)"));
        }
        Ok(())
    }
}

impl Faults for MemQueue {
    const NAME: &'static str = "MemQueue";
    const OPS: &'static [&'static str] = &["enqueue", "delay", "requeue"];

    fn knobs(&self) -> &Knobs {
        &self.knobs
    }
}

impl WorkQueue for MemQueue {
    async fn enqueue(&self, item: &WorkItem) -> Result<()> {
        self.enter("enqueue")?;
        self.items.lock().unwrap().push(item.clone());
        Ok(())
    }
}

impl RedeliveryDelay for MemQueue {
    async fn delay(&self, _receipt_handle: &str, secs: i32) -> Result<()> {
        self.enter("delay")?;
        self.delays.lock().unwrap().push(secs);
        Ok(())
    }

    async fn requeue(&self, body: &str, secs: i32) -> Result<()> {
        self.enter("requeue")?;
        self.copies.lock().unwrap().push((body.into(), secs.clamp(0, 900)));
        Ok(())
    }
}
