//! End to end over real sockets: the SDK against an in-process mock enclave on 127.0.0.1:0.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns assert too

mod common;

use common::*;
use enclave_sdk::Error;
use std::sync::Arc;

#[tokio::test]
async fn echo_round_trip() {
    let mock = mock().await;
    let session = pinned_client(&mock, "echo").connect("echo").await.unwrap();
    assert_eq!(session.invoke(b"hello enclave").await.unwrap(), b"hello enclave");
    assert_eq!(session.invoke(b"").await.unwrap(), b"");
    session.close().await.unwrap();
    let s = mock.stats();
    assert_eq!((s.sessions, s.key_shares, s.invocations), (1, 1, 2));
}

#[tokio::test]
async fn every_builtin() {
    let mock = mock().await;
    type Case = (&'static str, &'static [u8], Result<&'static [u8], u16>);
    let cases: [Case; 7] = [
        ("echo", b"abc", Ok(b"abc")),
        ("uppercase", b"abc d", Ok(b"ABC D")),
        ("word-count", b"one two  three\n", Ok(b"3")),
        ("mean", b"[1, 2, 3, 6]", Ok(b"3.0")),
        ("sha256", b"abc", Ok(b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")),
        ("sleep-ms", b"5", Ok(b"")),
        ("fail", b"x", Err(1)),
    ];
    for (f, input, want) in cases {
        let session = pinned_client(&mock, f).connect(f).await.unwrap();
        match (session.invoke(input).await, want) {
            (Ok(out), Ok(want)) => assert_eq!(out, want, "{f}"),
            (Err(Error::Function { function_id, code, .. }), Err(want)) => {
                assert_eq!((function_id.as_str(), code), (f, want))
            }
            (got, want) => panic!("{f}: got {got:?}, want {want:?}"),
        }
    }
}

#[tokio::test]
async fn hundred_pipelined_invocations_on_one_session() {
    let mock = mock().await;
    let session = Arc::new(pinned_client(&mock, "uppercase").connect("uppercase").await.unwrap());
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let s = session.clone();
            tokio::spawn(async move {
                let input = format!("invocation {i} {}", "x".repeat(i * 37));
                (input.to_uppercase(), s.invoke(input.as_bytes()).await)
            })
        })
        .collect();
    for t in tasks {
        let (want, got) = t.await.unwrap();
        assert_eq!(got.unwrap(), want.as_bytes());
    }
    assert_eq!(session.invocations(), 100);
    assert_eq!(mock.stats().sessions, 1);
    assert_eq!(mock.stats().invocations, 100);
}

#[tokio::test]
async fn function_error_then_the_session_goes_on() {
    let mock = mock().await;
    let session = pinned_client(&mock, "mean").connect("mean").await.unwrap();
    match session.invoke(b"not json").await {
        Err(Error::Function { function_id, code: 2, message }) => {
            assert_eq!(function_id, "mean");
            assert!(message.contains("JSON array"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(session.invoke(b"[2,4]").await.unwrap(), b"3.0");
}

#[tokio::test]
async fn a_user_function_from_a_directory() {
    let (dir, mock) = mock_with_dir_function("shout", "#!/bin/sh\nexec tr 'a-z' 'A-Z'\n").await;

    // The pinned checksum is the one `enclave checksum` computes from the directory.
    let checksum = enclave_sdk::checksum::directory_checksum(&dir.path().join("shout")).unwrap();
    assert_eq!(mock.function_checksum(&fid("shout")), Some(checksum));
    let session = pinned_client(&mock, "shout").connect("shout").await.unwrap();
    assert_eq!(session.invoke(b"user function").await.unwrap(), b"USER FUNCTION");
    assert_eq!(session.invoke(b"twice").await.unwrap(), b"TWICE");
}

/// A session opened and not used has sent its key share by the time `connect` returns, on the
/// blocking API too (whose runtime runs only inside its calls): the enclave counts it while the
/// session sits idle, and an invocation after the enclave's handshake timeout still works.
#[test]
fn a_session_left_idle_has_sent_its_key_share() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let mock = runtime.block_on(mock_with(|l| l.handshake_timeout = std::time::Duration::from_millis(500)));
    let blocking = enclave_sdk::blocking::Client::new(pinned_client(&mock, "echo")).unwrap();
    let session = blocking.connect("echo").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while mock.stats().key_shares == 0 {
        assert!(std::time::Instant::now() < deadline, "the key share never reached the enclave");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(session.invoke(b"after the handshake timeout").unwrap(), b"after the handshake timeout");
    assert_eq!((mock.stats().key_shares, mock.stats().invocations), (1, 1));
}
