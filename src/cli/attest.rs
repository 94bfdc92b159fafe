//! `enclave attest`: connect, send a fresh nonce, and save the attestation document received.

use super::pins::PinArgs;
use super::policy::{fail, write_new, Format, EXIT_CHECK_FAILED, EXIT_USAGE};
use super::summary;
use base64::Engine as _;
use enclave_sdk::attestation::UnixTime;
use enclave_sdk::{Client, FunctionId};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const HELP: &str = "\
Only the attestation exchange happens: no input is sent. With --policy, or with --pcrs (one allowed release
per flag; each must pin PCR0, PCR2 or PCR8) and --checksum, the document is verified against those pins and
the command fails when it does not verify.

To fetch a document in order to pin it, say --any-enclave instead: its signature, certificate chain (to AWS
Root-G1 or --root-pem) and the fresh nonce are still checked, but no measurement or checksum, and the output
says so; pin it afterwards with `enclave policy init --from-document`. Without pins and without --any-enclave
the command refuses to connect.

Exit codes: 0 the document was received (and verified, with pins), 1 connection or verification failed,
2 usage error.

Examples:
  enclave attest echo --url ws://127.0.0.1:8443 --root-pem mock-state/root.pem --any-enclave --output doc.cbor
  enclave attest hello --url wss://enclave.example.com --policy policy.toml --format json";

/// Arguments of `enclave attest`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub(crate) struct Args {
    /// The function whose attestation to request.
    #[arg(value_name = "FN_ID", required_unless_present = "function_flag")]
    function_id: Option<String>,
    // `--fn FN_ID` was this command's spelling; kept, hidden, for scripts written then.
    #[arg(long = "fn", value_name = "FN_ID", hide = true, conflicts_with = "function_id")]
    function_flag: Option<String>,
    /// The enclave's base URL, ws://host:port or wss://host[:port].
    #[arg(long, env = "ENCLAVE_URL", value_name = "URL")]
    url: String,
    /// Where to save the raw document (CBOR). Without it, nothing is written (JSON output then
    /// carries the document in base64).
    #[arg(long, value_name = "FILE", alias = "out")]
    output: Option<PathBuf>,
    /// Overwrite --output if it exists.
    #[arg(long, requires = "output")]
    force: bool,
    #[command(flatten)]
    pins: PinArgs,
    /// Bearer token for the enclave's front door.
    #[arg(long, env = "ENCLAVE_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    token: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub(crate) async fn run(args: Args) -> ExitCode {
    // Refuse before connecting rather than after: the exchange is not free for the enclave.
    if let Some(out) = args.output.as_ref().filter(|out| !args.force && out.exists()) {
        return fail(
            args.format,
            EXIT_USAGE,
            "write",
            &format!("--output {} exists; pass --force to replace it", out.display()),
        );
    }
    if let Some(dir) = args.output.as_deref().and_then(Path::parent).filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return fail(
                args.format,
                EXIT_USAGE,
                "write",
                &format!(
                    "--output {}: {} is not a directory",
                    args.output.as_deref().unwrap_or(dir).display(),
                    dir.display()
                ),
            );
        }
    }
    let text = args.function_id.as_deref().or(args.function_flag.as_deref()).unwrap_or_default();
    let function: FunctionId = match text.parse() {
        Ok(id) => id,
        Err(e) => return fail(args.format, EXIT_USAGE, "usage", &format!("FN_ID: {e}")),
    };
    // With a policy or pins: everything is verified, as before a session. With --any-enclave: signature,
    // chain (to AWS Root-G1, or --root-pem) and our fresh nonce only, and the output says the document is
    // unpinned. With neither, the builder refuses, as it does for every command.
    let policy = match args.pins.policy(Some(&function), |b| b) {
        Ok(policy) => policy,
        Err(e) => return fail(args.format, EXIT_USAGE, "policy", &e),
    };
    // What was checked is the built policy's business, whichever flag or file it came from: a policy file
    // can waive the image rule too (`accept_any_enclave = true`).
    let pinned = !policy.accepts_any_enclave();
    let verdict = match (pinned, policy.measurement_sets().is_empty()) {
        (true, _) => "verified against the pins",
        (false, true) => "signature, chain and nonce checked; NOT checked against any pins",
        (false, false) => "checked against pins that do NOT identify the image (the rule was waived)",
    };
    let mut builder = Client::builder().endpoint(args.url.clone()).policy(policy);
    if let Some(token) = &args.token {
        builder = builder.token(token.clone());
    }
    let client = match builder.build() {
        Ok(client) => client,
        Err(e) => return fail(args.format, EXIT_USAGE, "config", &format!("--url: {e}")),
    };
    let document = match client.fetch_attestation(&function).await {
        Ok(document) => document,
        Err(e) => return fail(args.format, EXIT_CHECK_FAILED, "attest", &format!("{e}{}", args.pins.hint(&e))),
    };
    let raw = document.raw();
    if let Some(out) = &args.output {
        if let Err(e) = write_new(out, raw, args.force) {
            return fail(args.format, EXIT_USAGE, "write", &format!("--output {e}"));
        }
    }
    // The client returns the document it verified: described as verified, not parsed again.
    let module_id = document.module_id();
    let pcr0 = document.pcrs().get(&enclave_sdk::PcrIndex::IMAGE).map(ToString::to_string);
    match args.format {
        Format::Json => {
            let document = args.output.is_none().then(|| base64::engine::general_purpose::STANDARD.encode(raw));
            let out = json!({
                "ok": true,
                "pinned": pinned,
                "verdict": verdict,
                "module_id": module_id,
                "pcr0": pcr0,
                "len": raw.len(),
                "written_to": args.output.as_ref().map(|p| p.display().to_string()),
                "document_base64": document,
            });
            println!("{out}");
        }
        Format::Text => {
            println!("received {} bytes from {} ({}): {verdict}", raw.len(), args.url, module_id.escape_debug());
            print!("{}", summary::verified(&document, client.policy(), &function, UnixTime::now()));
            match &args.output {
                Some(out) => println!("saved to {}", out.display()),
                None => println!("not saved (use --output FILE)"),
            }
        }
    }
    ExitCode::SUCCESS
}
