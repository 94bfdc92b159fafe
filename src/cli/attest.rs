//! `enclave attest`: connect, send a fresh nonce, and save the attestation document received.

use super::policy::{fail, Format, EXIT_USAGE};
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
Only the attestation exchange happens: no input is sent. With --policy the document is verified against
it (and the command fails when it does not verify); without, it is saved as received, UNVERIFIED.

Exit codes: 0 the document was received (and verified, with --policy), 1 connection or verification
failed, 2 usage error.

Examples:
  enclave attest --url ws://127.0.0.1:8443 --fn echo --out doc.cbor
  enclave attest --url wss://enclave.example.com --fn hello --policy policy.toml --format json";

/// Arguments of `enclave attest`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub(crate) struct Args {
    /// The enclave's WebSocket URL.
    #[arg(long, value_name = "URL")]
    url: String,
    /// The function whose attestation to request.
    #[arg(long = "fn", value_name = "FN_ID")]
    function: String,
    /// Where to save the raw document (default: doc.cbor in the current directory).
    #[arg(long, value_name = "FILE", default_value = "doc.cbor")]
    out: PathBuf,
    /// Verify the document against this policy file too.
    #[arg(long, value_name = "FILE", env = "ENCLAVE_POLICY")]
    policy: Option<PathBuf>,
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
            "enclave attest --url {}: not available yet (waits for Client::fetch_attestation)",
            args.url
        ),
    )
}
