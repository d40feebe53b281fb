//! zoom-webhook: Zoom's front door. Composition root only; the logic is in the library.

use lambda_http::{run, service_fn, Error};
use zoom_symbl_core::aws::{lambda::LambdaProducer, meetings::DynamoMeetings, sdk_config, secrets};
use zoom_symbl_core::config::Env;
use zoom_symbl_core::{telemetry, timefmt};

use zoom_webhook::config::Settings;
use zoom_webhook::handler::ZoomWebhook;
use zoom_webhook::http_io;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = std::time::Instant::now();
    telemetry::init();
    let settings = Settings::from_env(&Env::from_process())?;
    let aws = sdk_config().await;
    let secrets = secrets::load(&aws, &settings.secret_ids).await?;
    let handler = ZoomWebhook {
        verifier: settings.verifier(&secrets)?,
        allowed_hosts: settings.allowed_hosts.clone(),
        max_body_bytes: settings.max_body_bytes,
        claim_lease_secs: settings.claim_lease_secs,
        claims: DynamoMeetings::new(aws_sdk_dynamodb::Client::new(&aws), &settings.meetings_table)
            .expiring_after(settings.record_retention),
        producer: LambdaProducer::new(aws_sdk_lambda::Client::new(&aws), &settings.producer_function),
        clock: timefmt::unix_now,
    };
    // The cold start's own cost (the secret's fetch dominates), beside each request's stage timings.
    tracing::info!(init_ms = started.elapsed().as_millis() as u64, "ready");
    let handler = &handler;
    run(service_fn(move |req| async move {
        Ok::<_, Error>(http_io::respond(handler.handle(http_io::incoming(req)).await))
    }))
    .await
}
