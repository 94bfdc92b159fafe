//! Writes attestation documents from a fresh `SoftwareNsm` into a directory, with its `root.pem`,
//! for checks by an independent implementation (`scripts/verify_independent.py`, run by `.ci/run`).
//!
//! Usage: `cargo run -p mock-enclave --example issue_documents -- <OUT_DIR>`
//!
//! Writes `root.pem`, `root.der`, and `doc-<n>.cbor` covering: no optional fields, every field at the
//! NSM's 1024-byte maximum, a 32-byte key with nonce, a debug-mode document, and empty byte strings.

use std::path::PathBuf;
use std::process::ExitCode;

use enclave_runtime::{AttestationRequest, Attester};
use mock_enclave::attester::SoftwareNsm;
use mock_enclave::functions::FunctionRegistry;
use mock_enclave::measurements::Measurements;

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: issue_documents <OUT_DIR>");
        return ExitCode::from(2);
    };
    match run(&out) {
        Ok(n) => {
            println!("wrote {n} documents and root.pem to {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("issue_documents: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(out: &std::path::Path) -> Result<usize, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out)?;
    let m = Measurements::for_mock(FunctionRegistry::builtins().manifest());
    let nsm = SoftwareNsm::ephemeral(m.clone())?;
    let debug = SoftwareNsm::ephemeral(m.debug_mode(true))?;
    std::fs::write(out.join("root.pem"), nsm.root_pem())?;
    std::fs::write(out.join("root.der"), nsm.root_der())?;
    std::fs::write(out.join("debug-root.pem"), debug.root_pem())?;
    let requests = [
        AttestationRequest::new(None, None, None),
        AttestationRequest::new(Some(vec![0xa5; 1024]), Some(vec![0x5a; 1024]), Some(vec![0x3c; 1024])),
        AttestationRequest::new(Some(vec![7; 32]), Some(vec![9; 32]), Some(b"{\"function_id\":\"echo\"}".to_vec())),
        AttestationRequest::new(Some(Vec::new()), Some(Vec::new()), Some(Vec::new())),
    ];
    let mut n = 0;
    for request in &requests {
        std::fs::write(out.join(format!("doc-{n}.cbor")), nsm.attest(request)?)?;
        n += 1;
    }
    std::fs::write(out.join("debug-doc.cbor"), debug.attest(&requests[2])?)?;
    Ok(n + 1)
}
