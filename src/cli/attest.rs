//! `enclave attest`: connect, send a fresh nonce, and save the attestation document received.

use super::pins;
use super::policy::{fail, read_bounded, write_new, Format, EXIT_CHECK_FAILED, EXIT_USAGE};
use base64::Engine as _;
use enclave_sdk::attestation::{Policy, TrustRoot};
use enclave_sdk::{Client, FunctionId};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
Only the attestation exchange happens: no input is sent. With --policy, or with --pcrs (one allowed release
per flag; each must pin PCR0, PCR2 or PCR8) and --checksum, the document is verified against those pins and
the command fails when it does not verify.

To fetch a document in order to pin it, say --any-enclave instead: its signature, certificate chain (to AWS
Root-G1 or --root-pem) and the fresh nonce are still checked, but no measurement or checksum, and the output
says so; pin it afterwards with `enclave policy init --from-document`. Without pins and without --any-enclave
the command refuses to connect.

Exit codes: 0 the document was received (and verified, with --policy), 1 connection or verification
failed, 2 usage error.

Examples:
  enclave attest --url ws://127.0.0.1:8443 --fn echo --root-pem mock-state/root.pem --any-enclave --out doc.cbor
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
    /// Where to save the raw document (CBOR). Without it, nothing is written (JSON output then
    /// carries the document in base64).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Overwrite --out if it exists.
    #[arg(long, requires = "out")]
    force: bool,
    /// Verify the document against this policy file too (default: $ENCLAVE_POLICY).
    #[arg(long, value_name = "FILE", env = "ENCLAVE_POLICY")]
    policy: Option<PathBuf>,
    /// Without --policy: the root the document must chain to (default AWS Root-G1), e.g. the mock's
    /// state-dir/root.pem.
    #[arg(long, value_name = "FILE")]
    root_pem: Option<PathBuf>,
    #[doc = "One allowed release: IDX=HEX[,IDX=HEX...]; repeat to allow another. Must pin PCR0, PCR2 or PCR8."]
    #[arg(long = "pcrs", value_name = "IDX=HEX[,IDX=HEX...]", long_help = pins::PCRS_HELP, conflicts_with = "policy")]
    pcrs: Vec<String>,
    /// The checksum the function must report (64 hex digits); needs --pcrs, since a checksum is the
    /// enclave's own claim.
    #[arg(long, value_name = "HEX", conflicts_with = "policy")]
    checksum: Option<String>,
    /// Fetch the document without pins (to pin it afterwards): only its signature, chain and nonce are
    /// checked. Any enclave's genuine document passes.
    #[arg(long, conflicts_with_all = ["policy", "pcrs", "checksum"])]
    any_enclave: bool,
    /// With --any-enclave: accept a debug-mode enclave's document (PCR0..2 all zero) too.
    #[arg(long, requires = "any_enclave")]
    allow_debug: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub(crate) async fn run(args: Args) -> ExitCode {
    // Refuse before connecting rather than after: the exchange is not free for the enclave.
    if let Some(out) = args.out.as_ref().filter(|out| !args.force && out.exists()) {
        return fail(
            args.format,
            EXIT_USAGE,
            "write",
            &format!("{} exists; pass --force to replace it", out.display()),
        );
    }
    let function: FunctionId = match args.function.parse() {
        Ok(id) => id,
        Err(e) => return fail(args.format, EXIT_USAGE, "usage", &format!("--fn: {e}")),
    };
    // With a policy or pins: everything is verified, as before a session. With --any-enclave: signature,
    // chain (to AWS Root-G1, or --root-pem) and our fresh nonce only, and the output says the document is
    // unpinned. With neither, the builder refuses, as it does for every command.
    let policy = match (&args.policy, &args.root_pem) {
        (Some(path), None) => Policy::from_file(path).map_err(|e| ("policy_file", e.to_string())),
        (None, root_pem) => pins_policy(&args, &function, root_pem.as_deref()),
        (Some(_), Some(_)) => Err((
            "usage",
            "--root-pem conflicts with --policy or ENCLAVE_POLICY (the policy file names its root)".to_owned(),
        )),
    };
    let policy = match policy {
        Ok(policy) => policy,
        Err((kind, e)) => return fail(args.format, EXIT_USAGE, kind, &e),
    };
    // What was checked is the built policy's business, whichever flag or file it came from: a policy file
    // can waive the image rule too (`accept_any_enclave = true`).
    let pinned = !policy.accepts_any_enclave();
    let verdict = match (pinned, policy.measurement_sets().is_empty()) {
        (true, _) => "verified against the pins",
        (false, true) => "signature, chain and nonce checked; NOT checked against any pins",
        (false, false) => "checked against pins that do NOT identify the image (the rule was waived)",
    };
    let client = match Client::builder().endpoint(args.url.clone()).policy(policy).build() {
        Ok(client) => client,
        Err(e) => return fail(args.format, EXIT_USAGE, "config", &e),
    };
    let document = match client.fetch_attestation(&function).await {
        Ok(document) => document,
        Err(e) => return fail(args.format, EXIT_CHECK_FAILED, "attest", &e),
    };
    let raw = document.raw();
    if let Some(out) = &args.out {
        if let Err(e) = write_new(out, raw, args.force) {
            return fail(args.format, EXIT_USAGE, "write", &e);
        }
    }
    // The client returns the document it verified: described as verified, not parsed again.
    let module_id = document.module_id();
    let pcr0 = document.pcrs().get(&enclave_sdk::PcrIndex::IMAGE).map(ToString::to_string);
    match args.format {
        Format::Json => {
            let document = args.out.is_none().then(|| base64::engine::general_purpose::STANDARD.encode(raw));
            let out = json!({
                "ok": true,
                "pinned": pinned,
                "verdict": verdict,
                "module_id": module_id,
                "pcr0": pcr0,
                "len": raw.len(),
                "written_to": args.out.as_ref().map(|p| p.display().to_string()),
                "document_base64": document,
            });
            println!("{out}");
        }
        Format::Text => {
            println!("received {} bytes from {} ({}): {verdict}", raw.len(), args.url, module_id.escape_debug());
            if let Some(pcr0) = pcr0 {
                println!("PCR0 {pcr0}");
            }
            match &args.out {
                Some(out) => println!("saved to {}", out.display()),
                None => println!("not saved (use --out FILE)"),
            }
        }
    }
    ExitCode::SUCCESS
}

/// The policy from the pin flags, or (with --any-enclave) one that checks only the signature, the chain
/// and the nonce, which is what fetching a document to pin it needs.
fn pins_policy(
    args: &Args,
    function: &FunctionId,
    root_pem: Option<&std::path::Path>,
) -> Result<Policy, (&'static str, String)> {
    let mut builder = Policy::builder();
    if let Some(path) = root_pem {
        let root = read_bounded(path, 64 * 1024)
            .and_then(|pem| TrustRoot::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display())))
            .map_err(|e| ("root_pem", e))?;
        builder = builder.trust_root(root);
    }
    if args.any_enclave {
        builder = builder.dangerous_accept_any_enclave();
        if args.allow_debug {
            builder = builder.dangerous_allow_debug();
        }
        return builder.build().map_err(|e| ("policy", e.to_string()));
    }
    for set in pins::measurement_sets(&args.pcrs).map_err(|e| ("usage", e))? {
        builder = builder.allow_measurements(set);
    }
    if let Some(sum) = &args.checksum {
        builder = builder.function_checksum_for(function.clone(), pins::checksum(sum).map_err(|e| ("usage", e))?);
    }
    pins::build(builder).map_err(|e| ("policy", e))
}
