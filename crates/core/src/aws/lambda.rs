//! Asynchronous invocation of the producer (`InvocationType=Event`).

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_lambda::Client;

use super::sdk_error;
use crate::ports::{ProducerInvoker, ProducerJob};
use crate::{Error, Result};

/// Lambda's limit for an asynchronous invocation payload.
pub const MAX_ASYNC_PAYLOAD: usize = 256 * 1024;

#[derive(Clone)]
pub struct LambdaProducer {
    client: Client,
    function: String,
}

impl LambdaProducer {
    pub fn new(client: Client, function: impl Into<String>) -> Self {
        LambdaProducer {
            client,
            function: function.into(),
        }
    }
}

/// Starts `function` with `payload` without waiting for it (`InvocationType=Event`).
async fn invoke_async<T: serde::Serialize>(client: &Client, function: &str, what: &str, payload: &T) -> Result<()> {
    let payload = serde_json::to_vec(payload).map_err(|e| Error::Invalid(format!("{what}: {e}")))?;
    if payload.len() > MAX_ASYNC_PAYLOAD {
        return Err(Error::Invalid(format!(
            "{what} is {} bytes, over Lambda's {MAX_ASYNC_PAYLOAD}-byte async limit",
            payload.len()
        )));
    }
    let out = client
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(payload))
        .send()
        .await
        .map_err(|e| sdk_error("lambda", e))?;
    match out.status_code() {
        202 => Ok(()),
        other => Err(Error::retryable(
            "lambda",
            format!("async invoke answered {other}, expected 202"),
        )),
    }
}

impl ProducerInvoker for LambdaProducer {
    async fn invoke(&self, job: &ProducerJob) -> Result<()> {
        invoke_async(&self.client, &self.function, "producer job", job).await
    }
}

/// Asynchronous invocation of the notifier with a job's status.
#[derive(Clone)]
pub struct LambdaNotifier {
    client: Client,
    function: String,
}

impl LambdaNotifier {
    pub fn new(client: Client, function: impl Into<String>) -> Self {
        LambdaNotifier {
            client,
            function: function.into(),
        }
    }
}

impl crate::ports::NotifierInvoker for LambdaNotifier {
    async fn invoke(&self, event: &crate::ports::StatusEvent) -> Result<()> {
        invoke_async(&self.client, &self.function, "status event", event).await
    }
}
