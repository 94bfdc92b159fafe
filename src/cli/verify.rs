//! `enclave verify` (not yet implemented).

use std::process::ExitCode;

/// Arguments of `enclave verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> ExitCode {
    eprintln!("enclave verify: not implemented yet");
    ExitCode::from(2)
}
