//! The parent instance's relay, end to end over TCP (client -> relay -> runtime): the same code
//! forwards to an enclave's vsock port. A client cannot tell the relay from a direct connection, a
//! relay pointed at another enclave gets nothing from it, and the relay's limits (connections, a
//! client's first byte, the upstream connect, idle connections, a drain) each end a connection.

// Test helpers outside #[test] functions may fail loudly: a broken fixture is a broken test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{pinned, pinned_client};
use enclave_runtime::{Relay, RelayLimits, TcpConnector};
use enclave_sdk::attestation::AttestationError;
use enclave_sdk::{Client, Error, PcrIndex};
use mock_enclave::MockEnclave;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn relay_to(upstream: SocketAddr, limits: RelayLimits) -> Relay {
    Relay::builder(TcpConnector::new(upstream)).limits(limits).spawn().await.unwrap()
}

fn limits(f: impl FnOnce(&mut RelayLimits)) -> RelayLimits {
    let mut l = RelayLimits::default();
    f(&mut l);
    l
}

/// The same client, the same policy, the same answer, and the same attested claim, directly and
/// through the relay: nothing the client checks depends on the path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_relay_a_client_sees_the_enclave_it_would_see_directly() {
    let mock = MockEnclave::builder().spawn().await.unwrap();
    let relay = relay_to(mock.local_addr(), RelayLimits::default()).await;
    let direct = pinned_client(&mock, "uppercase");
    let relayed = Client::builder()
        .endpoint(format!("ws://{}", relay.local_addr()))
        .policy(pinned(&mock, "uppercase").build().unwrap())
        .build()
        .unwrap();
    let a = direct.connect("uppercase").await.unwrap();
    let b = relayed.connect("uppercase").await.unwrap();
    assert_eq!(a.invoke(b"same bytes").await.unwrap(), b.invoke(b"same bytes").await.unwrap());
    assert_eq!(a.attestation().pcrs(), b.attestation().pcrs());
    assert_eq!(a.attestation().module_id(), b.attestation().module_id());
    assert_eq!(a.attestation().claimed_function(), b.attestation().claimed_function());
    // Ten pipelined invocations of 100 KiB each: the relay moves records, whatever their size.
    let big = vec![b'x'; 100 * 1024];
    let answers = futures_util::future::join_all((0..10).map(|_| b.invoke(&big))).await;
    assert!(answers.into_iter().all(|r| r.unwrap() == vec![b'X'; 100 * 1024]));
    a.close().await.unwrap();
    b.close().await.unwrap();
    assert_eq!(relay.stats().relayed, 1);
    relay.shutdown().await;
}

/// wss:// through the relay: TLS ends in the enclave, whose document binds its key, so the relay
/// forwards ciphertext only and the session is attested TLS end to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_passes_through_the_relay_to_the_enclave() {
    let mock = MockEnclave::builder().tls(true).spawn().await.unwrap();
    let relay = relay_to(mock.local_addr(), RelayLimits::default()).await;
    let client = Client::builder()
        .endpoint(format!("wss://{}", relay.local_addr()))
        .policy(pinned(&mock, "echo").build().unwrap())
        .build()
        .unwrap();
    let session = client.connect("echo").await.unwrap();
    assert!(session.attestation().claimed_function().unwrap().tls_spki_sha256().is_some());
    assert_eq!(session.invoke(b"sealed twice").await.unwrap(), b"sealed twice");
    session.close().await.unwrap();
}

/// A relay (the parent instance is untrusted) that forwards to an enclave running other code: the
/// client refuses its document, and that enclave gets no key share and no input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_to_another_enclave_gets_nothing() {
    let genuine = MockEnclave::builder().spawn().await.unwrap();
    let rogue = MockEnclave::builder().image("mock-enclave", "rogue").spawn().await.unwrap();
    let relay = relay_to(rogue.local_addr(), RelayLimits::default()).await;
    // The client trusts the rogue's root (the chain is genuine) but pins the genuine image.
    let policy = pinned(&genuine, "echo")
        .trust_root(enclave_sdk::attestation::TrustRoot::from_pem(&rogue.root_pem()).unwrap())
        .build()
        .unwrap();
    let client = Client::builder().endpoint(format!("ws://{}", relay.local_addr())).policy(policy).build().unwrap();
    let err = client.connect("echo").await.unwrap_err();
    assert!(
        matches!(&err, Error::Attestation(AttestationError::PcrNotAllowed { index, .. }) if *index == PcrIndex::IMAGE),
        "{err:?}"
    );
    let seen = rogue.stats();
    assert_eq!((seen.documents, seen.key_shares, seen.invocations), (1, 0, 0));
}

/// A TCP server that echoes every connection, counting the connections it accepted.
async fn echo_upstream() -> (SocketAddr, tokio::sync::watch::Receiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(0usize);
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tx.send_modify(|n| *n += 1);
            tokio::spawn(async move {
                let (mut r, mut w) = tcp.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    (addr, rx)
}

/// Reads until EOF or `deadline`; true if the peer closed.
async fn closed_within(tcp: &mut TcpStream, deadline: Duration) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout(deadline, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

async fn echoed(tcp: &mut TcpStream, bytes: &[u8]) -> Vec<u8> {
    tcp.write_all(bytes).await.unwrap();
    let mut back = vec![0u8; bytes.len()];
    tcp.read_exact(&mut back).await.unwrap();
    back
}

#[tokio::test]
async fn past_the_connection_limit_a_connection_is_closed_at_once() {
    let (upstream, accepted) = echo_upstream().await;
    let relay = relay_to(upstream, limits(|l| l.max_connections = 2)).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut tcp = TcpStream::connect(relay.local_addr()).await.unwrap();
        assert_eq!(echoed(&mut tcp, b"hi").await, b"hi");
        held.push(tcp);
    }
    let mut third = TcpStream::connect(relay.local_addr()).await.unwrap();
    assert!(closed_within(&mut third, Duration::from_secs(5)).await, "the third connection stayed open");
    let stats = relay.stats();
    assert_eq!((stats.relayed, stats.refused, stats.open), (2, 1, 2));
    assert_eq!(*accepted.borrow(), 2, "the refused connection never reached upstream");
    // A slot frees when a relayed connection ends.
    drop(held.pop());
    tokio::time::timeout(Duration::from_secs(5), async {
        while relay.stats().open != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let mut again = TcpStream::connect(relay.local_addr()).await.unwrap();
    assert_eq!(echoed(&mut again, b"room again").await, b"room again");
}

/// A client that connects and says nothing holds a relay slot until the handshake timeout, and
/// never an upstream (enclave) connection.
#[tokio::test]
async fn a_silent_client_is_closed_without_reaching_upstream() {
    let (upstream, accepted) = echo_upstream().await;
    let relay = relay_to(upstream, limits(|l| l.handshake_timeout = Duration::from_millis(200))).await;
    let mut silent = TcpStream::connect(relay.local_addr()).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(5)).await);
    assert_eq!(relay.stats().silent, 1);
    assert_eq!(*accepted.borrow(), 0);
}

#[tokio::test]
async fn an_unreachable_upstream_closes_the_client() {
    // A port nobody listens on: bind one, then free it.
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let relay = relay_to(free, RelayLimits::default()).await;
    let mut tcp = TcpStream::connect(relay.local_addr()).await.unwrap();
    tcp.write_all(b"GET /v1/run/echo HTTP/1.1\r\n").await.unwrap();
    assert!(closed_within(&mut tcp, Duration::from_secs(5)).await);
    assert_eq!(relay.stats().upstream_failures, 1);
    assert_eq!(relay.stats().relayed, 0);
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let (upstream, _) = echo_upstream().await;
    let relay = relay_to(upstream, limits(|l| l.idle_timeout = Duration::from_millis(300))).await;
    let mut tcp = TcpStream::connect(relay.local_addr()).await.unwrap();
    // Traffic keeps it open past the idle timeout...
    for _ in 0..5 {
        assert_eq!(echoed(&mut tcp, b"busy").await, b"busy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ...and silence closes it.
    assert!(closed_within(&mut tcp, Duration::from_secs(5)).await);
    assert_eq!(relay.stats().idle_closed, 1);
}

/// Shutdown stops accepting at once, lets an open connection go on for the drain time, then cuts
/// it, and returns when it has.
#[tokio::test]
async fn shutdown_drains_then_cuts() {
    let (upstream, _) = echo_upstream().await;
    let relay = relay_to(upstream, limits(|l| l.drain_timeout = Duration::from_millis(500))).await;
    let addr = relay.local_addr();
    let mut open = TcpStream::connect(addr).await.unwrap();
    assert_eq!(echoed(&mut open, b"before").await, b"before");
    let started = tokio::time::Instant::now();
    let shutdown = tokio::spawn(relay.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // No new connection is taken (the listener is closed) ...
    assert!(TcpStream::connect(addr).await.is_err(), "a new connection was accepted while draining");
    // ... while the open one still works until the drain time runs out.
    assert_eq!(echoed(&mut open, b"during").await, b"during");
    assert!(closed_within(&mut open, Duration::from_secs(5)).await);
    tokio::time::timeout(Duration::from_secs(5), shutdown).await.unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(500));
}
