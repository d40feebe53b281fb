//! The time the stateful doubles compare leases with.

use std::sync::{Arc, Mutex};

use crate::timefmt::unix_now;

/// Unix seconds: the real time unless a test pins it. Clones share the pin, so one clock
/// can drive several doubles.
#[derive(Debug, Clone, Default)]
pub struct Clock(Arc<Mutex<Option<i64>>>);

impl Clock {
    /// A clock pinned at `now`.
    pub fn at(now: i64) -> Self {
        let clock = Clock::default();
        clock.set(now);
        clock
    }

    pub fn now(&self) -> i64 {
        self.0.lock().unwrap().unwrap_or_else(unix_now)
    }

    pub fn set(&self, now: i64) {
        *self.0.lock().unwrap() = Some(now);
    }

    /// Moves a pinned clock on (pinning a real one first).
    pub fn advance(&self, secs: i64) {
        let now = self.now();
        self.set(now + secs);
    }
}
