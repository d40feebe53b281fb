//! The asynchronous Lambda invokes in memory, standing in for
//! [`aws::lambda`](crate::aws::lambda): each records what it was handed.

use std::sync::Mutex;

use super::{Faults, Knobs};
use crate::ports::{NotifierInvoker, ProducerInvoker, ProducerJob, StatusEvent};
use crate::{Error, Result};

/// zoom-webhook's hand-off to the producer.
#[derive(Debug, Default)]
pub struct MemProducer {
    /// Every job the producer was started with.
    pub jobs: Mutex<Vec<ProducerJob>>,
    pub knobs: Knobs,
}

impl Faults for MemProducer {
    const NAME: &'static str = "MemProducer";
    const OPS: &'static [&'static str] = &["invoke"];

    fn knobs(&self) -> &Knobs {
        &self.knobs
    }
}

impl ProducerInvoker for MemProducer {
    async fn invoke(&self, job: &ProducerJob) -> Result<()> {
        if self.knobs.hit(Self::NAME, "invoke") {
            return Err(Error::retryable("lambda", "503 (testkit)"));
        }
        self.jobs.lock().unwrap().push(job.clone());
        Ok(())
    }
}

/// symbl-webhook's and the reconciler's hand-off to the notifier.
#[derive(Debug, Default)]
pub struct MemNotifier {
    /// Every status event the notifier was started with.
    pub events: Mutex<Vec<StatusEvent>>,
    pub knobs: Knobs,
}

impl Faults for MemNotifier {
    const NAME: &'static str = "MemNotifier";
    const OPS: &'static [&'static str] = &["invoke"];

    fn knobs(&self) -> &Knobs {
        &self.knobs
    }
}

impl NotifierInvoker for MemNotifier {
    async fn invoke(&self, event: &StatusEvent) -> Result<()> {
        if self.knobs.hit(Self::NAME, "invoke") {
            return Err(Error::retryable("lambda", "503 (testkit)"));
        }
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
}
