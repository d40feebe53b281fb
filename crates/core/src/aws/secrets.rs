//! The deployment secret from AWS Secrets Manager, read once per cold start.

use crate::config::Secrets;
use crate::Error;

pub async fn load(config: &aws_config::SdkConfig, secret_id: &str) -> Result<Secrets, Error> {
    let client = aws_sdk_secretsmanager::Client::new(config);
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
