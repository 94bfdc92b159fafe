//! `mock-enclave`: serve the mock enclave, print its measurements, or write the policy that pins it.

#![forbid(unsafe_code)]

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// A mock AWS Nitro enclave with a software attestation backend.
#[derive(Debug, Parser)]
#[command(name = "mock-enclave", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the PCRs and every function's checksum, for pinning.
    Measurements(cli::measurements::Args),
    /// Write the policy file that pins this mock (PCRs, function checksums, the state directory's root).
    Policy(cli::policy::Args),
    /// Serve attested sessions until SIGINT/SIGTERM.
    Serve(cli::serve::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Measurements(args) => cli::measurements::run(args).await,
        Command::Policy(args) => cli::policy::run(args).await,
        Command::Serve(args) => cli::serve::run(args).await,
    }
}
