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

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    // One thread: every command does one thing at a time, and a process that makes one call should not
    // pay for starting, waking and joining a pool of workers (about 1 ms of `enclave run`'s 6 ms,
    // measured with scripts/bench_peers.py). The SDK needs no worker: on this runtime a call runs in
    // the caller's task. Nothing may block this thread for long (see cli/in_place.rs for what is read
    // and written on it).
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("enclave: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A panic too: unwinding would drop the runtime on its way out.
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(cli.command.run())));
    // Not dropped: dropping a runtime waits for its blocking threads, and one of them may be in a read
    // of stdin that ends only when the input does (`enclave run` whose function failed, or whose
    // session ended, after its input began, while a terminal or a producer keeps stdin open). Every
    // command has flushed what it writes before it returns; the threads end with the process.
    runtime.shutdown_background();
    code.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

impl Command {
    async fn run(self) -> ExitCode {
        match self {
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
}

/// Makes a closed stdout (`enclave ... | head`) end the process quietly, for every command.
///
/// Rust ignores SIGPIPE, so a write to a closed pipe fails with EPIPE and `println!` panics on it.
/// Restoring SIGPIPE's default would take `libc::signal`, unsafe code this crate forbids; instead the
/// panic hook recognises exactly that panic and exits 0 without a word (the reader chose to stop, as
/// with `head`), leaving every other panic to the default hook. Commands that write through an
/// `io::Write` map `ErrorKind::BrokenPipe` to [`exit_broken_pipe`] themselves.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied());
        if message.is_some_and(is_broken_pipe_panic) {
            exit_broken_pipe();
        }
        default(info);
    }));
}

/// Whether `message` is std's panic for a print to a closed stdout or stderr
/// (`failed printing to stdout: Broken pipe (os error 32)`).
fn is_broken_pipe_panic(message: &str) -> bool {
    let broken = std::io::Error::from(std::io::ErrorKind::BrokenPipe).to_string();
    let os = std::io::Error::from_raw_os_error(EPIPE).to_string();
    message.starts_with("failed printing to std") && (message.ends_with(&os) || message.ends_with(&broken))
}

/// EPIPE on Linux and macOS.
const EPIPE: i32 = 32;

/// The exit of a command whose reader went away: quiet, and 0, as `head` expects.
pub(crate) fn exit_broken_pipe() -> ! {
    std::process::exit(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_std_print_panics_on_a_closed_pipe_are_quiet() {
        assert!(is_broken_pipe_panic("failed printing to stdout: Broken pipe (os error 32)"));
        assert!(is_broken_pipe_panic("failed printing to stderr: Broken pipe (os error 32)"));
        assert!(!is_broken_pipe_panic("failed printing to stdout: No space left on device (os error 28)"));
        assert!(!is_broken_pipe_panic("index out of bounds: Broken pipe (os error 32)"));
    }
}
