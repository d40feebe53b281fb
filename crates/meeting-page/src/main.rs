//! meeting-page: a meeting's page behind its signed link. Composition root only; the work is
//! in the library.

use lambda_http::{run, service_fn, Error, Request};
use zoom_symbl_core::aws::{objects::S3Objects, sdk_config, secrets, submissions::DynamoSubmissions};
use zoom_symbl_core::config::{secret_keys, Env};
use zoom_symbl_core::page_link::PageLinks;
use zoom_symbl_core::{telemetry, timefmt};

use meeting_page::config::Config;
use meeting_page::handler::MeetingPage;
use meeting_page::http_io;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = Config::from_env(&Env::from_process())?;
    let aws = sdk_config().await;
    let secrets = secrets::load(&aws, &config.secret_ids).await?;
    let page = MeetingPage {
        records: DynamoSubmissions::new(
            aws_sdk_dynamodb::Client::new(&aws),
            &config.meetings_table,
            &config.jobs_table,
        ),
        objects: S3Objects::new(&aws),
        links: PageLinks::new(&secrets.require(secret_keys::PAGE_LINK_KEY)?),
        settings: config.settings,
    };
    let page = &page;
    run(service_fn(move |req: Request| async move {
        let (method, key, token) = http_io::incoming(&req);
        let response = page.respond(&method, &key, token.as_deref(), timefmt::unix_now()).await;
        Ok::<_, Error>(http_io::respond(response))
    }))
    .await
}
