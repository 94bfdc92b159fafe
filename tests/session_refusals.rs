//! Every refusal happens before any input is sent: the client returns the specific error, and the
//! enclave saw a document go out but no key share and no invocation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns assert too

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use enclave_sdk::attestation::{AttestationError, CertPosition, ChainError, Policy, PolicyError, UnixTime};
use enclave_sdk::error::{ConfigError, ConnectError};
use enclave_sdk::{Client, Clock, Error, FunctionChecksum, MeasurementError, PcrIndex, PcrValue};
use mock_enclave::MockEnclave;

/// Connects with `client` and asserts that the enclave received nothing after sending its document.
async fn refused(mock: &MockEnclave, client: &Client, function: &str) -> Error {
    let err = client.connect(function).await.expect_err("connection was accepted");
    let s = mock.stats();
    assert_eq!((s.key_shares, s.invocations), (0, 0), "the enclave received something after its document: {s:?}");
    err
}

#[tokio::test]
async fn wrong_pcr_pin() {
    let mock = mock().await;
    let policy = pinned_with_wrong_pcr0(&mock, "echo").build().unwrap();
    let err = refused(&mock, &client(&mock, policy), "echo").await;
    assert_eq!(
        err,
        Error::Attestation(AttestationError::PcrNotAllowed {
            index: PcrIndex::IMAGE,
            found: mock.measurements().pcrs()[&PcrIndex::IMAGE].clone(),
            expected: PcrValue::from([0xab; 48]),
        })
    );
    assert_eq!(mock.stats().documents, 1);
}

#[tokio::test]
async fn wrong_checksum() {
    let mock = mock().await;
    let wrong = FunctionChecksum::from_bytes([0x11; 32]);
    let policy = pinned(&mock, "echo").function_checksum_for(fid("echo"), wrong).build().unwrap();
    let err = refused(&mock, &client(&mock, policy), "echo").await;
    assert_eq!(
        err,
        Error::Attestation(AttestationError::ChecksumMismatch { expected: wrong, found: checksum(&mock, "echo") })
    );
}

#[tokio::test]
async fn checksum_of_another_function() {
    let mock = mock().await;
    let policy =
        pinned(&mock, "uppercase").function_checksum_for(fid("echo"), checksum(&mock, "uppercase")).build().unwrap();
    let err = refused(&mock, &client(&mock, policy), "echo").await;
    assert!(matches!(err, Error::Attestation(AttestationError::ChecksumMismatch { .. })), "{err:?}");
}

#[tokio::test]
async fn wrong_root() {
    let mock = mock().await;
    let other = MockEnclave::builder().spawn().await.unwrap();
    let policy = pinned_under_root(&mock, "echo", &other.root_pem()).build().unwrap();
    let err = refused(&mock, &client(&mock, policy), "echo").await;
    assert!(matches!(err, Error::Attestation(AttestationError::Chain(ChainError::UnknownRoot { .. }))), "{err:?}");
}

#[tokio::test]
async fn aws_root_refuses_the_mock() {
    let mock = mock().await;
    // Every PCR and the checksum right, but the default root, AWS's: the mock's chain does not reach it.
    let policy = Policy::builder()
        .allow_measurements(every_pcr(&mock))
        .function_checksum(checksum(&mock, "echo"))
        .build()
        .unwrap();
    let err = refused(&mock, &client(&mock, policy), "echo").await;
    assert!(matches!(err, Error::Attestation(AttestationError::Chain(ChainError::UnknownRoot { .. }))), "{err:?}");
}

#[tokio::test]
async fn debug_enclave() {
    let mock = MockEnclave::builder().debug_mode(true).spawn().await.unwrap();
    // A debug enclave's PCR0..2 (and an unsigned image's PCR8) are all zero, which pins no image: the
    // builder refuses such a set. Debug mode is checked before the PCRs, so any pinned policy meets it first.
    assert!(matches!(
        pinned(&mock, "echo").build(),
        Err(PolicyError::ImageNotPinned { set: Some(1), ref zeroed, .. }) if zeroed.len() == 3
    ));
    let policy = pinned_with_wrong_pcr0(&mock, "echo").build().unwrap();
    let err = refused(&mock, &client(&mock, policy), "echo").await;
    assert_eq!(err, Error::Attestation(AttestationError::DebugMode));
}

#[tokio::test]
async fn debug_enclave_allowed_when_the_policy_says_so() {
    let mock = MockEnclave::builder().debug_mode(true).spawn().await.unwrap();
    // Only "any enclave" can admit a debug enclave: its zero PCRs identify no image.
    let policy = pinned(&mock, "echo").dangerous_accept_any_enclave().dangerous_allow_debug().build().unwrap();
    let session = client(&mock, policy).connect("echo").await.unwrap();
    assert_eq!(session.invoke(b"x").await.unwrap(), b"x");
}

#[derive(Debug)]
struct FixedClock(UnixTime);
impl Clock for FixedClock {
    fn now(&self) -> UnixTime {
        self.0
    }
}

#[tokio::test]
async fn expired_leaf() {
    let mock = mock().await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    // Leaf certificates live about three hours; a day later, the leaf has expired.
    let later = UnixTime::from_secs(now + 24 * 3600);
    let c = Client::builder()
        .endpoint(mock.url())
        .policy(pinned(&mock, "echo").build().unwrap())
        .clock(Arc::new(FixedClock(later)))
        .build()
        .unwrap();
    let err = refused(&mock, &c, "echo").await;
    assert!(
        matches!(err, Error::Attestation(AttestationError::Chain(ChainError::Expired { at: CertPosition::Leaf, .. }))),
        "{err:?}"
    );
}

#[tokio::test]
async fn stale_document() {
    let mock = mock().await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let c = Client::builder()
        .endpoint(mock.url())
        .policy(pinned(&mock, "echo").max_document_age(Duration::from_secs(60)).build().unwrap())
        .clock(Arc::new(FixedClock(UnixTime::from_secs(now + 600))))
        .build()
        .unwrap();
    let err = refused(&mock, &c, "echo").await;
    assert!(matches!(err, Error::Attestation(AttestationError::Stale { .. })), "{err:?}");
}

#[tokio::test]
async fn unknown_function_and_token() {
    let mock = MockEnclave::builder().token("s3cret").spawn().await.unwrap();
    let policy = || pinned(&mock, "echo").build().unwrap();
    let no_token = client(&mock, policy());
    assert_eq!(no_token.connect("echo").await.unwrap_err(), Error::Connect(ConnectError::Http { status: 401 }));
    let with = Client::builder().endpoint(mock.url()).policy(policy()).token("s3cret").build().unwrap();
    assert_eq!(with.connect("nope").await.unwrap_err(), Error::Connect(ConnectError::Http { status: 404 }));
    assert_eq!(with.connect("echo").await.unwrap().invoke(b"ok").await.unwrap(), b"ok");
    assert_eq!(mock.stats().refused_upgrades, 2);
}

#[tokio::test]
async fn fetch_attestation_sends_no_input() {
    let mock = mock().await;
    let c = pinned_client(&mock, "echo");
    let doc = c.fetch_attestation("echo").await.unwrap();
    // The verified document itself, claiming the function asked for.
    assert!(doc.raw().len() > 1000);
    assert_eq!(doc.claimed_function().map(|c| c.function_id().as_str()), Some("echo"));
    let s = mock.stats();
    assert_eq!((s.documents, s.key_shares, s.invocations), (1, 0, 0));
    // Every PCR right, but the default AWS root: the mock's chain is refused, still with no input sent.
    let wrong = client(&mock, Policy::builder().allow_measurements(every_pcr(&mock)).build().unwrap());
    assert!(matches!(
        wrong.fetch_attestation("echo").await,
        Err(Error::Attestation(AttestationError::Chain(ChainError::UnknownRoot { .. })))
    ));
}

#[tokio::test]
async fn invalid_function_id_is_refused_locally() {
    let mock = mock().await;
    let err = pinned_client(&mock, "echo").connect("../etc").await.unwrap_err();
    assert_eq!(err, Error::Config(ConfigError::FunctionId(MeasurementError::FunctionIdLeadingDot)));
    let err = pinned_client(&mock, "echo").connect("a/../b").await.unwrap_err();
    assert_eq!(
        err,
        Error::Config(ConfigError::FunctionId(MeasurementError::FunctionIdCharacter { position: 2, found: '/' }))
    );
    assert_eq!(mock.stats().sessions, 0);
}
