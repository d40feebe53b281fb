//! producer: one meeting's audio, from Zoom to a merged multichannel file in S3.
//! Composition root only; the work is in the library.

use std::time::Duration;

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use zoom_symbl_core::aws::{meetings::DynamoMeetings, objects::S3Objects, queue::SqsQueue, sdk_config, secrets};
use zoom_symbl_core::config::Env;
use zoom_symbl_core::ports::ProducerJob;
use zoom_symbl_core::telemetry;

use producer::archive::Archiver;
use producer::config::Config;
use producer::download::ZoomDownloads;
use producer::handler::Producer;
use producer::{ffmpeg, zoom_api};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = Config::from_env(&Env::from_process())?;
    let aws = sdk_config().await;
    let secrets = secrets::load(&aws, &config.secret_ids).await?;
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .redirect(config.allowed_hosts.redirect_policy())
        .build()?;
    let producer = Producer {
        store: DynamoMeetings::new(aws_sdk_dynamodb::Client::new(&aws), &config.meetings_table),
        objects: S3Objects::new(&aws),
        queue: SqsQueue::new(aws_sdk_sqs::Client::new(&aws), &config.queue_url),
        archiver: Archiver::new(
            ZoomDownloads::new(http.clone()),
            config.allowed_hosts.clone(),
            config.download_attempts,
            Duration::from_millis(500),
        ),
        zoom: zoom_api::ZoomApi {
            http,
            oauth_url: config.oauth_url.clone(),
            default_api_base: config.api_base.clone(),
            allowed: config.allowed_hosts.clone(),
            credentials: Config::s2s(&secrets)?,
        },
        codecs: ffmpeg::Ffmpeg::locate(config.ffmpeg_path.clone()),
        settings: config.settings,
    };
    let producer = &producer;
    run(service_fn(move |event: LambdaEvent<ProducerJob>| async move {
        producer
            .handle(event.payload)
            .await
            .map(|outcome| format!("{outcome:?}"))
    }))
    .await
}
