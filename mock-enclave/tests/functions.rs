//! The function registry: built-ins, user functions from a directory, limits, and checksums that
//! equal what `enclave checksum` computes.

// Test helpers outside #[test] functions may fail loudly: a broken fixture is a broken test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use enclave_runtime::{Function as _, FunctionError};
use enclave_sdk::checksum::{builtin_checksum, directory_checksum, ChecksumError};
use enclave_sdk::{FunctionId, MeasurementError};
use mock_enclave::functions::{FunctionRegistry, Limits, LoadError, BUILTINS, MOCK_VERSION};
use tokio::sync::mpsc;

fn write_exec(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A functions directory with one function `shout` (a shell script plus a data file).
fn functions_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("shout");
    std::fs::create_dir(&f).unwrap();
    write_exec(&f.join("main"), "#!/bin/sh\ntr a-z A-Z\n");
    std::fs::write(f.join("data.txt"), "some data\n").unwrap();
    dir
}

fn fid(id: &str) -> FunctionId {
    id.parse().unwrap()
}

fn with_function(body: &str, limits: Limits) -> (tempfile::TempDir, FunctionRegistry) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    std::fs::create_dir(&f).unwrap();
    write_exec(&f.join("main"), body);
    let mut reg = FunctionRegistry::builtins_with_limits(limits);
    reg.load_dir(dir.path()).unwrap();
    (dir, reg)
}

async fn run(reg: &FunctionRegistry, id: &str, input: &[u8]) -> Result<Vec<u8>, FunctionError> {
    reg.get(&fid(id)).unwrap().invoke_bytes(input.to_vec()).await
}

#[tokio::test]
async fn builtins_compute_what_they_document() {
    let reg = FunctionRegistry::builtins();
    assert_eq!(run(&reg, "echo", b"hello").await.unwrap(), b"hello");
    assert_eq!(
        run(&reg, "sha256", b"abc").await.unwrap(),
        b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(run(&reg, "uppercase", b"Hello, w\xc3\xb6rld").await.unwrap(), b"HELLO, W\xc3\xb6RLD");
    assert_eq!(run(&reg, "word-count", b"  one two\tthree\n four ").await.unwrap(), b"4");
    assert_eq!(run(&reg, "word-count", b"").await.unwrap(), b"0");
    assert_eq!(run(&reg, "mean", b"[1, 2, 3, 4]").await.unwrap(), b"2.5");
    assert_eq!(run(&reg, "sleep-ms", b"1").await.unwrap(), b"");
    assert_eq!(
        run(&reg, "fail", b"x").await,
        Err(FunctionError::Failed { function: fid("fail"), message: "the fail function always fails" })
    );
    assert!(matches!(run(&reg, "mean", b"[]").await, Err(FunctionError::InvalidInput { .. })));
    assert!(matches!(run(&reg, "sleep-ms", b"soon").await, Err(FunctionError::InvalidInput { .. })));
}

#[tokio::test]
async fn every_builtin_is_registered_with_its_checksum() {
    let reg = FunctionRegistry::builtins();
    let ids: Vec<&str> = reg.iter().map(|f| f.id().as_str()).collect();
    let mut expected = BUILTINS.to_vec();
    expected.sort_unstable();
    assert_eq!(ids, expected);
    for f in reg.iter() {
        assert_eq!(f.checksum(), builtin_checksum(f.id(), MOCK_VERSION));
        assert!(f.is_builtin());
    }
}

#[tokio::test]
async fn streaming_functions_emit_before_input_ends() {
    let reg = FunctionRegistry::builtins();
    for (id, chunk, expected) in
        [("echo", b"ab".to_vec(), b"ab".to_vec()), ("uppercase", b"ab".to_vec(), b"AB".to_vec())]
    {
        let f = reg.get(&fid(id)).unwrap();
        let (in_tx, in_rx) = mpsc::channel(4);
        let (out_tx, mut out_rx) = mpsc::channel(4);
        let task = tokio::spawn(async move { f.invoke(in_rx.into(), out_tx.into()).await });
        in_tx.send(chunk).await.unwrap();
        // The first output chunk arrives while the input is still open.
        assert_eq!(out_rx.recv().await.unwrap(), expected);
        drop(in_tx);
        task.await.unwrap().unwrap();
        assert_eq!(out_rx.recv().await, None);
    }
}

#[tokio::test]
async fn word_count_handles_words_split_across_chunks() {
    let f = FunctionRegistry::builtins().get(&fid("word-count")).unwrap();
    let (in_tx, in_rx) = mpsc::channel(4);
    let (out_tx, mut out_rx) = mpsc::channel(4);
    for c in [&b"hel"[..], b"lo wo", b"rld"] {
        in_tx.send(c.to_vec()).await.unwrap();
    }
    drop(in_tx);
    f.invoke(in_rx.into(), out_tx.into()).await.unwrap();
    assert_eq!(out_rx.recv().await.unwrap(), b"2");
}

#[tokio::test]
async fn buffering_functions_refuse_input_past_the_cap() {
    let reg = FunctionRegistry::builtins_with_limits(Limits::new(Duration::from_secs(5), 1 << 20, 16));
    assert_eq!(
        run(&reg, "mean", b"[1,2,3,4,5,6,7,8,9]").await,
        Err(FunctionError::InputTooLarge { function: fid("mean"), limit: 16 })
    );
    assert_eq!(run(&reg, "mean", b"[1,2,3]").await.unwrap(), b"2.0");
}

#[tokio::test(start_paused = true)]
async fn sleep_ms_sleeps_on_the_tokio_clock_and_is_bounded() {
    let reg = FunctionRegistry::builtins_with_limits(Limits::new(Duration::from_secs(2), 1 << 20, 1 << 20));
    let start = tokio::time::Instant::now();
    run(&reg, "sleep-ms", b"1500").await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(1500));
    assert!(matches!(run(&reg, "sleep-ms", b"2001").await, Err(FunctionError::InvalidInput { .. })));
}

#[tokio::test]
async fn user_function_runs_with_stdin_and_stdout() {
    let dir = functions_dir();
    let mut reg = FunctionRegistry::builtins();
    reg.load_dir(dir.path()).unwrap();
    let shout = reg.get(&fid("shout")).unwrap();
    assert!(!shout.is_builtin());
    assert_eq!(shout.invoke_bytes(b"quiet please".to_vec()).await.unwrap(), b"QUIET PLEASE");
}

#[tokio::test]
async fn user_function_checksum_is_what_enclave_checksum_computes() {
    let dir = functions_dir();
    let mut reg = FunctionRegistry::builtins();
    reg.load_dir(dir.path()).unwrap();
    assert_eq!(reg.get(&fid("shout")).unwrap().checksum(), directory_checksum(&dir.path().join("shout")).unwrap());
}

#[tokio::test]
async fn user_function_over_time_limit_is_killed() {
    let limits = Limits::new(Duration::from_millis(300), 1 << 20, 1 << 20);
    let (_dir, reg) = with_function("#!/bin/sh\nsleep 10\n", limits);
    let started = std::time::Instant::now();
    assert_eq!(run(&reg, "f", b"").await, Err(FunctionError::TimedOut { function: fid("f"), limit_ms: 300 }));
    assert!(started.elapsed() < Duration::from_secs(5), "the process was waited for, not killed");
}

#[tokio::test]
async fn user_function_over_output_limit_is_killed() {
    let limits = Limits::new(Duration::from_secs(10), 1000, 1 << 20);
    let (_dir, reg) = with_function("#!/bin/sh\nhead -c 100000 /dev/zero\n", limits);
    assert_eq!(run(&reg, "f", b"").await, Err(FunctionError::OutputTooLarge { function: fid("f"), limit: 1000 }));
}

#[tokio::test]
async fn user_function_exit_status_is_an_error() {
    let (_dir, reg) = with_function("#!/bin/sh\ncat >/dev/null\nexit 3\n", Limits::default());
    assert_eq!(run(&reg, "f", b"in").await, Err(FunctionError::Exited { function: fid("f"), code: Some(3) }));
}

#[tokio::test]
async fn user_function_runs_with_an_empty_environment() {
    std::env::set_var("ENCLAVE_SDK_TEST_SECRET", "leak");
    let (_dir, reg) =
        with_function("#!/bin/sh\nprintf '%s' \"${ENCLAVE_SDK_TEST_SECRET:-unset}\"\n", Limits::default());
    assert_eq!(run(&reg, "f", b"").await.unwrap(), b"unset");
}

#[test]
fn load_dir_refuses_bad_function_directories() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("noentry")).unwrap();
    std::fs::write(dir.path().join("noentry/main"), "not executable").unwrap();
    let mut reg = FunctionRegistry::builtins();
    assert_eq!(
        reg.load_dir(dir.path()),
        Err(LoadError::MissingEntry { id: fid("noentry"), path: dir.path().join("noentry/main") })
    );
    assert!(reg.get(&fid("noentry")).is_none());

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("echo")).unwrap();
    write_exec(&dir.path().join("echo/main"), "#!/bin/sh\ncat\n");
    assert_eq!(FunctionRegistry::builtins().load_dir(dir.path()), Err(LoadError::Duplicate { id: fid("echo") }));

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bad name")).unwrap();
    assert_eq!(
        FunctionRegistry::builtins().load_dir(dir.path()),
        Err(LoadError::InvalidId {
            id: "bad name".into(),
            reason: MeasurementError::FunctionIdCharacter { position: 4, found: ' ' }
        })
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("linked")).unwrap();
    write_exec(&dir.path().join("linked/main"), "#!/bin/sh\ncat\n");
    std::os::unix::fs::symlink("/etc/hostname", dir.path().join("linked/outside")).unwrap();
    assert_eq!(
        FunctionRegistry::builtins().load_dir(dir.path()),
        Err(LoadError::Checksum {
            id: fid("linked"),
            source: ChecksumError::Symlink { path: dir.path().join("linked/outside") }
        })
    );
}

#[test]
fn load_dir_skips_files_and_hidden_directories() {
    let dir = functions_dir();
    std::fs::write(dir.path().join("README"), "not a function").unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    let mut reg = FunctionRegistry::builtins();
    reg.load_dir(dir.path()).unwrap();
    assert_eq!(reg.iter().count(), BUILTINS.len() + 1);
}

#[test]
fn checksum_changes_with_a_byte_a_name_or_the_executable_bit() {
    let dir = functions_dir();
    let f = dir.path().join("shout");
    let base = directory_checksum(&f).unwrap();
    assert_eq!(directory_checksum(&f).unwrap(), base, "deterministic");

    std::fs::write(f.join("data.txt"), "some data!\n").unwrap(); // one byte changed
    let changed = directory_checksum(&f).unwrap();
    assert_ne!(changed, base);
    std::fs::write(f.join("data.txt"), "some data\n").unwrap();
    assert_eq!(directory_checksum(&f).unwrap(), base, "restoring the byte restores the checksum");

    std::fs::rename(f.join("data.txt"), f.join("data.txu")).unwrap(); // a file name
    assert_ne!(directory_checksum(&f).unwrap(), base);
    std::fs::rename(f.join("data.txu"), f.join("data.txt")).unwrap();
    assert_eq!(directory_checksum(&f).unwrap(), base);

    std::fs::set_permissions(f.join("data.txt"), std::fs::Permissions::from_mode(0o744)).unwrap(); // exec bit
    assert_ne!(directory_checksum(&f).unwrap(), base);
    std::fs::set_permissions(f.join("data.txt"), std::fs::Permissions::from_mode(0o640)).unwrap(); // other bits don't count
    assert_eq!(directory_checksum(&f).unwrap(), base);

    std::fs::create_dir(f.join("empty")).unwrap(); // empty directories count
    assert_ne!(directory_checksum(&f).unwrap(), base);
}

#[test]
fn checksum_does_not_depend_on_where_the_directory_is() {
    let a = functions_dir();
    let b = functions_dir();
    assert_eq!(
        directory_checksum(&a.path().join("shout")).unwrap(),
        directory_checksum(&b.path().join("shout")).unwrap()
    );
}

#[test]
fn checksum_refuses_a_file_path() {
    let dir = functions_dir();
    let p = dir.path().join("shout/main");
    assert_eq!(directory_checksum(&p), Err(ChecksumError::NotADirectory { path: p.clone() }));
}

#[tokio::test]
async fn user_function_streams_output_before_input_ends() {
    let (_dir, reg) = with_function("#!/bin/sh\nexec cat\n", Limits::default());
    let f = reg.get(&fid("f")).unwrap();
    let (in_tx, in_rx) = mpsc::channel(4);
    let (out_tx, mut out_rx) = mpsc::channel(4);
    let task = tokio::spawn(async move { f.invoke(in_rx.into(), out_tx.into()).await });
    in_tx.send(b"first".to_vec()).await.unwrap();
    assert_eq!(out_rx.recv().await.unwrap(), b"first");
    in_tx.send(b"second".to_vec()).await.unwrap();
    assert_eq!(out_rx.recv().await.unwrap(), b"second");
    drop(in_tx);
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn errors_never_display_the_input() {
    const CANARY: &[u8] = b"CANARY-7f3a-input";
    let limits = Limits::new(Duration::from_millis(200), 4, 8);
    let (_dir, reg) = with_function("#!/bin/sh\ncat\nexit 1\n", limits);
    let mut shown = Vec::new();
    for id in ["mean", "sleep-ms", "fail", "f"] {
        let err = run(&reg, id, CANARY).await.unwrap_err();
        shown.push(format!("{err} {err:?}"));
    }
    for s in &shown {
        assert!(!s.contains("CANARY"), "{s}");
    }
}
