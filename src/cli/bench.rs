//! `enclave bench` (not yet implemented).

use std::process::ExitCode;

/// Arguments of `enclave bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> ExitCode {
    eprintln!("enclave bench: not implemented yet");
    ExitCode::from(2)
}
