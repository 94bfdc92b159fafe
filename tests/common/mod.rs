//! Shared setup for the end-to-end tests: an in-process mock enclave and a client pinned to it.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod cli;
pub mod raw;
pub mod rogue;

use std::collections::BTreeMap;

use enclave_sdk::attestation::{Policy, PolicyBuilder, TrustRoot};
use enclave_sdk::{Client, FunctionChecksum, FunctionId, MeasurementSet, Pcr, PcrIndex, PcrValue};
use mock_enclave::MockEnclave;

pub fn fid(id: &str) -> FunctionId {
    id.parse().unwrap()
}

/// The checksum `mock` attests for `function`.
pub fn checksum(mock: &MockEnclave, function: &str) -> FunctionChecksum {
    mock.function_checksum(&fid(function)).unwrap()
}

/// The set of `pcrs` at `indices` (one release).
pub fn set_of(pcrs: &BTreeMap<PcrIndex, PcrValue>, indices: &[u8]) -> MeasurementSet {
    MeasurementSet::new(indices.iter().map(|i| {
        let index = PcrIndex::new(*i).unwrap();
        Pcr::new(index, pcrs[&index].clone())
    }))
    .unwrap()
}

/// Every PCR `mock` reports, as one set.
pub fn every_pcr(mock: &MockEnclave) -> MeasurementSet {
    MeasurementSet::new(mock.measurements().pcrs().iter().map(|(i, v)| Pcr::new(*i, v.clone()))).unwrap()
}

/// `IDX=HEX,...` for `mock`'s PCRs at `indices`, as `--pcrs` and `ENCLAVE_PCRS` take them.
pub fn pcrs_text(mock: &MockEnclave, indices: &[u8]) -> String {
    set_of(mock.measurements().pcrs(), indices).to_string()
}

/// A policy builder pinning the mock's root, every PCR it reports, and `function`'s checksum.
pub fn pinned(mock: &MockEnclave, function: &str) -> PolicyBuilder {
    let mut p = Policy::builder()
        .trust_root(TrustRoot::from_pem(&mock.root_pem()).unwrap())
        .allow_measurements(every_pcr(mock));
    if let Some(sum) = mock.function_checksum(&fid(function)) {
        p = p.function_checksum_for(fid(function), sum);
    }
    p
}

/// Like [`pinned`], but trusting `root_pem` instead of the mock's own root: a chain the mock serves
/// must then be refused as `UnknownRoot`.
pub fn pinned_under_root(mock: &MockEnclave, function: &str, root_pem: &str) -> PolicyBuilder {
    pinned(mock, function).trust_root(TrustRoot::from_pem(root_pem).unwrap())
}

/// The mock's root and `function`'s checksum, but PCR0 pinned to a value no enclave has.
pub fn pinned_with_wrong_pcr0(mock: &MockEnclave, function: &str) -> PolicyBuilder {
    let wrong = MeasurementSet::single(Pcr::new(PcrIndex::IMAGE, PcrValue::from([0xab; 48])));
    let mut p = Policy::builder().trust_root(TrustRoot::from_pem(&mock.root_pem()).unwrap()).allow_measurements(wrong);
    if let Some(sum) = mock.function_checksum(&fid(function)) {
        p = p.function_checksum_for(fid(function), sum);
    }
    p
}

pub fn client(mock: &MockEnclave, policy: Policy) -> Client {
    Client::builder().endpoint(mock.url()).policy(policy).build().unwrap()
}

pub fn pinned_client(mock: &MockEnclave, function: &str) -> Client {
    client(mock, pinned(mock, function).build().unwrap())
}

/// A mock enclave with its default limits changed by `f`.
pub async fn mock_with(f: impl FnOnce(&mut mock_enclave::ServerLimits)) -> MockEnclave {
    let mut limits = mock_enclave::ServerLimits::default();
    f(&mut limits);
    MockEnclave::builder().limits(limits).spawn().await.unwrap()
}

pub async fn mock() -> MockEnclave {
    MockEnclave::builder().spawn().await.unwrap()
}

/// A mock enclave serving the builtins and one user function from a directory: `<dir>/<name>/main`,
/// the shell `script`. The directory lives as long as the returned `TempDir`.
pub async fn mock_with_dir_function(name: &str, script: &str) -> (tempfile::TempDir, MockEnclave) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join(name);
    std::fs::create_dir(&f).unwrap();
    std::fs::write(f.join("main"), script).unwrap();
    std::fs::set_permissions(f.join("main"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut functions = mock_enclave::functions::FunctionRegistry::builtins();
    functions.load_dir(dir.path()).unwrap();
    let mock = MockEnclave::builder().functions(functions).spawn().await.unwrap();
    (dir, mock)
}
