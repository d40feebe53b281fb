//! What the meeting page reads at cold start.

use std::time::Duration;

use zoom_symbl_core::config::Env;
use zoom_symbl_core::Error;

use crate::handler::Settings;

pub struct Config {
    pub meetings_table: String,
    pub jobs_table: String,
    /// The page links' key, in its own secret.
    pub secret_ids: String,
    pub settings: Settings,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, Error> {
        Ok(Config {
            meetings_table: env.required("MEETINGS_TABLE")?,
            jobs_table: env.required("JOBS_TABLE")?,
            secret_ids: env.required("SECRET_ARNS")?,
            settings: Settings {
                audio_url_ttl: Duration::from_secs(env.parse_or("AUDIO_URL_TTL_SECS", 3600)?),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_a_missing_setting_named() {
        let env = Env::from_pairs([("MEETINGS_TABLE", "m"), ("JOBS_TABLE", "j"), ("SECRET_ARNS", "arn:k")]);
        let c = Config::from_env(&env).unwrap();
        assert_eq!(c.settings.audio_url_ttl, Duration::from_secs(3600));
        let missing = Config::from_env(&Env::from_pairs([("MEETINGS_TABLE", "m")]))
            .err()
            .unwrap()
            .to_string();
        assert!(missing.contains("JOBS_TABLE"), "{missing}");
    }
}
