//! A pin to all zeros identifies no image (review 12, finding 1): every unsigned image reports PCR8 = 0
//! and every debug-mode enclave PCR0..2 = 0, so such a set would admit third parties' enclaves. Shown
//! on genuine AWS documents.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use enclave_sdk::attestation::{Expected, Policy, PolicyError, UnixTime, Verifier};
use enclave_sdk::{MeasurementSet, PcrIndex};
use support::fixture;

/// What a policy admits, shown on a real document: `Ok(module_id)` when it verifies.
fn admits(policy: &Policy, file: &str) -> Result<String, String> {
    let fx = fixture(file);
    Verifier::new(policy.clone())
        .verify(&fx.bytes, &Expected::none(), UnixTime::from_secs(fx.verify_at))
        .map(|doc| doc.module_id().to_owned())
        .map_err(|e| e.to_string())
}

/// Finding 1. An all-zero PCR8 is what every unsigned image attests (it is the register's reset
/// value), so a set pinning `8=00..00` identifies no image, yet the rule counts it as pinning PCR8.
/// `blocky-nitrite-1024` is a third party's production (non-debug) enclave with an unsigned image:
/// the policy admits it.
#[test]
fn an_all_zero_pcr8_does_not_identify_an_image() {
    let zero8: MeasurementSet = format!("8={}", "00".repeat(48)).parse().unwrap();
    // Control: the document really is a non-debug document whose PCR8 is zero, and it verifies.
    let any = Policy::builder().dangerous_accept_any_enclave().build().unwrap();
    assert!(admits(&any, "blocky-nitrite-1024.cbor").is_ok());

    let built = Policy::builder().allow_measurements(zero8).build();
    let admitted = built.as_ref().ok().map(|p| admits(p, "blocky-nitrite-1024.cbor"));
    assert_eq!(
        built.map(drop),
        Err(PolicyError::ImageNotPinned {
            set: Some(1),
            pins: vec![PcrIndex::SIGNING_CERTIFICATE],
            zeroed: vec![PcrIndex::SIGNING_CERTIFICATE],
            checksum_pinned: false
        }),
        "the policy admits any unsigned enclave; here a third party's: {admitted:?}"
    );
}

/// Finding 1, the debug variant. With debug enclaves allowed, `0=00..00` (or `2=00..00`) is what
/// every debug enclave attests, whatever its image: the set "pins PCR0" and identifies nothing.
/// `evervault-ga` is a third party's debug enclave.
#[test]
fn an_all_zero_image_pcr_does_not_identify_a_debug_image() {
    let zero0: MeasurementSet = format!("0={}", "00".repeat(48)).parse().unwrap();
    let built = Policy::builder().allow_measurements(zero0).dangerous_allow_debug().build();
    let admitted = built.as_ref().ok().map(|p| admits(p, "evervault-ga.cbor"));
    assert_eq!(
        built.map(drop),
        Err(PolicyError::ImageNotPinned {
            set: Some(1),
            pins: vec![PcrIndex::IMAGE],
            zeroed: vec![PcrIndex::IMAGE],
            checksum_pinned: false
        }),
        "the policy admits any debug enclave; here a third party's: {admitted:?}"
    );
}

/// A zero PCR8 beside a real PCR0 is a sound set (an unsigned release), and its message when alone says why
/// it is refused.
#[test]
fn a_zero_pin_beside_a_real_one_is_allowed_and_alone_is_explained() {
    let release: MeasurementSet = format!("0={},8={}", "ab".repeat(48), "00".repeat(48)).parse().unwrap();
    assert!(Policy::builder().allow_measurements(release).build().is_ok());
    let zero8: MeasurementSet = format!("3={},8={}", "33".repeat(48), "00".repeat(48)).parse().unwrap();
    let refused = Policy::builder().allow_measurements(zero8).build().unwrap_err();
    assert_eq!(
        refused.to_string(),
        "measurement set 1 pins PCR3, PCR8, but its PCR8 value is all zeros, which every unsigned image (PCR8) and \
         every debug-mode enclave (PCR0..2) reports, so it does not identify the enclave image: pin a non-zero PCR0, \
         PCR2 or PCR8"
    );
}
