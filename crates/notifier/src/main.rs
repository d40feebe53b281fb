//! notifier: applies Symbl job statuses (from symbl-webhook) and reconciles overdue jobs (on
//! a schedule). Composition root only.

mod handler;

use std::time::Duration;

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use zoom_symbl_core::aws::{jobs::DynamoJobs, sdk_config, secrets, semaphore::DynamoSemaphore, submissions::DynamoSubmissions};
use zoom_symbl_core::config::{keys, Env};
use zoom_symbl_core::symbl::SymblClient;
use zoom_symbl_core::telemetry;

use crate::handler::{Notifier, Trigger};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let env = Env::from_process();
    let aws = sdk_config().await;
    let secrets = secrets::load(&aws, &env.required("SECRETS_ARN")?).await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let notifier = Notifier {
        jobs: DynamoJobs::new(dynamodb.clone(), env.required("JOBS_TABLE")?),
        semaphore: DynamoSemaphore::new(
            dynamodb.clone(),
            env.required("SEMAPHORE_TABLE")?,
            "symbl-jobs",
            env.parse_or("SYMBL_CONCURRENCY_LIMIT", 50)?,
        ),
        symbl: SymblClient::new(
            env.optional("SYMBL_BASE_URL").unwrap_or_else(|| "https://api.symbl.ai".into()),
            secrets.require(keys::SYMBL_APP_ID)?.expose(),
            secrets.require(keys::SYMBL_APP_SECRET)?,
            Duration::from_secs(30),
        )?,
        meetings: DynamoSubmissions::new(dynamodb, env.required("MEETINGS_TABLE")?, env.required("JOBS_TABLE")?),
    };
    let notifier = &notifier;
    run(service_fn(move |event: LambdaEvent<Trigger>| async move {
        notifier.handle(event.payload).await.map(|o| format!("{o:?}"))
    }))
    .await
}
