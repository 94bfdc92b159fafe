//! `enclave run` end to end: the binary against an in-process mock enclave.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns assert too

mod common;

use std::process::Output;

use common::*;
use mock_enclave::MockEnclave;

struct Pins {
    _dir: tempfile::TempDir,
    root: String,
    args: Vec<String>,
}

fn pins(mock: &MockEnclave, function: &str) -> Pins {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root.pem");
    std::fs::write(&root, mock.root_pem()).unwrap();
    let root = root.display().to_string();
    let args = vec![
        "--url".into(),
        mock.url(),
        "--root".into(),
        root.clone(),
        "--pcrs".into(),
        pcrs_text(mock, &[0, 1, 2]),
        "--checksum".into(),
        checksum(mock, function).to_string(),
    ];
    Pins { _dir: dir, root, args }
}

/// `enclave run FUNCTION ARGS...` with `stdin`.
async fn enclave_run(function: &str, args: &[String], stdin: &[u8]) -> Output {
    cli::enclave_with_stdin(&run_args(function, args), stdin).await
}

fn run_args(function: &str, args: &[String]) -> Vec<String> {
    ["run".to_owned(), function.to_owned()].into_iter().chain(args.iter().cloned()).collect()
}

#[tokio::test]
async fn run_pinned_succeeds() {
    let mock = mock().await;
    let p = pins(&mock, "uppercase");
    let out = enclave_run("uppercase", &p.args, b"hello from the cli").await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"HELLO FROM THE CLI");
    assert!(out.stderr.is_empty());
}

#[tokio::test]
async fn run_with_policy_file() {
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.pem"), mock.root_pem()).unwrap();
    let pcrs: String = set_of(mock.measurements().pcrs(), &[0, 1, 2])
        .iter()
        .map(|(i, v)| format!("{} = \"{v}\"\n", i.get()))
        .collect();
    let policy = dir.path().join("policy.toml");
    let write = |sum: enclave_sdk::FunctionChecksum| {
        let toml = format!("root_pem = \"root.pem\"\n[[pcrs]]\n{pcrs}[functions]\nuppercase = \"{sum}\"\n");
        std::fs::write(&policy, toml).unwrap();
    };
    let args: Vec<String> = vec!["--url".into(), mock.url(), "--policy".into(), policy.display().to_string()];

    write(checksum(&mock, "uppercase"));
    let out = enclave_run("uppercase", &args, b"pinned by file").await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"PINNED BY FILE");

    // Another function's checksum in the file: refused before any input reaches the enclave.
    let before = mock.stats().invocations;
    write(checksum(&mock, "echo"));
    let out = enclave_run("uppercase", &args, b"secret").await;
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mock.stats().invocations, before);
}

#[tokio::test]
async fn run_with_files() {
    let mock = mock().await;
    let p = pins(&mock, "echo");
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&input, &data).unwrap();
    let mut args = p.args.clone();
    args.extend(["--input".into(), input.display().to_string(), "--output".into(), output.display().to_string()]);
    let out = enclave_run("echo", &args, b"").await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&output).unwrap(), data);
}

fn one_line(out: &Output) -> String {
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

#[tokio::test]
async fn run_refuses_a_wrong_checksum_with_exit_1_and_one_line() {
    let mock = mock().await;
    let p = pins(&mock, "echo");
    let mut args = p.args.clone();
    let n = args.len();
    args[n - 1] = "00".repeat(32);
    let out = enclave_run("echo", &args, b"secret input").await;
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out);
    assert!(line.contains("function checksum is"), "{line}");
    assert!(!line.contains("secret input"));
    assert!(out.stdout.is_empty());
    assert_eq!(mock.stats().invocations, 0);
}

#[tokio::test]
async fn run_refuses_a_wrong_pcr() {
    let mock = mock().await;
    let p = pins(&mock, "echo");
    let args = vec![
        "--url".into(),
        mock.url(),
        "--root".into(),
        p.root.clone(),
        "--pcrs".into(),
        format!("0={}", "ab".repeat(48)),
    ];
    let out = enclave_run("echo", &args, b"x").await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        one_line(&out),
        format!(
            "enclave run: attestation refused: PCR0 is {}; the policy allows {}\n",
            mock.measurements().pcrs()[&enclave_sdk::PcrIndex::IMAGE],
            "ab".repeat(48)
        )
    );
    assert_eq!(mock.stats().key_shares, 0);
}

#[tokio::test]
async fn run_reports_a_function_error() {
    let mock = mock().await;
    let p = pins(&mock, "mean");
    let out = enclave_run("mean", &p.args, b"[not json").await;
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out);
    assert!(line.contains("function mean failed with code 2"), "{line}");
}

#[tokio::test]
async fn run_without_pins_is_a_usage_error() {
    let mock = mock().await;
    let out = enclave_run("echo", &["--url".into(), mock.url()], b"x").await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        one_line(&out),
        "enclave run: the policy pins no measurement: it must pin the enclave image with PCR0, PCR2 or PCR8; pin \
         the image with --pcrs IDX=HEX,... (PCR0, PCR2 or PCR8; one --pcrs per allowed release), or pass --policy \
         FILE, or --any-enclave to trust any enclave\n"
    );
    assert_eq!(mock.stats().sessions, 0);
    // A malformed value names the flag, the PCR and both lengths.
    let out =
        enclave_run("echo", &["--url".into(), mock.url(), "--pcrs".into(), format!("0={}", "ab".repeat(47))], b"x")
            .await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        one_line(&out),
        "enclave run: --pcrs: PCR0: PCR values are 48 bytes (96 hex digits; 32 or 64 for other banks); this is 47 \
         bytes\n"
    );
    // The old per-PCR flag is gone rather than silently meaning something else.
    let out = enclave_run("echo", &["--url".into(), mock.url(), "--pcr".into(), "0=ab".into()], b"x").await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unexpected argument '--pcr'"));
}

#[tokio::test]
async fn run_any_enclave_with_the_mock_root() {
    let mock = mock().await;
    let p = pins(&mock, "echo");
    let args = vec!["--url".into(), mock.url(), "--root".into(), p.root.clone(), "--any-enclave".into()];
    let out = enclave_run("word-count", &args, b"a b c").await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"3");
}

/// An input that is not a regular file (a FIFO here, as `<(...)` gives) can keep a read waiting: it is
/// read on tokio's thread, and what its writer sends arrives whole.
#[tokio::test]
async fn run_reads_an_input_that_is_not_a_regular_file() {
    let mock = mock().await;
    let p = pins(&mock, "echo");
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("in.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let writer = {
        let (fifo, data) = (fifo.clone(), data.clone());
        // Opening a FIFO for writing waits for its reader: `enclave run` opening --input.
        std::thread::spawn(move || std::fs::write(fifo, data).unwrap())
    };
    let mut args = p.args.clone();
    args.extend(["--input".into(), fifo.display().to_string()]);
    let out = enclave_run("echo", &args, b"").await;
    writer.join().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, data);
}

/// Output is written to stdout in place: a reader that closed it (`enclave run ... | head -c 1`) ends
/// the run with 0 and nothing on stderr, as with every other command.
#[tokio::test]
async fn run_ends_quietly_when_its_stdout_is_closed() {
    let mock = mock().await;
    let p = pins(&mock, "echo");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::write(&input, vec![0x61; 2 << 20]).unwrap();
    let mut args = p.args.clone();
    args.extend(["--input".into(), input.display().to_string()]);
    let mut child = cli::spawn(&run_args("echo", &args));
    drop(child.stdout.take());
    let out = child.wait_with_output().await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.is_empty(), "{err}");
}

/// A reader of stdout that pauses (a pager, a slow pipe) holds up only the output, not the session:
/// the input still streams to the enclave, whose 1 s input timeout would end a session whose input
/// stopped. (Written in place, a write to the full pipe stopped the whole session: exit 1, "an input
/// stayed open with no data".)
#[tokio::test]
async fn run_keeps_streaming_input_while_stdout_is_not_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mock = mock_with(|l| l.input_timeout = std::time::Duration::from_secs(1)).await;
    let p = pins(&mock, "echo");
    let mut child = cli::spawn(&run_args("echo", &p.args));
    let (mut stdin, mut stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    // More output than a pipe holds, then input in small pieces for 3 s while nobody reads stdout.
    // Bounded: a run that stopped reading its stdin would otherwise hang the test, not fail it.
    let feed = async {
        let mut sent = vec![0x5a; 512 << 10];
        stdin.write_all(&sent).await.unwrap();
        for i in 0..10u8 {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let piece = [i; 100];
            stdin.write_all(&piece).await.unwrap();
            sent.extend_from_slice(&piece);
        }
        drop(stdin);
        let mut received = Vec::new();
        stdout.read_to_end(&mut received).await.unwrap();
        (sent, received)
    };
    let (sent, received) = tokio::time::timeout(std::time::Duration::from_secs(60), feed).await.expect("run hung");
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(received.len(), sent.len());
    assert!(received == sent);
}

/// A function that fails while stdin is still open (a terminal, a producer that keeps writing) ends
/// the run at once, exit 1 with the function's error. (The runtime used to be dropped, which waits for
/// its blocking threads, one of them in a read of stdin: the process stayed until the input ended.)
#[tokio::test]
async fn run_exits_on_a_function_error_while_stdin_stays_open() {
    use tokio::io::AsyncWriteExt;
    let mock = mock().await;
    let p = pins(&mock, "fail");
    let mut child = cli::spawn(&run_args("fail", &p.args));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"some input, and more to come").await.unwrap();
    stdin.flush().await.unwrap();
    // Bounded: the old behaviour would wait for stdin forever; the write end stays open until after.
    let started = std::time::Instant::now();
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("enclave run waited for stdin to end after the function failed")
        .unwrap();
    // Well under any grace period a shutdown might wait for (it took ~10 ms here).
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
    drop(stdin);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "enclave run: function fail failed with code 1: function fail failed: the fail function always fails\n"
    );
    assert!(out.stdout.is_empty());
}

/// Output the function wrote before it failed reaches stdout (a pipe, through tokio's blocking thread)
/// whole, and the run exits 1 with the function's error. The process ends without joining that thread,
/// so the last write must be complete before `run` returns. (The flush on the error path is what
/// guarantees it; without the flush this test still passed here, the last write winning the race with
/// the session's close, so it guards the outcome, not that one line.)
#[tokio::test]
async fn run_writes_all_output_before_a_function_error() {
    let script = "#!/bin/sh\nhead -c 3000000 /dev/zero | tr '\\0' a\nexit 3\n";
    let (_dir, mock) = mock_with_dir_function("loud-fail", script).await;
    let p = pins(&mock, "loud-fail");
    let out = enclave_run("loud-fail", &p.args, b"").await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("enclave run: function loud-fail failed with code "), "{err}");
    assert_eq!(out.stdout.len(), 3_000_000);
    assert!(out.stdout.iter().all(|&b| b == b'a'));
}
