//! Configuration read once per cold start: names and URLs from the environment,
//! secrets from AWS Secrets Manager (see [`crate::aws::secrets`]).

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use crate::secret::SecretString;
use crate::Error;

/// Reads configuration from a key/value source (the process environment in production,
/// a map in tests).
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    pub fn from_process() -> Self {
        Env {
            vars: std::env::vars().collect(),
        }
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Env {
            vars: pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        }
    }

    /// A variable that must be set and non-empty.
    pub fn required(&self, name: &str) -> Result<String, Error> {
        match self.vars.get(name).map(|v| v.trim()) {
            Some(v) if !v.is_empty() => Ok(v.to_owned()),
            _ => Err(Error::Config(format!("environment variable {name} is not set"))),
        }
    }

    /// A variable that may be absent or empty.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// A parsed variable with a default when absent; malformed values are an error, not the default.
    pub fn parse_or<T: FromStr>(&self, name: &str, default: T) -> Result<T, Error>
    where
        T::Err: std::fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|e| Error::Config(format!("environment variable {name}={v:?} is invalid: {e}"))),
        }
    }
}

/// `RETENTION_DAYS` (default 30): how long meeting and job records live before the tables'
/// TTL removes them, the same schedule as the buckets' lifecycle rules.
/// Which insights provider the stack runs (`InsightsProvider`, `INSIGHTS_PROVIDER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provider {
    /// Amazon Transcribe per participant and Amazon Bedrock, in the deployer's account.
    #[default]
    Aws,
    /// Symbl.ai's Async Audio API on one multichannel file.
    Symbl,
}

impl FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "aws" => Ok(Provider::Aws),
            "symbl" => Ok(Provider::Symbl),
            other => Err(format!("{other:?} is not aws or symbl")),
        }
    }
}

impl Provider {
    pub fn from_env(env: &Env) -> Result<Self, Error> {
        env.parse_or("INSIGHTS_PROVIDER", Provider::Aws)
    }
}

pub fn retention_days(env: &Env) -> Result<Duration, Error> {
    let days: u64 = env.parse_or("RETENTION_DAYS", 30)?;
    if days == 0 {
        return Err(Error::Config(
            "environment variable RETENTION_DAYS must be at least 1".into(),
        ));
    }
    Ok(Duration::from_secs(days.saturating_mul(86_400)))
}

/// What a deployer types for "no value" where `sam deploy --guided` will not accept an empty
/// answer to a NoEcho parameter.
pub const NONE: &str = "-";

/// The credentials a function reads: JSON objects of string values in Secrets Manager, one
/// secret per concern, merged.
#[derive(Clone)]
pub struct Secrets {
    /// Secret id (ARN or name), used only to name the secret in errors.
    source: String,
    values: HashMap<String, SecretString>,
}

impl Secrets {
    /// Parses the secret's JSON text. Non-string values are refused so that a typo in a
    /// deploy cannot silently turn into an empty credential.
    pub fn from_json(source: impl Into<String>, json: &str) -> Result<Self, Error> {
        let source = source.into();
        let raw: HashMap<String, serde_json::Value> = serde_json::from_str(json)
            .map_err(|e| Error::Config(format!("secret `{source}` is not a JSON object: {}", e.classify_name())))?;
        let mut values = HashMap::with_capacity(raw.len());
        for (k, v) in raw {
            match v {
                serde_json::Value::String(s) => {
                    values.insert(k, SecretString::new(s));
                }
                serde_json::Value::Null => {}
                _ => return Err(Error::Config(format!("secret `{source}` key `{k}` is not a string"))),
            }
        }
        Ok(Secrets { source, values })
    }

    /// Adds another secret's keys; a key both hold is a deployment mistake, refused.
    pub fn merge(mut self, other: Secrets) -> Result<Self, Error> {
        for (k, v) in other.values {
            if self.values.contains_key(&k) {
                return Err(Error::Config(format!(
                    "secrets `{}` and `{}` both hold key `{k}`",
                    self.source, other.source
                )));
            }
            self.values.insert(k, v);
        }
        self.source = format!("{},{}", self.source, other.source);
        Ok(self)
    }

    /// A key that must be present and non-empty.
    pub fn require(&self, key: &str) -> Result<SecretString, Error> {
        self.optional(key).ok_or_else(|| Error::MissingSecret {
            secret: self.source.clone(),
            key: key.to_owned(),
        })
    }

    /// A key that may be absent, empty or [`NONE`] (an optional credential).
    pub fn optional(&self, key: &str) -> Option<SecretString> {
        self.values
            .get(key)
            .filter(|v| !v.is_empty() && v.expose().trim() != NONE)
            .cloned()
    }
}

/// Keys of the deployment secret, one place so template, README and code agree.
pub mod secret_keys {
    pub const ZOOM_WEBHOOK_SECRET: &str = "zoom_webhook_secret_token";
    pub const ZOOM_S2S_ACCOUNT_ID: &str = "zoom_s2s_account_id";
    pub const ZOOM_S2S_CLIENT_ID: &str = "zoom_s2s_client_id";
    pub const ZOOM_S2S_CLIENT_SECRET: &str = "zoom_s2s_client_secret";
    pub const SYMBL_APP_ID: &str = "symbl_app_id";
    pub const SYMBL_APP_SECRET: &str = "symbl_app_secret";
    pub const SYMBL_WEBHOOK_TOKEN: &str = "symbl_webhook_token";
    pub const SMTP_USERNAME: &str = "smtp_username";
    pub const SMTP_PASSWORD: &str = "smtp_password";
    /// The meeting page links' HS256 key (generated into its own secret at deploy time).
    pub const PAGE_LINK_KEY: &str = "page_link_key";
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    // Only the category: serde's messages can quote the secret's text.
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "not an object of strings",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_required_and_defaults() {
        let env = Env::from_pairs([("A", "x"), ("EMPTY", " "), ("N", "12"), ("BAD", "x1")]);
        assert_eq!(env.required("A").unwrap(), "x");
        assert!(env.required("EMPTY").unwrap_err().to_string().contains("EMPTY"));
        assert!(env.required("NOPE").unwrap_err().to_string().contains("NOPE"));
        assert_eq!(env.parse_or("N", 5u32).unwrap(), 12);
        assert_eq!(env.parse_or("MISSING", 5u32).unwrap(), 5);
        assert_eq!(
            retention_days(&Env::from_pairs([])).unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(
            retention_days(&Env::from_pairs([("RETENTION_DAYS", "2")])).unwrap(),
            Duration::from_secs(2 * 86_400)
        );
        assert!(retention_days(&Env::from_pairs([("RETENTION_DAYS", "0")])).is_err());
        assert!(env.parse_or("BAD", 5u32).is_err());
    }

    #[test]
    fn missing_secret_key_is_named_and_value_never_shown() {
        let s = Secrets::from_json(
            "arn:aws:secretsmanager:x",
            r#"{"zoom_webhook_secret_token":"s3cr3t","empty":""}"#,
        )
        .unwrap();
        assert_eq!(s.require(secret_keys::ZOOM_WEBHOOK_SECRET).unwrap().expose(), "s3cr3t");
        let err = s.require("symbl_app_id").unwrap_err().to_string();
        assert!(
            err.contains("symbl_app_id") && err.contains("arn:aws:secretsmanager:x"),
            "{err}"
        );
        assert!(s.require("empty").is_err());
        assert!(s.optional("empty").is_none());
    }

    #[test]
    fn a_dash_is_how_a_guided_deploy_leaves_an_optional_secret_empty() {
        let s = Secrets::from_json(
            "id",
            r#"{"smtp_password":"-","smtp_username":" - ","zoom_s2s_client_secret":"-x"}"#,
        )
        .unwrap();
        assert!(s.optional(secret_keys::SMTP_PASSWORD).is_none());
        assert!(s.optional(secret_keys::SMTP_USERNAME).is_none());
        assert!(s.require(secret_keys::SMTP_PASSWORD).is_err());
        assert_eq!(s.optional(secret_keys::ZOOM_S2S_CLIENT_SECRET).unwrap().expose(), "-x");
    }

    #[test]
    fn malformed_secret_does_not_echo_its_text() {
        let err = Secrets::from_json("id", "{\"k\": s3cr3t").err().unwrap().to_string();
        assert!(!err.contains("s3cr3t"), "{err}");
        assert!(Secrets::from_json("id", r#"{"k": 1}"#).is_err());
    }

    #[test]
    fn secrets_merge_and_a_key_in_two_is_refused_without_its_value() {
        let smtp = Secrets::from_json("smtp", r#"{"smtp_username":"u","smtp_password":"p4ssw0rd"}"#).unwrap();
        let symbl = Secrets::from_json("symbl", r#"{"symbl_app_id":"a","symbl_app_secret":"s"}"#).unwrap();
        let both = smtp.clone().merge(symbl).unwrap();
        assert_eq!(both.require(secret_keys::SMTP_PASSWORD).unwrap().expose(), "p4ssw0rd");
        assert_eq!(both.require(secret_keys::SYMBL_APP_ID).unwrap().expose(), "a");
        let again = Secrets::from_json("other", r#"{"smtp_password":"x"}"#).unwrap();
        let err = smtp.merge(again).err().unwrap().to_string();
        assert!(err.contains("smtp_password") && !err.contains("p4ssw0rd"), "{err}");
    }
}
