//! One module per command.

pub mod backfill;
pub mod list;
pub mod redrive;
pub mod replay;
pub mod resend;
pub mod status;
