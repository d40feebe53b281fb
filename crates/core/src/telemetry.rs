//! Tracing set-up: JSON lines inside Lambda (CloudWatch parses them), compact text elsewhere.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. The level comes from `RUST_LOG`, else from Lambda's
/// `AWS_LAMBDA_LOG_LEVEL` (set by the template's logging config), else `info`.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().map(|l| l.to_lowercase()))
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
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
