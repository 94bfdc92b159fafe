//! `enclave verify`: verify an attestation document from a file or stdin against a policy given as flags.
//!
//! In: a document (raw CBOR, base64 or hex, detected) and flags. Out: exit 0 and what was verified on
//! stdout; exit 1 and one stderr line naming the failed check and its values; exit 2 for usage errors.
//! All verification is `enclave_sdk::attestation::Verifier`; this module only parses flags and input.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine as _;
use enclave_sdk::attestation::{AttestedDocument, Expected, Policy, UnixTime, UnverifiedDocument, Verifier};

use super::pins::PinArgs;

/// Input larger than this cannot hold a document even hex-encoded with line breaks.
const MAX_INPUT_LEN: usize = 3 * UnverifiedDocument::MAX_LEN;

const HELP: &str = "\
The pins: --root-pem (default AWS Nitro Enclaves Root-G1), one allowed measurement set per --pcrs (a document must
match every PCR of one; each set must pin PCR0, PCR2 or PCR8), --checksum, --nonce, --max-age; or --policy FILE.
Pins that do not identify the image (none, a checksum alone, or only PCR1, PCR3 or PCR4) are a usage error
unless --any-enclave.

Exit codes: 0 accepted, 1 rejected (one line naming the check and the values), 2 usage error.

Examples:
  enclave verify doc.cbor --root-pem mock-state/root.pem --pcrs 0=<PCR0>,1=<PCR1>,2=<PCR2>
  enclave verify doc.cbor --pcrs 0=<release N PCR0> --pcrs 0=<release N+1 PCR0> --format json";

/// Arguments of `enclave verify`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub(crate) struct Args {
    /// The document: a file holding raw CBOR, base64 or hex (detected), or `-` for stdin.
    #[arg(value_name = "FILE|-")]
    file: PathBuf,
    /// Verify as of this time (Unix seconds) instead of now; the age check is relative to it too.
    #[arg(long, value_name = "UNIX_SECONDS")]
    at: Option<u64>,
    #[command(flatten)]
    pins: PinArgs,
    /// The nonce the document must carry (hex).
    #[arg(long, value_name = "HEX")]
    nonce: Option<String>,
    /// Maximum document age in seconds (default 300; max_document_age_secs in a policy file).
    #[arg(long, value_name = "SECONDS", conflicts_with = "policy")]
    max_age: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

/// A usage problem (exit 2) or a rejection (exit 1), each one line.
enum Failure {
    Usage(String),
    Rejected(String),
}

pub(crate) async fn run(args: Args) -> ExitCode {
    match verify(&args) {
        Ok(doc) => {
            match args.format {
                Format::Text => print!("{}", text(&doc)),
                Format::Json => println!("{}", json(&doc)),
            }
            ExitCode::SUCCESS
        }
        Err(Failure::Rejected(msg)) => {
            eprintln!("enclave verify: rejected: {msg}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("enclave verify: {msg}");
            ExitCode::from(2)
        }
    }
}

fn verify(args: &Args) -> Result<AttestedDocument, Failure> {
    let policy = policy(args)?;
    let nonce = args.nonce.as_deref().map(|h| hex_arg("--nonce", h)).transpose()?;
    let input = read_input(&args.file)?;
    let raw = decode_input(&input);
    let mut expected = Expected::default();
    if let Some(n) = nonce.as_deref() {
        expected = expected.with_nonce(n);
    }
    let now = args.at.map_or_else(UnixTime::now, UnixTime::from_secs);
    Verifier::new(policy)
        .verify(&raw, &expected, now)
        .map_err(|e| Failure::Rejected(format!("{e}{}", args.pins.root_hint(&e))))
}

fn policy(args: &Args) -> Result<Policy, Failure> {
    let max_age = args.max_age.map(Duration::from_secs);
    args.pins
        .policy(None, |b| match max_age {
            Some(age) => b.max_document_age(age),
            None => b,
        })
        .map_err(Failure::Usage)
}

/// A hex flag value; the refusal says which digit or how many, as the measurement parsers do.
fn hex_arg(flag: &str, value: &str) -> Result<Vec<u8>, Failure> {
    let text = value.trim();
    hex::decode(text).map_err(|e| {
        Failure::Usage(match e {
            hex::FromHexError::OddLength => {
                format!("{flag} {value:?}: {} hex digits; hex needs an even number (two per byte)", text.len())
            }
            hex::FromHexError::InvalidHexCharacter { c, index } => {
                format!("{flag} {value:?}: {c:?} at offset {index} is not a hex digit")
            }
            other => format!("{flag} {value:?}: {other}"),
        })
    })
}

fn read_input(path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    let limit = MAX_INPUT_LEN as u64 + 1;
    let res = if path.as_os_str() == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut buf)
    } else {
        std::fs::File::open(path)
            .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?
            .take(limit)
            .read_to_end(&mut buf)
    };
    res.map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    if buf.len() > MAX_INPUT_LEN {
        return Err(Failure::Rejected(format!(
            "input is more than {MAX_INPUT_LEN} bytes; no attestation document is that large (limit {} raw)",
            UnverifiedDocument::MAX_LEN
        )));
    }
    Ok(buf)
}

/// Raw CBOR starts with an array (0x84) or tag 18 (0xd2); otherwise try hex, then base64 (standard or
/// URL-safe, padded or not). Anything else is passed on as raw bytes, for the verifier to refuse.
fn decode_input(input: &[u8]) -> Vec<u8> {
    if matches!(input.first(), Some(0x84 | 0xd2)) {
        return input.to_vec();
    }
    let Ok(text) = std::str::from_utf8(input) else { return input.to_vec() };
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if let Ok(b) = hex::decode(&compact) {
        return b;
    }
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        if let Ok(b) = engine.decode(&compact) {
            return b;
        }
    }
    input.to_vec()
}

fn opt_hex(v: Option<&[u8]>) -> String {
    v.map_or_else(|| "(absent)".to_owned(), |b| if b.is_empty() { "(empty)".to_owned() } else { hex::encode(b) })
}

fn text(doc: &AttestedDocument) -> String {
    let mut out = String::from("verified: AWS Nitro attestation document\n");
    out.push_str(&format!("module_id: {}\n", doc.module_id().escape_debug()));
    out.push_str(&format!(
        "timestamp: {} ms ({})\n",
        doc.timestamp_ms(),
        UnixTime::from_secs(doc.timestamp_ms() / 1000).to_rfc3339()
    ));
    out.push_str(&format!("digest: {}\n", doc.digest()));
    for (i, v) in doc.pcrs() {
        out.push_str(&format!("pcr{}: {v}\n", i.get()));
    }
    out.push_str(&format!("public_key: {}\n", opt_hex(doc.public_key())));
    out.push_str(&format!("user_data: {}\n", opt_hex(doc.user_data())));
    out.push_str(&format!("nonce: {}\n", opt_hex(doc.nonce())));
    out
}

fn json(doc: &AttestedDocument) -> serde_json::Value {
    let pcrs: serde_json::Map<String, serde_json::Value> =
        doc.pcrs().iter().map(|(i, v)| (i.get().to_string(), v.to_string().into())).collect();
    serde_json::json!({
        "verified": true,
        "module_id": doc.module_id(),
        "timestamp": doc.timestamp_ms(),
        "digest": doc.digest(),
        "pcrs": pcrs,
        "public_key": doc.public_key().map(hex::encode),
        "user_data": doc.user_data().map(hex::encode),
        "nonce": doc.nonce().map(hex::encode),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_encodings_are_detected() {
        let raw = vec![0x84, 0x40, 0xa0, 0x40, 0x40];
        assert_eq!(decode_input(&raw), raw);
        assert_eq!(decode_input(b"8440a04040\n"), raw);
        assert_eq!(decode_input(base64::engine::general_purpose::STANDARD.encode(&raw).as_bytes()), raw);
        assert_eq!(decode_input(b"\xff\xfe"), b"\xff\xfe");
        assert_eq!(decode_input(b"not a document!"), b"not a document!");
    }
}
