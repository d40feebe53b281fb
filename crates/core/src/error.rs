//! One error type for the pipeline, with "retry later" and "never works" kept apart,
//! because every caller has to choose between a retry and a dead letter.

use std::fmt;

/// Whether repeating the same operation later can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Throttling, timeouts, 5xx, a dependency that is down: try again later.
    Retryable,
    /// Bad input, missing configuration, 4xx: retrying gives the same answer.
    Permanent,
}

impl Retry {
    /// The one rule for an HTTP answer: throttling (429), a timeout (408) and a server's own
    /// failures (5xx) may pass later; any other refusal gives the same answer again.
    pub fn of_http_status(status: u16) -> Retry {
        if status >= 500 || status == 429 || status == 408 {
            Retry::Retryable
        } else {
            Retry::Permanent
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration that is absent or malformed; fixed by a deploy, not by a retry.
    #[error("configuration error: {0}")]
    Config(String),

    /// A key that the deployment's secret does not hold. Names the key, never a value.
    #[error("secret `{secret}` has no key `{key}`")]
    MissingSecret { secret: String, key: String },

    /// A call to a dependency (AWS, Zoom, Symbl, SMTP) failed.
    #[error("{dependency}: {message}")]
    Dependency {
        dependency: &'static str,
        message: String,
        retry: Retry,
    },

    /// Input that can never be processed as given.
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl Error {
    pub fn retryable(dependency: &'static str, message: impl fmt::Display) -> Self {
        Error::Dependency {
            dependency,
            message: message.to_string(),
            retry: Retry::Retryable,
        }
    }

    /// An HTTP refusal, classed by [`Retry::of_http_status`].
    pub fn http(dependency: &'static str, status: u16, message: impl fmt::Display) -> Self {
        Error::Dependency {
            dependency,
            message: message.to_string(),
            retry: Retry::of_http_status(status),
        }
    }

    pub fn permanent(dependency: &'static str, message: impl fmt::Display) -> Self {
        Error::Dependency {
            dependency,
            message: message.to_string(),
            retry: Retry::Permanent,
        }
    }

    pub fn retry(&self) -> Retry {
        match self {
            Error::Dependency { retry, .. } => *retry,
            Error::Config(_) | Error::MissingSecret { .. } | Error::Invalid(_) => Retry::Permanent,
        }
    }

    /// What went wrong, without the dependency's name: for a record a person reads.
    pub fn reason(&self) -> String {
        match self {
            Error::Dependency { message, .. } => message.clone(),
            Error::Config(m) | Error::Invalid(m) => m.clone(),
            Error::MissingSecret { .. } => self.to_string(),
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.retry() == Retry::Retryable
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What Lambda records for a failed invocation: the retry class as the error type.
impl From<Error> for lambda_runtime::Diagnostic {
    fn from(e: Error) -> Self {
        let error_type = match e.retry() {
            Retry::Retryable => "Retryable",
            Retry::Permanent => "Permanent",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_is_explicit() {
        assert!(Error::retryable("dynamodb", "throttled").is_retryable());
        assert!(!Error::permanent("lambda", "no such function").is_retryable());
        assert!(!Error::Config("x".into()).is_retryable());
        let e = Error::MissingSecret {
            secret: "arn:s".into(),
            key: "zoom_webhook_secret".into(),
        };
        assert!(!e.is_retryable());
        assert_eq!(e.to_string(), "secret `arn:s` has no key `zoom_webhook_secret`");
        assert_eq!(
            Error::permanent("smtp", "550 no such user").reason(),
            "550 no such user"
        );
        assert_eq!(Error::Invalid("no host email".into()).reason(), "no host email");
    }

    #[test]
    fn one_rule_for_http_answers() {
        for (status, retry) in [
            (408, Retry::Retryable),
            (429, Retry::Retryable),
            (500, Retry::Retryable),
            (503, Retry::Retryable),
            (400, Retry::Permanent),
            (401, Retry::Permanent),
            (404, Retry::Permanent),
        ] {
            assert_eq!(Retry::of_http_status(status), retry, "{status}");
            assert_eq!(Error::http("zoom", status, "x").retry(), retry, "{status}");
        }
    }
}
