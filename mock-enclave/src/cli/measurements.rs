//! `mock-enclave measurements` (not yet implemented).

use std::process::ExitCode;

/// Arguments of `mock-enclave measurements`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> ExitCode {
    eprintln!("mock-enclave measurements: not implemented yet");
    ExitCode::from(2)
}
