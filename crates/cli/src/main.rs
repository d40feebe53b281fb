//! `zoom-symbl`: the operators' command line. Composition root: parse, find the stack, run
//! the command, exit with its code (README, "Operators' command line").

mod args;
mod commands;
mod error;
mod meeting_ref;
mod output;
mod records;
mod stack;
mod zoom;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use error::Result;
use stack::Stack;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zoom-symbl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run(cli: &Cli) -> Result<()> {
    let stack = Stack::find(&cli.target).await?;
    match &cli.command {
        Command::Status(a) => commands::status::run(&stack, a, cli.json).await,
        Command::List(a) => commands::list::run(&stack, a, cli.json).await,
        Command::Replay(a) => commands::replay::run(&stack, a, cli.json).await,
        Command::Resend(a) => commands::resend::run(&stack, a, cli.json).await,
        Command::Backfill(a) => commands::backfill::run(&stack, a, cli.json).await,
        Command::Redrive(a) => commands::redrive::run(&stack, a, cli.json).await,
    }
}
