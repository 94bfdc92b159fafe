//! The six real AWS documents: accepted at `verify_at`, refused outside their validity window, debug
//! documents refused by default, PCR pins honoured, and rustls-webpki as an independent oracle for
//! every chain.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use std::time::Duration;

use enclave_sdk::attestation::{
    AttestationError, CertPosition, ChainError, Expected, Policy, PolicyError, UnixTime, UnverifiedDocument, Verifier,
};
use enclave_sdk::{MeasurementSet, Pcr, PcrIndex, PcrValue};
use support::{fixtures, Fixture};

fn idx(i: u8) -> PcrIndex {
    PcrIndex::new(i).unwrap()
}

fn value(bytes: &[u8]) -> PcrValue {
    PcrValue::from_bytes(bytes).unwrap()
}

/// One set pinning `pins`.
fn set(pins: &[(u8, &[u8])]) -> MeasurementSet {
    MeasurementSet::new(pins.iter().map(|(i, v)| Pcr::new(idx(*i), value(v)))).unwrap()
}

fn lenient() -> Policy {
    Policy::builder().dangerous_accept_any_enclave().dangerous_allow_debug().build().unwrap()
}

fn verify(
    policy: Policy,
    fx: &Fixture,
    at: u64,
) -> Result<enclave_sdk::attestation::AttestedDocument, AttestationError> {
    Verifier::new(policy).verify(&fx.bytes, &Expected::default(), UnixTime::from_secs(at))
}

#[test]
fn every_fixture_is_accepted_at_verify_at_with_the_manifest_values() {
    let all = fixtures();
    assert_eq!(all.len(), 6);
    for fx in &all {
        let mut b = Policy::builder().dangerous_accept_any_enclave();
        if fx.debug {
            b = b.dangerous_allow_debug();
        }
        let doc = verify(b.build().unwrap(), fx, fx.verify_at).unwrap_or_else(|e| panic!("{}: {e}", fx.file));
        assert_eq!(doc.module_id(), fx.module_id, "{}", fx.file);
        assert_eq!(doc.timestamp_ms(), fx.timestamp_ms, "{}", fx.file);
        assert_eq!(doc.digest(), "SHA384");
        assert_eq!(doc.pcrs().len(), fx.pcr_count, "{}", fx.file);
        for i in 0..3u8 {
            assert_eq!(doc.pcrs()[&idx(i)].as_bytes(), fx.pcr[usize::from(i)], "{} PCR{i}", fx.file);
        }
        assert_eq!(doc.public_key().map(<[u8]>::len), fx.public_key_len, "{}", fx.file);
        assert_eq!(doc.user_data().map(<[u8]>::len), fx.user_data_len, "{}", fx.file);
        assert_eq!(doc.nonce().map(<[u8]>::to_vec), fx.nonce, "{}", fx.file);
        assert_eq!(doc.raw(), fx.bytes.as_slice());
        assert_eq!(doc.x25519_public_key().is_some(), fx.public_key_len == Some(32), "{}", fx.file);
    }
}

#[test]
fn every_fixture_is_refused_just_outside_its_window() {
    for fx in fixtures() {
        let strict =
            || Policy::builder().dangerous_accept_any_enclave().dangerous_allow_debug().clock_skew(Duration::ZERO);
        // The first second and the last second of the window are inside it.
        let p = strict().max_document_age(Duration::from_secs(1 << 40)).build().unwrap();
        verify(p.clone(), &fx, fx.window_start.max(fx.timestamp_ms / 1000))
            .unwrap_or_else(|e| panic!("{}: {e}", fx.file));
        verify(p, &fx, fx.window_end).unwrap_or_else(|e| panic!("{}: {e}", fx.file));

        match verify(strict().build().unwrap(), &fx, fx.window_start - 1) {
            Err(AttestationError::Chain(ChainError::NotYetValid { not_before, now, skew_s: 0, .. })) => {
                assert_eq!(not_before.as_secs(), fx.window_start, "{}", fx.file);
                assert_eq!(now.as_secs(), fx.window_start - 1);
            }
            other => panic!("{}: {other:?}", fx.file),
        }
        let p = strict().max_document_age(Duration::from_secs(1 << 40)).build().unwrap();
        match verify(p, &fx, fx.window_end + 1) {
            Err(AttestationError::Chain(ChainError::Expired { at, not_after, .. })) => {
                assert_eq!(not_after.as_secs(), fx.window_end, "{}", fx.file);
                assert_eq!(at, CertPosition::Leaf, "{}: the 3-hour leaf expires first", fx.file);
            }
            other => panic!("{}: {other:?}", fx.file),
        }
        // With the default 60 s skew, the end moves by exactly 60 s.
        let p = Policy::builder()
            .dangerous_accept_any_enclave()
            .dangerous_allow_debug()
            .max_document_age(Duration::from_secs(1 << 40))
            .build()
            .unwrap();
        verify(p.clone(), &fx, fx.window_end + 60).unwrap_or_else(|e| panic!("{}: {e}", fx.file));
        assert_eq!(
            verify(p, &fx, fx.window_end + 61).unwrap_err(),
            AttestationError::Chain(ChainError::Expired {
                at: CertPosition::Leaf,
                not_after: UnixTime::from_secs(fx.window_end),
                now: UnixTime::from_secs(fx.window_end + 61),
                skew_s: 60
            }),
            "{}",
            fx.file
        );
    }
}

#[test]
fn clock_skew_widens_the_window_by_exactly_its_length() {
    let fx = support::fixture("cape-cli-key.cbor");
    let skewed =
        |s| Policy::builder().dangerous_accept_any_enclave().clock_skew(Duration::from_secs(s)).build().unwrap();
    // The document's timestamp is 3 s after the leaf's notBefore; 10 s before notBefore the document
    // is also 13 s in the future, so give the timestamp check room too.
    assert!(verify(skewed(13), &fx, fx.window_start - 10).is_ok());
    assert!(matches!(
        verify(skewed(9), &fx, fx.window_start - 10),
        Err(AttestationError::Chain(ChainError::NotYetValid { skew_s: 9, .. }))
    ));
}

#[test]
fn debug_documents_are_refused_by_default() {
    let mut debug_count = 0;
    for fx in fixtures().into_iter().filter(|f| f.debug) {
        debug_count += 1;
        let p = Policy::builder().dangerous_accept_any_enclave().build().unwrap();
        assert_eq!(verify(p, &fx, fx.verify_at).unwrap_err(), AttestationError::DebugMode, "{}", fx.file);
        // Pinning PCR0 to the all-zero value a debug enclave reports is no pin at all: the builder refuses it.
        assert!(matches!(
            Policy::builder().allow_measurements(set(&[(0, &fx.pcr[0])])).build(),
            Err(PolicyError::ImageNotPinned { set: Some(1), ref zeroed, .. }) if zeroed == &[idx(0)]
        ));
    }
    assert_eq!(debug_count, 3);
}

#[test]
fn real_pcrs_pinned_pass_and_one_changed_byte_fails() {
    let mut checked = 0;
    for fx in fixtures().into_iter().filter(|f| !f.debug) {
        checked += 1;
        let pinned = |pcr: [Vec<u8>; 3]| {
            Policy::builder().allow_measurements(set(&[(0, &pcr[0]), (1, &pcr[1]), (2, &pcr[2])])).build().unwrap()
        };
        verify(pinned(fx.pcr.clone()), &fx, fx.verify_at).unwrap_or_else(|e| panic!("{}: {e}", fx.file));
        for i in 0..3 {
            let mut pcr = fx.pcr.clone();
            pcr[i][47] ^= 0x01;
            assert_eq!(
                verify(pinned(pcr.clone()), &fx, fx.verify_at).unwrap_err(),
                AttestationError::PcrNotAllowed {
                    index: idx(i as u8),
                    found: value(&fx.pcr[i]),
                    expected: value(&pcr[i]),
                },
                "{}",
                fx.file
            );
        }
        // Two allowed releases, a wrong one first and the right one second: passes.
        let mut wrong = fx.pcr[0].clone();
        wrong[0] ^= 0x80;
        let p = Policy::builder()
            .allow_measurements(set(&[(0, &wrong)]))
            .allow_measurements(set(&[(0, &fx.pcr[0])]))
            .build()
            .unwrap();
        verify(p, &fx, fx.verify_at).unwrap_or_else(|e| panic!("{}: {e}", fx.file));
        // A pinned PCR the document lacks fails (these documents carry PCR0..15 or 0..16).
        let p = Policy::builder().allow_measurements(set(&[(0, &fx.pcr[0]), (31, &[0; 48])])).build().unwrap();
        assert_eq!(verify(p, &fx, fx.verify_at).unwrap_err(), AttestationError::PcrMissing { index: idx(31) });
    }
    assert_eq!(checked, 3);
}

#[test]
fn nonce_from_a_real_document_is_checked() {
    let fx = support::fixture("cape-cli-key.cbor");
    let sent = fx.nonce.clone().unwrap();
    let v = Verifier::new(lenient());
    let at = UnixTime::from_secs(fx.verify_at);
    assert!(v.verify(&fx.bytes, &Expected::default().with_nonce(&sent), at).is_ok());
    let mut other = sent.clone();
    other[0] ^= 1;
    assert_eq!(
        v.verify(&fx.bytes, &Expected::default().with_nonce(&other), at).unwrap_err(),
        AttestationError::NonceMismatch { expected: other.clone(), found: sent }
    );
    let no_nonce = support::fixture("fastcrypto-fixed.cbor");
    assert_eq!(
        v.verify(&no_nonce.bytes, &Expected::default().with_nonce(&other), UnixTime::from_secs(no_nonce.verify_at))
            .unwrap_err(),
        AttestationError::NonceMissing { expected: other }
    );
}

#[test]
fn document_age_from_a_real_document() {
    let fx = support::fixture("blocky-nitrite-1024.cbor");
    let ts = fx.timestamp_ms / 1000;
    let p = |age| {
        Policy::builder().dangerous_accept_any_enclave().max_document_age(Duration::from_secs(age)).build().unwrap()
    };
    assert!(verify(p(30), &fx, ts + 30).is_ok());
    assert_eq!(
        verify(p(29), &fx, ts + 30).unwrap_err(),
        AttestationError::Stale {
            age_s: 30,
            max_s: 29,
            timestamp_ms: fx.timestamp_ms,
            now: UnixTime::from_secs(ts + 30)
        }
    );
}

#[test]
fn x25519_key_requirement_on_real_documents() {
    let v = Verifier::new(lenient());
    let need = Expected::default().requiring_x25519_key();
    let ok = support::fixture("fastcrypto-pcr16-indefinite.cbor");
    assert!(v.verify(&ok.bytes, &need, UnixTime::from_secs(ok.verify_at)).is_ok());
    // 19 bytes of text where a key should be: genuine, but a session must not encrypt to it.
    let text = support::fixture("evervault-beta-debug.cbor");
    assert_eq!(
        v.verify(&text.bytes, &need, UnixTime::from_secs(text.verify_at)).unwrap_err(),
        AttestationError::PublicKeyLength { len: 19 }
    );
    let none = support::fixture("fastcrypto-fixed.cbor");
    assert_eq!(
        v.verify(&none.bytes, &need, UnixTime::from_secs(none.verify_at)).unwrap_err(),
        AttestationError::PublicKeyMissing
    );
    let big = support::fixture("blocky-nitrite-1024.cbor");
    assert_eq!(
        v.verify(&big.bytes, &need, UnixTime::from_secs(big.verify_at)).unwrap_err(),
        AttestationError::PublicKeyLength { len: 1024 }
    );
}

#[test]
fn warm_verification_reuses_the_path_verdict_and_still_checks_time() {
    let fx = support::fixture("cape-cli-key.cbor");
    let v = Verifier::new(Policy::builder().dangerous_accept_any_enclave().clock_skew(Duration::ZERO).build().unwrap());
    v.verify(&fx.bytes, &Expected::default(), UnixTime::from_secs(fx.verify_at)).unwrap();
    assert!(format!("{v:?}").contains("cached_paths: 1"), "{v:?}");
    // A cache hit does not bypass validity: the same chain an hour after the leaf expired is refused.
    assert!(matches!(
        v.verify(&fx.bytes, &Expected::default(), UnixTime::from_secs(fx.window_end + 1)),
        Err(AttestationError::Chain(ChainError::Expired { at: CertPosition::Leaf, .. }))
    ));
    let clone = v.clone();
    assert!(clone.verify(&fx.bytes, &Expected::default(), UnixTime::from_secs(fx.verify_at)).is_ok());
}

/// The system-clock entry point: these documents' chains expired years ago, so today it must refuse them.
#[test]
fn verify_now_uses_the_system_clock() {
    let fx = support::fixture("cape-cli-key.cbor");
    let v = Verifier::new(lenient());
    assert!(matches!(
        v.verify_now(&fx.bytes, &Expected::default()),
        Err(AttestationError::Chain(ChainError::Expired { .. }))
    ));
    assert!(UnixTime::now().as_secs() > fx.window_end);
}

#[test]
fn unverified_fields_and_certificates_for_inspect() {
    let fx = support::fixture("evervault-ga.cbor");
    let doc = UnverifiedDocument::parse(&fx.bytes).unwrap();
    let f = doc.dangerous_unverified_fields();
    assert_eq!(f.module_id(), fx.module_id);
    assert_eq!(f.timestamp_ms(), fx.timestamp_ms);
    assert_eq!(f.cabundle().len(), 4);
    let certs = doc.dangerous_unverified_certificates();
    assert_eq!(certs.len(), 5);
    assert_eq!(certs[0].position, CertPosition::Leaf);
    assert_eq!(certs[0].not_before.as_secs(), fx.window_start);
    assert_eq!(certs[0].not_after.as_secs(), fx.window_end);
    assert_eq!(certs[1].subject, "C=US, O=Amazon, OU=AWS, CN=aws.nitro-enclaves");
    assert_eq!(certs[1].issuer, certs[1].subject);
    // The companion TLS certificate's SPKI is the user data: the attested-TLS binding in a real document.
    let tls = std::fs::read(format!("{}/evervault-ga-tls-certificate.der", support::DIR)).unwrap();
    let ud = f.user_data().unwrap();
    assert!(tls.windows(ud.len()).any(|w| w == ud));
}

/// rustls-webpki as an independent oracle: every real chain, with Root-G1 as the only anchor and the
/// cabundle (minus its root) as intermediates, validates at `verify_at`, and not after `window_end`.
/// webpki accepts the AWS profile: no EKU extension is treated as "any usage", and the leaf has no
/// subjectAltName, which only matters for name checks we do not ask webpki to make.
#[test]
fn webpki_agrees_on_every_fixture_chain() {
    use rustls_pki_types::{CertificateDer, UnixTime as PkiTime};
    let root_der = support::root_g1_der();
    let root = CertificateDer::from(root_der.as_slice());
    let anchors = [webpki::anchor_from_trusted_cert(&root).unwrap()];
    for fx in fixtures() {
        let doc = UnverifiedDocument::parse(&fx.bytes).unwrap();
        let f = doc.dangerous_unverified_fields();
        let leaf_der = CertificateDer::from(f.certificate());
        let leaf = webpki::EndEntityCert::try_from(&leaf_der).unwrap();
        let inters: Vec<CertificateDer<'_>> =
            f.cabundle()[1..].iter().map(|c| CertificateDer::from(c.as_slice())).collect();
        let check = |t: u64| {
            leaf.verify_for_usage(
                &[webpki::aws_lc_rs::ECDSA_P384_SHA384],
                &anchors,
                &inters,
                PkiTime::since_unix_epoch(Duration::from_secs(t)),
                webpki::KeyUsage::client_auth(),
                None,
                None,
            )
            .map(|_| ())
        };
        check(fx.verify_at).unwrap_or_else(|e| panic!("{}: webpki refused: {e:?}", fx.file));
        assert!(check(fx.window_end + 1).is_err(), "{}", fx.file);
        assert!(check(fx.window_start - 1).is_err(), "{}", fx.file);
    }
}
