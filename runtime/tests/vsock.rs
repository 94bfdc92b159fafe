//! The vsock side of the one listener abstraction, as far as a machine without vsock loopback can
//! drive it: without the `vsock` feature a vsock address is refused by name, before anything is
//! bound or connected; with it (CI builds and runs this file both ways) the server binds a vsock
//! port through the same builder, and the relay's vsock connector meets an enclave that is not
//! there as any failed upstream, closing the client without forwarding a byte. A vsock connection
//! from end to end needs a real enclave (README, "What was and was not exercised").

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use enclave_runtime::{
    AddrConnector, AttestationRequest, Attester, AttesterError, ListenAddr, Relay, RelayLimits, Server, StartError,
    VSOCK_CID_ANY,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Never reached: no client completes an upgrade in these tests.
#[derive(Debug)]
struct Unreached;

impl Attester for Unreached {
    fn attest(&self, _: &AttestationRequest) -> Result<Vec<u8>, AttesterError> {
        Ok(Vec::new())
    }
}

/// A CID no enclave on a test machine has (CIDs are 32 bits; Nitro hands out small ones from 4).
const ABSENT_CID: u32 = 0x7fff_fff0;

/// The relay to `to` with a short connect deadline, a client that sends its first bytes, and the
/// relay's account once the client has been closed.
async fn relay_once(to: ListenAddr) -> enclave_runtime::RelayStats {
    let mut limits = RelayLimits::default();
    limits.connect_timeout = Duration::from_secs(1);
    let relay = Relay::builder(AddrConnector::new(to)).limits(limits).spawn().await.unwrap();
    let mut client = TcpStream::connect(relay.local_addr()).await.unwrap();
    client.write_all(b"GET /v1/run/echo HTTP/1.1\r\n").await.unwrap();
    let mut rest = Vec::new();
    // Closed by the relay (EOF or reset) well within the deadline, never answered.
    let read = tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the relay kept the client open");
    assert!(rest.is_empty(), "bytes came back from an upstream that does not exist");
    let stats = relay.stats();
    relay.shutdown().await;
    stats
}

#[cfg(not(feature = "vsock"))]
#[tokio::test]
async fn without_the_feature_a_vsock_listener_is_refused_by_name() {
    let addr = ListenAddr::Vsock { cid: VSOCK_CID_ANY, port: 5005 };
    let err = Server::builder(Arc::new(Unreached)).listen_on(addr).spawn().await.unwrap_err();
    let StartError::Bind { addr: refused, source } = &err else { panic!("{err:?}") };
    assert_eq!((*refused, source.kind()), (addr, std::io::ErrorKind::Unsupported));
    assert!(err.to_string().contains("cannot listen on vsock:5005") && err.to_string().contains("`vsock` feature"));
}

#[cfg(not(feature = "vsock"))]
#[tokio::test]
async fn without_the_feature_the_relay_to_vsock_forwards_nothing() {
    let stats = relay_once(ListenAddr::Vsock { cid: ABSENT_CID, port: 5005 }).await;
    assert_eq!((stats.upstream_failures, stats.relayed), (1, 0));
}

/// Binds where the enclave image listens, through the same builder as TCP; the port is the
/// kernel's choice (`VMADDR_PORT_ANY`) so parallel runs do not collide. Where the kernel has no
/// vsock at all the bind fails, naming the address.
#[cfg(feature = "vsock")]
#[tokio::test]
async fn with_the_feature_the_server_binds_vsock() {
    const PORT_ANY: u32 = u32::MAX;
    let addr = ListenAddr::Vsock { cid: VSOCK_CID_ANY, port: PORT_ANY };
    let result = Server::builder(Arc::new(Unreached)).listen_on(addr).spawn().await;
    if std::path::Path::new("/dev/vsock").exists() {
        let server = result.unwrap();
        let ListenAddr::Vsock { cid, port } = server.local_addr() else { panic!("{:?}", server.local_addr()) };
        assert_eq!(cid, VSOCK_CID_ANY);
        assert_ne!(port, PORT_ANY, "the kernel chose a port");
        assert_eq!(server.url(), format!("ws://vsock:{port}"));
        server.shutdown().await;
    } else {
        let err = result.unwrap_err();
        assert!(matches!(&err, StartError::Bind { addr: a, .. } if *a == addr), "{err:?}");
    }
}

#[cfg(feature = "vsock")]
#[tokio::test]
async fn with_the_feature_an_absent_enclave_is_an_upstream_failure() {
    let stats = relay_once(ListenAddr::Vsock { cid: ABSENT_CID, port: 5005 }).await;
    assert_eq!((stats.upstream_failures, stats.relayed), (1, 0));
}
