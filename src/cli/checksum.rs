//! `enclave checksum <PATH>`: the checksum an enclave reports for the function in a directory.
//!
//! Input: a local function directory (the caller's own copy; trusted). Output: the SHA-256 of its
//! documented encoding ([`enclave_sdk::checksum`]), in hex or JSON, to pin in a policy. It compares
//! nothing: pinning and checking happen in the policy.

use std::path::PathBuf;
use std::process::ExitCode;

use enclave_sdk::checksum::directory_checksum;

/// Arguments of `enclave checksum`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The function directory (the same directory the enclave loads the function from).
    path: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Hex)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Lowercase hex, one line.
    Hex,
    /// `{"path": ..., "checksum": "<hex>", "algorithm": "..."}`.
    Json,
}

pub(crate) async fn run(args: Args) -> ExitCode {
    // A path that cannot be opened at all is a usage error (exit 2), like every command's input file;
    // what the checksum refuses inside the directory (a symlink, a special file) is exit 1.
    if let Err(e) = std::fs::symlink_metadata(&args.path) {
        eprintln!("enclave checksum: {}: cannot open: {e}", args.path.display());
        return ExitCode::from(2);
    }
    match directory_checksum(&args.path) {
        Ok(sum) => {
            println!("{}", render(&args, &sum));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("enclave checksum: {e}");
            ExitCode::FAILURE
        }
    }
}

fn render(args: &Args, sum: &enclave_sdk::FunctionChecksum) -> String {
    match args.format {
        Format::Hex => sum.to_string(),
        Format::Json => serde_json::json!({
            "path": args.path,
            "checksum": sum.to_string(),
            "algorithm": "sha256, enclave-sdk function directory v1",
        })
        .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_hex_carry_the_same_checksum() {
        let sum = enclave_sdk::FunctionChecksum::from_bytes([0xab; 32]);
        let hex_args = Args { path: "f".into(), format: Format::Hex };
        assert_eq!(render(&hex_args, &sum), "ab".repeat(32));
        let json_args = Args { path: "f".into(), format: Format::Json };
        let v: serde_json::Value = serde_json::from_str(&render(&json_args, &sum)).unwrap();
        assert_eq!(v["checksum"], "ab".repeat(32));
        assert_eq!(v["path"], "f");
    }
}
