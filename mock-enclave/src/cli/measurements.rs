//! `mock-enclave measurements`: print what a client pins for this mock (PCRs, root, function checksums).
//!
//! Input: command-line flags (trusted: the operator). Output: text or JSON on stdout. Reads the state
//! directory (creating it on first use, like `serve`) only to report the root a client pins.

use std::path::PathBuf;
use std::process::ExitCode;

use mock_enclave::attester::SoftwareNsm;
use mock_enclave::functions::FunctionRegistry;
use mock_enclave::measurements::Measurements;
use sha2::{Digest, Sha256};

/// Arguments of `mock-enclave measurements`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// State directory holding the CA keys and `root.pem` (created if missing); its root's SHA-256 is printed.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Directory of user functions (one subdirectory with an executable `main` per function).
    #[arg(long, value_name = "DIR")]
    functions: Option<PathBuf>,
    /// Report the measurements of a debug-mode enclave (PCR0..2 all zero).
    #[arg(long)]
    debug_mode: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

pub(crate) async fn run(args: Args) -> ExitCode {
    match report(&args) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mock-enclave measurements: {e}");
            ExitCode::FAILURE
        }
    }
}

fn report(args: &Args) -> Result<String, Box<dyn std::error::Error>> {
    let mut registry = FunctionRegistry::builtins();
    if let Some(dir) = &args.functions {
        registry.load_dir(dir)?;
    }
    // What `serve` with the same functions reports: the image measures the function set.
    let measurements = Measurements::for_mock(registry.manifest()).debug_mode(args.debug_mode);
    let root = match &args.state_dir {
        Some(dir) => {
            let nsm = SoftwareNsm::load_or_create(dir, measurements.clone())?;
            Some((dir.join("root.pem"), hex::encode(Sha256::digest(nsm.root_der()))))
        }
        None => None,
    };
    let functions: Vec<(String, String, bool)> =
        registry.iter().map(|f| (f.id().to_string(), f.checksum().to_string(), f.is_builtin())).collect();
    Ok(match args.format {
        Format::Json => {
            let pcrs: serde_json::Map<String, serde_json::Value> =
                measurements.pcrs().iter().map(|(i, v)| (i.get().to_string(), v.to_string().into())).collect();
            let doc = serde_json::json!({
                "pcrs": pcrs,
                "debug_mode": args.debug_mode,
                "root": root.as_ref().map(|(path, sha)| serde_json::json!({"pem": path, "sha256": sha})),
                "functions": functions.iter().map(|(id, sum, builtin)| serde_json::json!({
                    "id": id, "checksum": sum, "builtin": builtin,
                })).collect::<Vec<_>>(),
            });
            format!("{}\n", serde_json::to_string_pretty(&doc)?)
        }
        Format::Text => {
            let mut out = String::new();
            for (i, v) in measurements.pcrs() {
                out.push_str(&format!("PCR{:<2} {v}\n", i.get()));
            }
            out.push_str(&format!("debug_mode {}\n", args.debug_mode));
            if let Some((path, sha)) = &root {
                out.push_str(&format!("root {} sha256 {sha}\n", path.display()));
            }
            for (id, sum, builtin) in &functions {
                out.push_str(&format!("function {id} {sum}{}\n", if *builtin { " (built-in)" } else { "" }));
            }
            out
        }
    })
}
