//! The pinning workflow through the `enclave` binary: `policy init`, `policy check`, `inspect`,
//! `attest`, with their exit codes and JSON output.

// A test crate: its helpers are test code, which clippy.toml already lets unwrap.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Output};

fn enclave(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_enclave"))
        .args(args)
        .output()
        .unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

struct Dir {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Dir {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        Self { _dir: dir, root }
    }
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.root.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }
    fn path(&self, name: &str) -> String {
        self.root.join(name).to_str().unwrap().to_owned()
    }
}

#[test]
fn policy_check_accepts_a_valid_file_and_names_line_and_key_otherwise() {
    let d = Dir::new();
    let pcr0 = "ab".repeat(48);
    let good = d.write(
        "good.toml",
        &format!("allow_debug = false\n[pcrs]\n0 = [\"{pcr0}\"]\n"),
    );
    let out = enclave(&["policy", "check", &good]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("PCR0: {pcr0}")),
        "{}",
        stdout(&out)
    );

    let out = enclave(&["policy", "check", &good, "--format", "json"]);
    assert_eq!(code(&out), 0);
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["pcrs"], json!({ "0": [pcr0] }));
    assert_eq!(summary["trust_root"], json!("AWS Nitro Enclaves Root-G1"));

    let bad = d.write(
        "bad.toml",
        &format!("[pcrs]\n0 = [\"{pcr0}\"]\n\n[functions]\nhello = \"xyz\"\n"),
    );
    let out = enclave(&["policy", "check", &bad, "--format", "json"]);
    assert_eq!(code(&out), 1);
    let err: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("line 5, column 9, key `functions.hello`"),
        "{message}"
    );
    assert!(stderr(&out).contains("key `functions.hello`"));

    let empty = d.write("empty.toml", "# nothing\n");
    let out = enclave(&["policy", "check", &empty]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("pins no PCR"), "{}", stderr(&out));

    let out = enclave(&["policy", "check", &d.path("missing.toml")]);
    assert_eq!(code(&out), 1);
}
