//! `enclave run` (not yet implemented).

use std::process::ExitCode;

/// Arguments of `enclave run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> ExitCode {
    eprintln!("enclave run: not implemented yet");
    ExitCode::from(2)
}
