//! What the notifier reads at cold start: its tables, the provider, the SMTP relay and the
//! settings of its email protocol and reconciler.

use std::time::Duration;

use zoom_symbl_core::config::{retention_days, secret_keys, Env, Provider, Secrets};
use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::{symbl, transcribed, Error};

use crate::handler::{PageSite, Settings};
use crate::smtp::Security;

pub struct Config {
    pub secret_ids: String,
    pub jobs_table: String,
    pub meetings_table: String,
    pub semaphore_table: String,
    /// The healers' hand-offs: the producer to start again, the queue to put a work item back on.
    pub producer_function: String,
    pub work_queue_url: String,
    pub provider: Provider,
    pub symbl_base_url: String,
    /// The semaphore's item and its limit: Symbl jobs, or Transcribe jobs.
    pub semaphore_name: &'static str,
    pub concurrency_limit: u32,
    /// How long a meeting record written here (a restarted run's claim) lives.
    pub record_retention: Duration,
    pub smtp: Smtp,
    pub settings: Settings,
    /// The meeting page's base URL; its links are signed with the secret's `page_link_key`.
    pub page_base_url: Option<String>,
}

/// The relay; its credentials are in the deployment's secret.
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub from: String,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, Error> {
        let provider = Provider::from_env(env)?;
        let (semaphore_name, concurrency_limit) = match provider {
            Provider::Symbl => (
                symbl::SEMAPHORE_NAME,
                env.parse_or("SYMBL_CONCURRENCY_LIMIT", symbl::DEFAULT_CONCURRENCY_LIMIT)?,
            ),
            Provider::Aws => (
                transcribed::SEMAPHORE_NAME,
                env.parse_or("TRANSCRIBE_CONCURRENCY_LIMIT", transcribed::DEFAULT_CONCURRENCY_LIMIT)?,
            ),
        };
        Ok(Config {
            provider,
            semaphore_name,
            concurrency_limit,
            secret_ids: env.required("SECRET_ARNS")?,
            jobs_table: env.required("JOBS_TABLE")?,
            meetings_table: env.required("MEETINGS_TABLE")?,
            semaphore_table: env.required("SEMAPHORE_TABLE")?,
            producer_function: env.required("PRODUCER_FUNCTION")?,
            work_queue_url: env.required("WORK_QUEUE_URL")?,
            symbl_base_url: env
                .optional("SYMBL_BASE_URL")
                .unwrap_or_else(|| symbl::DEFAULT_BASE_URL.into()),
            record_retention: retention_days(env)?,
            smtp: Smtp {
                host: env.required("SMTP_HOST")?,
                port: env.parse_or("SMTP_PORT", 587)?,
                security: env.parse_or("SMTP_SECURITY", Security::StartTls)?,
                from: env.required("SMTP_FROM")?,
            },
            settings: Settings {
                // Symbl reads 0 as "never expires".
                summary_page_ttl_secs: env.parse_or::<u64>("SUMMARY_PAGE_DAYS", 30)?.saturating_mul(24 * 3600),
                media_url_ttl: Duration::from_secs(env.parse_or("MEDIA_URL_TTL_SECS", 7 * 24 * 3600)?),
                email_claim_stale_secs: env.parse_or("EMAIL_CLAIM_STALE_SECS", 900)?,
                smtp_attempts: env.parse_or("SMTP_ATTEMPTS", 3)?,
                smtp_backoff: Duration::from_secs(2),
                // Lambda's async retries come within minutes; a 15-minute attempt renews its lease.
                stall_grace_secs: env.parse_or("STALL_GRACE_SECS", 600)?,
                // Completed with the link key from the secret (main.rs).
                page: None,
            },
            page_base_url: env.optional("PAGE_BASE_URL"),
        })
    }

    /// The meeting page, when its URL and key are both configured.
    pub fn page_site(&self, secrets: &Secrets) -> Option<PageSite> {
        let key = secrets.optional(secret_keys::PAGE_LINK_KEY)?;
        Some(PageSite {
            base_url: self.page_base_url.clone()?,
            links: zoom_symbl_core::page_link::PageLinks::new(&key),
        })
    }

    /// The relay's login, when the secret holds both halves of one.
    pub fn smtp_credentials(secrets: &Secrets) -> Option<(String, SecretString)> {
        match (
            secrets.optional(secret_keys::SMTP_USERNAME),
            secrets.optional(secret_keys::SMTP_PASSWORD),
        ) {
            (Some(user), Some(password)) => Some((user.expose().to_owned(), password)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(extra: &[(&'static str, &'static str)]) -> Env {
        let mut pairs = vec![
            ("SECRET_ARNS", "arn:s"),
            ("JOBS_TABLE", "j"),
            ("MEETINGS_TABLE", "m"),
            ("SEMAPHORE_TABLE", "sem"),
            ("PRODUCER_FUNCTION", "producer"),
            ("WORK_QUEUE_URL", "https://sqs.example/work"),
            ("SMTP_HOST", "smtp.example"),
            ("SMTP_FROM", "insights@example.com"),
        ];
        pairs.extend_from_slice(extra);
        Env::from_pairs(pairs)
    }

    #[test]
    fn defaults() {
        let c = Config::from_env(&env(&[])).unwrap();
        assert_eq!((c.jobs_table.as_str(), c.meetings_table.as_str()), ("j", "m"));
        assert_eq!(
            (c.producer_function.as_str(), c.work_queue_url.as_str()),
            ("producer", "https://sqs.example/work")
        );
        assert_eq!(c.symbl_base_url, symbl::DEFAULT_BASE_URL);
        assert_eq!(c.provider, Provider::Aws);
        assert_eq!((c.semaphore_name, c.concurrency_limit), ("transcribe-jobs", 100));
        assert_eq!((c.smtp.port, c.smtp.security), (587, Security::StartTls));
        assert_eq!(c.settings.summary_page_ttl_secs, 30 * 86_400);
        assert_eq!(c.settings.media_url_ttl, Duration::from_secs(7 * 86_400));
        assert_eq!(c.settings.email_claim_stale_secs, 900);
        assert_eq!(c.settings.smtp_attempts, 3);
        assert_eq!(c.settings.stall_grace_secs, 600);
    }

    #[test]
    fn settings_are_read_and_days_become_seconds() {
        let c = Config::from_env(&env(&[
            ("SUMMARY_PAGE_DAYS", "0"),
            ("SMTP_PORT", "465"),
            ("SMTP_SECURITY", "TLS"),
            ("INSIGHTS_PROVIDER", "symbl"),
            ("SYMBL_CONCURRENCY_LIMIT", "5"),
            ("SYMBL_BASE_URL", "http://127.0.0.1:8444"),
        ]))
        .unwrap();
        assert_eq!(c.settings.summary_page_ttl_secs, 0, "0 is Symbl's never");
        assert_eq!((c.smtp.port, c.smtp.security), (465, Security::Tls));
        assert_eq!((c.semaphore_name, c.concurrency_limit), ("symbl-jobs", 5));
        assert_eq!(c.symbl_base_url, "http://127.0.0.1:8444");
    }

    #[test]
    fn a_missing_or_malformed_setting_is_named() {
        let missing = Config::from_env(&Env::from_pairs([("SECRET_ARNS", "arn:s")]))
            .err()
            .unwrap()
            .to_string();
        assert!(missing.contains("JOBS_TABLE"), "{missing}");
        let bad = Config::from_env(&env(&[("SMTP_SECURITY", "ssl3")]))
            .err()
            .unwrap()
            .to_string();
        assert!(bad.contains("SMTP_SECURITY"), "{bad}");
    }

    #[test]
    fn smtp_credentials_need_both_halves() {
        let both = Secrets::from_json("arn:s", r#"{"smtp_username":"u","smtp_password":"p"}"#).unwrap();
        assert_eq!(Config::smtp_credentials(&both).map(|(u, _)| u).as_deref(), Some("u"));
        let half = Secrets::from_json("arn:s", r#"{"smtp_username":"u","smtp_password":""}"#).unwrap();
        assert!(Config::smtp_credentials(&half).is_none());
    }
}
