//! AWS adapters for the ports, shared by the function crates.

pub mod failures;
pub mod jobs;
pub mod lambda;
pub mod meetings;
pub mod objects;
pub mod queue;
pub mod secrets;
pub mod semaphore;
pub mod submissions;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::Error;

/// Region, credentials and (locally) `AWS_ENDPOINT_URL` from the environment.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// A DynamoDB string attribute.
pub(crate) fn s(v: &str) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned())
}

/// A lifecycle state as stored.
pub(crate) fn state(v: impl Into<&'static str>) -> aws_sdk_dynamodb::types::AttributeValue {
    s(v.into())
}

/// A DynamoDB number attribute.
pub(crate) fn n(v: i64) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::N(v.to_string())
}

/// Every item a DynamoDB scan matches, across all its pages.
pub(crate) async fn scan_all(
    req: aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder,
) -> crate::Result<Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>> {
    req.into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| sdk_error("dynamodb", e))
}

/// Whether a DynamoDB write was refused by its condition: an answer, not a failure.
pub(crate) fn conditional_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

/// The outcome of a conditional DynamoDB write: `true` if it was applied, `false` if its
/// condition refused it; anything else is an error.
pub(crate) fn conditional<T, E>(res: std::result::Result<T, SdkError<E>>) -> crate::Result<bool>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match res {
        Ok(_) => Ok(true),
        Err(e) if conditional_failed(&e) => Ok(false),
        Err(e) => Err(sdk_error("dynamodb", e)),
    }
}

/// Maps an SDK failure to retryable (throttling, 5xx, network, timeouts) or permanent.
pub(crate) fn sdk_error<E>(dependency: &'static str, err: SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or_default();
            crate::error::Retry::of_http_status(status) == crate::error::Retry::Retryable
                || code.contains("Throttl")
                || code == "ProvisionedThroughputExceededException"
                || code == "RequestLimitExceeded"
                || code == "TooManyRequestsException"
        }
        _ => false,
    };
    let message = DisplayErrorContext(&err).to_string();
    if retryable {
        Error::retryable(dependency, message)
    } else {
        Error::permanent(dependency, message)
    }
}
