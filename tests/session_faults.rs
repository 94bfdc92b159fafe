//! Faults: the connection to the enclave dies mid-invocation. The caller gets `Truncated` (never a
//! short result), within bounded time, and can reconnect and re-attest.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use enclave_sdk::error::SessionError;
use enclave_sdk::{Client, Error};
use tokio::sync::Notify;

/// A TCP relay to `upstream` whose every connection is cut when `cut` is notified.
async fn cuttable_relay(upstream: std::net::SocketAddr) -> (std::net::SocketAddr, Arc<Notify>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cut = Arc::new(Notify::new());
    let trigger = cut.clone();
    tokio::spawn(async move {
        while let Ok((mut down, _)) = listener.accept().await {
            let trigger = trigger.clone();
            tokio::spawn(async move {
                let mut up = tokio::net::TcpStream::connect(upstream).await.unwrap();
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                    _ = trigger.notified() => {}
                }
            });
        }
    });
    (addr, cut)
}

#[tokio::test]
async fn connection_dies_mid_invocation_then_reconnect() {
    let mock = mock().await;
    let (relay, cut) = cuttable_relay(mock.local_addr()).await;
    let client = Client::builder()
        .endpoint(format!("ws://{relay}"))
        .policy(pinned(&mock, "sleep-ms").build().unwrap())
        .build()
        .unwrap();
    let session = client.connect("sleep-ms").await.unwrap();
    let running = tokio::spawn(async move { session.invoke(b"2000").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    cut.notify_waiters();
    let err = tokio::time::timeout(Duration::from_secs(5), running).await.expect("hung after the cut").unwrap();
    assert_eq!(err, Err(Error::Session(SessionError::Truncated { pending: 1 })));

    // A new connection attests afresh and works.
    let again = client.connect("sleep-ms").await.unwrap();
    assert_eq!(again.invoke(b"1").await.unwrap(), b"");
    assert_eq!(mock.stats().documents, 2);
}
