//! The memory figures of `enclave-bench`, each measured in a child process of this same binary so
//! that the parent's own allocations (the 64 MiB buffers of the other figures) do not count.
//!
//! Input: the child's stdout (ours, but parsed without panics) and `/proc/self/status`. Output: peak
//! resident memory of a streamed echo, and resident memory per idle attested session on the server.
//! Linux only: elsewhere `/proc/self/status` is missing and the figure fails with a clear error.

use std::process::Stdio;
use std::time::Duration;

use enclave_sdk::{FunctionChecksum, MeasurementSet};
use mock_enclave::{MockEnclave, ServerLimits};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::net;

/// What a child process of `enclave-bench` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Role {
    /// Run a mock enclave and a client in this process, stream `--bytes` through a session, and print
    /// this process's peak resident memory (VmHWM, kB).
    StreamRss,
    /// Run a mock enclave, print how to reach it (one JSON line), then print VmRSS (kB) for every line
    /// read on stdin.
    IdleServer,
    /// Measure the enclave image named by `ENCLAVE_BENCH_EIF`, and print this process's VmHWM (kB).
    EifRss,
}

/// How the parent reaches and pins the idle server.
#[derive(Serialize, Deserialize)]
struct Hello {
    url: String,
    root_pem: String,
    /// Every PCR, as one measurement set in its text form.
    pcrs: String,
    checksum: String,
}

pub(super) async fn run(role: Role, bytes: u64) -> std::process::ExitCode {
    let r = match role {
        Role::StreamRss => stream_rss(bytes).await,
        Role::IdleServer => idle_server().await,
        Role::EifRss => eif_rss(),
    };
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("enclave-bench child: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A field of `/proc/self/status`, in kB.
fn status_kb(field: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("/proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse().ok())
        .ok_or_else(|| format!("/proc/self/status has no {field}"))
}

async fn stream_rss(bytes: u64) -> Result<(), String> {
    let mock = MockEnclave::builder().spawn().await.map_err(|e| e.to_string())?;
    let client = net::client_for(&mock)?;
    let session = client.connect("echo").await.map_err(|e| e.to_string())?;
    let n = net::stream_echo(&session, bytes).await?;
    if n != bytes {
        return Err(format!("streamed echo returned {n} bytes, sent {bytes}"));
    }
    println!("{}", status_kb("VmHWM")?);
    Ok(())
}

fn eif_rss() -> Result<(), String> {
    super::eif::child_measure()?;
    println!("{}", status_kb("VmHWM")?);
    Ok(())
}

async fn idle_server() -> Result<(), String> {
    let mut limits = ServerLimits::default();
    limits.max_sessions = 4096;
    limits.idle_timeout = Duration::from_secs(600);
    let mock = MockEnclave::builder().limits(limits).spawn().await.map_err(|e| e.to_string())?;
    let hello = Hello {
        url: mock.url(),
        root_pem: mock.root_pem(),
        pcrs: net::every_pcr(&mock)?.to_string(),
        checksum: net::checksum(&mock)?.to_string(),
    };
    println!("{}", serde_json::to_string(&hello).map_err(|e| e.to_string())?);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(_)) = lines.next_line().await {
        println!("{}", status_kb("VmRSS")?);
    }
    Ok(())
}

fn spawn_self(args: &[&str]) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start the child process: {e}"))
}

/// Peak resident memory (kB) of a process streaming `bytes` through one session, both ends included.
pub(super) async fn stream_peak_rss_kb(bytes: u64) -> Result<f64, String> {
    let child = spawn_self(&["--child", "stream-rss", "--bytes", &bytes.to_string()])?;
    let out = child.wait_with_output().await.map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("streamed-echo child failed ({})", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse::<f64>().map_err(|_| format!("streamed-echo child printed {:?}", text.trim()))
}

struct IdleServer {
    child: Child,
    stdin: ChildStdin,
    stdout: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl IdleServer {
    async fn line(&mut self) -> Result<String, String> {
        self.stdout.next_line().await.map_err(|e| e.to_string())?.ok_or_else(|| "idle-server child exited".into())
    }

    async fn rss_kb(&mut self) -> Result<f64, String> {
        self.stdin.write_all(b"rss\n").await.map_err(|e| e.to_string())?;
        self.stdin.flush().await.map_err(|e| e.to_string())?;
        let line = self.line().await?;
        line.trim().parse::<f64>().map_err(|_| format!("idle-server child printed {line:?}"))
    }
}

/// Server resident memory per idle attested session: the child's RSS growth over `count` sessions
/// (each connected, attested, verified and keyed, then left idle), divided by `count`.
pub(super) async fn idle_session_bytes(count: usize) -> Result<f64, String> {
    let mut child = spawn_self(&["--child", "idle-server"])?;
    let stdin = child.stdin.take().ok_or("no child stdin")?;
    let stdout = BufReader::new(child.stdout.take().ok_or("no child stdout")?).lines();
    let mut server = IdleServer { child, stdin, stdout };
    let hello: Hello = serde_json::from_str(&server.line().await?).map_err(|e| format!("idle-server hello: {e}"))?;
    let pcrs: MeasurementSet = hello.pcrs.parse().map_err(|e| format!("idle-server hello: {e}"))?;
    let checksum: FunctionChecksum = hello.checksum.parse().map_err(|e| format!("idle-server hello: {e}"))?;
    let client = net::pinned_client(hello.url, &hello.root_pem, &pcrs, checksum)?;

    // A few sessions first, so that one-time costs (runtime threads, allocator arenas) are in the base.
    let mut sessions = Vec::with_capacity(count + 8);
    for _ in 0..8 {
        sessions.push(client.connect("echo").await.map_err(|e| e.to_string())?);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let base = server.rss_kb().await?;
    for _ in 0..count {
        sessions.push(client.connect("echo").await.map_err(|e| e.to_string())?);
    }
    // Let the server finish processing the last key shares before reading its memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_kb().await?;
    drop(sessions);
    let _ = server.child.kill().await;
    Ok((after - base) * 1024.0 / count as f64)
}
