//! The concurrency semaphore in memory, with [`DynamoSemaphore`](crate::aws::semaphore::DynamoSemaphore)'s rules.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Clock, Faults, Knobs};
use crate::ports::{Semaphore, SlotGrant};
use crate::{Error, Result};

/// `limit` slots; each holder's lease ends at a unix second, after which its slot may be
/// reclaimed by an `acquire` that finds the semaphore full.
#[derive(Debug)]
pub struct MemSemaphore {
    pub limit: u32,
    /// Holder -> lease expiry.
    pub holders: Mutex<BTreeMap<String, i64>>,
    pub clock: Clock,
    pub knobs: Knobs,
}

impl Default for MemSemaphore {
    fn default() -> Self {
        MemSemaphore::with_limit(crate::symbl::DEFAULT_CONCURRENCY_LIMIT)
    }
}

impl MemSemaphore {
    pub fn with_limit(limit: u32) -> Self {
        MemSemaphore {
            limit,
            holders: Mutex::default(),
            clock: Clock::default(),
            knobs: Knobs::default(),
        }
    }

    /// A slot already held by `holder` until `lease_until`.
    pub fn holding(self, holder: &str, lease_until: i64) -> Self {
        self.holders.lock().unwrap().insert(holder.into(), lease_until);
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Who holds a slot, in order.
    pub fn holder_names(&self) -> Vec<String> {
        self.holders.lock().unwrap().keys().cloned().collect()
    }

    /// Slots nobody holds (expired leases count as held until reclaimed).
    pub fn free(&self) -> u32 {
        self.limit.saturating_sub(self.holders.lock().unwrap().len() as u32)
    }

    fn enter(&self, op: &'static str) -> Result<()> {
        if self.knobs.hit(Self::NAME, op) {
            return Err(Error::retryable("dynamodb", "throttled (testkit)"));
        }
        Ok(())
    }
}

impl Faults for MemSemaphore {
    const NAME: &'static str = "MemSemaphore";
    const OPS: &'static [&'static str] = &["acquire", "extend", "release"];

    fn knobs(&self) -> &Knobs {
        &self.knobs
    }
}

impl Semaphore for MemSemaphore {
    async fn acquire(&self, holder: &str, lease_until: i64) -> Result<SlotGrant> {
        self.enter("acquire")?;
        let now = self.clock.now();
        let mut holders = self.holders.lock().unwrap();
        if let Some(lease) = holders.get_mut(holder) {
            *lease = lease_until;
            return Ok(SlotGrant::AlreadyHeld);
        }
        if holders.len() as u32 >= self.limit {
            // Full: lost slots (expired leases) heal, one by one.
            holders.retain(|_, lease| *lease >= now);
        }
        if holders.len() as u32 >= self.limit {
            return Ok(SlotGrant::Full);
        }
        holders.insert(holder.into(), lease_until);
        Ok(SlotGrant::Granted)
    }

    async fn extend(&self, holder: &str, lease_until: i64) -> Result<()> {
        self.enter("extend")?;
        match self.holders.lock().unwrap().get_mut(holder) {
            Some(lease) => {
                *lease = lease_until;
                Ok(())
            }
            None => Err(Error::retryable(
                "semaphore",
                "the slot's lease was lost before it could be extended",
            )),
        }
    }

    async fn release(&self, holder: &str) -> Result<bool> {
        self.enter("release")?;
        Ok(self.holders.lock().unwrap().remove(holder).is_some())
    }
}
