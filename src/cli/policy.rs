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
    /// Check a policy file: parse it, apply its rules, and print what it pins.
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
}

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

pub(crate) async fn run(command: Command) -> ExitCode {
    match command {
        Command::Check(args) => check(args),
    }
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
