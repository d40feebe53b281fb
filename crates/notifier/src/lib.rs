//! notifier: applies Symbl job statuses (from symbl-webhook), emails the host, and reconciles
//! overdue jobs (on a schedule). A library so that the tests drive the real code; `main.rs`
//! composes it.

pub mod config;
mod delivery;
pub mod email;
pub mod handler;
pub mod heal;
mod reconcile;
pub mod resend;
pub mod smtp;
mod status;
