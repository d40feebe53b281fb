//! symbl-webhook: Symbl's job-status callbacks. Composition root only; the logic is in the library.

use lambda_http::{run, service_fn, Body, Error, Request, Response};
use zoom_symbl_core::aws::{jobs::DynamoJobs, lambda::LambdaNotifier, sdk_config, secrets};
use zoom_symbl_core::config::Env;
use zoom_symbl_core::telemetry;

use symbl_webhook::config::Config;
use symbl_webhook::handler::{self, SymblWebhook};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = Config::from_env(&Env::from_process())?;
    let aws = sdk_config().await;
    let secrets = secrets::load(&aws, &config.secret_ids).await?;
    let hook = SymblWebhook {
        token: Config::token(&secrets)?,
        jobs: DynamoJobs::new(aws_sdk_dynamodb::Client::new(&aws), &config.jobs_table),
        notifier: LambdaNotifier::new(aws_sdk_lambda::Client::new(&aws), &config.notifier_function),
    };
    let hook = &hook;
    run(service_fn(move |req: Request| async move {
        let reply = hook.handle(handler::incoming(req)).await;
        Ok::<_, Error>(
            Response::builder()
                .status(reply.status)
                .header("content-type", "application/json")
                .body(Body::Text(reply.body.to_string()))?,
        )
    }))
    .await
}
