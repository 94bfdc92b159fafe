//! `enclave policy` (not yet implemented).

use std::process::ExitCode;

/// Subcommands of `enclave policy`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Not yet implemented.
    Todo,
}

pub(crate) async fn run(_command: Command) -> ExitCode {
    eprintln!("enclave policy: not implemented yet");
    ExitCode::from(2)
}
