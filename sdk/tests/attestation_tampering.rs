//! Tampered real AWS documents: each edit is refused with the error that names it.
//!
//! Every case starts from a genuine document, makes one edit, and asserts the exact error. Edits to a
//! signed part (payload, protected header, signature, a certificate) must fail at parsing, at the
//! chain or at the signature; nothing tampered is ever accepted.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use ciborium::Value;
use enclave_sdk::attestation::{
    AttestationError as E, CborError, CborProblem, CertPosition as At, ChainError, CoseError, DerError, DerProblem,
    DocumentError, Expected, Field, Policy, TrustRoot, UnixTime, UnverifiedDocument, Verifier,
};
use sha2::{Digest, Sha256};
use support::{edit_cert, edit_envelope, edit_payload, fixture, payload_get, Fixture};

const CAPE: &str = "cape-cli-key.cbor";

fn verify_with(policy: Policy, fx: &Fixture, bytes: &[u8]) -> Result<(), E> {
    Verifier::new(policy).verify(bytes, &Expected::default(), UnixTime::from_secs(fx.verify_at)).map(|_| ())
}

fn lenient() -> Policy {
    Policy::builder().dangerous_accept_any_enclave().dangerous_allow_debug().build().unwrap()
}

fn check(fx: &Fixture, bytes: &[u8]) -> Result<(), E> {
    verify_with(lenient(), fx, bytes)
}

fn flip(mut b: Vec<u8>, i: usize) -> Vec<u8> {
    b[i] ^= 0x01;
    b
}

fn find(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len()).enumerate().filter(|(_, w)| *w == needle).map(|(i, _)| i).collect()
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

fn cabundle(map: &mut [(Value, Value)]) -> &mut Vec<Value> {
    match payload_get(map, "cabundle") {
        Value::Array(a) => a,
        _ => unreachable!(),
    }
}

fn cbor_err(problem: CborProblem, offset: usize) -> E {
    E::Cose(CoseError::Cbor(CborError { offset, problem }))
}

fn doc_err(e: DocumentError) -> E {
    E::Document(e)
}

/// Re-encoding without an edit reproduces the signed bytes, so every payload edit below changes
/// exactly what it says.
#[test]
fn helpers_are_faithful() {
    let fx = fixture(CAPE);
    assert_eq!(edit_payload(&fx.bytes, |_| {}), fx.bytes);
    assert_eq!(check(&fx, &fx.bytes), Ok(()));
}

#[test]
fn thirty_plus_tamperings_each_with_its_error() {
    let fx = fixture(CAPE);
    let raw = &fx.bytes;
    let parts = support::envelope(raw);
    let payload = support::bytes_of(&parts[2]);
    let sig_offset = raw.len() - 96;
    let ud_len = fx.user_data_len.unwrap();
    let cab: Vec<Vec<u8>> = UnverifiedDocument::parse(raw).unwrap().dangerous_unverified_fields().cabundle().to_vec();
    let leaf_len = UnverifiedDocument::parse(raw).unwrap().dangerous_unverified_fields().certificate().len();
    let other = fixture("blocky-nitrite-1024.cbor");
    let other_leaf =
        UnverifiedDocument::parse(&other.bytes).unwrap().dangerous_unverified_fields().certificate().to_vec();

    let cases: Vec<(&str, Vec<u8>, E)> = vec![
        // --- the COSE envelope and its signature
        ("signature: first bit of r", flip(raw.clone(), sig_offset), E::Cose(CoseError::BadSignature)),
        ("signature: last bit of s", flip(raw.clone(), raw.len() - 1), E::Cose(CoseError::BadSignature)),
        (
            "signature: 95 bytes",
            edit_envelope(raw, |p| p[3] = Value::Bytes(support::bytes_of(&p[3])[..95].to_vec())),
            E::Cose(CoseError::SignatureLength { len: 95 }),
        ),
        (
            "signature: 97 bytes",
            edit_envelope(raw, |p| p[3] = Value::Bytes([support::bytes_of(&p[3]), vec![0]].concat())),
            E::Cose(CoseError::SignatureLength { len: 97 }),
        ),
        (
            "signature: a text string",
            edit_envelope(raw, |p| p[3] = text("sig")),
            E::Cose(CoseError::WrongType { element: "signature", expected: "byte string", found: "text string" }),
        ),
        (
            "protected header: ES256 instead of ES384",
            edit_envelope(raw, |p| p[0] = Value::Bytes(vec![0xa1, 0x01, 0x26])),
            E::Cose(CoseError::ProtectedHeader { found: vec![0xa1, 0x01, 0x26] }),
        ),
        (
            "protected header: an extra parameter",
            edit_envelope(raw, |p| p[0] = Value::Bytes(vec![0xa2, 0x01, 0x38, 0x22, 0x04, 0x41, 0x00])),
            E::Cose(CoseError::ProtectedHeader { found: vec![0xa2, 0x01, 0x38, 0x22, 0x04, 0x41, 0x00] }),
        ),
        (
            "protected header: empty",
            edit_envelope(raw, |p| p[0] = Value::Bytes(vec![])),
            E::Cose(CoseError::ProtectedHeader { found: vec![] }),
        ),
        (
            "protected header: a map instead of a byte string",
            edit_envelope(raw, |p| p[0] = Value::Map(vec![(Value::Integer(1.into()), Value::Integer((-35).into()))])),
            E::Cose(CoseError::WrongType { element: "protected", expected: "byte string", found: "map" }),
        ),
        (
            "unprotected header: a byte string",
            edit_envelope(raw, |p| p[1] = Value::Bytes(vec![])),
            E::Cose(CoseError::WrongType { element: "unprotected", expected: "map", found: "byte string" }),
        ),
        (
            "payload: empty",
            edit_envelope(raw, |p| p[2] = Value::Bytes(vec![])),
            E::Cose(CoseError::PayloadLength { len: 0, max: 16384 }),
        ),
        (
            "payload: 16385 bytes",
            edit_envelope(raw, |p| p[2] = Value::Bytes(vec![0xa0; 16385])),
            E::Cose(CoseError::PayloadLength { len: 16385, max: 16384 }),
        ),
        (
            "tag: 98 (COSE_Sign) instead of 18",
            [vec![0xd8, 0x62], raw.clone()].concat(),
            E::Cose(CoseError::WrongTag { tag: 98 }),
        ),
        (
            "envelope: three elements",
            edit_envelope(raw, |p| {
                p.pop();
            }),
            E::Cose(CoseError::NotFourArray { found: "array of 3".into() }),
        ),
        ("envelope: a map", vec![0xa0], E::Cose(CoseError::NotFourArray { found: "map".into() })),
        (
            "unprotected: kid an integer (coset holds each known header parameter to its type)",
            edit_envelope(raw, |p| p[1] = Value::Map(vec![(Value::Integer(4.into()), Value::Integer(1.into()))])),
            E::Cose(CoseError::Header { found: "int", expected: "bstr" }),
        ),
        (
            "unprotected: a label twice",
            edit_envelope(raw, |p| {
                p[1] =
                    Value::Map(vec![(Value::Integer(9.into()), Value::Null), (Value::Integer(9.into()), Value::Null)])
            }),
            E::Cose(CoseError::Header { found: "a label twice", expected: "each label at most once" }),
        ),
        (
            "trailing byte after the envelope",
            [raw.clone(), vec![0x00]].concat(),
            cbor_err(CborProblem::TrailingBytes, raw.len()),
        ),
        // ciborium reads a string's bytes as they come, so a short input ends where the input ends.
        ("truncated by one byte", raw[..raw.len() - 1].to_vec(), cbor_err(CborProblem::Truncated, raw.len() - 1)),
        ("truncated to 10 bytes", raw[..10].to_vec(), cbor_err(CborProblem::Truncated, 10)),
        ("empty input", vec![], cbor_err(CborProblem::Truncated, 0)),
        (
            "larger than any genuine document",
            [raw.clone(), vec![0; UnverifiedDocument::MAX_LEN + 1 - raw.len()]].concat(),
            E::DocumentTooLarge { len: UnverifiedDocument::MAX_LEN + 1, max: UnverifiedDocument::MAX_LEN },
        ),
        // --- the payload: signed, so any edit that still parses fails the signature
        (
            "payload: module_id changed",
            edit_payload(raw, |m| *payload_get(m, "module_id") = text("i-00000000000000000-enc0000000000000000")),
            E::Cose(CoseError::BadSignature),
        ),
        (
            "payload: one user_data byte flipped",
            edit_payload(raw, |m| {
                let v = payload_get(m, "user_data");
                *v = Value::Bytes(flip(support::bytes_of(v), 0));
            }),
            E::Cose(CoseError::BadSignature),
        ),
        (
            "payload: an unknown key added (ignored by the parser, but signed)",
            edit_payload(raw, |m| m.push((text("extra"), text("x")))),
            E::Cose(CoseError::BadSignature),
        ),
        (
            "payload: duplicate nonce key",
            edit_payload(raw, |m| m.push((text("nonce"), Value::Bytes(vec![0; 16])))),
            doc_err(DocumentError::DuplicateKey { map: "payload", key: "nonce".into() }),
        ),
        (
            "payload: duplicate unknown key",
            edit_payload(raw, |m| {
                m.push((text("x"), Value::Null));
                m.push((text("x"), Value::Null));
            }),
            doc_err(DocumentError::DuplicateKey { map: "payload", key: "x".into() }),
        ),
        (
            "pcrs: duplicate index 0",
            edit_payload(raw, |m| {
                if let Value::Map(p) = payload_get(m, "pcrs") {
                    p.push((Value::Integer(0.into()), Value::Bytes(vec![0; 48])));
                }
            }),
            doc_err(DocumentError::DuplicateKey { map: "pcrs", key: "0".into() }),
        ),
        (
            "payload: an array instead of a map",
            edit_envelope(raw, |p| p[2] = Value::Bytes(vec![0x80])),
            doc_err(DocumentError::NotMap { found: "array" }),
        ),
        (
            "payload: trailing byte inside the payload",
            edit_envelope(raw, |p| p[2] = Value::Bytes([payload.clone(), vec![0]].concat())),
            doc_err(DocumentError::Cbor(CborError { offset: payload.len(), problem: CborProblem::TrailingBytes })),
        ),
        (
            "payload: an integer key",
            edit_payload(raw, |m| m.push((Value::Integer(1.into()), text("x")))),
            doc_err(DocumentError::BadKey { map: "payload", found: "unsigned integer" }),
        ),
        (
            "module_id: a byte string",
            edit_payload(raw, |m| *payload_get(m, "module_id") = Value::Bytes(b"i-0".to_vec())),
            doc_err(DocumentError::WrongType { field: Field::ModuleId, expected: "text string", found: "byte string" }),
        ),
        (
            "module_id: empty",
            edit_payload(raw, |m| *payload_get(m, "module_id") = text("")),
            doc_err(DocumentError::Length { field: Field::ModuleId, len: 0, min: 1, max: 255 }),
        ),
        (
            "timestamp: a text string",
            edit_payload(raw, |m| *payload_get(m, "timestamp") = text("1676033011418")),
            doc_err(DocumentError::WrongType {
                field: Field::Timestamp,
                expected: "unsigned integer",
                found: "text string",
            }),
        ),
        (
            "timestamp: negative",
            edit_payload(raw, |m| *payload_get(m, "timestamp") = Value::Integer((-1).into())),
            doc_err(DocumentError::WrongType {
                field: Field::Timestamp,
                expected: "unsigned integer",
                found: "negative integer",
            }),
        ),
        (
            // ciborium::Value would read this bignum as the integer it encodes; the CDDL says uint.
            "timestamp: a bignum",
            edit_payload(raw, |m| {
                *payload_get(m, "timestamp") =
                    Value::Tag(2, Box::new(Value::Bytes(vec![1, 0x86, 0x3b, 0x5a, 0x5b, 0xda])))
            }),
            doc_err(DocumentError::WrongType {
                field: Field::Timestamp,
                expected: "unsigned integer",
                found: "tagged item",
            }),
        ),
        (
            "timestamp: removed",
            edit_payload(raw, |m| m.retain(|(k, _)| k.as_text() != Some("timestamp"))),
            doc_err(DocumentError::Missing { field: Field::Timestamp }),
        ),
        (
            "timestamp: zero",
            edit_payload(raw, |m| *payload_get(m, "timestamp") = Value::Integer(0.into())),
            doc_err(DocumentError::ZeroTimestamp),
        ),
        (
            "digest: SHA256",
            edit_payload(raw, |m| *payload_get(m, "digest") = text("SHA256")),
            doc_err(DocumentError::Digest { found: "SHA256".into() }),
        ),
        (
            "pcrs: a 47-byte value",
            edit_payload(raw, |m| {
                if let Value::Map(p) = payload_get(m, "pcrs") {
                    p[3].1 = Value::Bytes(vec![0; 47]);
                }
            }),
            doc_err(DocumentError::PcrLength { index: 3, len: 47 }),
        ),
        (
            "pcrs: index 32",
            edit_payload(raw, |m| {
                if let Value::Map(p) = payload_get(m, "pcrs") {
                    p[15].0 = Value::Integer(32.into());
                }
            }),
            doc_err(DocumentError::PcrIndex { index: 32 }),
        ),
        (
            "pcrs: a text key",
            edit_payload(raw, |m| {
                if let Value::Map(p) = payload_get(m, "pcrs") {
                    p[15].0 = text("15");
                }
            }),
            doc_err(DocumentError::BadKey { map: "pcrs", found: "text string" }),
        ),
        (
            "pcrs: empty",
            edit_payload(raw, |m| *payload_get(m, "pcrs") = Value::Map(vec![])),
            doc_err(DocumentError::Length { field: Field::Pcrs, len: 0, min: 1, max: 32 }),
        ),
        (
            "pcrs: 33 entries",
            edit_payload(raw, |m| {
                *payload_get(m, "pcrs") =
                    Value::Map((0..33).map(|i| (Value::Integer(i.into()), Value::Bytes(vec![0; 48]))).collect());
            }),
            doc_err(DocumentError::Length { field: Field::Pcrs, len: 33, min: 1, max: 32 }),
        ),
        (
            "user_data: 1025 bytes",
            edit_payload(raw, |m| *payload_get(m, "user_data") = Value::Bytes(vec![0; 1025])),
            doc_err(DocumentError::Length { field: Field::UserData, len: 1025, min: 0, max: 1024 }),
        ),
        (
            "user_data: 1024 bytes is in bounds (then the signature fails)",
            edit_payload(raw, |m| *payload_get(m, "user_data") = Value::Bytes(vec![0; 1024])),
            E::Cose(CoseError::BadSignature),
        ),
        (
            "nonce: a text string",
            edit_payload(raw, |m| *payload_get(m, "nonce") = text("caa411cb")),
            doc_err(DocumentError::WrongType { field: Field::Nonce, expected: "byte string", found: "text string" }),
        ),
        (
            "public_key: an integer",
            edit_payload(raw, |m| *payload_get(m, "public_key") = Value::Integer(7.into())),
            doc_err(DocumentError::WrongType {
                field: Field::PublicKey,
                expected: "byte string",
                found: "unsigned integer",
            }),
        ),
        (
            "certificate: null",
            edit_payload(raw, |m| *payload_get(m, "certificate") = Value::Null),
            doc_err(DocumentError::Missing { field: Field::Certificate }),
        ),
        (
            "certificate: 1025 bytes",
            edit_payload(raw, |m| *payload_get(m, "certificate") = Value::Bytes(vec![0x30; 1025])),
            doc_err(DocumentError::Length { field: Field::Certificate, len: 1025, min: 1, max: 1024 }),
        ),
        (
            "cabundle: empty",
            edit_payload(raw, |m| *payload_get(m, "cabundle") = Value::Array(vec![])),
            doc_err(DocumentError::Length { field: Field::CaBundle, len: 0, min: 1, max: 8 }),
        ),
        (
            "cabundle: an entry of the wrong type",
            edit_payload(raw, |m| cabundle(m)[2] = text("cert")),
            doc_err(DocumentError::WrongType {
                field: Field::CaBundleEntry(2),
                expected: "byte string",
                found: "text string",
            }),
        ),
        // --- certificates
        (
            "leaf: last byte of its signature",
            edit_cert(raw, None, |d| *d.last_mut().unwrap() ^= 1),
            E::Chain(ChainError::BadSignature { at: At::Leaf, issuer: At::CaBundle(3) }),
        ),
        (
            "leaf: a serial-number byte",
            edit_cert(raw, None, |d| d[16] ^= 1),
            E::Chain(ChainError::BadSignature { at: At::Leaf, issuer: At::CaBundle(3) }),
        ),
        (
            "leaf: serial number made negative (its first octet's top bit)",
            edit_cert(raw, None, |d| {
                assert_eq!(d[13..16], [0x02, 0x10, 0x01], "INTEGER, 16 octets, first 0x01");
                d[15] = 0x81;
            }),
            E::Chain(ChainError::Malformed { at: At::Leaf, problem: DerError::SerialNegative }),
        ),
        (
            "cabundle[1]: a serial-number byte",
            edit_cert(raw, Some(1), |d| d[16] ^= 1),
            E::Chain(ChainError::BadSignature { at: At::CaBundle(1), issuer: At::PinnedRoot }),
        ),
        (
            "cabundle[2]: last byte of its signature",
            edit_cert(raw, Some(2), |d| *d.last_mut().unwrap() ^= 1),
            E::Chain(ChainError::BadSignature { at: At::CaBundle(2), issuer: At::CaBundle(1) }),
        ),
        (
            "cabundle[3]: outer signature algorithm ecdsa-with-SHA256",
            edit_cert(raw, Some(3), |d| {
                let at = *find(d, &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03]).last().unwrap();
                d[at + 9] = 0x02;
            }),
            E::Chain(ChainError::Malformed {
                at: At::CaBundle(3),
                problem: DerError::SignatureAlgorithm { oid: "1.2.840.10045.4.3.2".into() },
            }),
        ),
        (
            "cabundle[2]: key on another curve (secp521r1)",
            edit_cert(raw, Some(2), |d| {
                let at = find(d, &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22])[0];
                d[at + 6] = 0x23;
            }),
            E::Chain(ChainError::Malformed {
                at: At::CaBundle(2),
                problem: DerError::KeyAlgorithm { alg: "1.2.840.10045.2.1".into(), params: "1.3.132.0.35".into() },
            }),
        ),
        (
            "leaf: version v2",
            edit_cert(raw, None, |d| {
                let at = find(d, &[0xa0, 0x03, 0x02, 0x01, 0x02])[0];
                d[at + 4] = 0x01;
            }),
            E::Chain(ChainError::Malformed { at: At::Leaf, problem: DerError::NotV3 }),
        ),
        (
            "leaf: truncated DER",
            edit_cert(raw, None, |d| d.truncate(d.len() - 1)),
            E::Chain(ChainError::Malformed {
                at: At::Leaf,
                problem: DerError::Decode { problem: DerProblem::Truncated, offset: leaf_len - 1 },
            }),
        ),
        (
            "leaf: a trailing byte after the DER",
            edit_cert(raw, None, |d| d.push(0)),
            E::Chain(ChainError::Malformed {
                at: At::Leaf,
                problem: DerError::Decode { problem: DerProblem::TrailingData, offset: leaf_len },
            }),
        ),
        (
            "leaf: another enclave's leaf",
            edit_payload(raw, |m| *payload_get(m, "certificate") = Value::Bytes(other_leaf.clone())),
            E::Chain(ChainError::NameMismatch { at: At::Leaf, issuer: At::CaBundle(3) }),
        ),
        (
            "leaf: one character of its issuer name",
            edit_cert(raw, None, |d| {
                let at = find(d, b"i-08dd44ce4cc5ced0b.us-east-1.aws.nitro-enclaves")[0];
                d[at] = b'j';
            }),
            E::Chain(ChainError::NameMismatch { at: At::Leaf, issuer: At::CaBundle(3) }),
        ),
        (
            "cabundle[0]: one byte of the root changed",
            edit_cert(raw, Some(0), |d| d[16] ^= 1),
            E::Chain(ChainError::UnknownRoot {
                found_sha256: Some(Sha256::digest(flip(cab[0].clone(), 16)).into()),
                pinned_sha256: vec![TrustRoot::aws_nitro_root_g1().sha256()],
            }),
        ),
        (
            "cabundle order: entries 1 and 2 swapped",
            edit_payload(raw, |m| cabundle(m).swap(1, 2)),
            E::Chain(ChainError::NameMismatch { at: At::CaBundle(1), issuer: At::PinnedRoot }),
        ),
        (
            "cabundle order: reversed (leaf-first, as TLS sends chains)",
            edit_payload(raw, |m| cabundle(m).reverse()),
            E::Chain(ChainError::UnknownRoot {
                found_sha256: Some(Sha256::digest(&cab[3]).into()),
                pinned_sha256: vec![TrustRoot::aws_nitro_root_g1().sha256()],
            }),
        ),
        (
            "cabundle: the zonal intermediate removed",
            edit_payload(raw, |m| {
                cabundle(m).remove(2);
            }),
            E::Chain(ChainError::NameMismatch { at: At::CaBundle(2), issuer: At::CaBundle(1) }),
        ),
        (
            "cabundle: the root removed (intermediates only)",
            edit_payload(raw, |m| {
                cabundle(m).remove(0);
            }),
            E::Chain(ChainError::UnknownRoot {
                found_sha256: Some(Sha256::digest(&cab[1]).into()),
                pinned_sha256: vec![TrustRoot::aws_nitro_root_g1().sha256()],
            }),
        ),
    ];

    assert!(cases.len() >= 30, "{} cases", cases.len());
    let mut names = std::collections::HashSet::new();
    for (name, bytes, expected) in &cases {
        assert!(names.insert(*name), "duplicate case name {name}");
        assert_eq!(check(&fx, bytes).as_ref().err(), Some(expected), "case: {name}");
        // Display is one line and never echoes user_data.
        let msg = expected.to_string();
        assert!(!msg.contains('\n'), "{name}: {msg}");
        assert!(msg.len() < 600 || ud_len == 0, "{name}: {msg}");
    }
    // Tag 18 is legal COSE and accepted; it is not a tampering.
    assert_eq!(check(&fx, &[vec![0xd2], raw.clone()].concat()), Ok(()));
}

/// RFC 9052 section 3 in the unsigned header: `alg` and `crit` belong in the protected bucket. Other
/// parameters there (a `kid`, say) are unsigned hints nobody reads, and the document still verifies.
#[test]
fn unprotected_alg_and_crit_are_refused() {
    let fx = fixture(CAPE);
    let with = |label: i64, value: Value| {
        edit_envelope(&fx.bytes, |p| p[1] = Value::Map(vec![(Value::Integer(label.into()), value)]))
    };
    assert_eq!(
        check(&fx, &with(1, Value::Integer((-35).into()))),
        Err(E::Cose(CoseError::UnprotectedHeader { label: 1, name: "alg" }))
    );
    assert_eq!(
        check(&fx, &with(1, Value::Integer((-7).into()))),
        Err(E::Cose(CoseError::UnprotectedHeader { label: 1, name: "alg" }))
    );
    assert_eq!(
        check(&fx, &with(2, Value::Array(vec![Value::Integer(4.into())]))),
        Err(E::Cose(CoseError::UnprotectedHeader { label: 2, name: "crit" }))
    );
    assert_eq!(check(&fx, &with(4, Value::Bytes(b"key-1".to_vec()))), Ok(()));
    // A text label "1" is not label 1.
    assert_eq!(check(&fx, &edit_envelope(&fx.bytes, |p| p[1] = Value::Map(vec![(text("1"), Value::Null)]))), Ok(()));
}

/// Every NSM document carries PCR0..2; one without them could not be judged for debug mode.
#[test]
fn a_document_without_pcr0_1_or_2_is_refused() {
    let fx = fixture(CAPE);
    for index in 0..3u8 {
        let doc = edit_payload(&fx.bytes, |m| {
            if let Value::Map(p) = payload_get(m, "pcrs") {
                p.retain(|(k, _)| k.as_integer() != Some(index.into()));
            }
        });
        assert_eq!(check(&fx, &doc), Err(doc_err(DocumentError::PcrAbsent { index })), "PCR{index}");
    }
}

/// A duplicate key is attacker-chosen text shown before the signature is checked: it is escaped.
#[test]
fn a_duplicate_key_displays_escaped() {
    let fx = fixture(CAPE);
    let key = "\u{1b}[2J\u{1b}[31mpwned\r\nnext line\u{202e}";
    let doc = edit_payload(&fx.bytes, |m| {
        m.push((text(key), Value::Null));
        m.push((text(key), Value::Null));
    });
    let err = check(&fx, &doc).unwrap_err();
    assert_eq!(err, doc_err(DocumentError::DuplicateKey { map: "payload", key: key.into() }));
    let shown = err.to_string();
    assert!(!shown.contains('\u{1b}') && !shown.contains('\r') && !shown.contains('\n'), "{shown:?}");
    assert!(!shown.contains('\u{202e}'), "{shown:?}");
    assert_eq!(shown, r#"document payload: duplicate key "\u{1b}[2J\u{1b}[31mpwned\r\nnext line\u{202e}" in payload"#);
}

/// Trust anchored elsewhere: the same genuine document is refused when another root is pinned, and a
/// document from another CA is refused when Root-G1 is pinned, even with Root-G1 smuggled in.
#[test]
fn another_root_and_smuggled_roots() {
    let fx = fixture(CAPE);
    let pki = support::TestPki::new();
    let g1 = TrustRoot::aws_nitro_root_g1();
    let g1_hash = g1.sha256();
    let test_hash = pki.root.sha256();

    // A genuine AWS document, but the policy pins the test root.
    let other_root = Policy::builder()
        .trust_root(pki.root.clone())
        .dangerous_accept_any_enclave()
        .dangerous_allow_debug()
        .build()
        .unwrap();
    assert_eq!(
        verify_with(other_root, &fx, &fx.bytes),
        Err(E::Chain(ChainError::UnknownRoot { found_sha256: Some(g1_hash), pinned_sha256: vec![test_hash] }))
    );
    // Trusting both roots accepts it.
    let both = Policy::builder().add_trust_root(pki.root.clone()).dangerous_accept_any_enclave().build().unwrap();
    assert_eq!(verify_with(both, &fx, &fx.bytes), Ok(()));

    // A document signed by the test CA, verified against Root-G1.
    let doc = pki.sign(&support::DocSpec::default());
    let at = |b: &[u8]| {
        Verifier::new(Policy::builder().dangerous_accept_any_enclave().build().unwrap())
            .verify(b, &Expected::default(), UnixTime::from_secs(support::VERIFY_AT))
            .map(|_| ())
    };
    assert_eq!(
        at(&doc),
        Err(E::Chain(ChainError::UnknownRoot { found_sha256: Some(test_hash), pinned_sha256: vec![g1_hash] }))
    );
    // Root-G1 smuggled in as cabundle[0] in front of the test intermediate: the intermediate is not
    // issued by G1, and cabundle[0] being G1 grants nothing.
    let payload = support::bytes_of(&support::envelope(&doc)[2]);
    let mut map = match support::from_cbor(&payload) {
        Value::Map(m) => m,
        _ => unreachable!(),
    };
    cabundle(&mut map)[0] = Value::Bytes(g1.der().to_vec());
    let smuggled = pki.sign_payload(support::to_cbor(&Value::Map(map.clone())));
    assert_eq!(at(&smuggled), Err(E::Chain(ChainError::NameMismatch { at: At::CaBundle(1), issuer: At::PinnedRoot })));
    // The test root smuggled in as an intermediate under G1: still has to be signed by G1.
    cabundle(&mut map).insert(1, Value::Bytes(pki.cabundle[0].clone()));
    let smuggled = pki.sign_payload(support::to_cbor(&Value::Map(map)));
    assert_eq!(at(&smuggled), Err(E::Chain(ChainError::NameMismatch { at: At::CaBundle(1), issuer: At::PinnedRoot })));
}

/// An impostor CA that copies Root-G1's name exactly: name chaining passes, the signature does not.
#[test]
fn impostor_with_root_g1_name_fails_the_signature() {
    use rcgen::DnType;
    let pki = support::TestPki::with(|role, p| {
        if role == support::Role::Root {
            p.distinguished_name = rcgen::DistinguishedName::new();
            p.distinguished_name.push(DnType::CountryName, rcgen::DnValue::PrintableString("US".try_into().unwrap()));
            p.distinguished_name.push(DnType::OrganizationName, "Amazon");
            p.distinguished_name.push(DnType::OrganizationalUnitName, "AWS");
            p.distinguished_name.push(DnType::CommonName, "aws.nitro-enclaves");
        }
    });
    let g1 = TrustRoot::aws_nitro_root_g1();
    assert_eq!(pki.root.subject(), g1.subject());
    let payload = support::to_cbor(&support::DocSpec::default().payload(&pki));
    let mut map = match support::from_cbor(&payload) {
        Value::Map(m) => m,
        _ => unreachable!(),
    };
    cabundle(&mut map)[0] = Value::Bytes(g1.der().to_vec());
    let doc = pki.sign_payload(support::to_cbor(&Value::Map(map)));
    let res = Verifier::new(Policy::builder().dangerous_accept_any_enclave().build().unwrap()).verify(
        &doc,
        &Expected::default(),
        UnixTime::from_secs(support::VERIFY_AT),
    );
    assert_eq!(res.unwrap_err(), E::Chain(ChainError::BadSignature { at: At::CaBundle(1), issuer: At::PinnedRoot }));
}
