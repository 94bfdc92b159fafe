//! `enclave attest` (not yet implemented).

use std::process::ExitCode;

/// Arguments of `enclave attest`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> ExitCode {
    eprintln!("enclave attest: not implemented yet");
    ExitCode::from(2)
}
