//! AWS adapters for the ports, shared by the function crates.

pub mod bedrock;
pub mod failures;
pub mod healing;
pub mod jobs;
pub mod lambda;
pub mod meetings;
pub mod objects;
pub mod queue;
pub mod secrets;
pub mod semaphore;
pub mod submissions;
pub mod transcribe;

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

/// The sparse index of both tables on (`status`, `due_at`): an item is in it while something
/// is owed on it, so the reconciler queries what is due instead of scanning.
pub const BY_DUE_INDEX: &str = "by_due";

/// Unix seconds: when the reconciler acts on the item if it is still in its state.
pub const DUE_AT: &str = "due_at";

/// Binds a lifecycle step to an update: `#st` and `:to`, and returns the condition that the
/// item is in one of the step's origin states (or absent, where the step may create it).
pub(crate) fn guarded(
    mut req: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    step: crate::lifecycle::Step,
) -> (
    aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    String,
) {
    req = req
        .expression_attribute_names("#st", "status")
        .expression_attribute_values(":to", state(step.to()));
    let mut names = Vec::with_capacity(step.from().len());
    for (i, from) in step.from().iter().enumerate() {
        let name = format!(":from{i}");
        req = req.expression_attribute_values(&name, state(*from));
        names.push(name);
    }
    let mut clause = format!("#st IN ({})", names.join(", "));
    if step.may_create() {
        clause = format!("(attribute_not_exists(#st) OR {clause})");
    }
    (req, clause)
}

/// Items of `table` in `status` whose `due_at` is before `before`, oldest first, at most
/// `limit`, across pages. Logs the read capacity consumed.
pub(crate) async fn query_due(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    status: &'static str,
    before: i64,
    limit: usize,
) -> crate::Result<Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>> {
    let mut items = Vec::new();
    let mut start = None;
    let mut units = 0.0;
    loop {
        let page = i32::try_from(limit.saturating_sub(items.len()).clamp(1, 500)).unwrap_or(500);
        let out = client
            .query()
            .table_name(table)
            .index_name(BY_DUE_INDEX)
            .key_condition_expression("#st = :st AND #due < :before")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#due", DUE_AT)
            .expression_attribute_values(":st", s(status))
            .expression_attribute_values(":before", n(before))
            .scan_index_forward(true)
            .limit(page)
            .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        units += out.consumed_capacity().and_then(|c| c.capacity_units()).unwrap_or(0.0);
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() || items.len() >= limit {
            break;
        }
    }
    items.truncate(limit);
    tracing::info!(
        table,
        status,
        found = items.len(),
        read_units = units,
        "queried due items"
    );
    Ok(items)
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
