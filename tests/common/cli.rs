//! Running the `enclave` binary and scratch files for its arguments.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Runs `enclave ARGS...` to completion, with no pins inherited from the test's environment.
pub fn enclave(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_enclave"))
        .args(args)
        .env_remove("ENCLAVE_POLICY")
        .env_remove("ENCLAVE_URL")
        .output()
        .unwrap()
}

/// `enclave ARGS...` started from an async test with stdin, stdout and stderr piped and no pins
/// inherited from the test's environment, for a test that drives the pipes itself.
pub fn spawn(args: &[impl AsRef<OsStr>]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_enclave"))
        .args(args)
        .env_remove("ENCLAVE_POLICY")
        .env_remove("ENCLAVE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A test that fails while the child runs must not leave it running.
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Runs `enclave ARGS...` with `stdin` to completion from an async test, so that a mock or rogue on
/// the test's runtime keeps serving. A command that exits before reading its input (a usage error, a
/// refusal) closes the pipe: that broken pipe is expected.
pub async fn enclave_with_stdin(args: &[impl AsRef<OsStr>], stdin: &[u8]) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut child = spawn(args);
    let mut input = child.stdin.take().unwrap();
    match input.write_all(stdin).await {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    drop(input);
    child.wait_with_output().await.unwrap()
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
