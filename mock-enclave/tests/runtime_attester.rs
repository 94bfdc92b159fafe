//! The runtime's server with an attester other than the mock's own `SoftwareNsm` value, verified by
//! the SDK's real client: a wrapper that counts documents is served and accepted, and a rogue wrapper
//! that replays its first document to every later connection (so it skips the fresh-nonce signature
//! a real NSM makes) gets no key share and no input, refused with the exact nonce error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use enclave_protocol::{FunctionId, MeasurementSet, Pcr};
use enclave_runtime::{AttestationRequest, Attester, AttesterError, Server};
use enclave_sdk::attestation::{AttestationError, ChainError, Policy, TrustRoot};
use enclave_sdk::{Client, Error};
use mock_enclave::attester::SoftwareNsm;
use mock_enclave::functions::FunctionRegistry;
use mock_enclave::measurements::Measurements;

/// Counts the documents the software NSM it wraps hands out.
#[derive(Debug)]
struct Counting {
    inner: SoftwareNsm,
    issued: AtomicU64,
}

impl Attester for Counting {
    fn attest(&self, request: &AttestationRequest) -> Result<Vec<u8>, AttesterError> {
        let document = self.inner.attest(request)?;
        self.issued.fetch_add(1, Ordering::Relaxed);
        Ok(document)
    }

    fn blocks(&self) -> bool {
        self.inner.blocks()
    }
}

/// Signs once, then answers every request with that first document.
#[derive(Debug)]
struct Replaying {
    inner: SoftwareNsm,
    first: Mutex<Option<Vec<u8>>>,
}

impl Attester for Replaying {
    fn attest(&self, request: &AttestationRequest) -> Result<Vec<u8>, AttesterError> {
        let mut first = self.first.lock().unwrap();
        if let Some(document) = first.as_ref() {
            return Ok(document.clone());
        }
        let document = self.inner.attest(request)?;
        *first = Some(document.clone());
        Ok(document)
    }

    fn blocks(&self) -> bool {
        self.inner.blocks()
    }
}

fn echo() -> FunctionId {
    "echo".parse().unwrap()
}

/// A client pinning the NSM's root, every PCR it reports, and the built-in echo's checksum.
fn pinned_client(url: &str, nsm: &SoftwareNsm, registry: &FunctionRegistry) -> Client {
    let every_pcr =
        MeasurementSet::new(nsm.measurements().pcrs().iter().map(|(i, v)| Pcr::new(*i, v.clone()))).unwrap();
    let policy = Policy::builder()
        .trust_root(TrustRoot::from_der(nsm.root_der().to_vec()).unwrap())
        .allow_measurements(every_pcr)
        .function_checksum_for(echo(), registry.get(&echo()).unwrap().checksum())
        .build()
        .unwrap();
    Client::builder().endpoint(url).policy(policy).build().unwrap()
}

#[tokio::test]
async fn the_sdk_accepts_a_session_served_through_another_attester() {
    let registry = FunctionRegistry::builtins();
    let attester = Arc::new(Counting {
        inner: SoftwareNsm::ephemeral(Measurements::for_mock(FunctionRegistry::builtins().manifest())).unwrap(),
        issued: 0.into(),
    });
    let server = Server::builder(attester.clone()).functions(registry.to_functions()).spawn().await.unwrap();
    let client = pinned_client(&server.url(), &attester.inner, &registry);
    let session = client.connect("echo").await.unwrap();
    assert_eq!(session.invoke(b"through the seam").await.unwrap(), b"through the seam");
    session.close().await.unwrap();
    assert_eq!(attester.issued.load(Ordering::Relaxed), 1);
    let stats = server.stats();
    assert_eq!((stats.documents, stats.key_shares, stats.invocations, stats.completed), (1, 1, 1, 1));

    // A client pinning another NSM's root (same PCRs, same checksum) is refused before it sends a key
    // share: the served attester's chain is what it checks.
    let other = SoftwareNsm::ephemeral(Measurements::for_mock(FunctionRegistry::builtins().manifest())).unwrap();
    let err = pinned_client(&server.url(), &other, &registry).connect("echo").await.unwrap_err();
    assert!(matches!(err, Error::Attestation(AttestationError::Chain(ChainError::UnknownRoot { .. }))), "{err:?}");
    assert_eq!(server.stats().key_shares, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn a_replaying_attester_gets_no_key_share_and_no_input() {
    let registry = FunctionRegistry::builtins();
    let attester = Arc::new(Replaying {
        inner: SoftwareNsm::ephemeral(Measurements::for_mock(FunctionRegistry::builtins().manifest())).unwrap(),
        first: Mutex::new(None),
    });
    let server = Server::builder(attester.clone()).functions(registry.to_functions()).spawn().await.unwrap();
    let client = pinned_client(&server.url(), &attester.inner, &registry);
    // The first document is genuine and fresh: the positive control.
    let session = client.connect("echo").await.unwrap();
    assert_eq!(session.invoke(b"first").await.unwrap(), b"first");
    session.close().await.unwrap();

    // Every later connection gets that document again, under a nonce it did not send.
    for _ in 0..2 {
        match client.connect("echo").await {
            Err(Error::Attestation(AttestationError::NonceMismatch { .. })) => {}
            other => panic!("expected NonceMismatch, got {other:?}"),
        }
    }
    let stats = server.stats();
    assert_eq!((stats.sessions, stats.documents), (3, 3));
    assert_eq!((stats.key_shares, stats.invocations), (1, 1), "the replayed documents got a key share or input");
    server.shutdown().await;
}
