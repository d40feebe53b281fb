//! symbl-webhook: Symbl's job-status callbacks. Composition root only; the logic is in the library.

use lambda_http::{run, service_fn, Body, Error, Request, Response};
use zoom_symbl_core::aws::{jobs::DynamoJobs, lambda::LambdaNotifier, sdk_config, secrets};
use zoom_symbl_core::config::{keys, Env};
use zoom_symbl_core::telemetry;

use symbl_webhook::handler::{self, SymblWebhook};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let env = Env::from_process();
    let aws = sdk_config().await;
    let secrets = secrets::load(&aws, &env.required("SECRETS_ARN")?).await?;
    let hook = SymblWebhook {
        token: secrets.require(keys::SYMBL_WEBHOOK_TOKEN)?,
        jobs: DynamoJobs::new(aws_sdk_dynamodb::Client::new(&aws), env.required("JOBS_TABLE")?),
        notifier: LambdaNotifier::new(aws_sdk_lambda::Client::new(&aws), env.required("NOTIFIER_FUNCTION")?),
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
