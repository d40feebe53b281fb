//! The deployed stack: found by name through CloudFormation, its outputs and parameters, and
//! AWS clients for it (on AWS, or on the local stack with `--local`).

use std::collections::BTreeMap;
use std::path::Path;

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::args::Target;
use crate::error::{CliError, Result};

/// The local stack's endpoint and the stack `make deploy` makes with the default provider.
const LOCAL_ENDPOINT: &str = "http://localhost:4566";
const LOCAL_STACK: &str = "zoom-symbl-local-aws";
/// The stack name when samconfig.toml names none.
const DEFAULT_STACK: &str = "zoom-symbl";

pub struct Stack {
    pub name: String,
    pub local: bool,
    pub outputs: BTreeMap<String, String>,
    pub parameters: BTreeMap<String, String>,
    pub aws: SdkConfig,
}

impl Stack {
    pub async fn find(target: &Target) -> Result<Stack> {
        let name = match &target.stack {
            Some(name) => name.clone(),
            None if target.local => LOCAL_STACK.to_owned(),
            None => samconfig_stack_name(Path::new("samconfig.toml")).unwrap_or_else(|| DEFAULT_STACK.to_owned()),
        };
        let aws = sdk_config(target).await;
        let place = if target.local {
            format!("the local stack ({})", local_endpoint())
        } else {
            format!("region {}", aws.region().map_or("(none)", |r| r.as_ref()))
        };
        let out = aws_sdk_cloudformation::Client::new(&aws)
            .describe_stacks()
            .stack_name(&name)
            .send()
            .await;
        let described = match out {
            Ok(out) => out,
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    aws_sdk_cloudformation::error::ProvideErrorMetadata::message(s)
                        .is_some_and(|m| m.contains("does not exist"))
                }) =>
            {
                return Err(CliError::NoSuchStack { name, place })
            }
            Err(e) => return Err(CliError::aws("CloudFormation DescribeStacks", e)),
        };
        let Some(stack) = described.stacks().first() else {
            return Err(CliError::NoSuchStack { name, place });
        };
        let outputs = stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect();
        let parameters = stack
            .parameters()
            .iter()
            .filter_map(|p| Some((p.parameter_key()?.to_owned(), p.parameter_value()?.to_owned())))
            .collect();
        Ok(Stack {
            name,
            local: target.local,
            outputs,
            parameters,
            aws,
        })
    }

    pub fn output(&self, name: &str) -> Result<&str> {
        self.outputs
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| CliError::MissingOutput {
                stack: self.name.clone(),
                output: name.to_owned(),
            })
    }

    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn provider(&self) -> &str {
        self.outputs.get("InsightsProvider").map_or("symbl", String::as_str)
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.aws)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.aws)
    }

    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.aws)
    }

    pub fn transcribe(&self) -> aws_sdk_transcribe::Client {
        aws_sdk_transcribe::Client::new(&self.aws)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        // The local stack serves buckets by path, not by host name.
        let conf = aws_sdk_s3::config::Builder::from(&self.aws)
            .force_path_style(self.local)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// The stack's secrets named by these outputs, merged (keys as core's `secret_keys`).
    pub async fn secrets(&self, outputs: &[&str]) -> Result<zoom_symbl_core::config::Secrets> {
        let ids: Vec<&str> = outputs.iter().filter_map(|o| self.output(o).ok()).collect();
        Ok(zoom_symbl_core::aws::secrets::load(&self.aws, &ids.join(",")).await?)
    }
}

fn local_endpoint() -> String {
    std::env::var("ZOOM_SYMBL_LOCAL_ENDPOINT").unwrap_or_else(|_| LOCAL_ENDPOINT.to_owned())
}

async fn sdk_config(target: &Target) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if target.local {
        // ministack takes any credentials; these keep a developer's real ones out of it.
        loader = loader
            .endpoint_url(local_endpoint())
            .region(Region::new(target.region.clone().unwrap_or_else(|| "us-east-1".into())))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "zoom-symbl-local",
            ));
    } else if let Some(region) = &target.region {
        loader = loader.region(Region::new(region.clone()));
    }
    loader.load().await
}

/// `stack_name` from samconfig.toml's `[default.global.parameters]` (or `[default.deploy.parameters]`).
fn samconfig_stack_name(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    stack_name_in(&text)
}

fn stack_name_in(text: &str) -> Option<String> {
    let doc: toml::Table = text.parse().ok()?;
    let default = doc.get("default")?.as_table()?;
    ["global", "deploy"].iter().find_map(|section| {
        default
            .get(*section)?
            .get("parameters")?
            .get("stack_name")?
            .as_str()
            .map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_name_comes_from_samconfig() {
        let ours = include_str!("../../../samconfig.toml");
        assert_eq!(stack_name_in(ours).as_deref(), Some("zoom-symbl"));
        let deploy = "version = 0.1\n[default.deploy.parameters]\nstack_name = \"meetings\"\n";
        assert_eq!(stack_name_in(deploy).as_deref(), Some("meetings"));
        assert_eq!(stack_name_in("version = 0.1\n"), None);
        assert_eq!(stack_name_in("not toml ["), None);
    }
}
