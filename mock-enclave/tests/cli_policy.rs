//! `mock-enclave policy` writes the policy that pins this mock (it was `enclave policy init
//! --from-mock` before the user CLI stopped linking the mock): one set of the mock's PCRs, every
//! built-in's checksum, and the state directory's root, and that policy admits a mock served from the
//! same state directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::{Command, Output};

use enclave_sdk::attestation::{Policy, PolicyFile, RootSource};
use enclave_sdk::Client;
use mock_enclave::functions::{FunctionRegistry, BUILTINS};
use mock_enclave::MockEnclave;

fn mock_enclave(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mock-enclave")).args(args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn without_a_state_dir_it_prints_toml_and_warns_that_the_root_is_aws() {
    let out = mock_enclave(&["policy"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("without --state-dir the mock's root is ephemeral"), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("# Pinned from the mock enclave's measurements.\n"), "{text}");
    let file = PolicyFile::parse(&text, None).unwrap();
    assert_eq!(file.measurement_sets().len(), 1);
    assert_eq!(file.measurement_sets()[0].indices().map(|i| i.get()).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(file.trust_root(), &RootSource::AwsNitroRootG1);
    // Every built-in is pinned under its id, with the checksum the mock reports for it.
    let registry = FunctionRegistry::builtins();
    for id in BUILTINS {
        assert_eq!(file.function_checksums()[id], registry.get(&id.parse().unwrap()).unwrap().checksum(), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_state_dir_the_policy_admits_the_mock_served_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let policy = dir.path().join("policy.toml");
    let out = mock_enclave(&["policy", "--state-dir", state.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "a state directory leaves nothing to warn about");
    std::fs::write(&policy, &out.stdout).unwrap();
    let file = PolicyFile::from_file(&policy).unwrap();
    assert!(
        matches!(file.trust_root(), RootSource::Pem { path, .. } if *path == state.canonicalize().unwrap().join("root.pem")),
        "{:?}",
        file.trust_root()
    );

    // The mock that serves from the same state directory is admitted; another root is not.
    let mock = MockEnclave::builder().state_dir(&state).spawn().await.unwrap();
    let client = Client::builder().endpoint(mock.url()).policy(Policy::from_file(&policy).unwrap()).build().unwrap();
    let session = client.connect("echo").await.unwrap();
    assert_eq!(session.invoke(b"pinned").await.unwrap(), b"pinned");
    session.close().await.unwrap();
    let other = MockEnclave::builder().spawn().await.unwrap();
    let client = Client::builder().endpoint(other.url()).policy(Policy::from_file(&policy).unwrap()).build().unwrap();
    assert!(matches!(
        client.connect("echo").await,
        Err(enclave_sdk::Error::Attestation(enclave_sdk::attestation::AttestationError::Chain(
            enclave_sdk::attestation::ChainError::UnknownRoot { .. }
        )))
    ));
    assert_eq!(other.stats().key_shares, 0);

    // A functions directory that does not load is a usage error.
    let missing = dir.path().join("no-functions");
    let out = mock_enclave(&["policy", "--functions", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no-functions"), "{}", stderr(&out));
}
