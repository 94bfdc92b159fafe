//! `mock-enclave serve` (not yet implemented).

use std::process::ExitCode;

/// Arguments of `mock-enclave serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> ExitCode {
    eprintln!("mock-enclave serve: not implemented yet");
    ExitCode::from(2)
}
