//! `enclave inspect`: decode an attestation document WITHOUT trusting it, and print it.

use super::policy::{fail, read_bytes_bounded, Format, EXIT_CHECK_FAILED, EXIT_USAGE};
use enclave_protocol::{cape_function_checksum, UserDataError};
use enclave_sdk::attestation::{AttestationError, EnclaveUserData, UnixTime, UnverifiedDocument};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
Nothing is verified: the output is what the document CLAIMS, marked UNVERIFIED. Use `enclave verify` (or
`enclave policy init --from-document`) to decide whether to believe it.

Exit codes: 0 decoded, 1 the document cannot be decoded, 2 usage error.

Examples:
  enclave inspect doc.cbor
  enclave inspect doc.cbor --format json | jq .pcrs";

const UNVERIFIED: &str = "UNVERIFIED: decoded only. Neither the signature nor the certificate chain was checked; \
anyone can write these values.";

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
    let raw = match read_bytes_bounded(&args.document, UnverifiedDocument::MAX_LEN) {
        Ok(raw) => raw,
        Err(e) => return fail(args.format, EXIT_USAGE, "read", &e),
    };
    let doc = match UnverifiedDocument::parse(&raw) {
        Ok(doc) => doc,
        Err(e) => return fail(args.format, EXIT_CHECK_FAILED, "decode", &format!("{}: {e}", args.document.display())),
    };
    let fields = doc.dangerous_unverified_fields();
    let certificates = doc.dangerous_unverified_certificates();
    // The claim is decoded for display only; a document's user data is shown as its decoded claim
    // or its length, never as raw bytes.
    let claim = fields.user_data().map(|u| EnclaveUserData::decode(u).map_err(AttestationError::from));
    // Cape's claim carries a checksum and no function id.
    let cape = match &claim {
        Some(Err(AttestationError::UserData(UserDataError::CapeForm))) => {
            fields.user_data().and_then(|u| cape_function_checksum(u).ok())
        }
        _ => None,
    };
    let debug_mode = fields.is_debug_mode();
    match args.format {
        Format::Json => {
            let pcrs: serde_json::Map<String, serde_json::Value> =
                fields.pcrs().iter().map(|(i, v)| (i.get().to_string(), v.to_string().into())).collect();
            let out = json!({
                "verified": false,
                "warning": UNVERIFIED,
                "module_id": fields.module_id(),
                "digest": fields.digest(),
                "timestamp_ms": fields.timestamp_ms(),
                "debug_mode": debug_mode,
                "pcrs": pcrs,
                "public_key": fields.public_key().map(hex::encode),
                "nonce": fields.nonce().map(hex::encode),
                "user_data_len": fields.user_data().map(<[u8]>::len),
                "claimed_function": match (&claim, cape) {
                    (Some(Ok(c)), _) => json!({
                        "function_id": c.function_id().as_str(),
                        "function_checksum": c.function_checksum().to_string(),
                        "tls_spki_sha256": c.tls_spki_sha256().map(hex::encode),
                    }),
                    (_, Some(sum)) => json!({
                        "function_id": serde_json::Value::Null,
                        "function_checksum": sum.to_string(),
                        "form": "cape",
                    }),
                    (Some(Err(e)), None) => json!({ "undecodable": e.to_string() }),
                    (None, None) => serde_json::Value::Null,
                },
                "certificates": certificates.iter().map(|c| json!({
                    "position": c.position.to_string(),
                    "subject": c.subject,
                    "issuer": c.issuer,
                    "not_before": c.not_before.as_secs(),
                    "not_after": c.not_after.as_secs(),
                })).collect::<Vec<_>>(),
            });
            println!("{out}");
        }
        Format::Text => {
            let mut out = format!("{UNVERIFIED}\n\n");
            // The document is not verified: its text is the sender's, and is shown escaped so it cannot rewrite
            // the terminal (erase the UNVERIFIED banner above, say).
            out.push_str(&format!("module_id   {}\n", fields.module_id().escape_debug()));
            out.push_str(&format!("digest      {}\n", fields.digest()));
            let secs = fields.timestamp_ms() / 1000;
            out.push_str(&format!("timestamp   {} ms = {}\n", fields.timestamp_ms(), UnixTime::from_secs(secs)));
            if debug_mode {
                out.push_str(
                    "debug mode  YES (PCR0..2 all zero: the parent instance can read this enclave's memory)\n",
                );
            }
            for (i, v) in fields.pcrs() {
                out.push_str(&format!("PCR{:<2}       {v}\n", i.get()));
            }
            match fields.public_key() {
                Some(k) => out.push_str(&format!("public_key  {} ({} bytes)\n", hex::encode(k), k.len())),
                None => out.push_str("public_key  (none)\n"),
            }
            match fields.nonce() {
                Some(n) => out.push_str(&format!("nonce       {}\n", hex::encode(n))),
                None => out.push_str("nonce       (none)\n"),
            }
            match (&claim, fields.user_data()) {
                (Some(Ok(c)), _) => {
                    out.push_str(&format!("function    {} checksum {}\n", c.function_id(), c.function_checksum()));
                    if let Some(spki) = c.tls_spki_sha256() {
                        out.push_str(&format!("tls_spki    sha256 {}\n", hex::encode(spki)));
                    }
                }
                (_, Some(_)) if cape.is_some() => {
                    let sum = cape.map(|s| s.to_string()).unwrap_or_default();
                    out.push_str(&format!("function    (unnamed: Cape's claim) checksum {sum}\n"));
                }
                (Some(Err(e)), Some(u)) => {
                    out.push_str(&format!("user_data   {} bytes, no function claim ({e})\n", u.len()))
                }
                _ => out.push_str("user_data   (none)\n"),
            }
            out.push_str("\ncertificate chain as the document states it (leaf first):\n");
            for c in &certificates {
                out.push_str(&format!(
                    "  {}\n    subject  {}\n    issuer   {}\n    valid    {} .. {}\n",
                    c.position,
                    c.subject.escape_debug(),
                    c.issuer.escape_debug(),
                    c.not_before,
                    c.not_after
                ));
            }
            out.push_str(&format!("\n{UNVERIFIED}\n"));
            print!("{out}");
        }
    }
    ExitCode::SUCCESS
}
