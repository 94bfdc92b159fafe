//! `enclave inspect`: decode an attestation document WITHOUT trusting it, and print it.

use super::policy::{fail, Format, EXIT_USAGE};
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
Nothing is verified: the output is what the document CLAIMS, marked UNVERIFIED. Use `enclave verify` (or
`enclave policy init --from-document`) to decide whether to believe it.

Exit codes: 0 decoded, 1 the document cannot be decoded, 2 usage error.

Examples:
  enclave inspect doc.cbor
  enclave inspect doc.cbor --format json | jq .pcrs";

/// Arguments of `enclave inspect`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub(crate) struct Args {
    /// The raw attestation document (COSE_Sign1 CBOR).
    #[arg(value_name = "DOC")]
    document: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub(crate) async fn run(args: Args) -> ExitCode {
    fail(
        args.format,
        EXIT_USAGE,
        "not_available",
        &format!(
            "enclave inspect {}: not available yet (waits for the attestation document parser)",
            args.document.display()
        ),
    )
}
