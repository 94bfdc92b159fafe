//! `enclave checksum` (not yet implemented).

use std::process::ExitCode;

/// Arguments of `enclave checksum`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> ExitCode {
    eprintln!("enclave checksum: not implemented yet");
    ExitCode::from(2)
}
