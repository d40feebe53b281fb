//! What symbl-webhook reads at cold start.

use zoom_symbl_core::config::{secret_keys, Env, Secrets};
use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::Error;

pub struct Config {
    pub secret_ids: String,
    pub jobs_table: String,
    pub notifier_function: String,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, Error> {
        Ok(Config {
            secret_ids: env.required("SECRET_ARNS")?,
            jobs_table: env.required("JOBS_TABLE")?,
            notifier_function: env.required("NOTIFIER_FUNCTION")?,
        })
    }

    /// Fails closed: without the token in Symbl's callback URL there is no way to tell
    /// Symbl from anyone else, so there is no handler.
    pub fn token(secrets: &Secrets) -> Result<SecretString, Error> {
        secrets.require(secret_keys::SYMBL_WEBHOOK_TOKEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_names() {
        let c = Config::from_env(&Env::from_pairs([
            ("SECRET_ARNS", "arn:s"),
            ("JOBS_TABLE", "jobs"),
            ("NOTIFIER_FUNCTION", "notifier"),
        ]))
        .unwrap();
        assert_eq!(
            (
                c.secret_ids.as_str(),
                c.jobs_table.as_str(),
                c.notifier_function.as_str()
            ),
            ("arn:s", "jobs", "notifier")
        );
    }

    #[test]
    fn a_missing_name_or_token_is_named() {
        let err = Config::from_env(&Env::from_pairs([("SECRET_ARNS", "arn:s"), ("JOBS_TABLE", "jobs")]))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("NOTIFIER_FUNCTION"), "{err}");
        let err = Config::token(&Secrets::from_json("arn:s", "{}").unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(secret_keys::SYMBL_WEBHOOK_TOKEN), "{err}");
    }
}
