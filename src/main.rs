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
    /// Connect, attest, and save the enclave's attestation document (no input is sent).
    Attest(cli::attest::Args),
    /// Compute the PCRs an enclave image (.eif) will attest, from the image file.
    Measure(cli::measure::Args),
    /// Decode a document WITHOUT verifying it, and print it.
    Inspect(cli::inspect::Args),
    /// Write or check a policy file (what you trust).
    #[command(subcommand)]
    Policy(cli::policy::Command),
    /// Generate or check an AWS KMS key policy conditioned on the pinned measurements.
    #[command(subcommand, name = "kms-policy")]
    KmsPolicy(cli::kms_policy::Command),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Verify(args) => cli::verify::run(args).await,
        Command::Checksum(args) => cli::checksum::run(args).await,
        Command::Run(args) => cli::run::run(args).await,
        Command::Attest(args) => cli::attest::run(args).await,
        Command::Inspect(args) => cli::inspect::run(args).await,
        Command::Measure(args) => cli::measure::run(args).await,
        Command::Policy(command) => cli::policy::run(command).await,
        Command::KmsPolicy(command) => cli::kms_policy::run(command).await,
    }
}
