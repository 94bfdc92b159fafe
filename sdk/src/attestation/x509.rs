//! `attestation::x509`: one certificate, decoded by maintained crates and held to the Nitro profile.
//!
//! In: one certificate's DER, untrusted (from `certificate` or `cabundle`, already bounded to 1024 bytes
//! by `document`, or a root the caller chose). Out: a [`Certificate`] with what `chain` needs: the
//! exact DER, the raw issuer and subject names, the validity, the P-384 key, BasicConstraints and
//! KeyUsage. Decides nothing about paths or time: `chain` does, with rustls-webpki.
//!
//! Two decoders read every certificate, and both must accept it: `x509-cert` (strict DER: minimal
//! lengths and integers, no trailing data, well-formed times and OIDs) gives the typed fields, and
//! rustls-webpki's own parser, the one its path validation will use, gives the names and refuses what
//! it will not validate. On top sits the profile every AWS Nitro certificate (and the mock's) follows,
//! RFC 5280 section 4.1 narrowed: v3; ecdsa-with-SHA384 (RFC 5758 section 3.2, parameters absent)
//! inside and out; id-ecPublicKey on secp384r1 with an uncompressed point (RFC 5480 section 2); a
//! positive serial of at most 20 octets; no extension twice; only BasicConstraints and KeyUsage
//! critical. Each rule below says which crate lets its violation through.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use rustls_pki_types::CertificateDer;
use x509_cert::certificate::Version;
use x509_cert::der::asn1::{BitStringRef, ObjectIdentifier};
use x509_cert::der::{self, Decode as _};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::name::Name;

use super::error::{CertPosition, ChainError, DerError, DerProblem, WebpkiReason};
use super::time::UnixTime;

const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");

/// An uncompressed SEC1 P-384 point: 0x04 || x || y.
pub(crate) const P384_POINT_LEN: usize = 97;
/// RFC 5280 section 4.1.2.2: serial numbers are at most 20 octets (a 21st may only carry the sign).
const MAX_SERIAL_OCTETS: usize = 20;

/// The parts of one certificate that the path check uses, each already in bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Certificate {
    pub(crate) der: Vec<u8>,
    /// The issuer Name's content, as rustls-webpki reads and compares it.
    pub(crate) issuer: Vec<u8>,
    /// The subject Name's content, likewise.
    pub(crate) subject: Vec<u8>,
    pub(crate) not_before: UnixTime,
    pub(crate) not_after: UnixTime,
    /// Uncompressed P-384 point.
    pub(crate) public_key: Vec<u8>,
    /// BasicConstraints: (cA, pathLenConstraint), when the extension is present.
    pub(crate) basic_constraints: Option<(bool, Option<u8>)>,
    /// KeyUsage, when the extension is present: (digitalSignature, keyCertSign).
    pub(crate) key_usage: Option<(bool, bool)>,
}

impl Certificate {
    /// Decodes `der` with both decoders and checks the Nitro profile; `at` names it in errors.
    pub(crate) fn parse(der: &[u8], at: CertPosition) -> Result<Self, ChainError> {
        let malformed = |problem| ChainError::Malformed { at, problem };
        let cert = x509_cert::Certificate::from_der(der).map_err(|e| malformed(decode_error(e)))?;
        // X.690 section 11.5: DER never encodes a DEFAULT value (an explicit `critical FALSE`, say).
        // der 0.8 decodes one without complaint and webpki accepts it; re-encoding shows it, since the
        // encoder leaves defaults out and everything else of a strict decode round-trips.
        canonical(&cert, der).map_err(malformed)?;
        let tbs = cert.tbs_certificate();
        // x509-cert reads v1 and v2 too.
        if tbs.version() != Version::V3 {
            return Err(malformed(DerError::NotV3));
        }
        check_serial(tbs.serial_number().as_bytes()).map_err(malformed)?;
        let outer = cert.signature_algorithm();
        if outer.oid != ECDSA_WITH_SHA384 || outer.parameters.is_some() {
            return Err(malformed(DerError::SignatureAlgorithm { oid: outer.oid.to_string() }));
        }
        if tbs.signature() != outer {
            return Err(malformed(DerError::AlgorithmMismatch));
        }
        let public_key = p384_key(tbs.subject_public_key_info()).map_err(malformed)?;

        let mut out = Certificate {
            der: der.to_vec(),
            issuer: Vec::new(),
            subject: Vec::new(),
            not_before: unix(tbs.validity().not_before),
            not_after: unix(tbs.validity().not_after),
            public_key,
            basic_constraints: None,
            key_usage: None,
        };
        let mut seen = BTreeSet::new();
        for ext in tbs.extensions().map(|e| e.as_slice()).unwrap_or_default() {
            // RFC 5280 section 4.2; x509-cert keeps every instance, webpki only refuses repeats of
            // the extensions it knows.
            if !seen.insert(ext.extn_id) {
                return Err(malformed(DerError::DuplicateExtension { oid: ext.extn_id.to_string() }));
            }
            let value = ext.extn_value.as_bytes();
            if ext.extn_id == BASIC_CONSTRAINTS {
                // `cA FALSE` encoded explicitly decodes fine with der 0.8 and webpki; see `canonical`.
                let bc = BasicConstraints::from_der(value)
                    .ok()
                    .filter(|bc| canonical(bc, value).is_ok())
                    .ok_or(malformed(DerError::BadExtension { what: "BasicConstraints" }))?;
                out.basic_constraints = Some((bc.ca, bc.path_len_constraint));
            } else if ext.extn_id == KEY_USAGE {
                out.key_usage = Some(key_usage(value).map_err(malformed)?);
            } else if ext.critical {
                // webpki would also process a critical SAN, NameConstraints, EKU or CRL distribution
                // point; Nitro marks only these two critical, and so does this profile.
                return Err(ChainError::UnknownCriticalExtension { at, oid: ext.extn_id.to_string() });
            }
        }
        // webpki parses lazily at path-building time and skips an intermediate it cannot read; parsing
        // here names the certificate it refuses. Its name bytes are the ones its path check compares.
        let cert_der = CertificateDer::from(der);
        let webpki = webpki::EndEntityCert::try_from(&cert_der)
            .map_err(|e| malformed(DerError::Webpki { reason: webpki_reason(&e) }))?;
        out.issuer = webpki.issuer().to_vec();
        out.subject = webpki.subject().to_vec();
        Ok(out)
    }

    /// The subject as `C=US, O=Amazon, CN=...` text in encoded order, escaped, for display only.
    pub(crate) fn subject_text(&self) -> String {
        self.names_text().0
    }

    /// The issuer as text, for display only.
    pub(crate) fn issuer_text(&self) -> String {
        self.names_text().1
    }

    /// Decoded again on demand: the text costs more than the rest of a parse (x509-cert looks up
    /// each attribute's name in its whole OID table), and verification never needs it.
    fn names_text(&self) -> (String, String) {
        match x509_cert::Certificate::from_der(&self.der) {
            Ok(c) => (name_text(c.tbs_certificate().subject()), name_text(c.tbs_certificate().issuer())),
            Err(_) => (String::new(), String::new()),
        }
    }
}

/// `der` is the DER encoding of `value`: it encodes back to exactly these bytes.
fn canonical(value: &impl der::Encode, der: &[u8]) -> Result<(), DerError> {
    let again = value.to_der().map_err(decode_error)?;
    if again == der {
        return Ok(());
    }
    let offset = again.iter().zip(der).position(|(a, b)| a != b).unwrap_or(again.len().min(der.len()));
    Err(DerError::Decode { problem: DerProblem::Noncanonical, offset })
}

/// RFC 5280 section 4.1.2.2. `bytes` is the INTEGER's minimal two's-complement content (der refuses a
/// redundant leading octet). Neither crate enforces this: x509-cert and webpki both accept zero and
/// negative serials, and x509-cert accepts 21 octets of value (webpki any length).
fn check_serial(bytes: &[u8]) -> Result<(), DerError> {
    // A value whose top bit is set carries one 0x00 sign octet, which is not part of the value: AWS's
    // instance CAs have 20-octet serials encoded in 21.
    let value = match bytes {
        [first, ..] if first & 0x80 != 0 => return Err(DerError::SerialNegative),
        [0, rest @ ..] => rest,
        all => all,
    };
    if value.iter().all(|b| *b == 0) {
        return Err(DerError::SerialZero);
    }
    if value.len() > MAX_SERIAL_OCTETS {
        return Err(DerError::SerialTooLong { octets: value.len() });
    }
    Ok(())
}

/// RFC 5480 section 2: id-ecPublicKey with namedCurve secp384r1, and an uncompressed point.
fn p384_key(spki: &x509_cert::spki::SubjectPublicKeyInfoOwned) -> Result<Vec<u8>, DerError> {
    let params = spki.algorithm.parameters.as_ref().map(|p| p.decode_as::<ObjectIdentifier>());
    let curve = match &params {
        Some(Ok(oid)) => Some(*oid),
        _ => None,
    };
    if spki.algorithm.oid != EC_PUBLIC_KEY || curve != Some(SECP384R1) {
        return Err(DerError::KeyAlgorithm {
            alg: spki.algorithm.oid.to_string(),
            params: curve.map_or_else(|| "none".to_owned(), |c| c.to_string()),
        });
    }
    let key = spki.subject_public_key.as_bytes().ok_or(DerError::BitString)?;
    if key.len() != P384_POINT_LEN || key.first() != Some(&0x04) {
        return Err(DerError::KeyEncoding { len: key.len() });
    }
    Ok(key.to_vec())
}

/// KeyUsage ::= BIT STRING; returns (digitalSignature, keyCertSign).
fn key_usage(value: &[u8]) -> Result<(bool, bool), DerError> {
    let bits = BitStringRef::from_der(value).map_err(|_| DerError::BadExtension { what: "KeyUsage" })?;
    // X.690 section 11.2.1: DER sets unused bits to zero. der 0.8 does not check it and then ignores
    // those bits, webpki does not read KeyUsage at all; OpenSSL refuses such a certificate. A bit
    // hidden there (keyCertSign, say) means readers disagree about the usage, so the certificate is
    // malformed rather than merely lacking the bit.
    let unused = bits.unused_bits();
    let last = bits.raw_bytes().last().copied().unwrap_or(0);
    if unused > 0 && last & (0xffu8 >> (8 - unused)) != 0 {
        return Err(DerError::UnusedBitSet { extension: "KeyUsage" });
    }
    let ku = KeyUsage::from_der(value).map_err(|_| DerError::BadExtension { what: "KeyUsage" })?;
    Ok((ku.digital_signature(), ku.key_cert_sign()))
}

fn unix(t: x509_cert::time::Time) -> UnixTime {
    UnixTime::from_secs(t.to_unix_duration().as_secs())
}

/// The decoder's refusal, kept as a value (kind and offset) rather than its text.
fn decode_error(e: der::Error) -> DerError {
    let problem = match e.kind() {
        der::ErrorKind::Incomplete { .. } => DerProblem::Truncated,
        der::ErrorKind::TrailingData { .. } => DerProblem::TrailingData,
        der::ErrorKind::Length { .. } | der::ErrorKind::IndefiniteLength | der::ErrorKind::Overlength => {
            DerProblem::Length
        }
        der::ErrorKind::Noncanonical { .. } | der::ErrorKind::EncodingRules => DerProblem::Noncanonical,
        der::ErrorKind::TagUnexpected { .. } | der::ErrorKind::TagUnknown { .. } => DerProblem::UnexpectedTag,
        der::ErrorKind::DateTime => DerProblem::Time,
        der::ErrorKind::Value { .. } | der::ErrorKind::OidMalformed | der::ErrorKind::Utf8(_) => DerProblem::Value,
        _ => DerProblem::Other,
    };
    DerError::Decode { problem, offset: e.position().map_or(0, |p| usize::try_from(u32::from(p)).unwrap_or(0)) }
}

/// webpki's refusal in this crate's words.
pub(crate) fn webpki_reason(e: &webpki::Error) -> WebpkiReason {
    use webpki::Error as W;
    match e {
        W::BadDer | W::TrailingData(_) => WebpkiReason::BadDer,
        W::BadDerTime => WebpkiReason::BadTime,
        W::UnsupportedCertVersion => WebpkiReason::UnsupportedVersion,
        W::SignatureAlgorithmMismatch => WebpkiReason::AlgorithmMismatch,
        W::UnsupportedSignatureAlgorithmContext(_) | W::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            WebpkiReason::UnsupportedSignatureAlgorithm
        }
        W::UnsupportedCriticalExtension => WebpkiReason::UnsupportedCriticalExtension,
        W::ExtensionValueInvalid | W::MalformedExtensions => WebpkiReason::BadExtension,
        W::InvalidCertValidity | W::CertExpired { .. } | W::CertNotValidYet { .. } => WebpkiReason::Validity,
        W::NameConstraintViolation | W::MalformedNameConstraint => WebpkiReason::NameConstraints,
        W::MaximumPathDepthExceeded => WebpkiReason::PathTooLong,
        other => WebpkiReason::Other(format!("{other:?}")),
    }
}

/// A Name as `C=US, O=Amazon, CN=...`: each attribute as RFC 4514 writes it (x509-cert escapes the
/// specials and C0 controls), in encoded order, with anything else outside printable ASCII escaped
/// too (the text is attacker-chosen and goes to terminals).
fn name_text(name: &Name) -> String {
    let mut out = String::new();
    for (i, atv) in name.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        for c in atv.to_string().chars() {
            if c == ' ' || c.is_ascii_graphic() {
                out.push(c);
            } else {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real AWS intermediate (cabundle[1] of a genuine document), for single-byte edits.
    fn aws_intermediate() -> Vec<u8> {
        let doc =
            crate::attestation::UnverifiedDocument::parse(include_bytes!("../../testdata/nitro/cape-cli-key.cbor"))
                .unwrap();
        doc.dangerous_unverified_fields().cabundle()[1].clone()
    }

    fn edited(find: &[u8], replace: &[u8], nth: usize) -> Result<Certificate, ChainError> {
        let mut der = aws_intermediate();
        let at = der.windows(find.len()).enumerate().filter(|(_, w)| *w == find).map(|(i, _)| i).nth(nth).unwrap();
        der.splice(at..at + find.len(), replace.iter().copied());
        Certificate::parse(&der, CertPosition::CaBundle(1))
    }

    fn problem(e: Result<Certificate, ChainError>) -> DerError {
        match e {
            Err(ChainError::Malformed { at: CertPosition::CaBundle(1), problem }) => problem,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn real_intermediate_parses_with_both_extensions() {
        let c = Certificate::parse(&aws_intermediate(), CertPosition::CaBundle(1)).unwrap();
        assert_eq!(c.basic_constraints, Some((true, Some(2))));
        assert_eq!(c.key_usage, Some((true, true)));
        assert_eq!(c.public_key.len(), P384_POINT_LEN);
        assert!(c.subject_text().starts_with("C=US, O=Amazon, OU=AWS, CN="), "{}", c.subject_text());
    }

    #[test]
    fn serial_numbers() {
        assert_eq!(check_serial(&[0x01]), Ok(()));
        assert_eq!(check_serial(&[0x00]), Err(DerError::SerialZero));
        assert_eq!(check_serial(&[0xff]), Err(DerError::SerialNegative));
        assert_eq!(check_serial(&[0x80, 0x00]), Err(DerError::SerialNegative));
        // 20 octets of value, with and without the sign octet, as AWS's instance CAs use them.
        assert_eq!(check_serial(&[0x7f; 20]), Ok(()));
        assert_eq!(check_serial(&[[0x00].as_slice(), &[0xd0; 20]].concat()), Ok(()));
        assert_eq!(check_serial(&[0x01; 21]), Err(DerError::SerialTooLong { octets: 21 }));
        assert_eq!(
            check_serial(&[[0x00].as_slice(), &[0xd0; 21]].concat()),
            Err(DerError::SerialTooLong { octets: 21 })
        );
    }

    #[test]
    fn profile_violations_in_a_real_certificate() {
        let sha384 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
        let sha256 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
        // tbsCertificate.signature differs from signatureAlgorithm.
        assert_eq!(problem(edited(&sha384, &sha256, 0)), DerError::AlgorithmMismatch);
        // An uncompressed-point prefix replaced by a compressed one.
        assert_eq!(
            problem(edited(&[0x03, 0x62, 0x00, 0x04], &[0x03, 0x62, 0x00, 0x02], 0)),
            DerError::KeyEncoding { len: 97 }
        );
        // Unused bits in the key's BIT STRING.
        assert_eq!(problem(edited(&[0x03, 0x62, 0x00, 0x04], &[0x03, 0x62, 0x01, 0x04], 0)), DerError::BitString);
        // KeyUsage relabelled as a second BasicConstraints.
        assert_eq!(
            problem(edited(&[0x06, 0x03, 0x55, 0x1d, 0x0f], &[0x06, 0x03, 0x55, 0x1d, 0x13], 0)),
            DerError::DuplicateExtension { oid: "2.5.29.19".into() }
        );
        // BasicConstraints' value read as KeyUsage (and KeyUsage then repeated).
        assert_eq!(
            problem(edited(&[0x06, 0x03, 0x55, 0x1d, 0x13], &[0x06, 0x03, 0x55, 0x1d, 0x0f], 0)),
            DerError::BadExtension { what: "KeyUsage" }
        );
        // The tbsCertificate SEQUENCE tagged as a SET.
        let mut der = aws_intermediate();
        der[4] = 0x31;
        assert!(matches!(
            problem(Certificate::parse(&der, CertPosition::CaBundle(1))),
            DerError::Decode { problem: DerProblem::UnexpectedTag, .. }
        ));
    }

    /// A DER TLV tree, to rebuild a certificate after an edit inside it (lengths recomputed).
    enum Tlv {
        Leaf(u8, Vec<u8>),
        Node(u8, Vec<Tlv>),
    }

    fn tree(der: &[u8]) -> Vec<Tlv> {
        let mut out = Vec::new();
        let mut rest = der;
        while let [tag, first, tail @ ..] = rest {
            let (len, tail) = match *first {
                n @ 0..=0x7f => (usize::from(n), tail),
                0x81 => (usize::from(tail[0]), &tail[1..]),
                0x82 => (usize::from(tail[0]) << 8 | usize::from(tail[1]), &tail[2..]),
                _ => unreachable!(),
            };
            let (value, after) = tail.split_at(len);
            // Constructed tags hold TLVs; OCTET STRINGs (extension values) stay opaque.
            out.push(if tag & 0x20 != 0 { Tlv::Node(*tag, tree(value)) } else { Tlv::Leaf(*tag, value.to_vec()) });
            rest = after;
        }
        out
    }

    fn encode(nodes: &[Tlv]) -> Vec<u8> {
        let mut out = Vec::new();
        for n in nodes {
            let (tag, value) = match n {
                Tlv::Leaf(tag, v) => (*tag, v.clone()),
                Tlv::Node(tag, children) => (*tag, encode(children)),
            };
            out.push(tag);
            match value.len() {
                n @ 0..=0x7f => out.push(n as u8),
                n @ 0x80..=0xff => out.extend([0x81, n as u8]),
                n => out.extend([0x82, (n >> 8) as u8, n as u8]),
            }
            out.extend(value);
        }
        out
    }

    /// X.690 section 11.5 on a real certificate: `critical FALSE` written out in an extension that
    /// AWS leaves at its default. der decodes it and webpki would accept it; the round trip refuses it.
    #[test]
    fn an_encoded_default_anywhere_is_refused() {
        let mut cert = tree(&aws_intermediate());
        let [Tlv::Node(_, parts)] = cert.as_mut_slice() else { panic!() };
        let Some(Tlv::Node(_, tbs)) = parts.first_mut() else { panic!() };
        let Some(Tlv::Node(0xa3, exts)) = tbs.last_mut() else { panic!() };
        let [Tlv::Node(_, list)] = exts.as_mut_slice() else { panic!() };
        // The first non-critical extension: OID then OCTET STRING.
        let ext = list
            .iter_mut()
            .find_map(|e| match e {
                Tlv::Node(_, f) if f.len() == 2 => Some(f),
                _ => None,
            })
            .unwrap();
        ext.insert(1, Tlv::Leaf(0x01, vec![0x00]));
        let der = encode(&cert);
        assert_eq!(encode(&tree(&aws_intermediate())), aws_intermediate(), "the tree round-trips");
        assert!(matches!(
            problem(Certificate::parse(&der, CertPosition::CaBundle(1))),
            DerError::Decode { problem: DerProblem::Noncanonical, .. }
        ));
    }

    #[test]
    fn names_are_escaped_for_display() {
        let name: Name = "CN=a\u{1b}[31mb\u{202e}c,O=x".parse().unwrap();
        let text = name_text(&name);
        assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}'), "{text}");
        assert!(text.contains("\\1b[31mb\\u{202e}c"), "{text}");
    }
}
