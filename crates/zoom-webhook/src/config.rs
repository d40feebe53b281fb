//! What zoom-webhook reads at cold start.

use std::time::Duration;

use zoom_symbl_core::config::{retention_days, secret_keys, Env, Secrets};
use zoom_symbl_core::zoom::hosts::DEFAULT_ALLOWED_HOSTS;
use zoom_symbl_core::zoom::signature::DEFAULT_WINDOW_SECS;
use zoom_symbl_core::zoom::{HostAllowList, WebhookVerifier};
use zoom_symbl_core::Error;

/// Zoom's bodies are a few kilobytes; anything near this is not a Zoom webhook.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// How long a delivery's claim on a meeting lasts until it has started the producer. Three
/// times the function's 10 s timeout: a live delivery is never overtaken, a dead one is
/// overtaken by Zoom's next delivery (the template test holds it above the timeout).
pub const DEFAULT_CLAIM_LEASE_SECS: u64 = 30;

pub struct Settings {
    pub meetings_table: String,
    pub producer_function: String,
    pub secret_ids: String,
    pub allowed_hosts: HostAllowList,
    pub signature_window_secs: u64,
    pub max_body_bytes: usize,
    pub claim_lease_secs: u64,
    /// How long a meeting's record is kept (DynamoDB TTL).
    pub record_retention: Duration,
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, Error> {
        Ok(Settings {
            meetings_table: env.required("MEETINGS_TABLE")?,
            producer_function: env.required("PRODUCER_FUNCTION")?,
            secret_ids: env.required("SECRET_ARNS")?,
            allowed_hosts: HostAllowList::parse(
                &env.optional("ZOOM_ALLOWED_HOSTS")
                    .unwrap_or_else(|| DEFAULT_ALLOWED_HOSTS.to_owned()),
            ),
            signature_window_secs: env.parse_or("ZOOM_SIGNATURE_WINDOW_SECS", DEFAULT_WINDOW_SECS)?,
            max_body_bytes: env.parse_or("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?,
            claim_lease_secs: env.parse_or("CLAIM_LEASE_SECS", DEFAULT_CLAIM_LEASE_SECS)?,
            record_retention: retention_days(env)?,
        })
    }

    /// Fails closed: without the secret token there is no verifier and no handler.
    pub fn verifier(&self, secrets: &Secrets) -> Result<WebhookVerifier, Error> {
        WebhookVerifier::new(
            secrets.require(secret_keys::ZOOM_WEBHOOK_SECRET)?,
            self.signature_window_secs,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env::from_pairs([
            ("MEETINGS_TABLE", "m"),
            ("PRODUCER_FUNCTION", "p"),
            ("SECRET_ARNS", "arn:s"),
        ])
    }

    #[test]
    fn defaults() {
        let s = Settings::from_env(&env()).unwrap();
        assert_eq!(s.signature_window_secs, 300);
        assert_eq!(s.max_body_bytes, 1 << 20);
        assert_eq!(s.claim_lease_secs, 30);
        assert_eq!(s.allowed_hosts, HostAllowList::default());
    }

    #[test]
    fn missing_secret_token_fails_closed_and_names_the_key() {
        let s = Settings::from_env(&env()).unwrap();
        let err = s
            .verifier(&Secrets::from_json("arn:s", "{}").unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(secret_keys::ZOOM_WEBHOOK_SECRET), "{err}");
    }

    #[test]
    fn missing_table_is_named() {
        let err = Settings::from_env(&Env::from_pairs([])).err().unwrap().to_string();
        assert!(err.contains("MEETINGS_TABLE"), "{err}");
    }
}
