//! The signature section: which certificate signed the image, and whether its COSE_Sign1 is over this
//! image's PCR0.
//!
//! Format (aws-nitro-enclaves-image-format 0.8.1, `src/defs/mod.rs` `PcrSignature`/`PcrInfo`,
//! `src/utils/eif_signer.rs`, `src/utils/cbor.rs`): the section is the CBOR encoding (serde through
//! ciborium) of a list of `{ "signing_certificate": <PEM bytes>, "signature": <COSE_Sign1 bytes> }`, one
//! entry, for PCR0; serde writes `Vec<u8>` as an array of small integers, not a byte string. The
//! COSE_Sign1 is untagged, with `{1: alg}` protected (ES256, ES384 or ES512 after the key's curve, as
//! aws-nitro-enclaves-cose chooses), an empty unprotected map, and the payload
//! `{ "register_index": 0, "register_value": <48 PCR0 bytes> }`, encoded the same way.
//! PCR8 is SHA-384 extended once over the certificate's DER (`EifBuilder::measure`).
//!
//! Input: the section's bytes (untrusted, bounded by [`MAX_SIGNATURE_SECTION`] before they are read)
//! and the PCR0 this reader computed. Output: the [`Signer`], or the first check that failed.

#![warn(clippy::arithmetic_side_effects)]

use crate::hash::Sha384;
use aws_lc_rs::signature::{
    UnparsedPublicKey, VerificationAlgorithm, ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ECDSA_P521_SHA512_FIXED,
};
use ciborium::Value;
use coset::iana::EnumI64 as _;
use coset::{CborSerializable as _, TaggedCborSerializable as _};
use subtle::ConstantTimeEq as _;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode as _, DecodePem as _};
use x509_cert::Certificate;

use crate::error::SignatureError;
use crate::pcr::{extended_once, PCR_LEN};
use enclave_protocol::PcrValue;

/// Largest signature section read. A P-521 certificate in PEM and its COSE_Sign1, with serde's two
/// bytes per byte, take about 5 KiB.
pub const MAX_SIGNATURE_SECTION: u64 = 64 * 1024;

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

/// The COSE algorithm of a signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// ECDSA P-256 with SHA-256 (COSE -7).
    Es256,
    /// ECDSA P-384 with SHA-384 (COSE -35): what AWS's guide uses (`secp384r1`).
    Es384,
    /// ECDSA P-521 with SHA-512 (COSE -36).
    Es512,
}

impl SigningAlgorithm {
    /// `ES256`, `ES384` or `ES512`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
        }
    }

    fn cose(self) -> coset::iana::Algorithm {
        match self {
            Self::Es256 => coset::iana::Algorithm::ES256,
            Self::Es384 => coset::iana::Algorithm::ES384,
            Self::Es512 => coset::iana::Algorithm::ES512,
        }
    }

    fn verifier(self) -> &'static dyn VerificationAlgorithm {
        match self {
            Self::Es256 => &ECDSA_P256_SHA256_FIXED,
            Self::Es384 => &ECDSA_P384_SHA384_FIXED,
            Self::Es512 => &ECDSA_P521_SHA512_FIXED,
        }
    }
}

/// The certificate whose key signed an image's PCR0, after the signature verified.
///
/// The certificate is not checked against any CA or clock here: the image names it, PCR8 pins it.
/// Subject and issuer are the certificate's own text (RFC 4514), chosen by whoever made it: escape
/// them before display ([`crate::escape`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    subject: String,
    issuer: String,
    fingerprint: [u8; PCR_LEN],
    algorithm: SigningAlgorithm,
    not_before: u64,
    not_after: u64,
}

impl Signer {
    /// The certificate's subject (RFC 4514).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The certificate's issuer (RFC 4514).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// SHA-384 of the certificate's DER.
    pub fn fingerprint_sha384(&self) -> &[u8; PCR_LEN] {
        &self.fingerprint
    }

    /// The signature's algorithm.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// Start of validity, Unix seconds. nitro-cli refuses to run an image outside the window.
    pub fn not_before(&self) -> u64 {
        self.not_before
    }

    /// End of validity, Unix seconds.
    pub fn not_after(&self) -> u64 {
        self.not_after
    }

    /// PCR8: the register extended once with the certificate's SHA-384.
    pub fn pcr8(&self) -> PcrValue {
        extended_once(&self.fingerprint)
    }
}

/// Verifies a signature section against the image's PCR0: the only place an image's signature is
/// accepted. The COSE signature is checked under the certificate's key before the payload is looked
/// at; then the payload must name PCR0 and this PCR0.
pub(crate) fn verify(section: &[u8], pcr0: &PcrValue) -> Result<Signer, SignatureError> {
    let (pem, cose) = split_section(section)?;
    let der = pem_der(&pem)?;
    let cert = Certificate::from_der(&der).map_err(|_| SignatureError::Certificate)?;
    let (algorithm, point) = ec_key(&cert)?;

    let sign1 = if cose.first() == Some(&0xd2) {
        // Tag 18 is legal COSE although AWS's signer writes the untagged form.
        coset::CoseSign1::from_tagged_slice(&cose)
    } else {
        coset::CoseSign1::from_slice(&cose)
    }
    .map_err(|_| SignatureError::Cose { what: "not a COSE_Sign1 structure" })?;
    let expected = algorithm.cose();
    let found = match &sign1.protected.header.alg {
        Some(coset::RegisteredLabelWithPrivate::Assigned(a)) => a.to_i64(),
        Some(coset::RegisteredLabelWithPrivate::PrivateUse(i)) => *i,
        _ => 0,
    };
    if found != expected.to_i64() {
        return Err(SignatureError::AlgorithmMismatch { found, expected: algorithm.name() });
    }
    let payload = sign1.payload.as_deref().ok_or(SignatureError::Cose { what: "the payload is detached" })?;
    // RFC 9052 section 4.4: coset builds Sig_structure from the protected header's original bytes.
    sign1
        .verify_signature(b"", |sig, data| UnparsedPublicKey::new(algorithm.verifier(), point).verify(data, sig))
        .map_err(|_| SignatureError::BadSignature)?;

    let (index, value) = signed_pcr(payload)?;
    if index != 0 {
        return Err(SignatureError::SignedIndex { found: index });
    }
    let same = value.len() == PCR_LEN && bool::from(value.as_slice().ct_eq(pcr0.as_bytes()));
    if !same {
        return Err(SignatureError::SignedPcrMismatch { signed: value, computed: pcr0.clone() });
    }

    let tbs = cert.tbs_certificate();
    Ok(Signer {
        subject: tbs.subject().to_string(),
        issuer: tbs.issuer().to_string(),
        fingerprint: Sha384::digest(&der),
        algorithm,
        not_before: tbs.validity().not_before.to_unix_duration().as_secs(),
        not_after: tbs.validity().not_after.to_unix_duration().as_secs(),
    })
}

/// Decodes one CBOR item that must fill `bytes` exactly.
fn cbor_exact(bytes: &[u8], what: &'static str) -> Result<Value, &'static str> {
    let mut rest = bytes;
    let value: Value = ciborium::from_reader(&mut rest).map_err(|_| what)?;
    if !rest.is_empty() {
        return Err("bytes follow the CBOR item");
    }
    Ok(value)
}

/// The PEM certificate and COSE_Sign1 bytes of the section's single entry.
fn split_section(section: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SignatureError> {
    let malformed = |what| SignatureError::Malformed { what };
    let Value::Array(entries) = cbor_exact(section, "not CBOR").map_err(malformed)? else {
        return Err(malformed("not a CBOR array"));
    };
    let [entry] = <[Value; 1]>::try_from(entries).map_err(|e| SignatureError::EntryCount { found: e.len() })?;
    let Value::Map(fields) = entry else {
        return Err(malformed("the entry is not a map"));
    };
    let (mut cert, mut sig) = (None, None);
    for (key, value) in fields {
        let slot = match key.as_text() {
            Some("signing_certificate") => &mut cert,
            Some("signature") => &mut sig,
            _ => return Err(malformed("the entry has a key other than signing_certificate and signature")),
        };
        if slot.is_some() {
            return Err(malformed("the entry repeats a key"));
        }
        *slot = Some(serde_bytes(value).map_err(malformed)?);
    }
    match (cert, sig) {
        (Some(cert), Some(sig)) => Ok((cert, sig)),
        (None, _) => Err(malformed("the entry has no signing_certificate")),
        (_, None) => Err(malformed("the entry has no signature")),
    }
}

/// Bytes as serde writes a `Vec<u8>`: an array of integers 0..=255 (a byte string is accepted too).
fn serde_bytes(value: Value) -> Result<Vec<u8>, &'static str> {
    match value {
        Value::Bytes(b) => Ok(b),
        Value::Array(items) => items
            .into_iter()
            .map(|v| v.as_integer().and_then(|i| u8::try_from(i).ok()).ok_or("a byte array holds a non-byte"))
            .collect(),
        _ => Err("a field is neither bytes nor an array of bytes"),
    }
}

/// The DER inside one PEM `CERTIFICATE` block (surrounding whitespace allowed).
fn pem_der(pem: &[u8]) -> Result<Vec<u8>, SignatureError> {
    let pem = pem.trim_ascii();
    // The document type is the one x509-cert's `DecodePem` checks: label CERTIFICATE, one block.
    let _ = Certificate::from_pem(pem).map_err(|_| SignatureError::Certificate)?;
    let (_, der) = x509_cert::der::pem::decode_vec(pem).map_err(|_| SignatureError::Certificate)?;
    Ok(der)
}

/// The key's COSE algorithm and its uncompressed point.
fn ec_key(cert: &Certificate) -> Result<(SigningAlgorithm, &[u8]), SignatureError> {
    let spki = cert.tbs_certificate().subject_public_key_info();
    if spki.algorithm.oid != ID_EC_PUBLIC_KEY {
        return Err(SignatureError::UnsupportedKey);
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
        .ok_or(SignatureError::UnsupportedKey)?;
    let algorithm = match curve {
        c if c == SECP256R1 => SigningAlgorithm::Es256,
        c if c == SECP384R1 => SigningAlgorithm::Es384,
        c if c == SECP521R1 => SigningAlgorithm::Es512,
        _ => return Err(SignatureError::UnsupportedKey),
    };
    let point = spki.subject_public_key.as_bytes().ok_or(SignatureError::UnsupportedKey)?;
    Ok((algorithm, point))
}

/// `register_index` and `register_value` of the signed payload.
fn signed_pcr(payload: &[u8]) -> Result<(i64, Vec<u8>), SignatureError> {
    let bad = |what| SignatureError::Payload { what };
    let Value::Map(fields) = cbor_exact(payload, "not CBOR").map_err(bad)? else {
        return Err(bad("not a CBOR map"));
    };
    let (mut index, mut value) = (None, None);
    for (key, v) in fields {
        match key.as_text() {
            Some("register_index") if index.is_none() => {
                let i = v
                    .as_integer()
                    .and_then(|i| i64::try_from(i).ok())
                    .ok_or(bad("register_index is not an integer"))?;
                index = Some(i);
            }
            Some("register_value") if value.is_none() => value = Some(serde_bytes(v).map_err(bad)?),
            Some("register_index" | "register_value") => return Err(bad("a key is repeated")),
            _ => return Err(bad("a key other than register_index and register_value")),
        }
    }
    match (index, value) {
        (Some(i), Some(v)) => Ok((i, v)),
        _ => Err(bad("register_index or register_value is missing")),
    }
}
