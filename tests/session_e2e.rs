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
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("shout");
    std::fs::create_dir(&f).unwrap();
    std::fs::write(f.join("main"), "#!/bin/sh\nexec tr 'a-z' 'A-Z'\n").unwrap();
    std::fs::set_permissions(f.join("main"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut functions = mock_enclave::functions::FunctionRegistry::builtins();
    functions.load_dir(dir.path()).unwrap();
    let mock = mock_enclave::MockEnclave::builder().functions(functions).spawn().await.unwrap();

    // The pinned checksum is the one `enclave checksum` computes from the directory.
    let checksum = enclave_sdk::checksum::directory_checksum(&f).unwrap();
    assert_eq!(mock.function_checksum(&fid("shout")), Some(checksum));
    let session = pinned_client(&mock, "shout").connect("shout").await.unwrap();
    assert_eq!(session.invoke(b"user function").await.unwrap(), b"USER FUNCTION");
    assert_eq!(session.invoke(b"twice").await.unwrap(), b"TWICE");
}

/// A TCP tap between a client and `mock`: forwards both ways and records the size of every read from
/// the client, in order. Returns the tap's `ws://` URL and the sizes.
async fn client_reads_tap(mock: &mock_enclave::MockEnclave) -> (String, Arc<std::sync::Mutex<Vec<usize>>>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let (upstream, reads) = (mock.local_addr(), Arc::new(std::sync::Mutex::new(Vec::new())));
    let seen = reads.clone();
    tokio::spawn(async move {
        let (down, _) = listener.accept().await.unwrap();
        let up = tokio::net::TcpStream::connect(upstream).await.unwrap();
        let ((mut down_r, mut down_w), (mut up_r, mut up_w)) = (down.into_split(), up.into_split());
        let to_enclave = async move {
            let mut buf = vec![0u8; 1 << 16];
            while let Ok(n @ 1..) = down_r.read(&mut buf).await {
                seen.lock().unwrap().push(n);
                if up_w.write_all(buf.get(..n).unwrap_or_default()).await.is_err() {
                    break;
                }
            }
            let _ = up_w.shutdown().await;
        };
        let to_client = async move {
            let _ = tokio::io::copy(&mut up_r, &mut down_w).await;
            let _ = down_w.shutdown().await;
        };
        tokio::join!(to_enclave, to_client);
    });
    (url, reads)
}

/// A Session-less call on a fresh session sends its key share and its input in one write, right after
/// the upgrade request: the round trip to the first output carries no second write (on either kind
/// of runtime: the whole call is one task on a multi-threaded one, and runs in place on the other).
#[test]
fn a_fresh_call_sends_its_key_share_and_input_in_one_write() {
    for multi_thread in [true, false] {
        let mut runtime = if multi_thread {
            tokio::runtime::Builder::new_multi_thread()
        } else {
            tokio::runtime::Builder::new_current_thread()
        };
        runtime.enable_all().build().unwrap().block_on(async {
            let mock = mock().await;
            let (url, reads) = client_reads_tap(&mock).await;
            let client = enclave_sdk::Client::builder()
                .endpoint(url)
                .policy(pinned(&mock, "echo").build().unwrap())
                .build()
                .unwrap();
            let input = vec![0x42u8; 1000];
            assert_eq!(client.invoke("echo", &input).await.unwrap(), input);
            let reads = reads.lock().unwrap().clone();
            // The upgrade request, then one read holding the key share and the 1000-byte input.
            assert_eq!(reads.len(), 2, "multi_thread {multi_thread}: reads {reads:?}");
            assert!(reads[1] > input.len(), "multi_thread {multi_thread}: reads {reads:?}");
        });
    }
}

/// A session opened and not used still sends its key share at once: the enclave counts it while the
/// session sits idle (the writer flushes it alone when no record is queued).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_left_idle_has_sent_its_key_share() {
    let mock = mock().await;
    let session = pinned_client(&mock, "echo").connect("echo").await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while mock.stats().key_shares == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the key share never reached the enclave");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!((mock.stats().key_shares, mock.stats().invocations), (1, 0));
    drop(session);
}
