//! `llm-sandbox` serves the fake Bedrock (OpenAI Chat Completions) until killed.

use std::net::SocketAddr;

use clap::Parser;
use llm_sandbox::LlmSandbox;
use serde_json::json;

#[derive(Parser)]
#[command(
    version,
    about = "A local stand-in for Amazon Bedrock behind ministack's OpenAI proxy"
)]
struct Cli {
    /// Address to serve on; ministack's MINISTACK_BEDROCK_PROXY_URL points here.
    #[arg(long, env = "LLM_SANDBOX_LISTEN", default_value = "127.0.0.1:8446")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    let sandbox = LlmSandbox::start(cli.listen).await?;
    println!("{}", json!({ "url": sandbox.url() }));
    wait().await;
    sandbox.shutdown().await;
    Ok(())
}

/// Until Ctrl-C or SIGTERM.
async fn wait() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
