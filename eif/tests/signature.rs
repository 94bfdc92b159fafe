//! The signature section is the one place an image can claim a signer (and so a PCR8). A rogue image
//! gets no measurements at all: not with a signature made by another key under the genuine
//! certificate, not with the genuine signature of another image, not with a malformed section.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::*;
use coset::iana::Algorithm;
use enclave_eif::{EifError, Measure, SignatureError};

const SIGNED: &str = "signed-p384-a.eif";

fn measure(bytes: &[u8]) -> Result<enclave_eif::Image, EifError> {
    Measure::new().reader(bytes)
}

/// The signature error, with the section's place checked.
fn refused(bytes: &[u8]) -> SignatureError {
    match measure(bytes) {
        Err(EifError::Signature { index, offset: o, source }) => {
            assert_eq!(index, count(bytes) - 1);
            assert_eq!(o, offset(bytes, index));
            source
        }
        other => panic!("expected a signature error, got {other:?}"),
    }
}

fn with_section(section: &[u8]) -> Vec<u8> {
    let mut b = fixture(SIGNED);
    replace_last_section(&mut b, section);
    b
}

fn pcr0_of(name: &str) -> enclave_eif::PcrValue {
    measure(&fixture(name)).unwrap().measurements().pcr0().clone()
}

/// The rogue image carries the genuine signer's certificate, and a COSE_Sign1 over its own PCR0 made
/// with the rogue's key: the signature does not verify under the certificate, and nothing is reported.
#[test]
fn a_rogue_signature_under_the_genuine_certificate_gets_nothing() {
    let genuine = fixture(SIGNED);
    let (cert, _) = signature_parts(data(&genuine, count(&genuine) - 1));
    let rogue = Rogue::new("rogue");
    let pcr0 = pcr0_of(SIGNED);
    let forged = rogue.cose(Algorithm::ES384, &pcr_payload(0, pcr0.as_bytes()));
    let b = with_section(&signature_section(&cert, &forged));
    assert_eq!(refused(&b), SignatureError::BadSignature);
    // The same signature under the rogue's own certificate verifies: the test's signer is sound.
    let own = with_section(&signature_section(rogue.cert_pem.as_bytes(), &forged));
    let image = measure(&own).unwrap();
    assert_eq!(image.signer().unwrap().subject(), "CN=rogue");
    assert_ne!(image.measurements().pcr8(), measure(&genuine).unwrap().measurements().pcr8());
}

/// Image b carries image a's genuine signature section (same key): the signature verifies but is over
/// a's PCR0, and b is refused with both values named.
#[test]
fn a_genuine_signature_moved_to_another_image_is_refused() {
    let a = fixture("signed-p384-a.eif");
    let mut b = fixture("signed-p384-b.eif");
    replace_last_section(&mut b, data(&a, count(&a) - 1));
    let e = refused(&b);
    let (pcr0_a, pcr0_b) = (pcr0_of("signed-p384-a.eif"), pcr0_of("signed-p384-b.eif"));
    assert_eq!(e, SignatureError::SignedPcrMismatch { signed: pcr0_a.as_bytes().to_vec(), computed: pcr0_b.clone() });
    assert!(e.to_string().contains(&pcr0_b.to_string()), "{e}");
}

#[test]
fn a_flipped_signature_byte_is_refused() {
    let genuine = fixture(SIGNED);
    let (cert, mut cose) = signature_parts(data(&genuine, count(&genuine) - 1));
    let last = cose.len() - 1;
    cose[last] ^= 1;
    assert_eq!(refused(&with_section(&signature_section(&cert, &cose))), SignatureError::BadSignature);
}

#[test]
fn a_signature_over_another_pcr_index_is_refused() {
    let rogue = Rogue::new("rogue");
    let cose = rogue.cose(Algorithm::ES384, &pcr_payload(1, pcr0_of(SIGNED).as_bytes()));
    let b = with_section(&signature_section(rogue.cert_pem.as_bytes(), &cose));
    assert_eq!(refused(&b), SignatureError::SignedIndex { found: 1 });
}

/// The COSE header must name the algorithm of the certificate's key (P-384: ES384).
#[test]
fn an_algorithm_other_than_the_keys_is_refused() {
    let rogue = Rogue::new("rogue");
    let cose = rogue.cose(Algorithm::ES256, &pcr_payload(0, pcr0_of(SIGNED).as_bytes()));
    let b = with_section(&signature_section(rogue.cert_pem.as_bytes(), &cose));
    assert_eq!(refused(&b), SignatureError::AlgorithmMismatch { found: -7, expected: "ES384" });
}

#[test]
fn a_p256_certificate_with_a_p384_signature_is_refused() {
    let p256 = fixture("signed-p256.eif");
    let (cert_p256, _) = signature_parts(data(&p256, count(&p256) - 1));
    let genuine = fixture(SIGNED);
    let (_, cose) = signature_parts(data(&genuine, count(&genuine) - 1));
    let b = with_section(&signature_section(&cert_p256, &cose));
    assert_eq!(refused(&b), SignatureError::AlgorithmMismatch { found: -35, expected: "ES256" });
}

#[test]
fn malformed_sections_are_refused() {
    let genuine = fixture(SIGNED);
    let (cert, cose) = signature_parts(data(&genuine, count(&genuine) - 1));
    let one = signature_section(&cert, &cose);
    // Two entries, and none.
    let entry = ciborium::from_reader::<ciborium::Value, _>(&one[..]).unwrap().as_array().unwrap()[0].clone();
    let two = cbor(&ciborium::Value::Array(vec![entry.clone(), entry]));
    assert_eq!(refused(&with_section(&two)), SignatureError::EntryCount { found: 2 });
    assert_eq!(refused(&with_section(&cbor(&ciborium::Value::Array(vec![])))), SignatureError::EntryCount { found: 0 });
    // Not CBOR, trailing bytes, not an array.
    assert_eq!(refused(&with_section(&[0xff, 0x00])), SignatureError::Malformed { what: "not CBOR" });
    let mut trailing = one.clone();
    trailing.push(0);
    assert_eq!(refused(&with_section(&trailing)), SignatureError::Malformed { what: "bytes follow the CBOR item" });
    assert_eq!(
        refused(&with_section(&cbor(&ciborium::Value::Integer(3.into())))),
        SignatureError::Malformed { what: "not a CBOR array" }
    );
    // A certificate that is not PEM, and a COSE structure that is not COSE.
    assert_eq!(refused(&with_section(&signature_section(b"not a certificate", &cose))), SignatureError::Certificate);
    assert_eq!(
        refused(&with_section(&signature_section(&cert, &[0x83, 1, 2, 3]))),
        SignatureError::Cose { what: "not a COSE_Sign1 structure" }
    );
    // A "byte" array holding 256.
    let bad = cbor(&ciborium::Value::Array(vec![ciborium::Value::Map(vec![
        (ciborium::Value::Text("signing_certificate".into()), ciborium::Value::Array(vec![256.into()])),
        (ciborium::Value::Text("signature".into()), serde_bytes(&cose)),
    ])]));
    assert_eq!(refused(&with_section(&bad)), SignatureError::Malformed { what: "a byte array holds a non-byte" });
}

/// Tag 18 is legal COSE (AWS writes the untagged form): the genuine signature, tagged, still verifies.
#[test]
fn a_tagged_cose_sign1_is_accepted() {
    let genuine = fixture(SIGNED);
    let (cert, cose) = signature_parts(data(&genuine, count(&genuine) - 1));
    let mut tagged = vec![0xd2];
    tagged.extend_from_slice(&cose);
    let image = measure(&with_section(&signature_section(&cert, &tagged))).unwrap();
    assert_eq!(image.measurements(), measure(&genuine).unwrap().measurements());
}
