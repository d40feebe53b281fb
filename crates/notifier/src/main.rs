//! notifier: applies insights job statuses (from symbl-webhook), emails the host, and reconciles
//! overdue jobs (on a schedule). Composition root only; the work is in the library.

use std::time::Duration;

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use zoom_symbl_core::aws::{
    jobs::DynamoJobs, lambda::LambdaProducer, objects::S3Objects, queue::SqsQueue, sdk_config, secrets,
    semaphore::DynamoSemaphore, submissions::DynamoSubmissions,
};
use zoom_symbl_core::config::{secret_keys, Env};
use zoom_symbl_core::symbl::{self, SymblClient};
use zoom_symbl_core::telemetry;

use notifier::config::Config;
use notifier::handler::{Budget, Notifier, Trigger};
use notifier::heal::Healer;
use notifier::smtp::SmtpMailer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = Config::from_env(&Env::from_process())?;
    let aws = sdk_config().await;
    let secrets = secrets::load(&aws, &config.secret_ids).await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let notifier = Notifier {
        jobs: DynamoJobs::new(dynamodb.clone(), &config.jobs_table).expiring_after(config.record_retention),
        semaphore: DynamoSemaphore::new(
            dynamodb.clone(),
            &config.semaphore_table,
            symbl::SEMAPHORE_NAME,
            config.concurrency_limit,
        ),
        symbl: SymblClient::new(
            &config.symbl_base_url,
            secrets.require(secret_keys::SYMBL_APP_ID)?.expose(),
            secrets.require(secret_keys::SYMBL_APP_SECRET)?,
            Duration::from_secs(30),
        )?,
        meetings: DynamoSubmissions::new(dynamodb.clone(), &config.meetings_table, &config.jobs_table)
            .expiring_after(config.record_retention),
        objects: S3Objects::new(&aws),
        mailer: SmtpMailer::new(
            &config.smtp.host,
            config.smtp.port,
            config.smtp.security,
            Config::smtp_credentials(&secrets),
            &config.smtp.from,
        )?,
        settings: config.settings,
    };
    let healer = Healer {
        meetings: DynamoSubmissions::new(dynamodb, &config.meetings_table, &config.jobs_table),
        producer: LambdaProducer::new(aws_sdk_lambda::Client::new(&aws), &config.producer_function),
        queue: SqsQueue::new(aws_sdk_sqs::Client::new(&aws), &config.work_queue_url),
    };
    let (notifier, healer) = (&notifier, &healer);
    run(service_fn(move |event: LambdaEvent<Trigger>| async move {
        // Stop with time to spare; the next scheduled run continues.
        let budget = Budget::before_deadline(event.context.deadline, Duration::from_secs(10));
        notifier
            .handle_event(healer, event.payload, budget)
            .await
            .map(|o| format!("{o:?}"))
    }))
    .await
}
