//! Running the `enclave` binary and scratch files for its arguments.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `enclave ARGS...` to completion, with no pins inherited from the test's environment.
pub fn enclave(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_enclave"))
        .args(args)
        .env_remove("ENCLAVE_POLICY")
        .env_remove("ENCLAVE_URL")
        .output()
        .unwrap()
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// A temporary directory for files named on the command line; removed on drop.
pub struct Scratch {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Scratch {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        Self { _dir: dir, root }
    }
    /// Writes `text` to `name` and returns its path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.root.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }
    /// The path of `name`, written or not.
    pub fn path(&self, name: &str) -> String {
        self.root.join(name).to_str().unwrap().to_owned()
    }
}
