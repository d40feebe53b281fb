//! SQS as the work queue between producer and consumer.

use aws_sdk_sqs::Client;

use super::sdk_error;
use crate::ports::{RedeliveryDelay, WorkItem, WorkQueue};
use crate::{Error, Result};

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
    }
}

impl WorkQueue for SqsQueue {
    async fn enqueue(&self, item: &WorkItem) -> Result<()> {
        let body = serde_json::to_string(item).map_err(|e| Error::Invalid(format!("work item: {e}")))?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| sdk_error("sqs", e))?;
        Ok(())
    }
}

impl RedeliveryDelay for SqsQueue {
    async fn delay(&self, receipt_handle: &str, secs: i32) -> Result<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs)
            .send()
            .await
            .map_err(|e| sdk_error("sqs", e))?;
        Ok(())
    }

    async fn requeue(&self, body: &str, secs: i32) -> Result<()> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(secs.clamp(0, 900))
            .send()
            .await
            .map_err(|e| sdk_error("sqs", e))?;
        Ok(())
    }
}
