//! What the consumer reads at cold start.

use std::time::Duration;

use zoom_symbl_core::config::{retention_days, secret_keys, Env, Provider, Secrets};
use zoom_symbl_core::{symbl, transcribed, Error};

use zoom_symbl_core::secret::SecretString;

use crate::handler::{webhook_url, Settings};

pub struct Config {
    pub meetings_table: String,
    pub jobs_table: String,
    pub semaphore_table: String,
    pub queue_url: String,
    pub secret_ids: String,
    pub provider: Provider,
    pub symbl_base_url: String,
    /// The semaphore's item and its limit: Symbl jobs, or Transcribe jobs.
    pub semaphore_name: &'static str,
    pub concurrency_limit: u32,
    /// How long a job's record is kept (DynamoDB TTL).
    pub record_retention: Duration,
    /// symbl-webhook's URL, without its token (Symbl only).
    pub webhook_url: Option<String>,
    pub settings: Settings,
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
            meetings_table: env.required("MEETINGS_TABLE")?,
            jobs_table: env.required("JOBS_TABLE")?,
            semaphore_table: env.required("SEMAPHORE_TABLE")?,
            queue_url: env.required("WORK_QUEUE_URL")?,
            // Symbl's credentials and webhook token; the aws provider reads no secret.
            secret_ids: match provider {
                Provider::Symbl => env.required("SECRET_ARNS")?,
                Provider::Aws => env.optional("SECRET_ARNS").unwrap_or_default(),
            },
            symbl_base_url: env
                .optional("SYMBL_BASE_URL")
                .unwrap_or_else(|| symbl::DEFAULT_BASE_URL.into()),
            record_retention: retention_days(env)?,
            webhook_url: match provider {
                Provider::Symbl => Some(env.required("SYMBL_WEBHOOK_URL")?),
                Provider::Aws => None,
            },
            settings: Settings {
                language: env.optional("SYMBL_LANGUAGE").unwrap_or_else(|| "en-US".into()),
                submit_lease_secs: env.parse_or("SUBMIT_LEASE_SECS", 300)?,
                busy_retry_secs: env.parse_or("BUSY_RETRY_SECS", 120)?,
                error_retry_secs: env.parse_or("ERROR_RETRY_SECS", 30)?,
                presign_ttl: Duration::from_secs(env.parse_or("PRESIGN_TTL_SECS", 6 * 3600)?),
                deadline_slack_secs: env.parse_or("JOB_DEADLINE_SLACK_SECS", 1800)?,
                // The provider's 30 s request timeout, its token and our writes around it.
                message_budget: Duration::from_secs(env.parse_or("MESSAGE_BUDGET_SECS", 45)?),
            },
        })
    }

    /// The callback URL Symbl gets: symbl-webhook's URL with the deployment's token.
    pub fn webhook(&self, secrets: &Secrets) -> Result<Option<SecretString>, Error> {
        match &self.webhook_url {
            Some(url) => Ok(Some(webhook_url(
                url,
                &secrets.require(secret_keys::SYMBL_WEBHOOK_TOKEN)?,
            )?)),
            None => Ok(None),
        }
    }
}
