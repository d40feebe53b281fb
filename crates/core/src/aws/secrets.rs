//! A function's secrets from AWS Secrets Manager, read once per cold start.

use crate::config::Secrets;
use crate::Error;

/// Reads every secret of `secret_ids` (comma-separated, as `SECRET_ARNS` lists them) and
/// merges their keys.
pub async fn load(config: &aws_config::SdkConfig, secret_ids: &str) -> Result<Secrets, Error> {
    let client = aws_sdk_secretsmanager::Client::new(config);
    let mut merged: Option<Secrets> = None;
    for id in secret_ids.split(',').map(str::trim).filter(|id| !id.is_empty()) {
        let one = load_one(&client, id).await?;
        merged = Some(match merged {
            Some(m) => m.merge(one)?,
            None => one,
        });
    }
    merged.ok_or_else(|| Error::Config("SECRET_ARNS names no secret".into()))
}

async fn load_one(client: &aws_sdk_secretsmanager::Client, secret_id: &str) -> Result<Secrets, Error> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| {
            Error::Config(format!(
                "cannot read secret `{secret_id}`: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ))
        })?;
    let text = out
        .secret_string()
        .ok_or_else(|| Error::Config(format!("secret `{secret_id}` has no SecretString")))?;
    Secrets::from_json(secret_id, text)
}
