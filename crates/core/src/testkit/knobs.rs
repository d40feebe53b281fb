//! Per-operation faults, the same for every double.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// Which operations of a double fail or must not be reached. Operations are named by their
/// port method (`"claim"`, `"put_stream"`, ...).
#[derive(Debug, Default)]
pub struct Knobs {
    failing: Mutex<BTreeSet<&'static str>>,
    /// Operations that fail only their next few calls.
    failing_times: Mutex<BTreeMap<&'static str, u32>>,
    forbidden: Mutex<BTreeSet<&'static str>>,
}

impl Knobs {
    /// Called on entering `op`: panics if the test forbade it, and says whether it must fail.
    pub(crate) fn hit(&self, double: &str, op: &'static str) -> bool {
        assert!(
            !self.forbidden.lock().unwrap().contains(op),
            "{double}: `{op}` was reached, and the test forbids it"
        );
        if let Some(left) = self.failing_times.lock().unwrap().get_mut(op).filter(|n| **n > 0) {
            *left -= 1;
            return true;
        }
        self.failing.lock().unwrap().contains(op)
    }
}

/// The knobs of a double, with builder forms for setting up a test.
pub trait Faults: Sized {
    /// The double's name in panic messages.
    const NAME: &'static str;
    /// Its operations: the port methods it implements.
    const OPS: &'static [&'static str];

    fn knobs(&self) -> &Knobs;

    /// `op` answers an error until [`Faults::heal`]: a retryable one (throttled, unreachable,
    /// 503), as a dependency that is down answers.
    fn fail(&self, op: &'static str) {
        self.knobs().failing.lock().unwrap().insert(checked::<Self>(op));
    }

    /// `op` fails its next `times` calls (as [`Faults::fail`]), then works: a blip.
    fn fail_times(&self, op: &'static str, times: u32) {
        self.knobs()
            .failing_times
            .lock()
            .unwrap()
            .insert(checked::<Self>(op), times);
    }

    fn heal(&self, op: &'static str) {
        self.knobs().failing.lock().unwrap().remove(checked::<Self>(op));
    }

    /// Reaching `op` panics: for tests that assert a path never gets there.
    fn forbid(&self, op: &'static str) {
        self.knobs().forbidden.lock().unwrap().insert(checked::<Self>(op));
    }

    fn failing(self, op: &'static str) -> Self {
        self.fail(op);
        self
    }

    fn forbidding(self, ops: &[&'static str]) -> Self {
        for op in ops {
            self.forbid(op);
        }
        self
    }
}

/// A misspelt operation would make a knob silently do nothing.
fn checked<D: Faults>(op: &'static str) -> &'static str {
    assert!(
        D::OPS.contains(&op),
        "{} has no operation `{op}` (it has {:?})",
        D::NAME,
        D::OPS
    );
    op
}
