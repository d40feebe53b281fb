//! The command line's errors, each with the exit code a script tests.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use zoom_symbl_core::error::Retry;

/// Exit codes (README, "Exit codes"): 0 done, 1 AWS or Zoom failed, 2 bad usage, 3 no such
/// stack or meeting, 4 refused, 5 done in part.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("no stack named {name} in {place}: deploy it first (`sam deploy --guided`, or `make deploy` locally), or name another with --stack")]
    NoSuchStack { name: String, place: String },
    #[error("stack {stack} has no output {output}: is it a zoom-symbl stack of this version? Deploy it again")]
    MissingOutput { stack: String, output: String },
    #[error("no meeting {0} in this stack")]
    NoSuchMeeting(String),
    /// Not possible now: a run in flight, nothing to send, credentials missing.
    #[error("{0}")]
    Refused(String),
    /// Some of the work failed; the rest is done.
    #[error("{0}")]
    Partial(String),
    /// AWS or Zoom failed; `retry` says whether running the command again may help.
    #[error("{what}: {reason}{}", if *.retry == Retry::Retryable { " (this may pass: try again)" } else { "" })]
    Remote { what: String, reason: String, retry: Retry },
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Remote { .. } => 1,
            CliError::Usage(_) => 2,
            CliError::NoSuchStack { .. } | CliError::MissingOutput { .. } | CliError::NoSuchMeeting(_) => 3,
            CliError::Refused(_) => 4,
            CliError::Partial(_) => 5,
        }
    }

    pub fn remote(what: &str, reason: impl std::fmt::Display) -> Self {
        CliError::Remote {
            what: what.to_owned(),
            reason: reason.to_string(),
            retry: Retry::Retryable,
        }
    }

    /// An AWS SDK failure, in its service's words (the SDK's Display is only "service error").
    pub fn aws<E, R>(what: &str, e: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata,
    {
        let reason = match &e {
            SdkError::ServiceError(s) => {
                let err = s.err();
                format!("{}: {}", err.code().unwrap_or("error"), err.message().unwrap_or(""))
            }
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                "could not reach AWS (check the endpoint, region and network)".to_owned()
            }
            _ => "the request failed".to_owned(),
        };
        CliError::remote(what, reason)
    }
}

impl From<zoom_symbl_core::Error> for CliError {
    fn from(e: zoom_symbl_core::Error) -> Self {
        let retry = e.retry();
        CliError::Remote {
            what: "zoom-symbl".into(),
            reason: e.to_string(),
            retry,
        }
    }
}

pub type Result<T> = std::result::Result<T, CliError>;
