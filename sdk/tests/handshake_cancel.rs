//! Dropping a handshake closes its connection, on either kind of runtime: on a multi-threaded one the
//! handshake runs as a task of its own (`on_runtime`), which the drop aborts; on a current-thread one
//! it runs in place and its socket drops with it. The server here reads the upgrade request and never
//! answers, so the client is waiting for the document when it is dropped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::time::Duration;

use enclave_sdk::attestation::Policy;
use enclave_sdk::Client;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpListener;

async fn a_dropped_connect_closes_its_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let policy = Policy::builder().dangerous_accept_any_enclave().build().unwrap();
    let client = Client::builder().endpoint(format!("ws://{addr}")).policy(policy).build().unwrap();
    let (request_in, mut heard) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert_ne!(n, 0, "the client closed before its request was whole");
            seen.extend_from_slice(&buf[..n]);
        }
        let _ = request_in.send(());
        // Never answer: the next read ends only when the client closes.
        tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf)).await
    });
    tokio::select! {
        r = client.connect("echo") => panic!("the connect finished without an answer: {r:?}"),
        _ = &mut heard => {}
    }
    // The select dropped the connect future.
    let after = server.await.unwrap().expect("the connection stayed open after the drop");
    assert_eq!(after.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_multi_threaded_runtime() {
    a_dropped_connect_closes_its_connection().await;
}

#[tokio::test(flavor = "current_thread")]
async fn on_a_current_thread_runtime() {
    a_dropped_connect_closes_its_connection().await;
}
