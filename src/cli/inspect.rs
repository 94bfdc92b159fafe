//! `enclave inspect` (not yet implemented).

use std::process::ExitCode;

/// Arguments of `enclave inspect`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> ExitCode {
    eprintln!("enclave inspect: not implemented yet");
    ExitCode::from(2)
}
