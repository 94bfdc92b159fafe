//! Policy checks and certificate-profile checks on documents that still verify: signed by a test PKI
//! shaped like AWS's (`support::TestPki`), so each check after the signature can be reached alone.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use std::time::Duration;

use enclave_protocol::{SetMismatch, UserDataError};
use enclave_sdk::attestation::{
    AttestationError as E, AttestedDocument, CertPosition as At, ChainError, CoseError, DerError, EnclaveUserData,
    Expected, Policy, PolicyBuilder, UnixTime, UserDataForm, Verifier, WebpkiReason,
};
use enclave_sdk::{FunctionChecksum, FunctionId, MeasurementSet, Pcr, PcrIndex, PcrValue};
use rcgen::{BasicConstraints, CustomExtension, IsCa, KeyUsagePurpose};
use support::{test_pcr, DocSpec, Role, TestPki, VERIFY_AT};

fn base(pki: &TestPki) -> PolicyBuilder {
    Policy::builder().trust_root(pki.root.clone())
}

fn run(pki: &TestPki, policy: Policy, doc: &DocSpec, expected: &Expected<'_>) -> Result<AttestedDocument, E> {
    Verifier::new(policy).verify(&pki.sign(doc), expected, UnixTime::from_secs(VERIFY_AT))
}

fn any(pki: &TestPki) -> Policy {
    base(pki).dangerous_accept_any_enclave().build().unwrap()
}

fn claim(id: &str, sum: u8) -> EnclaveUserData {
    EnclaveUserData::new(fid(id), FunctionChecksum::from_bytes([sum; 32]))
}

fn fid(id: &str) -> FunctionId {
    id.parse().unwrap()
}

fn sum(byte: u8) -> FunctionChecksum {
    FunctionChecksum::from_bytes([byte; 32])
}

fn idx(i: u8) -> PcrIndex {
    PcrIndex::new(i).unwrap()
}

fn value(bytes: Vec<u8>) -> PcrValue {
    PcrValue::from_bytes(&bytes).unwrap()
}

/// A measurement set of `(index, value)` pins.
fn set(pins: &[(u8, Vec<u8>)]) -> MeasurementSet {
    MeasurementSet::new(pins.iter().map(|(i, v)| Pcr::new(idx(*i), value(v.clone())))).unwrap()
}

/// The test document's own PCRs `indices`, as one set.
fn own(indices: &[u8]) -> MeasurementSet {
    set(&indices.iter().map(|i| (*i, test_pcr(*i))).collect::<Vec<_>>())
}

#[test]
fn a_well_formed_test_document_passes_with_every_pin() {
    let pki = TestPki::new();
    let spec = DocSpec { user_data: Some(claim("echo", 1).encode()), ..DocSpec::default() };
    let b = base(&pki).function_checksum_for(fid("echo"), sum(1)).allow_measurements(own(&(0..16).collect::<Vec<_>>()));
    let nonce = spec.nonce.clone().unwrap();
    let echo = fid("echo");
    let expected = Expected::default().with_nonce(&nonce).with_function_id(&echo).requiring_x25519_key();
    let doc = run(&pki, b.build().unwrap(), &spec, &expected).unwrap();
    assert_eq!(doc.claimed_function(), Some(&claim("echo", 1)));
    assert_eq!(doc.x25519_public_key(), Some([0x42; 32]));
    assert_eq!(doc.pcrs().len(), 16);
    // Tag 18 envelopes verify the same way.
    let tagged = [vec![0xd2], pki.sign(&spec)].concat();
    assert!(Verifier::new(any(&pki)).verify(&tagged, &Expected::default(), UnixTime::from_secs(VERIFY_AT)).is_ok());
}

#[test]
fn pcr_checks() {
    let pki = TestPki::new();
    let spec = DocSpec::default();
    let p = base(&pki).allow_measurements(set(&[(0, test_pcr(0)), (4, vec![1; 48])])).build().unwrap();
    assert_eq!(
        run(&pki, p, &spec, &Expected::default()).unwrap_err(),
        E::PcrNotAllowed { index: idx(4), found: value(test_pcr(4)), expected: value(vec![1; 48]) }
    );
    let missing = DocSpec { pcrs: (0..3).map(|i| (i, test_pcr(i))).collect(), ..DocSpec::default() };
    let p = base(&pki).allow_measurements(own(&[0, 8])).build().unwrap();
    assert_eq!(run(&pki, p, &missing, &Expected::default()).unwrap_err(), E::PcrMissing { index: idx(8) });
    // A SHA-256-sized PCR pinned against a 48-byte value never matches.
    let p = base(&pki).allow_measurements(set(&[(0, test_pcr(0)[..32].to_vec())])).build().unwrap();
    assert!(matches!(run(&pki, p, &spec, &Expected::default()), Err(E::PcrNotAllowed { index: PcrIndex::IMAGE, .. })));
}

/// Release N and N+1 allowed: a document of either passes, a document mixing N's PCR0 with N+1's PCR2
/// does not, and the error says where it left each set.
#[test]
fn measurement_sets_are_matched_whole() {
    let pki = TestPki::new();
    let (n0, n2) = (test_pcr(0), test_pcr(2));
    let (m0, m2) = (vec![0xa0; 48], vec![0xa2; 48]);
    let policy = || {
        base(&pki)
            .allow_measurements(set(&[(0, n0.clone()), (2, n2.clone())]))
            .allow_measurements(set(&[(0, m0.clone()), (2, m2.clone())]))
            .build()
            .unwrap()
    };
    let with = |p0: &[u8], p2: &[u8]| {
        let mut spec = DocSpec::default();
        spec.pcrs.insert(0, p0.to_vec());
        spec.pcrs.insert(2, p2.to_vec());
        spec
    };
    assert!(run(&pki, policy(), &with(&n0, &n2), &Expected::default()).is_ok());
    assert!(run(&pki, policy(), &with(&m0, &m2), &Expected::default()).is_ok());
    assert_eq!(
        run(&pki, policy(), &with(&n0, &m2), &Expected::default()).unwrap_err(),
        E::MeasurementsNotAllowed {
            mismatches: vec![
                SetMismatch::Differs {
                    index: PcrIndex::APPLICATION,
                    found: value(m2.clone()),
                    expected: value(n2.clone())
                },
                SetMismatch::Differs { index: PcrIndex::IMAGE, found: value(n0.clone()), expected: value(m0.clone()) },
            ]
        }
    );
    let shown = run(&pki, policy(), &with(&m0, &n2), &Expected::default()).unwrap_err().to_string();
    assert!(
        shown.starts_with("the document matches none of the policy's 2 measurement sets: set 1: PCR0 is a0a0"),
        "{shown}"
    );
    assert!(shown.contains("; set 2: PCR2 is 1212"), "{shown}");
    // A set the document lacks a PCR of is reported as missing, beside the other set's difference.
    let policy =
        base(&pki).allow_measurements(own(&[0, 31])).allow_measurements(set(&[(0, m0.clone())])).build().unwrap();
    assert_eq!(
        run(&pki, policy, &DocSpec::default(), &Expected::default()).unwrap_err(),
        E::MeasurementsNotAllowed {
            mismatches: vec![
                SetMismatch::Missing { index: idx(31) },
                SetMismatch::Differs { index: PcrIndex::IMAGE, found: value(n0), expected: value(m0) },
            ]
        }
    );
}

#[test]
fn debug_mode_on_a_test_document() {
    let pki = TestPki::new();
    let mut spec = DocSpec::default();
    for i in 0..3 {
        spec.pcrs.insert(i, vec![0; 48]);
    }
    assert_eq!(run(&pki, any(&pki), &spec, &Expected::default()).unwrap_err(), E::DebugMode);
    let allow = base(&pki).dangerous_accept_any_enclave().dangerous_allow_debug().build().unwrap();
    assert!(run(&pki, allow, &spec, &Expected::default()).is_ok());
    // PCR0 and PCR1 zero with PCR2 absent is no way around the debug check: the document is refused.
    let mut spec = DocSpec::default();
    spec.pcrs.insert(0, vec![0; 48]);
    spec.pcrs.insert(1, vec![0; 48]);
    spec.pcrs.remove(&2);
    assert_eq!(
        run(&pki, any(&pki), &spec, &Expected::default()).unwrap_err(),
        E::Document(enclave_sdk::attestation::DocumentError::PcrAbsent { index: 2 })
    );
    // Only PCR0 zero is not debug mode.
    let mut spec = DocSpec::default();
    spec.pcrs.insert(0, vec![0; 48]);
    assert!(run(&pki, any(&pki), &spec, &Expected::default()).is_ok());
}

#[test]
fn freshness_checks() {
    let pki = TestPki::new();
    let at = |ts_ms: u64, max: u64| {
        let p = base(&pki).dangerous_accept_any_enclave().max_document_age(Duration::from_secs(max)).build().unwrap();
        run(&pki, p, &DocSpec { timestamp_ms: ts_ms, ..DocSpec::default() }, &Expected::default())
    };
    let now = VERIFY_AT;
    assert!(at((now - 300) * 1000, 300).is_ok());
    assert_eq!(
        at((now - 301) * 1000, 300).unwrap_err(),
        E::Stale { age_s: 301, max_s: 300, timestamp_ms: (now - 301) * 1000, now: UnixTime::from_secs(now) }
    );
    assert!(at((now + 60) * 1000 + 999, 300).is_ok(), "within the 60 s skew");
    assert_eq!(
        at((now + 61) * 1000, 300).unwrap_err(),
        E::TimestampInFuture { timestamp_ms: (now + 61) * 1000, now: UnixTime::from_secs(now), skew_s: 60 }
    );
}

#[test]
fn nonce_checks() {
    let pki = TestPki::new();
    let sent = [0x07; 32];
    assert!(run(&pki, any(&pki), &DocSpec::default(), &Expected::default().with_nonce(&sent)).is_ok());
    let other = [0x08; 32];
    assert_eq!(
        run(&pki, any(&pki), &DocSpec::default(), &Expected::default().with_nonce(&other)).unwrap_err(),
        E::NonceMismatch { expected: other.to_vec(), found: sent.to_vec() }
    );
    // A prefix of the right nonce is not the nonce.
    assert!(matches!(
        run(&pki, any(&pki), &DocSpec::default(), &Expected::default().with_nonce(&sent[..16])),
        Err(E::NonceMismatch { .. })
    ));
    let none = DocSpec { nonce: None, ..DocSpec::default() };
    assert_eq!(
        run(&pki, any(&pki), &none, &Expected::default().with_nonce(&sent)).unwrap_err(),
        E::NonceMissing { expected: sent.to_vec() }
    );
}

#[test]
fn function_checksum_checks() {
    let pki = TestPki::new();
    let with = |ud: Option<Vec<u8>>| DocSpec { user_data: ud, ..DocSpec::default() };
    let echo = with(Some(claim("echo", 1).encode()));
    let image = || base(&pki).allow_measurements(own(&[0]));
    let pinned = |s| image().function_checksum(s).build().unwrap();
    assert!(run(&pki, pinned(sum(1)), &echo, &Expected::default()).is_ok());
    assert_eq!(
        run(&pki, pinned(sum(2)), &echo, &Expected::default()).unwrap_err(),
        E::ChecksumMismatch { expected: sum(2), found: sum(1) }
    );
    assert_eq!(run(&pki, pinned(sum(1)), &with(None), &Expected::default()).unwrap_err(), E::UserDataMissing);
    assert_eq!(
        run(&pki, pinned(sum(1)), &with(Some(b"hello".to_vec())), &Expected::default()).unwrap_err(),
        E::UserData(UserDataError::Unrecognised)
    );
    // Without a checksum pin, undecodable user data is simply not a claim.
    let d = run(&pki, image().build().unwrap(), &with(Some(b"hello".to_vec())), &Expected::default());
    assert_eq!(d.unwrap().claimed_function(), None);
    // The requested function must be the claimed one.
    let sum_id = fid("sum");
    assert_eq!(
        run(&pki, pinned(sum(1)), &echo, &Expected::default().with_function_id(&sum_id)).unwrap_err(),
        E::FunctionIdMismatch { expected: fid("sum"), found: fid("echo") }
    );
    // Per-function pins: the claim selects the pin when no function was requested.
    let per =
        image().function_checksum_for(fid("echo"), sum(1)).function_checksum_for(fid("sum"), sum(3)).build().unwrap();
    assert!(run(&pki, per.clone(), &echo, &Expected::default()).is_ok());
    assert_eq!(
        run(&pki, per.clone(), &with(Some(claim("echo", 3).encode())), &Expected::default()).unwrap_err(),
        E::ChecksumMismatch { expected: sum(1), found: sum(3) }
    );
    assert_eq!(
        run(&pki, per, &with(Some(claim("other", 1).encode())), &Expected::default()).unwrap_err(),
        E::NoChecksumForFunction { function_id: Some(fid("other")) }
    );
}

/// Cape's JSON claim names no function: only a connection that expects Cape's form accepts it. A
/// native verifier with the right checksum pinned refuses it by name.
#[test]
fn capes_json_claim_is_read_only_in_cape_mode() {
    let pki = TestPki::new();
    let cape = format!(r#"{{"func_checksum":"{}"}}"#, "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=");
    let spec = DocSpec { user_data: Some(cape.into_bytes()), ..DocSpec::default() };
    let policy =
        || base(&pki).allow_measurements(own(&[0])).function_checksum_for(fid("echo"), sum(1)).build().unwrap();
    let echo = fid("echo");
    let native = Expected::default().with_function_id(&echo);
    assert_eq!(run(&pki, policy(), &spec, &native).unwrap_err(), E::UserData(UserDataError::CapeForm));
    assert_eq!(run(&pki, policy(), &spec, &Expected::default()).unwrap_err(), E::UserData(UserDataError::CapeForm));
    let d = run(&pki, policy(), &spec, &native.with_user_data_form(UserDataForm::Cape)).unwrap();
    assert_eq!(d.claimed_checksum(), Some(sum(1)));
    assert_eq!(d.claimed_function(), None, "a Cape claim is not this protocol's claim");
    // Cape mode reads Cape's form only: this protocol's claim is not Cape's.
    let native_claim = DocSpec { user_data: Some(claim("echo", 1).encode()), ..DocSpec::default() };
    assert_eq!(
        run(&pki, policy(), &native_claim, &native.with_user_data_form(UserDataForm::Cape)).unwrap_err(),
        E::UserData(UserDataError::NotCapeForm)
    );
    // Without any function named, a per-function pin cannot be chosen for a Cape claim.
    assert_eq!(
        run(&pki, policy(), &spec, &Expected::default().with_user_data_form(UserDataForm::Cape)).unwrap_err(),
        E::NoChecksumForFunction { function_id: None }
    );
}

#[test]
fn x25519_key_checks() {
    let pki = TestPki::new();
    let need = Expected::default().requiring_x25519_key();
    let with = |k: Option<Vec<u8>>| DocSpec { public_key: k, ..DocSpec::default() };
    assert!(run(&pki, any(&pki), &with(Some(vec![1; 32])), &need).is_ok());
    assert_eq!(run(&pki, any(&pki), &with(Some(vec![1; 33])), &need).unwrap_err(), E::PublicKeyLength { len: 33 });
    assert_eq!(run(&pki, any(&pki), &with(Some(vec![])), &need).unwrap_err(), E::PublicKeyLength { len: 0 });
    assert_eq!(run(&pki, any(&pki), &with(None), &need).unwrap_err(), E::PublicKeyMissing);
    assert!(run(&pki, any(&pki), &with(None), &Expected::default()).is_ok());
}

#[test]
fn signature_by_another_key_is_refused() {
    let a = TestPki::new();
    let b = TestPki::new();
    // a's chain and payload, signed with b's leaf key.
    let doc = b.sign_payload(support::to_cbor(&DocSpec::default().payload(&a)));
    let res = Verifier::new(any(&a)).verify(&doc, &Expected::default(), UnixTime::from_secs(VERIFY_AT));
    assert_eq!(res.unwrap_err(), E::Cose(CoseError::BadSignature));
}

fn chain_error(tweak: impl FnMut(Role, &mut rcgen::CertificateParams)) -> E {
    let pki = TestPki::with(tweak);
    run(&pki, any(&pki), &DocSpec::default(), &Expected::default()).unwrap_err()
}

#[test]
fn certificate_profile_checks() {
    assert_eq!(
        chain_error(|r, p| if r == Role::Intermediate {
            p.is_ca = IsCa::ExplicitNoCa
        }),
        E::Chain(ChainError::NotCa { at: At::CaBundle(1) })
    );
    assert_eq!(
        chain_error(|r, p| if r == Role::Intermediate {
            p.is_ca = IsCa::NoCa
        }),
        E::Chain(ChainError::NotCa { at: At::CaBundle(1) })
    );
    assert_eq!(
        chain_error(|r, p| if r == Role::Root {
            p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0))
        }),
        E::Chain(ChainError::PathLen { at: At::PinnedRoot, path_len: 0, below: 1 })
    );
    assert_eq!(
        chain_error(|r, p| if r == Role::Intermediate {
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature]
        }),
        E::Chain(ChainError::KeyUsage { at: At::CaBundle(1), missing: "keyCertSign" })
    );
    assert_eq!(
        chain_error(|r, p| if r == Role::Intermediate {
            p.key_usages = vec![]
        }),
        E::Chain(ChainError::KeyUsage { at: At::CaBundle(1), missing: "keyCertSign" })
    );
    assert_eq!(
        chain_error(|r, p| if r == Role::Leaf {
            p.key_usages = vec![KeyUsagePurpose::KeyEncipherment]
        }),
        E::Chain(ChainError::KeyUsage { at: At::Leaf, missing: "digitalSignature" })
    );
    assert_eq!(
        chain_error(|r, p| if r == Role::Leaf {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained)
        }),
        E::Chain(ChainError::LeafIsCa)
    );
    assert_eq!(
        chain_error(|r, p| {
            if r == Role::Intermediate {
                let mut ext = CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 1], vec![0x05, 0x00]);
                ext.set_criticality(true);
                p.custom_extensions.push(ext);
            }
        }),
        E::Chain(ChainError::UnknownCriticalExtension { at: At::CaBundle(1), oid: "1.3.6.1.4.1.99999.1".into() })
    );
    // An unknown extension that is not critical is ignored.
    let pki = TestPki::with(|r, p| {
        if r == Role::Leaf {
            p.custom_extensions
                .push(CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 2], vec![0x05, 0x00]));
        }
    });
    assert!(run(&pki, any(&pki), &DocSpec::default(), &Expected::default()).is_ok());
    // The pinned root's own validity counts.
    match chain_error(|r, p| {
        if r == Role::Root {
            p.not_before = rcgen::date_time_ymd(2025, 6, 1)
        }
    }) {
        E::Chain(ChainError::NotYetValid { at: At::PinnedRoot, not_before, .. }) => {
            assert_eq!(not_before.as_secs(), 1_748_736_000)
        }
        other => panic!("{other:?}"),
    }
    match chain_error(|r, p| {
        if r == Role::Intermediate {
            p.not_after = rcgen::date_time_ymd(2025, 1, 1)
        }
    }) {
        E::Chain(ChainError::Expired { at: At::CaBundle(1), not_after, skew_s: 60, .. }) => {
            assert_eq!(not_after.as_secs(), support::T0)
        }
        other => panic!("{other:?}"),
    }
}

/// No error's Display repeats user data or the input; only lengths, hex of public values, names.
#[test]
fn errors_never_display_user_data() {
    let pki = TestPki::new();
    let canary = b"CANARY-7f3a-secret-user-data".to_vec();
    let spec = DocSpec { user_data: Some(canary.clone()), ..DocSpec::default() };
    let hex_canary = hex::encode(&canary);
    let policies = [
        base(&pki).allow_measurements(own(&[0])).function_checksum(sum(1)).build().unwrap(),
        base(&pki).allow_measurements(set(&[(0, vec![0x5a; 48])])).build().unwrap(),
        base(&pki).dangerous_accept_any_enclave().max_document_age(Duration::ZERO).build().unwrap(),
    ];
    for p in policies {
        let e = run(&pki, p, &spec, &Expected::default().requiring_x25519_key()).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("CANARY") && !shown.contains(&hex_canary), "{shown}");
    }
    let ok = run(&pki, any(&pki), &spec, &Expected::default()).unwrap();
    let shown = format!("{ok:?} {:?}", ok.fields());
    assert!(!shown.contains("CANARY") && !shown.contains(&hex_canary), "{shown}");
}

fn chain_error_at(pki: &TestPki, spec: &DocSpec, now: u64, skew: u64) -> Result<AttestedDocument, E> {
    let policy = base(pki)
        .dangerous_accept_any_enclave()
        .clock_skew(Duration::from_secs(skew))
        .max_document_age(Duration::from_secs(1 << 30))
        .build()
        .unwrap();
    Verifier::new(policy).verify(&pki.sign(spec), &Expected::default(), UnixTime::from_secs(now))
}

fn critical(oid: &[u64], content: Vec<u8>) -> CustomExtension {
    let mut ext = CustomExtension::from_oid_content(oid, content);
    ext.set_criticality(true);
    ext
}

/// The forged chains of the X.509 review, each refused with the error that names it. The comments say
/// which layer catches it (x509-cert, webpki, or the Nitro profile in `x509`/`chain`).
#[test]
fn forged_chain_findings() {
    use rcgen::SerialNumber;
    const KU: &[u64] = &[2, 5, 29, 15];
    const BC: &[u64] = &[2, 5, 29, 19];
    let malformed = |at, problem| E::Chain(ChainError::Malformed { at, problem });

    // A CA whose keyCertSign bit sits only among the KeyUsage BIT STRING's unused bits: 3 unused bits,
    // value 0x84 = digitalSignature plus bit 5 (keyCertSign) inside the unused part. der 0.8 and webpki
    // let it through; the profile refuses it.
    assert_eq!(
        chain_error(|r, p| if r == Role::Intermediate {
            p.key_usages = vec![];
            p.custom_extensions.push(critical(KU, vec![0x03, 0x02, 0x03, 0x84]));
        }),
        malformed(At::CaBundle(1), DerError::UnusedBitSet { extension: "KeyUsage" })
    );
    // The same bits with a correct unused count decode as keyCertSign and verify.
    let pki = TestPki::with(|r, p| {
        if r == Role::Intermediate {
            p.key_usages = vec![];
            p.custom_extensions.push(critical(KU, vec![0x03, 0x02, 0x02, 0x84]));
        }
    });
    assert!(run(&pki, any(&pki), &DocSpec::default(), &Expected::default()).is_ok());

    // An intermediate with notBefore > notAfter, both inside the 60 s skew of the verification time.
    match chain_error(|r, p| {
        if r == Role::Intermediate {
            p.not_before = rcgen::date_time_ymd(2025, 1, 1) + Duration::from_secs(100);
            p.not_after = rcgen::date_time_ymd(2025, 1, 1) + Duration::from_secs(80);
        }
    }) {
        E::Chain(ChainError::InvalidValidity { at: At::CaBundle(1), not_before, not_after }) => {
            assert_eq!((not_before.as_secs(), not_after.as_secs()), (support::T0 + 100, support::T0 + 80));
        }
        other => panic!("{other:?}"),
    }

    // An explicitly encoded DEFAULT: BasicConstraints { cA FALSE } on the leaf. Not DER; x509-cert refuses.
    assert_eq!(
        chain_error(|r, p| if r == Role::Leaf {
            p.is_ca = IsCa::NoCa;
            p.custom_extensions.push(critical(BC, vec![0x30, 0x03, 0x01, 0x01, 0x00]));
        }),
        malformed(At::Leaf, DerError::BadExtension { what: "BasicConstraints" })
    );
    // The DER form (an empty SEQUENCE) is what AWS's leaves carry, and passes.
    let pki = TestPki::with(|r, p| {
        if r == Role::Leaf {
            p.is_ca = IsCa::NoCa;
            p.custom_extensions.push(critical(BC, vec![0x30, 0x00]));
        }
    });
    assert!(run(&pki, any(&pki), &DocSpec::default(), &Expected::default()).is_ok());

    // Serial numbers: zero, and a 21-octet value. x509-cert and webpki accept both; the profile does not.
    // (A negative serial: `attestation_tampering`, on a real certificate; rcgen cannot write one.)
    assert_eq!(
        chain_error(|r, p| if r == Role::Intermediate {
            p.serial_number = Some(SerialNumber::from(vec![0]));
        }),
        malformed(At::CaBundle(1), DerError::SerialZero)
    );
    assert_eq!(
        chain_error(|r, p| if r == Role::Leaf {
            p.serial_number = Some(SerialNumber::from(vec![0x01; 21]));
        }),
        malformed(At::Leaf, DerError::SerialTooLong { octets: 21 })
    );
    // 20 octets with the top bit set (21 encoded, as AWS's instance CAs) are fine.
    let pki = TestPki::with(|r, p| {
        if r == Role::Intermediate {
            p.serial_number = Some(SerialNumber::from(vec![0xd0; 20]));
        }
    });
    assert!(run(&pki, any(&pki), &DocSpec::default(), &Expected::default()).is_ok());
}

/// Every certificate valid within the skew, but not all at once: the intermediate ends 20 s before the
/// leaf begins. The old per-certificate check accepted this; a path needs one instant.
#[test]
fn a_path_needs_one_instant_at_which_every_certificate_is_valid() {
    let t0 = rcgen::date_time_ymd(2025, 1, 1);
    let pki = TestPki::with(|r, p| match r {
        Role::Intermediate => p.not_after = t0 + Duration::from_secs(40),
        Role::Leaf => p.not_before = t0 + Duration::from_secs(60),
        Role::Root => {}
    });
    let err = chain_error_at(&pki, &DocSpec::default(), support::VERIFY_AT, 60).unwrap_err();
    assert_eq!(
        err,
        E::Chain(ChainError::NoCommonValidity {
            starts: At::Leaf,
            not_before: UnixTime::from_secs(support::T0 + 60),
            ends: At::CaBundle(1),
            not_after: UnixTime::from_secs(support::T0 + 40),
        })
    );
}

/// The skew allowance on both edges of the validity window, to the second, cold and warm (the cached
/// verdict is reused only within the window; webpki sees the instant moved into it).
#[test]
fn clock_skew_on_both_edges_to_the_second() {
    let pki = TestPki::new();
    let (nb, na) = (support::T0, support::T0 + support::LEAF_LIFETIME);
    let spec = DocSpec { timestamp_ms: nb * 1000, ..DocSpec::default() };
    let warm = Verifier::new(
        base(&pki).dangerous_accept_any_enclave().max_document_age(Duration::from_secs(1 << 30)).build().unwrap(),
    );
    let doc = pki.sign(&spec);
    warm.verify(&doc, &Expected::default(), UnixTime::from_secs(nb + 100)).unwrap();
    for (now, ok) in [(nb - 60, true), (nb - 61, false), (na + 60, true), (na + 61, false)] {
        let cold = chain_error_at(&pki, &spec, now, 60);
        let hot = warm.verify(&doc, &Expected::default(), UnixTime::from_secs(now));
        assert_eq!(cold.is_ok(), ok, "cold at {now}: {cold:?}");
        assert_eq!(hot.as_ref().err(), cold.as_ref().err(), "warm and cold agree at {now}");
    }
    assert_eq!(
        chain_error_at(&pki, &spec, nb - 61, 60).unwrap_err(),
        E::Chain(ChainError::NotYetValid {
            at: At::Leaf,
            not_before: UnixTime::from_secs(nb),
            now: UnixTime::from_secs(nb - 61),
            skew_s: 60
        })
    );
    assert_eq!(
        chain_error_at(&pki, &spec, na + 61, 60).unwrap_err(),
        E::Chain(ChainError::Expired {
            at: At::Leaf,
            not_after: UnixTime::from_secs(na),
            now: UnixTime::from_secs(na + 61),
            skew_s: 60
        })
    );
}

#[test]
fn extended_key_usage_is_refused_where_it_sits() {
    use rcgen::ExtendedKeyUsagePurpose as Eku;
    assert_eq!(
        chain_error(|r, p| if r == Role::Leaf {
            p.extended_key_usages = vec![Eku::ServerAuth]
        }),
        E::Chain(ChainError::ExtendedKeyUsage { at: At::Leaf })
    );
    assert_eq!(
        chain_error(|r, p| if r == Role::Intermediate {
            p.extended_key_usages = vec![Eku::Any]
        }),
        E::Chain(ChainError::ExtendedKeyUsage { at: At::CaBundle(1) })
    );
}

/// A refusal webpki makes for a reason of its own: the intermediate's (non-critical) name constraints
/// permit only `allowed.x`, and the leaf names `other.test`.
#[test]
fn a_webpki_refusal_names_the_certificate() {
    let nc = vec![0x30, 0x0f, 0xa0, 0x0d, 0x30, 0x0b, 0x82, 0x09, b'a', b'l', b'l', b'o', b'w', b'e', b'd', b'.', b'x'];
    let pki = TestPki::with(|r, p| match r {
        Role::Intermediate => p.custom_extensions.push(CustomExtension::from_oid_content(&[2, 5, 29, 30], nc.clone())),
        Role::Leaf => p.subject_alt_names = vec![rcgen::SanType::DnsName("other.test".try_into().unwrap())],
        Role::Root => {}
    });
    assert_eq!(
        run(&pki, any(&pki), &DocSpec::default(), &Expected::default()).unwrap_err(),
        E::Chain(ChainError::Refused { at: At::Leaf, reason: WebpkiReason::NameConstraints })
    );
}

/// A `cabundle[1]` that copies the root's name with a key of its own. Names chain in cabundle's order,
/// and webpki alone would accept the shorter path that skips it (the intermediate is signed by the
/// root); only cabundle's exact path counts, and in it the intermediate's signature is not by that key.
#[test]
fn webpki_may_accept_only_the_cabundle_path() {
    let pki = TestPki::new();
    let doc = with_impostor_intermediate(&pki);
    let err = Verifier::new(any(&pki)).verify(&doc, &Expected::default(), UnixTime::from_secs(VERIFY_AT)).unwrap_err();
    assert_eq!(err, E::Chain(ChainError::BadSignature { at: At::CaBundle(2), issuer: At::CaBundle(1) }));
}

/// When both the path and the document's signature are broken, the path is the failure reported; a
/// bad signature over a good path is reported as such, on a cold verifier and again on a warm one (the
/// path's cached verdict never stands in for the signature), and the good document then verifies.
#[test]
fn a_broken_path_is_reported_before_a_bad_signature() {
    let pki = TestPki::new();
    let at = UnixTime::from_secs(VERIFY_AT);
    let flip_last = |mut doc: Vec<u8>| {
        // The last byte of the COSE_Sign1 is the signature's.
        if let Some(b) = doc.last_mut() {
            *b ^= 1;
        }
        doc
    };
    let both = flip_last(with_impostor_intermediate(&pki));
    let err = Verifier::new(any(&pki)).verify(&both, &Expected::default(), at).unwrap_err();
    assert_eq!(err, E::Chain(ChainError::BadSignature { at: At::CaBundle(2), issuer: At::CaBundle(1) }));

    let verifier = Verifier::new(any(&pki));
    let good = pki.sign_payload(support::to_cbor(&DocSpec::default().payload(&pki)));
    let bad = flip_last(good.clone());
    for _ in 0..2 {
        assert_eq!(verifier.verify(&bad, &Expected::default(), at).unwrap_err(), E::Cose(CoseError::BadSignature));
    }
    assert!(verifier.verify(&good, &Expected::default(), at).is_ok());
}

/// A document whose `cabundle[1]` copies the root's name with a key of its own (see
/// `webpki_may_accept_only_the_cabundle_path`), signed by the leaf.
fn with_impostor_intermediate(pki: &TestPki) -> Vec<u8> {
    let impostor = rcgen::CertifiedIssuer::self_signed(
        support::params(Role::Root),
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap(),
    )
    .unwrap();
    let mut map = match DocSpec::default().payload(pki) {
        ciborium::Value::Map(m) => m,
        _ => unreachable!(),
    };
    if let ciborium::Value::Array(bundle) = support::payload_get(&mut map, "cabundle") {
        bundle.insert(1, ciborium::Value::Bytes(impostor.der().to_vec()));
    }
    pki.sign_payload(support::to_cbor(&ciborium::Value::Map(map)))
}
