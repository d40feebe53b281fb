//! The command line's words: what `--help` shows (README keeps a copy, a test compares).

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "zoom-symbl",
    version,
    about = "Operate a deployed zoom-symbl stack: follow meetings, run them again, backfill past recordings, redrive dead letters.",
    after_help = "Exit codes: 0 done, 1 AWS or Zoom failed, 2 bad usage, 3 no such stack or meeting, 4 refused (a run in flight, nothing to send, no credentials), 5 done in part."
)]
pub struct Cli {
    #[command(flatten)]
    pub target: Target,
    /// Print JSON for scripts instead of tables
    #[arg(long, global = true, help_heading = "Output")]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Which stack, where.
#[derive(Debug, Args)]
pub struct Target {
    /// The CloudFormation stack [default: samconfig.toml's stack_name; with --local, zoom-symbl-local-aws]
    #[arg(long, global = true, value_name = "NAME", help_heading = "Stack")]
    pub stack: Option<String>,
    /// Work against the local stack (ministack on localhost:4566) instead of AWS
    #[arg(long, global = true, help_heading = "Stack")]
    pub local: bool,
    /// The AWS region [default: the AWS profile's]
    #[arg(long, global = true, value_name = "REGION", help_heading = "Stack")]
    pub region: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// A meeting's states with their times, its deadline, jobs, email, files and a fresh page link
    Status(StatusArgs),
    /// Meetings, newest first
    List(ListArgs),
    /// Run a finished meeting again from its archived originals, as its next run
    Replay(MeetingArg),
    /// Send a finished meeting's email again
    Resend(ResendArgs),
    /// Feed past cloud recordings into the pipeline, as their webhooks would have
    Backfill(BackfillArgs),
    /// Move dead letters back to where they failed, after showing them
    Redrive(RedriveArgs),
}

#[derive(Debug, Args)]
pub struct MeetingArg {
    /// A meeting instance's UUID, a meeting number (the latest instance), or a Zoom share link
    #[arg(value_name = "MEETING")]
    pub meeting: String,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub meeting: MeetingArg,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only meetings in this state (repeatable): received, dispatched, producing, retrying, produced, queued, submitted, transcribed, failed
    #[arg(long, value_name = "STATE")]
    pub state: Vec<String>,
    /// How far back: 7d, 24h, 2w, or a date (2026-11-01)
    #[arg(long, value_name = "WHEN", default_value = "7d")]
    pub since: String,
    /// Only meetings past their state's deadline
    #[arg(long)]
    pub stuck: bool,
    /// At most this many meetings
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct ResendArgs {
    #[command(flatten)]
    pub meeting: MeetingArg,
    /// Send it to this address instead of the host
    #[arg(long, value_name = "ADDRESS")]
    pub to: Option<String>,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The first day of recordings (YYYY-MM-DD, UTC)
    #[arg(long, value_name = "DATE")]
    pub from: String,
    /// The last day of recordings (YYYY-MM-DD, UTC)
    #[arg(long, value_name = "DATE")]
    pub to: String,
    /// Only this Zoom user's recordings
    #[arg(long, value_name = "EMAIL")]
    pub user: Option<String>,
    /// List what would be started, start nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct RedriveArgs {
    /// Only this dead-letter queue: work items onto the work queue again, producer or notifier events invoked again [default: all three]
    #[arg(long, value_enum, value_name = "QUEUE")]
    pub queue: Option<QueueName>,
    /// Show the dead letters, move nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// The stack's dead-letter queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueueName {
    // Work items the consumer could not submit: back onto the work queue.
    Work,
    // Producer invocations that failed every attempt: the producer invoked again.
    Producer,
    // Notifier events that failed every attempt: the notifier invoked again.
    Notifier,
}

impl QueueName {
    pub const ALL: [QueueName; 3] = [QueueName::Work, QueueName::Producer, QueueName::Notifier];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::Work => "work",
            QueueName::Producer => "producer",
            QueueName::Notifier => "notifier",
        }
    }
}
