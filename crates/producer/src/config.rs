//! What the producer reads at cold start.

use std::time::Duration;

use zoom_symbl_core::config::{secret_keys, Env, Provider, Secrets};
use zoom_symbl_core::zoom::hosts::DEFAULT_ALLOWED_HOSTS;
use zoom_symbl_core::zoom::HostAllowList;
use zoom_symbl_core::Error;

use crate::handler::Settings;
use crate::output::OutputFormat;
use crate::preflight::Limits;
use crate::zoom_api::S2sCredentials;

pub struct Config {
    pub meetings_table: String,
    pub queue_url: String,
    pub secret_ids: String,
    pub allowed_hosts: HostAllowList,
    pub oauth_url: String,
    pub api_base: String,
    pub ffmpeg_path: Option<String>,
    pub download_attempts: u32,
    pub settings: Settings,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, Error> {
        Ok(Config {
            meetings_table: env.required("MEETINGS_TABLE")?,
            queue_url: env.required("WORK_QUEUE_URL")?,
            secret_ids: env.required("SECRET_ARNS")?,
            allowed_hosts: HostAllowList::parse(
                &env.optional("ZOOM_ALLOWED_HOSTS")
                    .unwrap_or_else(|| DEFAULT_ALLOWED_HOSTS.to_owned()),
            ),
            oauth_url: env
                .optional("ZOOM_OAUTH_URL")
                .unwrap_or_else(|| "https://zoom.us/oauth/token".into()),
            api_base: env
                .optional("ZOOM_API_BASE")
                .unwrap_or_else(|| "https://api.zoom.us".into()),
            ffmpeg_path: env.optional("FFMPEG_PATH"),
            download_attempts: env.parse_or("DOWNLOAD_ATTEMPTS", 4)?,
            settings: Settings {
                input_bucket: env.required("INPUT_BUCKET")?,
                output_bucket: env.required("OUTPUT_BUCKET")?,
                sample_rate: env.parse_or("SAMPLE_RATE", 16_000)?,
                format: env.parse_or("OUTPUT_FORMAT", OutputFormat::Wav)?,
                download_concurrency: env.parse_or("DOWNLOAD_CONCURRENCY", 4)?,
                lease_secs: env.parse_or("PRODUCTION_LEASE_SECS", 30)?,
                max_attempts: env.parse_or("MAX_ATTEMPTS", 3)?,
                presign_ttl: Duration::from_secs(env.parse_or("PRESIGN_TTL_SECS", 3600)?),
                limits: Limits {
                    max_audio_secs: env.parse_or("MAX_AUDIO_SECS", zoom_symbl_core::symbl::MAX_AUDIO_SECS)?,
                    max_tracks: env.parse_or("MAX_TRACKS", 40)?,
                },
                provider: Provider::from_env(env)?,
            },
        })
    }

    /// S2S credentials are optional: all three or none.
    pub fn s2s(secrets: &Secrets) -> Result<Option<S2sCredentials>, Error> {
        let parts = (
            secrets.optional(secret_keys::ZOOM_S2S_ACCOUNT_ID),
            secrets.optional(secret_keys::ZOOM_S2S_CLIENT_ID),
            secrets.optional(secret_keys::ZOOM_S2S_CLIENT_SECRET),
        );
        match parts {
            (Some(a), Some(c), Some(s)) => Ok(Some(S2sCredentials {
                account_id: a.expose().to_owned(),
                client_id: c.expose().to_owned(),
                client_secret: s,
            })),
            (None, None, None) => Ok(None),
            _ => Err(Error::Config(format!(
                "Zoom S2S OAuth needs all of {}, {} and {}",
                secret_keys::ZOOM_S2S_ACCOUNT_ID,
                secret_keys::ZOOM_S2S_CLIENT_ID,
                secret_keys::ZOOM_S2S_CLIENT_SECRET
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s2s_is_all_or_nothing() {
        let none = Secrets::from_json("s", r#"{"zoom_s2s_account_id":""}"#).unwrap();
        assert!(Config::s2s(&none).unwrap().is_none());
        let partial = Secrets::from_json("s", r#"{"zoom_s2s_account_id":"a"}"#).unwrap();
        assert!(Config::s2s(&partial)
            .unwrap_err()
            .to_string()
            .contains("zoom_s2s_client_secret"));
        let all = Secrets::from_json(
            "s",
            r#"{"zoom_s2s_account_id":"a","zoom_s2s_client_id":"c","zoom_s2s_client_secret":"x"}"#,
        )
        .unwrap();
        assert_eq!(Config::s2s(&all).unwrap().unwrap().client_id, "c");
    }

    #[test]
    fn defaults_and_required() {
        let env = Env::from_pairs([
            ("MEETINGS_TABLE", "t"),
            ("WORK_QUEUE_URL", "q"),
            ("SECRET_ARNS", "s"),
            ("INPUT_BUCKET", "in"),
            ("OUTPUT_BUCKET", "out"),
        ]);
        let c = Config::from_env(&env).unwrap();
        assert_eq!(c.settings.sample_rate, 16_000);
        assert_eq!(c.settings.format, OutputFormat::Wav);
        assert!(Config::from_env(&Env::from_pairs([]))
            .err()
            .unwrap()
            .to_string()
            .contains("MEETINGS_TABLE"));
        let bad = Env::from_pairs([
            ("MEETINGS_TABLE", "t"),
            ("WORK_QUEUE_URL", "q"),
            ("SECRET_ARNS", "s"),
            ("INPUT_BUCKET", "in"),
            ("OUTPUT_BUCKET", "out"),
            ("OUTPUT_FORMAT", "aac"),
        ]);
        assert!(Config::from_env(&bad).is_err());
    }
}
