//! `mock-enclave policy`: write the policy file that pins this mock (its PCRs, every function's
//! checksum, and the root in its state directory), for `enclave run --policy`, `ENCLAVE_POLICY` and
//! `Policy::from_file`.
//!
//! Input: command-line flags (trusted: the operator). Output: the TOML on stdout (redirect it to a
//! file). Exit codes: 0 written, 2 unusable arguments (functions directory, state directory).

use std::path::PathBuf;
use std::process::ExitCode;

use mock_enclave::functions::FunctionRegistry;
use mock_enclave::measurements::Measurements;

/// Arguments of `mock-enclave policy`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  mock-enclave policy --state-dir mock-state > policy.toml
  mock-enclave serve --state-dir mock-state &
  enclave run echo --url ws://127.0.0.1:8443 --policy policy.toml")]
pub(crate) struct Args {
    /// State directory holding the CA keys and `root.pem` (created if missing, as `serve` would); the
    /// policy trusts that root. Without it the policy trusts AWS Root-G1 and refuses the mock.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Directory of user functions, to pin their checksums too.
    #[arg(long, value_name = "DIR")]
    functions: Option<PathBuf>,
}

/// Exit code for unusable arguments.
const EXIT_USAGE: u8 = 2;

pub(crate) async fn run(args: Args) -> ExitCode {
    match write(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-enclave policy: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn write(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut registry = FunctionRegistry::builtins();
    if let Some(dir) = &args.functions {
        registry.load_dir(dir)?;
    }
    // The measurements `serve` and `measurements` report for the same functions.
    let measurements = Measurements::for_mock(registry.manifest());
    let file = mock_enclave::pinning::policy_file(&measurements, &registry, args.state_dir.as_deref())?;
    if args.state_dir.is_none() {
        // Said on stderr so the unusable root is a visible choice, not a silent gap.
        eprintln!(
            "note: without --state-dir the mock's root is ephemeral; the policy trusts AWS Root-G1 and will refuse the mock's documents"
        );
    }
    print!("# Pinned from the mock enclave's measurements.\n{}", file.to_toml_string());
    Ok(())
}
