//! Issue 14, "clients never hang": through a proxy that stops reading after the attestation, every
//! network wait of both clients ends by its deadline with the error naming that wait. Cape's `invoke`
//! used to block in its send for as long as the proxy liked (200 s and counting). Real time, short
//! timeouts; every wait is bounded by the test as well.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use enclave_sdk::error::{LimitError, Wait};
use enclave_sdk::{Client, Error};
use mock_enclave::MockEnclave;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const IDLE: Duration = Duration::from_millis(400);
/// More than the client's send buffer (at most 4 MiB here) and the relay's fixed 64 KiB receive
/// buffer hold, so a send to a relay that reads nothing blocks.
const LARGE: usize = 8 << 20;

/// A TCP relay to `upstream` that stops reading the client's bytes once `deaf` is set (and holds
/// the connection open), while still passing the enclave's.
async fn deaf_relay(upstream: SocketAddr) -> (SocketAddr, Arc<AtomicBool>) {
    // A fixed receive buffer (accepted sockets inherit it) turns off the kernel's autotuning, which
    // could otherwise buffer tens of MiB for a reader that reads nothing.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(16).unwrap();
    let addr = listener.local_addr().unwrap();
    let deaf = Arc::new(AtomicBool::new(false));
    let flag = deaf.clone();
    tokio::spawn(async move {
        while let Ok((down, _)) = listener.accept().await {
            let up = tokio::net::TcpStream::connect(upstream).await.unwrap();
            let (mut down_read, mut down_write) = down.into_split();
            let (mut up_read, mut up_write) = up.into_split();
            let deaf = flag.clone();
            tokio::spawn(async move {
                let mut buf = vec![0; 16 * 1024];
                loop {
                    if deaf.load(Ordering::SeqCst) {
                        // Keep both halves: the connection stays up, nothing more is read.
                        std::future::pending::<()>().await;
                    }
                    match tokio::time::timeout(Duration::from_millis(20), down_read.read(&mut buf)).await {
                        Err(_) => continue,
                        Ok(Ok(0) | Err(_)) => return,
                        // What arrived after the flag is not passed on either.
                        Ok(Ok(_)) if deaf.load(Ordering::SeqCst) => continue,
                        Ok(Ok(n)) => {
                            let Some(bytes) = buf.get(..n) else { return };
                            if up_write.write_all(bytes).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
            tokio::spawn(async move { tokio::io::copy(&mut up_read, &mut down_write).await });
        }
    });
    (addr, deaf)
}

fn client_via(mock: &MockEnclave, relay: SocketAddr, function: &str) -> Client {
    Client::builder()
        .endpoint(format!("ws://{relay}"))
        .policy(pinned(mock, function).build().unwrap())
        .idle_timeout(IDLE)
        .build()
        .unwrap()
}

/// Cape's send is bounded: a large input to a proxy that reads nothing fails with `Timeout { Send }`
/// after the idle timeout, not never.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cape_invocation_to_a_proxy_that_stopped_reading_fails_naming_the_send() {
    let mock = mock().await;
    let (relay, deaf) = deaf_relay(mock.local_addr()).await;
    let mut session = client_via(&mock, relay, "echo").connect_cape("echo").await.unwrap();
    deaf.store(true, Ordering::SeqCst);
    let input = vec![7u8; LARGE];
    let started = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(20), session.invoke(&input))
        .await
        .expect("Cape's invoke hung on a proxy that stopped reading")
        .unwrap_err();
    assert_eq!(err, Error::Limit(LimitError::Timeout { wait: Wait::Send, after: IDLE }));
    assert!(started.elapsed() >= IDLE, "{:?}", started.elapsed());
    assert!(err.is_transient());
}

/// A small Cape input fits in the socket buffers; the wait for its result is the idle timeout.
#[tokio::test]
async fn a_small_cape_invocation_to_a_proxy_that_stopped_reading_fails_naming_the_reply() {
    let mock = mock().await;
    let (relay, deaf) = deaf_relay(mock.local_addr()).await;
    let mut session = client_via(&mock, relay, "echo").connect_cape("echo").await.unwrap();
    deaf.store(true, Ordering::SeqCst);
    let err = tokio::time::timeout(Duration::from_secs(10), session.invoke(b"small")).await.unwrap().unwrap_err();
    assert_eq!(err, Error::Limit(LimitError::IdleTimeout(IDLE)));
}

/// The native client, through the same proxy, fails by its idle timeout, large input or small.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_invocation_to_a_proxy_that_stopped_reading_fails_by_the_idle_timeout() {
    let mock = mock().await;
    let (relay, deaf) = deaf_relay(mock.local_addr()).await;
    let session = client_via(&mock, relay, "echo").connect("echo").await.unwrap();
    deaf.store(true, Ordering::SeqCst);
    let input = vec![7u8; LARGE];
    let mut out = Vec::new();
    let err = tokio::time::timeout(Duration::from_secs(20), session.invoke_stream(&input[..], &mut out, |_| {}))
        .await
        .expect("the native invoke hung")
        .unwrap_err();
    assert_eq!(err, Error::Limit(LimitError::IdleTimeout(IDLE)));
    // Closing a session that failed returns its failure at once, not a hang.
    let closed = tokio::time::timeout(Duration::from_secs(5), session.close()).await.expect("close hung");
    assert_eq!(closed, Err(Error::Limit(LimitError::IdleTimeout(IDLE))));
}

/// A proxy that takes the connection and never passes the upgrade's answer: the handshake's
/// deadline names the upgrade, and one that stops reading before the nonce names the document.
#[tokio::test]
async fn the_handshake_deadline_names_the_step_it_ran_out_in() {
    let mock = mock().await;
    let (relay, deaf) = deaf_relay(mock.local_addr()).await;
    deaf.store(true, Ordering::SeqCst);
    let timeout = Duration::from_millis(300);
    let client = Client::builder()
        .endpoint(format!("ws://{relay}"))
        .policy(pinned(&mock, "echo").build().unwrap())
        .handshake_timeout(timeout)
        .build()
        .unwrap();
    let err =
        tokio::time::timeout(Duration::from_secs(5), client.connect("echo")).await.unwrap().map(|_| ()).unwrap_err();
    assert_eq!(err, Error::Limit(LimitError::Timeout { wait: Wait::Upgrade, after: timeout }));
    let err = tokio::time::timeout(Duration::from_secs(5), client.connect_cape("echo"))
        .await
        .unwrap()
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err, Error::Limit(LimitError::Timeout { wait: Wait::Upgrade, after: timeout }));
}
