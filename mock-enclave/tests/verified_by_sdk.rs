//! Documents from the software NSM pass the SDK's real verifier with the mock root, PCRs and checksum
//! pinned, and fail it with the specific error for: debug mode without `dangerous_allow_debug`, the
//! AWS root pinned, another mock's root pinned, a time past the leaf's validity, another PCR or
//! checksum, and a tampered signature.

// Helpers outside #[test] functions may fail loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use enclave_runtime::{AttestationRequest, Attester};
use enclave_sdk::attestation::{
    AttestationError, CertPosition, ChainError, CoseError, EnclaveUserData, Expected, Policy, PolicyBuilder,
    PolicyError, TrustRoot, UnixTime, Verifier,
};
use enclave_sdk::checksum::builtin_checksum;
use enclave_sdk::{FunctionChecksum, FunctionId, MeasurementSet, Pcr, PcrIndex};
use mock_enclave::attester::software::LEAF_LIFETIME_S;
use mock_enclave::attester::SoftwareNsm;
use mock_enclave::functions::{FunctionRegistry, MOCK_VERSION};
use mock_enclave::measurements::Measurements;

/// 2026-01-01T00:00:00Z.
const T0_S: u64 = 1_767_225_600;
const NONCE: [u8; 32] = [0x4e; 32];
const KEY: [u8; 32] = [0x09; 32];

fn measurements() -> Measurements {
    Measurements::for_mock(FunctionRegistry::builtins().manifest())
}

fn nsm_at(m: Measurements) -> (SoftwareNsm, Arc<AtomicU64>) {
    let now = Arc::new(AtomicU64::new(T0_S * 1000));
    let c = now.clone();
    (SoftwareNsm::ephemeral(m).unwrap().with_clock(Arc::new(move || c.load(Ordering::SeqCst))), now)
}

fn echo() -> FunctionId {
    "echo".parse().unwrap()
}

fn echo_sum(version: &str) -> FunctionChecksum {
    builtin_checksum(&echo(), version)
}

/// The set pinning `m`'s PCRs `indices`.
fn set_of(m: &Measurements, indices: &[u8]) -> MeasurementSet {
    MeasurementSet::new(indices.iter().map(|i| {
        let index = PcrIndex::new(*i).unwrap();
        Pcr::new(index, m.pcrs()[&index].clone())
    }))
    .unwrap()
}

fn echo_claim() -> Vec<u8> {
    EnclaveUserData::new(echo(), echo_sum(MOCK_VERSION)).encode()
}

fn request() -> AttestationRequest {
    AttestationRequest::new(Some(NONCE.to_vec()), Some(KEY.to_vec()), Some(echo_claim()))
}

/// The policy a client of this mock pins: its root, PCR0..2, and echo's checksum.
fn pinned(nsm: &SoftwareNsm, m: &Measurements) -> PolicyBuilder {
    Policy::builder()
        .trust_root(TrustRoot::from_der(nsm.root_der().to_vec()).unwrap())
        .allow_measurements(set_of(m, &[0, 1, 2]))
        .function_checksum_for(echo(), echo_sum(MOCK_VERSION))
}

static ECHO: std::sync::LazyLock<FunctionId> = std::sync::LazyLock::new(echo);

fn expected() -> Expected<'static> {
    Expected::none().with_nonce(&NONCE).with_function_id(&ECHO).requiring_x25519_key()
}

fn verify(
    policy: Policy,
    raw: &[u8],
    at_s: u64,
) -> Result<enclave_sdk::attestation::AttestedDocument, AttestationError> {
    Verifier::new(policy).verify(raw, &expected(), UnixTime::from_secs(at_s))
}

#[test]
fn document_passes_with_root_pcrs_and_checksum_pinned() {
    let m = measurements();
    let (nsm, _) = nsm_at(m.clone());
    let raw = nsm.attest(&request()).unwrap();
    let doc = verify(pinned(&nsm, &m).build().unwrap(), &raw, T0_S + 30).unwrap();
    assert_eq!(doc.module_id(), nsm.module_id());
    assert_eq!(doc.timestamp_ms(), T0_S * 1000);
    assert_eq!(doc.nonce(), Some(&NONCE[..]));
    assert_eq!(doc.x25519_public_key(), Some(KEY));
    assert_eq!(doc.claimed_function().unwrap().function_id(), &echo());
    assert_eq!(doc.pcrs(), m.pcrs());
}

#[test]
fn documents_with_every_optional_field_at_its_limit_verify() {
    let m = measurements();
    let (nsm, _) = nsm_at(m.clone());
    let policy = Policy::builder()
        .trust_root(TrustRoot::from_der(nsm.root_der().to_vec()).unwrap())
        .allow_measurements(set_of(&m, &[0]))
        .build()
        .unwrap();
    let max = vec![0xee; 1024];
    for req in [
        AttestationRequest::default(),
        AttestationRequest::new(Some(max.clone()), Some(max.clone()), Some(max.clone())),
        AttestationRequest::new(Some(vec![]), Some(vec![]), Some(vec![])),
    ] {
        let raw = nsm.attest(&req).unwrap();
        Verifier::new(policy.clone()).verify(&raw, &Expected::none(), UnixTime::from_secs(T0_S)).unwrap();
    }
}

#[test]
fn debug_mode_document_is_refused_unless_allowed() {
    let m = measurements().debug_mode(true);
    let (nsm, _) = nsm_at(m.clone());
    let raw = nsm.attest(&request()).unwrap();
    let root = || TrustRoot::from_der(nsm.root_der().to_vec()).unwrap();
    // The debug enclave's own (all-zero) PCR0 is no pin at all: the builder refuses it.
    let zero_pin = || {
        Policy::builder()
            .trust_root(root())
            .allow_measurements(set_of(&m, &[0]))
            .function_checksum(echo_sum(MOCK_VERSION))
    };
    assert!(matches!(zero_pin().build(), Err(PolicyError::ImageNotPinned { set: Some(1), .. })));
    // Any enclave, but not a debug one, unless that is allowed too.
    let any = || Policy::builder().trust_root(root()).dangerous_accept_any_enclave();
    assert_eq!(verify(any().build().unwrap(), &raw, T0_S).unwrap_err(), AttestationError::DebugMode);
    let allowing = any().dangerous_allow_debug().build().unwrap();
    verify(allowing, &raw, T0_S).unwrap();
}

#[test]
fn document_is_refused_against_the_aws_root() {
    let m = measurements();
    let (nsm, _) = nsm_at(m.clone());
    let raw = nsm.attest(&request()).unwrap();
    let aws = pinned(&nsm, &m).trust_root(TrustRoot::aws_nitro_root_g1()).build().unwrap();
    assert!(
        matches!(verify(aws, &raw, T0_S), Err(AttestationError::Chain(ChainError::UnknownRoot { .. }))),
        "a mock document must never pass as AWS's"
    );
}

#[test]
fn document_is_refused_against_another_mocks_root() {
    let m = measurements();
    let (nsm, _) = nsm_at(m.clone());
    let (other, _) = nsm_at(m.clone());
    let raw = nsm.attest(&request()).unwrap();
    let policy = pinned(&nsm, &m).trust_root(TrustRoot::from_der(other.root_der().to_vec()).unwrap()).build().unwrap();
    assert!(matches!(verify(policy, &raw, T0_S), Err(AttestationError::Chain(ChainError::UnknownRoot { .. }))));
}

#[test]
fn document_is_refused_after_the_leaf_expires() {
    let m = measurements();
    let (nsm, _) = nsm_at(m.clone());
    let raw = nsm.attest(&request()).unwrap();
    // Age is not what this test is about: allow old documents, so the chain check is what fails.
    let policy =
        || pinned(&nsm, &m).max_document_age(Duration::from_secs(86_400)).clock_skew(Duration::ZERO).build().unwrap();
    let not_after = T0_S + LEAF_LIFETIME_S;
    verify(policy(), &raw, not_after).unwrap();
    assert_eq!(
        verify(policy(), &raw, not_after + 1).unwrap_err(),
        AttestationError::Chain(ChainError::Expired {
            at: CertPosition::Leaf,
            not_after: UnixTime::from_secs(not_after),
            now: UnixTime::from_secs(not_after + 1),
            skew_s: 0,
        })
    );
}

#[test]
fn rotated_chain_verifies_days_later() {
    let m = measurements();
    let (nsm, now) = nsm_at(m.clone());
    let later_s = T0_S + 3 * 86_400 + 7;
    now.store(later_s * 1000, Ordering::SeqCst);
    let raw = nsm.attest(&request()).unwrap();
    verify(pinned(&nsm, &m).build().unwrap(), &raw, later_s).unwrap();
}

#[test]
fn document_is_refused_for_another_pcr_or_checksum() {
    let m = measurements();
    let (nsm, _) = nsm_at(m.clone());
    let raw = nsm.attest(&request()).unwrap();
    let other = Measurements::for_mock(FunctionRegistry::builtins().manifest().into_iter().skip(1)); // one function fewer;
    let policy = Policy::builder()
        .trust_root(TrustRoot::from_der(nsm.root_der().to_vec()).unwrap())
        .allow_measurements(set_of(&other, &[2]))
        .build()
        .unwrap();
    assert_eq!(
        verify(policy, &raw, T0_S).unwrap_err(),
        AttestationError::PcrNotAllowed {
            index: PcrIndex::APPLICATION,
            found: m.pcrs()[&PcrIndex::APPLICATION].clone(),
            expected: other.pcrs()[&PcrIndex::APPLICATION].clone(),
        }
    );

    let policy = Policy::builder()
        .trust_root(TrustRoot::from_der(nsm.root_der().to_vec()).unwrap())
        .allow_measurements(set_of(&m, &[0]))
        .function_checksum_for(echo(), echo_sum("0.0.0-other"))
        .build()
        .unwrap();
    assert_eq!(
        verify(policy, &raw, T0_S).unwrap_err(),
        AttestationError::ChecksumMismatch { expected: echo_sum("0.0.0-other"), found: echo_sum(MOCK_VERSION) }
    );
}

#[test]
fn tampered_signature_is_refused() {
    let m = measurements();
    let (nsm, _) = nsm_at(m.clone());
    let mut raw = nsm.attest(&request()).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    assert_eq!(
        verify(pinned(&nsm, &m).build().unwrap(), &raw, T0_S).unwrap_err(),
        AttestationError::Cose(CoseError::BadSignature)
    );
}

#[test]
fn root_pem_from_the_state_directory_verifies_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let m = measurements();
    let first = SoftwareNsm::load_or_create(dir.path(), m.clone()).unwrap();
    let pinned_root = TrustRoot::from_pem(&std::fs::read_to_string(dir.path().join("root.pem")).unwrap()).unwrap();
    drop(first);
    let restarted = SoftwareNsm::load_or_create(dir.path(), m.clone()).unwrap().with_clock(Arc::new(|| T0_S * 1000));
    let raw = restarted.attest(&request()).unwrap();
    let policy = Policy::builder().trust_root(pinned_root).allow_measurements(set_of(&m, &[0])).build().unwrap();
    verify(policy, &raw, T0_S).unwrap();
}

#[test]
fn concurrent_attestations_all_verify() {
    let m = measurements();
    let (nsm, _) = nsm_at(m.clone());
    let nsm = Arc::new(nsm);
    let docs: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(|| nsm.attest(&request()).unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let verifier = Verifier::new(pinned(&nsm, &m).build().unwrap());
    for raw in &docs {
        verifier.verify(raw, &expected(), UnixTime::from_secs(T0_S)).unwrap();
    }
}
