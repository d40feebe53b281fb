//! consumer: submits produced meetings to the insights provider within its concurrency limit.
//! Composition root only; the work is in the library.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use zoom_symbl_core::aws::{
    objects::S3Objects, queue::SqsQueue, sdk_config, secrets, semaphore::DynamoSemaphore,
    submissions::DynamoSubmissions,
};
use zoom_symbl_core::config::{secret_keys, Env, Provider};
use zoom_symbl_core::ports::InsightsProvider;
use zoom_symbl_core::symbl::SymblClient;
use zoom_symbl_core::telemetry;
use zoom_symbl_core::transcribed::{self, TranscribeInsights};

use consumer::config::Config;
use consumer::handler::Consumer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let env = Env::from_process();
    let config = Config::from_env(&env)?;
    let aws = sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let parts = Parts {
        meetings: DynamoSubmissions::new(dynamodb.clone(), &config.meetings_table, &config.jobs_table)
            .expiring_after(config.record_retention),
        semaphore: DynamoSemaphore::new(
            dynamodb,
            &config.semaphore_table,
            config.semaphore_name,
            config.concurrency_limit,
        ),
        objects: S3Objects::new(&aws),
        redelivery: SqsQueue::new(aws_sdk_sqs::Client::new(&aws), &config.queue_url),
    };
    match config.provider {
        Provider::Symbl => {
            let secrets = secrets::load(&aws, &config.secret_ids).await?;
            let symbl = SymblClient::new(
                &config.symbl_base_url,
                secrets.require(secret_keys::SYMBL_APP_ID)?.expose(),
                secrets.require(secret_keys::SYMBL_APP_SECRET)?,
                Duration::from_secs(30),
            )?;
            let webhook = config.webhook(&secrets)?;
            serve(parts.with(symbl, webhook, config)).await
        }
        Provider::Aws => {
            let aws_provider = TranscribeInsights::on_aws(
                &aws,
                transcribed::Settings::from_env(&env)?,
                &transcribed::ModelSettings::from_env(&env)?,
            );
            serve(parts.with(aws_provider, None, config)).await
        }
    }
}

/// Everything but the provider.
struct Parts {
    meetings: DynamoSubmissions,
    semaphore: DynamoSemaphore,
    objects: S3Objects,
    redelivery: SqsQueue,
}

type Handler<P> = Consumer<DynamoSubmissions, DynamoSemaphore, P, S3Objects, SqsQueue>;

impl Parts {
    fn with<P: InsightsProvider>(
        self,
        provider: P,
        webhook: Option<zoom_symbl_core::secret::SecretString>,
        config: Config,
    ) -> Handler<P> {
        Consumer {
            meetings: self.meetings,
            semaphore: self.semaphore,
            provider,
            objects: self.objects,
            redelivery: self.redelivery,
            webhook,
            settings: config.settings,
        }
    }
}

async fn serve<P: InsightsProvider>(consumer: Handler<P>) -> Result<(), Error> {
    let consumer = &consumer;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let until = zoom_symbl_core::timefmt::instant_of_unix_ms(event.context.deadline);
        Ok::<_, Error>(consumer.handle_batch_until(event.payload, until).await)
    }))
    .await
}
