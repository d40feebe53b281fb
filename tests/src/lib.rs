//! Harness for the end-to-end suite: the deployed local stack's outputs, AWS clients
//! pointed at it, and Zoom-shaped requests.
//!
//! The suite needs `make test` (or `scripts/stack.sh deploy`) to have deployed
//! `template.yaml` to the local stack first; without `.local/stack.json` every test
//! fails with a message saying so, rather than passing vacuously.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_dynamodb::config::{Credentials, Region};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
pub struct Stack {
    pub endpoint: String,
    pub region: String,
    pub outputs: std::collections::HashMap<String, String>,
    pub zoom_webhook_url: String,
    pub zoom_webhook_secret: String,
}

impl Stack {
    /// Loads `.local/stack.json` (or `$ZS_STACK_FILE`), written by `scripts/stack.sh deploy`.
    pub fn load() -> Stack {
        let path = std::env::var_os("ZS_STACK_FILE").map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.local/stack.json")
        });
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e}. Deploy the local stack first: `make test` or `scripts/stack.sh deploy`", path.display())
        });
        serde_json::from_str(&text).expect("stack.json is malformed; redeploy with scripts/stack.sh deploy")
    }

    pub fn output(&self, name: &str) -> &str {
        self.outputs.get(name).unwrap_or_else(|| panic!("stack output {name} missing; redeploy"))
    }

    pub async fn aws(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(self.region.clone()))
            .credentials_provider(Credentials::new("test", "test", None, None, "local-stack"))
            .load()
            .await
    }

    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.aws().await)
    }

    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.aws().await)
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("reqwest client")
}

pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The contract's sample `recording.completed`, made unique with a fresh meeting UUID that
/// contains the characters Zoom UUIDs do (`/`, `+`, `=`).
pub fn sample_recording_completed() -> (String, Value) {
    let mut event: Value =
        serde_json::from_str(include_str!("../../events/zoom-recording-completed.json")).expect("sample event");
    let uuid = format!("e2e/{}+x==", uuid::Uuid::new_v4().simple());
    event["payload"]["object"]["uuid"] = Value::String(uuid.clone());
    (uuid, event)
}

/// Polls `probe` until it returns `Some`, for eventually-consistent effects (async invokes,
/// queues). Not a timing assertion: the deadline only bounds how long a broken run waits.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = probe().await.with_context(|| format!("while waiting for {what}"))? {
            return Ok(v);
        }
        if start.elapsed() > deadline {
            anyhow::bail!("gave up waiting for {what} after {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
