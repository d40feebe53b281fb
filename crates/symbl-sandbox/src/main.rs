//! `symbl-sandbox serve` runs the fake Symbl until killed.

use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use serde_json::json;
use symbl_sandbox::{SymblConfig, SymblSandbox};

#[derive(Parser)]
#[command(version, about = "A local stand-in for Symbl.ai")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Symbl API and the /_sandbox admin endpoints until killed.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8444")]
        bind: SocketAddr,
        /// Concurrent jobs per account.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Time from scheduled to completed.
        #[arg(long, default_value_t = 2000)]
        job_duration_ms: u64,
        /// Jobs only move on through POST /_sandbox/jobs/{id}/complete or /fail.
        #[arg(long)]
        manual: bool,
        #[arg(long, default_value_t = 86_400)]
        token_ttl_secs: u64,
        #[arg(long, env = "SYMBL_APP_ID", default_value = "sandbox-app-id", hide_env_values = true)]
        app_id: String,
        #[arg(
            long,
            env = "SYMBL_APP_SECRET",
            default_value = "sandbox-app-secret",
            hide_env_values = true,
            hide_default_value = true
        )]
        app_secret: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    match Cli::parse().command {
        Command::Serve {
            bind,
            limit,
            job_duration_ms,
            manual,
            token_ttl_secs,
            app_id,
            app_secret,
        } => {
            let config = SymblConfig {
                bind,
                app_id,
                app_secret,
                token_ttl_secs,
                concurrency_limit: limit,
                job_duration_ms,
                auto_complete: !manual,
            };
            let sandbox = SymblSandbox::start(config).await?;
            println!("{}", json!({ "base_url": sandbox.base_url }));
            wait().await;
            sandbox.shutdown().await;
        }
    }
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
