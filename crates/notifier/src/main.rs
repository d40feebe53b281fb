//! notifier: applies insights job statuses (from symbl-webhook, or Transcribe's state changes
//! through EventBridge), emails the host, and reconciles overdue jobs (on a schedule).
//! Composition root only; the work is in the library.

use std::time::Duration;

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use zoom_symbl_core::aws::{
    jobs::DynamoJobs, lambda::LambdaProducer, objects::S3Objects, queue::SqsQueue, sdk_config, secrets,
    semaphore::DynamoSemaphore, submissions::DynamoSubmissions,
};
use zoom_symbl_core::config::{secret_keys, Env, Provider};
use zoom_symbl_core::ports::InsightsProvider;
use zoom_symbl_core::symbl::SymblClient;
use zoom_symbl_core::telemetry;
use zoom_symbl_core::transcribed::{self, TranscribeInsights};

use notifier::config::Config;
use notifier::handler::{Budget, Notifier, Outcome, Trigger};
use notifier::heal::Healer;
use notifier::smtp::SmtpMailer;

type Handler<P> = Notifier<DynamoJobs, DynamoSemaphore, P, DynamoSubmissions, S3Objects, SmtpMailer>;
type Healers = Healer<DynamoSubmissions, LambdaProducer, SqsQueue>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let env = Env::from_process();
    let mut config = Config::from_env(&env)?;
    let aws = sdk_config().await;
    let secrets = secrets::load(&aws, &config.secret_ids).await?;
    let healer = Healer {
        meetings: DynamoSubmissions::new(
            aws_sdk_dynamodb::Client::new(&aws),
            &config.meetings_table,
            &config.jobs_table,
        ),
        producer: LambdaProducer::new(aws_sdk_lambda::Client::new(&aws), &config.producer_function),
        queue: SqsQueue::new(aws_sdk_sqs::Client::new(&aws), &config.work_queue_url),
    };
    config.settings.page = config.page_site(&secrets);
    let mailer = SmtpMailer::new(
        &config.smtp.host,
        config.smtp.port,
        config.smtp.security,
        Config::smtp_credentials(&secrets),
        &config.smtp.from,
    )?;
    match config.provider {
        Provider::Symbl => {
            let symbl = SymblClient::new(
                &config.symbl_base_url,
                secrets.require(secret_keys::SYMBL_APP_ID)?.expose(),
                secrets.require(secret_keys::SYMBL_APP_SECRET)?,
                Duration::from_secs(30),
            )?;
            serve(notifier(symbl, &config, &aws, mailer), healer).await
        }
        Provider::Aws => {
            let provider = TranscribeInsights::on_aws(
                &aws,
                transcribed::Settings::from_env(&env)?,
                &transcribed::ModelSettings::from_env(&env)?,
            );
            serve(notifier(provider, &config, &aws, mailer), healer).await
        }
    }
}

fn notifier<P: InsightsProvider>(
    provider: P,
    config: &Config,
    aws: &aws_config::SdkConfig,
    mailer: SmtpMailer,
) -> Handler<P> {
    let dynamodb = aws_sdk_dynamodb::Client::new(aws);
    Notifier {
        jobs: DynamoJobs::new(dynamodb.clone(), &config.jobs_table).expiring_after(config.record_retention),
        semaphore: DynamoSemaphore::new(
            dynamodb.clone(),
            &config.semaphore_table,
            config.semaphore_name,
            config.concurrency_limit,
        ),
        provider,
        meetings: DynamoSubmissions::new(dynamodb, &config.meetings_table, &config.jobs_table)
            .expiring_after(config.record_retention),
        objects: S3Objects::new(aws),
        mailer,
        settings: config.settings.clone(),
    }
}

async fn serve<P: InsightsProvider>(notifier: Handler<P>, healer: Healers) -> Result<(), Error> {
    let (notifier, healer) = (&notifier, &healer);
    run(service_fn(move |event: LambdaEvent<Trigger>| async move {
        // Stop with time to spare; the next scheduled run continues.
        let budget = Budget::before_deadline(event.context.deadline, Duration::from_secs(10));
        notifier
            .handle_event(healer, event.payload, budget)
            .await
            .map(|o| match o {
                // The operator's command line reads this answer.
                Outcome::Resent { kind, to, message_id } => {
                    serde_json::json!({"resent": kind, "to": to, "message_id": message_id})
                }
                other => serde_json::Value::String(format!("{other:?}")),
            })
    }))
    .await
}
