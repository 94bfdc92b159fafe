//! `enclave policy`: write a policy file from a document or a mock enclave, or check one.
//!
//! Also the small helpers the pinning commands share (output format, exit codes, bounded reads,
//! loading `--policy FILE`). Input: files the user names. Output: a policy file, or a report.

use enclave_sdk::attestation::PolicyFile;
use std::fmt::Display;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code when the check or the operation failed.
pub(crate) const EXIT_CHECK_FAILED: u8 = 1;
/// Exit code for a usage error: bad arguments or an unusable input file.
pub(crate) const EXIT_USAGE: u8 = 2;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// For people.
    Text,
    /// One JSON object on stdout.
    Json,
}

/// Prints one line on stderr (and, for `--format json`, an error object on stdout) and returns `code`.
pub(crate) fn fail(format: Format, code: u8, kind: &str, error: &dyn Display) -> ExitCode {
    eprintln!("error: {error}");
    if format == Format::Json {
        println!(
            "{}",
            serde_json::json!({ "ok": false, "error": { "kind": kind, "message": error.to_string() } })
        );
    }
    ExitCode::from(code)
}

/// Reads at most `max` bytes of UTF-8 text from `path`, refusing larger files.
pub(crate) fn read_bounded(path: &Path, max: usize) -> Result<String, String> {
    read_bytes_bounded(path, max).and_then(|bytes| {
        String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))
    })
}

/// Reads at most `max` bytes from `path`, refusing larger files.
pub(crate) fn read_bytes_bounded(path: &Path, max: usize) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() > max {
        return Err(format!("{}: larger than {max} bytes", path.display()));
    }
    Ok(bytes)
}

/// Loads `--policy FILE`.
pub(crate) fn load_policy_file(
    path: &Path,
) -> Result<PolicyFile, enclave_sdk::attestation::PolicyFileError> {
    PolicyFile::from_file(path)
}

/// Subcommands of `enclave policy`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Write a policy file pinning a trusted document's (or a mock enclave's) measurements.
    #[command(after_help = INIT_HELP)]
    Init(InitArgs),
    /// Check a policy file: parse it, apply its rules, and print what it pins.
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
}

const INIT_HELP: &str = "\
Pins PCR0, PCR1 and PCR2, plus PCR3, PCR4 and PCR8 when they are not zero, and the function checksum the
document's user data claims (under [functions] when it names a function, else as function_checksum).
--from-document verifies the document first (signature and certificate chain at --at, default now; any
enclave accepted) and refuses a debug-mode document. --from-mock computes the mock enclave's measurements
with the mock-enclave library, pins every built-in function, and trusts the mock's root (state-dir/root.pem).

Exit codes: 0 the policy was written, 1 the document did not verify (or is debug-mode), 2 usage error
(including an existing --out file without --force).

Examples:
  enclave attest --url ws://127.0.0.1:8443 --fn echo --out doc.cbor
  enclave policy init --from-document doc.cbor --root-pem mock-state/root.pem --out policy.toml
  enclave policy init --from-document archived.cbor --at 1764374400 --out policy.toml
  enclave policy init --from-mock --state-dir mock-state --out policy.toml";

const CHECK_HELP: &str = "\
Exit codes: 0 the file is valid, 1 it is not (the error names the line and the key), 2 usage error.

Examples:
  enclave policy check policy.toml
  enclave policy check policy.toml --format json";

/// Arguments of `enclave policy check`.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// The policy file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Arguments of `enclave policy init`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["from_document", "from_mock"])))]
pub(crate) struct InitArgs {
    /// A raw attestation document (COSE_Sign1 CBOR) from the enclave you trust.
    #[arg(long, value_name = "DOC")]
    from_document: Option<PathBuf>,
    /// Verify the document as of this time (seconds since the epoch) instead of now, for archived documents.
    #[arg(long, value_name = "UNIX_SECONDS", requires = "from_document")]
    at: Option<u64>,
    /// Trust root the document chains to, when it is not AWS (e.g. the mock's state-dir/root.pem);
    /// written into the policy as root_pem.
    #[arg(long, value_name = "FILE", requires = "from_document")]
    root_pem: Option<PathBuf>,
    /// Pin the mock enclave's measurements and built-in functions.
    #[arg(long)]
    from_mock: bool,
    /// The mock enclave's state directory (its CA keys and root.pem).
    #[arg(long, value_name = "DIR", requires = "from_mock")]
    state_dir: Option<PathBuf>,
    /// Where to write the policy file (default: stdout).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Overwrite --out if it exists.
    #[arg(long, requires = "out")]
    force: bool,
    /// Output format of the report (the policy file itself is TOML).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub(crate) async fn run(command: Command) -> ExitCode {
    match command {
        Command::Init(args) => init(args),
        Command::Check(args) => check(args),
    }
}

fn init(args: InitArgs) -> ExitCode {
    let what = if args.from_mock {
        "--from-mock"
    } else {
        "--from-document"
    };
    fail(
        args.format,
        EXIT_USAGE,
        "not_available",
        &format!("enclave policy init {what}: not available yet (waits for the attestation verifier and the mock's measurements)"),
    )
}

fn check(args: CheckArgs) -> ExitCode {
    let file = match PolicyFile::from_file(&args.file) {
        Ok(file) => file,
        Err(e) => return fail(args.format, EXIT_CHECK_FAILED, "policy_file", &e),
    };
    match args.format {
        Format::Json => println!("{}", summary_json(&file)),
        Format::Text => {
            println!("OK: {}", args.file.display());
            print!("{}", summary_text(&file));
        }
    }
    ExitCode::SUCCESS
}

/// What a policy file pins, for people.
pub(crate) fn summary_text(file: &PolicyFile) -> String {
    let mut out = format!("  trust root: {}\n", file.trust_root);
    if file.accept_any_enclave {
        out.push_str("  accepts ANY enclave (accept_any_enclave = true)\n");
    }
    for (index, values) in &file.pcrs {
        for value in values {
            out.push_str(&format!("  PCR{index}: {}\n", hex::encode(value)));
        }
    }
    if let Some(sum) = &file.function_checksum {
        out.push_str(&format!("  any function: checksum {}\n", hex::encode(sum)));
    }
    for (id, sum) in &file.functions {
        out.push_str(&format!(
            "  function {id:?}: checksum {}\n",
            hex::encode(sum)
        ));
    }
    if file.allow_debug {
        out.push_str("  allows DEBUG-mode enclaves\n");
    }
    out
}

/// What a policy file pins, as JSON.
pub(crate) fn summary_json(file: &PolicyFile) -> serde_json::Value {
    let pcrs: serde_json::Map<String, serde_json::Value> = file
        .pcrs
        .iter()
        .map(|(i, vs)| {
            (
                i.to_string(),
                vs.iter().map(hex::encode).collect::<Vec<_>>().into(),
            )
        })
        .collect();
    let functions: serde_json::Map<String, serde_json::Value> = file
        .functions
        .iter()
        .map(|(id, sum)| (id.clone(), hex::encode(sum).into()))
        .collect();
    serde_json::json!({
        "ok": true,
        "trust_root": file.trust_root.to_string(),
        "pcrs": pcrs,
        "functions": functions,
        "function_checksum": file.function_checksum.map(hex::encode),
        "max_document_age_secs": file.max_document_age.map(|d| d.as_secs()),
        "clock_skew_secs": file.clock_skew.map(|d| d.as_secs()),
        "allow_debug": file.allow_debug,
        "accept_any_enclave": file.accept_any_enclave,
    })
}
