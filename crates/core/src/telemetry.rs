//! Tracing set-up: JSON lines inside Lambda (CloudWatch parses them), compact text elsewhere.

use tracing_subscriber::EnvFilter;

/// Libraries whose debug and trace lines carry what must never be logged: reqwest and hyper
/// log request URLs (Zoom's download URLs, signed redirect targets), aws-sigv4 logs the
/// canonical request with the session token, rustls and h2 log connection details. They
/// stay at `info` whatever level the deployment asks for.
const QUIETED: [&str; 9] = [
    "reqwest",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "aws_sigv4",
    "aws_smithy_runtime",
    "aws_smithy_http",
    "aws_config",
];

/// The filter for `level` (an `EnvFilter` spec), with the [`QUIETED`] libraries held at `info`.
pub fn filter(level: Option<&str>) -> EnvFilter {
    let mut filter = level
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    for target in QUIETED {
        // Added last, so they win over a broader directive such as `debug`.
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Installs the global subscriber. The level comes from `RUST_LOG`, else from Lambda's
/// `AWS_LAMBDA_LOG_LEVEL` (set by the template's logging config), else `info`.
pub fn init() {
    let level = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().map(|l| l.to_lowercase()));
    let filter = filter(level.as_deref());
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    // try_init: a second call (tests, warm re-entry) must not panic.
    let _ = if in_lambda {
        builder
            .json()
            .with_current_span(true)
            // The span list carries the runtime's `Lambda runtime invoke` span and its `requestId`
            // on every line, also inside our own handler spans.
            .with_span_list(true)
            .with_ansi(false)
            .try_init()
    } else {
        builder.compact().try_init()
    };
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn at_trace_our_lines_pass_and_the_http_and_signing_libraries_stay_quiet() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter(Some("trace")))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "producer::merge", "ours at trace");
            tracing::debug!(target: "reqwest::connect", "GET https://zoom.us/rec/download/x?access_token=LEAK1");
            tracing::trace!(target: "aws_sigv4::http_request::sign", "x-amz-security-token:LEAK2");
            tracing::debug!(target: "hyper_util::client", "LEAK3");
            tracing::info!(target: "reqwest::retry", "info still passes");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("ours at trace"), "{text}");
        assert!(text.contains("info still passes"), "{text}");
        assert!(!text.contains("LEAK"), "{text}");
    }
}
