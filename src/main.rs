//! `enclave`: verify attestation documents, pin measurements, and run functions in an attested enclave.
//!
//! Exit codes, for every command: 0 success, 1 the check or the operation failed (one line on stderr
//! says which check and which values), 2 usage error.

#![forbid(unsafe_code)]

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Talk to AWS Nitro enclaves only after verifying what runs inside them.
#[derive(Debug, Parser)]
#[command(name = "enclave", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify an attestation document against a policy.
    Verify(cli::verify::Args),
    /// Compute the checksum of a function directory, as an enclave reports it.
    Checksum(cli::checksum::Args),
    /// Invoke a function in an attested enclave.
    Run(cli::run::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Verify(args) => cli::verify::run(args).await,
        Command::Checksum(args) => cli::checksum::run(args).await,
        Command::Run(args) => cli::run::run(args).await,
    }
}
