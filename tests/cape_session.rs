//! The SDK's Cape-protocol mode (`Client::connect_cape`) against the mock's `cape.runtime` server over
//! real sockets: several invocations per connection, function errors, `user/name` paths, `wss://`;
//! and refusals (wrong checksum, wrong PCR, wrong root, missing pin) before anything but the nonce
//! was sent: the enclave saw no invocation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use enclave_sdk::attestation::{AttestationError, ChainError};
use enclave_sdk::{Client, Error};
use mock_enclave::MockEnclave;

async fn refused(mock: &MockEnclave, client: &Client, function: &str) -> Error {
    let err = client.connect_cape(function).await.expect_err("connection was accepted");
    let s = mock.stats();
    assert_eq!((s.documents, s.invocations), (1, 0), "the enclave received input: {s:?}");
    err
}

#[tokio::test]
async fn several_invocations_on_one_cape_connection() {
    let mock = mock().await;
    let client = pinned_client(&mock, "uppercase");
    let mut session = client.connect_cape("uppercase").await.unwrap();
    // Cape's claim is a checksum without a function id: read only because this is Cape mode.
    assert_eq!(session.attestation().claimed_checksum(), Some(checksum(&mock, "uppercase")));
    assert_eq!(session.attestation().claimed_function(), None);
    for input in ["abc", "", "Hello, world"] {
        assert_eq!(session.invoke(input.as_bytes()).await.unwrap(), input.to_uppercase().as_bytes());
    }
    session.close().await.unwrap();
    assert_eq!(mock.stats().invocations, 3);
}

#[tokio::test]
async fn user_name_path_and_function_errors() {
    let mock = mock().await;
    let mut session = pinned_client(&mock, "fail").connect_cape("alice/fail").await.unwrap();
    for _ in 0..2 {
        match session.invoke(b"x").await.unwrap_err() {
            Error::Function { function_id, code: 0, message } => {
                assert_eq!(function_id, fid("fail"), "the function's name; Cape's user part is not an id");
                assert_eq!(message, "function fail failed: the fail function always fails");
            }
            other => panic!("expected a function error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn cape_over_tls() {
    let mock = MockEnclave::builder().tls(true).spawn().await.unwrap();
    // Cape results are protected by TLS alone, so TLS must be validated the ordinary way.
    let refused = pinned_client(&mock, "echo").connect_cape("echo").await.map(|_| ()).unwrap_err();
    assert_eq!(refused, Error::Config(enclave_sdk::error::ConfigError::CapeNeedsWebPki));
    assert_eq!(mock.stats().documents, 0);

    let policy = pinned(&mock, "echo").build().unwrap();
    let client = Client::builder()
        .endpoint(mock.url())
        .policy(policy)
        .tls_webpki_root(mock.tls_certificate_der().unwrap().to_vec())
        .build()
        .unwrap();
    let mut session = client.connect_cape("echo").await.unwrap();
    assert_eq!(session.invoke(b"over tls").await.unwrap(), b"over tls");
}

#[tokio::test]
async fn wrong_checksum_is_refused_before_input() {
    let mock = mock().await;
    // Pinned to uppercase's checksum under echo's name: the enclave's JSON claim does not match.
    let policy =
        pinned(&mock, "echo").function_checksum_for(fid("echo"), checksum(&mock, "uppercase")).build().unwrap();
    let err = refused(&mock, &client(&mock, policy), "echo").await;
    assert_eq!(
        err,
        Error::Attestation(AttestationError::ChecksumMismatch {
            expected: checksum(&mock, "uppercase"),
            found: checksum(&mock, "echo")
        })
    );
}

#[tokio::test]
async fn wrong_pcr_is_refused_before_input() {
    let mock = mock().await;
    let policy = pinned_with_wrong_pcr0(&mock, "echo").build().unwrap();
    let err = refused(&mock, &client(&mock, policy), "echo").await;
    assert!(
        matches!(err, Error::Attestation(AttestationError::PcrNotAllowed { index: enclave_sdk::PcrIndex::IMAGE, .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn another_root_is_refused_before_input() {
    let mock = mock().await;
    let other = MockEnclave::builder().spawn().await.unwrap();
    let policy = pinned_under_root(&mock, "echo", &other.root_pem()).build().unwrap();
    let err = refused(&mock, &client(&mock, policy), "echo").await;
    assert!(matches!(err, Error::Attestation(AttestationError::Chain(ChainError::UnknownRoot { .. }))), "{err:?}");
}

#[tokio::test]
async fn checksum_pinned_for_another_function_only_is_refused() {
    let mock = mock().await;
    let policy = pinned(&mock, "uppercase").build().unwrap();
    let err = refused(&mock, &client(&mock, policy), "echo").await;
    assert!(matches!(err, Error::Attestation(AttestationError::NoChecksumForFunction { .. })), "{err:?}");
}

/// Issue 14: pycape sends an invocation's whole input as one WebSocket message, so Cape mode takes
/// inputs up to `cape_max_input` (default 16 MiB; 100 KB used to fail at the 64 KiB frame limit),
/// charged to the memory budget, and refuses a larger one with an `{"error"}` naming both sizes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cape_inputs_up_to_the_limit_are_served_and_a_larger_one_is_named() {
    let mock = mock().await;
    assert_eq!(mock.limits().cape_max_input, 16 << 20);
    let mut session = pinned_client(&mock, "echo").connect_cape("echo").await.unwrap();
    for len in [100_000, 4 << 20] {
        let input: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        assert_eq!(session.invoke(&input).await.unwrap(), input, "{len} bytes");
    }
    session.close().await.unwrap();

    let small = mock_with(|l| l.cape_max_input = 1 << 20).await;
    let mut session = pinned_client(&small, "echo").connect_cape("echo").await.unwrap();
    assert_eq!(session.invoke(&vec![1u8; 1 << 20]).await.unwrap().len(), 1 << 20);
    let err = session.invoke(&vec![1u8; (1 << 20) + 1]).await.unwrap_err();
    let expected = "an input of 1048577 bytes exceeds the enclave's limit of 1048576 bytes for one Cape invocation";
    assert!(matches!(&err, Error::Function { code: 0, message, .. } if message == expected), "{err:?}");
    assert!(small.stats().input_bytes_peak <= small.limits().memory_budget as u64);
}
