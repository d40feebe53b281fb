//! The SMTP relay in memory, standing in for the notifier's `SmtpMailer`.

use std::sync::Mutex;

use super::{Faults, Knobs};
use crate::ports::{MailError, Mailer, OutgoingEmail};

#[derive(Debug, Default)]
pub struct MemMailer {
    /// Refusals to answer, in order, before sends succeed again.
    pub script: Mutex<Vec<MailError>>,
    /// Every email accepted by the relay.
    pub sent: Mutex<Vec<OutgoingEmail>>,
    pub knobs: Knobs,
}

impl MemMailer {
    pub fn refusing(self, answers: Vec<MailError>) -> Self {
        *self.script.lock().unwrap() = answers;
        self
    }
}

impl Faults for MemMailer {
    const NAME: &'static str = "MemMailer";
    const OPS: &'static [&'static str] = &["send"];

    fn knobs(&self) -> &Knobs {
        &self.knobs
    }
}

impl Mailer for MemMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, MailError> {
        if self.knobs.hit(Self::NAME, "send") {
            return Err(MailError::Temporary("421 service not available (testkit)".into()));
        }
        let refusal = {
            let mut script = self.script.lock().unwrap();
            (!script.is_empty()).then(|| script.remove(0))
        };
        if let Some(refusal) = refusal {
            return Err(refusal);
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push(email.clone());
        Ok(format!("<{}@zoom-symbl.testkit>", sent.len()))
    }
}
