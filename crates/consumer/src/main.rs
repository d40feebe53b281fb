//! consumer: submits produced meetings to Symbl within the account's concurrency limit.
//! Composition root only; the work is in the library.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use zoom_symbl_core::aws::{
    objects::S3Objects, queue::SqsQueue, sdk_config, secrets, semaphore::DynamoSemaphore,
    submissions::DynamoSubmissions,
};
use zoom_symbl_core::config::{secret_keys, Env};
use zoom_symbl_core::symbl::SymblClient;
use zoom_symbl_core::telemetry;

use consumer::config::Config;
use consumer::handler::Consumer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = Config::from_env(&Env::from_process())?;
    let aws = sdk_config().await;
    let secrets = secrets::load(&aws, &config.secret_ids).await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let consumer = Consumer {
        meetings: DynamoSubmissions::new(dynamodb.clone(), &config.meetings_table, &config.jobs_table)
            .expiring_after(config.record_retention),
        semaphore: DynamoSemaphore::new(
            dynamodb,
            &config.semaphore_table,
            zoom_symbl_core::symbl::SEMAPHORE_NAME,
            config.concurrency_limit,
        ),
        symbl: SymblClient::new(
            &config.symbl_base_url,
            secrets.require(secret_keys::SYMBL_APP_ID)?.expose(),
            secrets.require(secret_keys::SYMBL_APP_SECRET)?,
            Duration::from_secs(30),
        )?,
        objects: S3Objects::new(&aws),
        redelivery: SqsQueue::new(aws_sdk_sqs::Client::new(&aws), &config.queue_url),
        webhook: config.webhook(&secrets)?,
        settings: config.settings,
    };
    let consumer = &consumer;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let until = zoom_symbl_core::timefmt::instant_of_unix_ms(event.context.deadline);
        Ok::<_, Error>(consumer.handle_batch_until(event.payload, until).await)
    }))
    .await
}
