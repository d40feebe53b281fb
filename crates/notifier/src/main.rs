//! notifier: applies Symbl job statuses (from symbl-webhook), emails the host, and reconciles
//! overdue jobs (on a schedule). Composition root only; the work is in the library.

use std::time::Duration;

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use zoom_symbl_core::aws::{
    jobs::DynamoJobs, objects::S3Objects, sdk_config, secrets, semaphore::DynamoSemaphore,
    submissions::DynamoSubmissions,
};
use zoom_symbl_core::config::{keys, Env};
use zoom_symbl_core::symbl::SymblClient;
use zoom_symbl_core::telemetry;

use notifier::handler::{Notifier, Settings, Trigger};
use notifier::smtp::{Security, SmtpMailer};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let env = Env::from_process();
    let aws = sdk_config().await;
    let secrets = secrets::load(&aws, &env.required("SECRETS_ARN")?).await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let smtp_credentials = match (
        secrets.optional(keys::SMTP_USERNAME),
        secrets.optional(keys::SMTP_PASSWORD),
    ) {
        (Some(user), Some(password)) => Some((user.expose().to_owned(), password)),
        _ => None,
    };
    let notifier = Notifier {
        jobs: DynamoJobs::new(dynamodb.clone(), env.required("JOBS_TABLE")?),
        semaphore: DynamoSemaphore::new(
            dynamodb.clone(),
            env.required("SEMAPHORE_TABLE")?,
            zoom_symbl_core::symbl::SEMAPHORE_NAME,
            env.parse_or(
                "SYMBL_CONCURRENCY_LIMIT",
                zoom_symbl_core::symbl::DEFAULT_CONCURRENCY_LIMIT,
            )?,
        ),
        symbl: SymblClient::new(
            env.optional("SYMBL_BASE_URL")
                .unwrap_or_else(|| zoom_symbl_core::symbl::DEFAULT_BASE_URL.into()),
            secrets.require(keys::SYMBL_APP_ID)?.expose(),
            secrets.require(keys::SYMBL_APP_SECRET)?,
            Duration::from_secs(30),
        )?,
        meetings: DynamoSubmissions::new(dynamodb, env.required("MEETINGS_TABLE")?, env.required("JOBS_TABLE")?),
        objects: S3Objects::new(&aws),
        mailer: SmtpMailer::new(
            &env.required("SMTP_HOST")?,
            env.parse_or("SMTP_PORT", 587)?,
            env.parse_or("SMTP_SECURITY", Security::StartTls)?,
            smtp_credentials,
            &env.required("SMTP_FROM")?,
        )?,
        settings: Settings {
            // Symbl reads 0 as "never expires".
            summary_page_ttl_secs: env.parse_or::<u64>("SUMMARY_PAGE_DAYS", 30)? * 24 * 3600,
            media_url_ttl: Duration::from_secs(env.parse_or("MEDIA_URL_TTL_SECS", 7 * 24 * 3600)?),
            email_claim_stale_secs: env.parse_or("EMAIL_CLAIM_STALE_SECS", 900)?,
            smtp_attempts: env.parse_or("SMTP_ATTEMPTS", 3)?,
            smtp_backoff: Duration::from_secs(2),
            // Lambda's async retries come within minutes; a 15-minute attempt renews its lease.
            stall_grace_secs: env.parse_or("STALL_GRACE_SECS", 600)?,
        },
    };
    let notifier = &notifier;
    run(service_fn(move |event: LambdaEvent<Trigger>| async move {
        notifier.handle(event.payload).await.map(|o| format!("{o:?}"))
    }))
    .await
}
