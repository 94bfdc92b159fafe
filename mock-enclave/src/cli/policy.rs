//! `mock-enclave policy`: write the policy file that pins this mock (its PCRs, every function's
//! checksum, and the root in its state directory), for `enclave run --policy`, `ENCLAVE_POLICY` and
//! `Policy::from_file`.
//!
//! Input: command-line flags (trusted: the operator). Output: the TOML on stdout, or in `--out`.
//! Exit codes: 0 written, 2 unusable arguments (functions directory, state directory, an existing
//! `--out` without `--force`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mock_enclave::functions::FunctionRegistry;
use mock_enclave::measurements::Measurements;

/// Arguments of `mock-enclave policy`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  mock-enclave policy --state-dir mock-state --out policy.toml
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
    /// Where to write the policy file (default: stdout).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Overwrite --out if it exists.
    #[arg(long, requires = "out")]
    force: bool,
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
    // The same measurements `serve` and `measurements` use by default.
    let measurements = Measurements::for_mock("");
    let mut registry = FunctionRegistry::builtins();
    if let Some(dir) = &args.functions {
        registry.load_dir(dir)?;
    }
    let file = mock_enclave::pinning::policy_file(&measurements, &registry, args.state_dir.as_deref())?;
    if args.state_dir.is_none() {
        // Said on stderr so the unusable root is a visible choice, not a silent gap.
        eprintln!(
            "note: without --state-dir the mock's root is ephemeral; the policy trusts AWS Root-G1 and will refuse the mock's documents"
        );
    }
    let text = format!("# Pinned from the mock enclave's measurements.\n{}", file.to_toml_string()?);
    match &args.out {
        None => print!("{text}"),
        Some(out) => {
            write_new(out, text.as_bytes(), args.force)?;
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}

/// Writes `out`, refusing to replace an existing file unless `force`.
fn write_new(out: &Path, bytes: &[u8], force: bool) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(out).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => format!("{} exists; pass --force to replace it", out.display()),
        _ => format!("{}: {e}", out.display()),
    })?;
    file.write_all(bytes).map_err(|e| format!("{}: {e}", out.display()))
}
