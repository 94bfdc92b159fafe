//! `attestation::x509`: a narrow DER reader for exactly the X.509 fields the Nitro profile needs.
//!
//! In: one certificate's DER, untrusted (from `certificate` or `cabundle`), already bounded to 1024 bytes
//! by `document`. Out: a [`Certificate`] holding the signed bytes, the signature, names, validity, the
//! P-384 key and the two extensions the path check needs. Decides nothing about trust: `chain` checks
//! names, times, constraints and signatures. Anything outside the profile (other algorithms, other
//! curves, non-DER lengths, v1/v2 certificates) is refused here, because nothing outside it is genuine.
//!
//! Profile (RFC 5280 section 4.1, as every AWS Nitro certificate and the mock's use it): v3,
//! ecdsa-with-SHA384 (RFC 5758 section 3.2, parameters absent), id-ecPublicKey on secp384r1 with an
//! uncompressed point (RFC 5480 section 2), UTCTime or GeneralizedTime validity.

#![warn(clippy::arithmetic_side_effects)]

use super::error::DerError;
use super::time::{unix_from_civil, UnixTime};

// OID contents (DER value bytes only).
const OID_ECDSA_WITH_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_SECP384R1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];

const TAG_BOOLEAN: u8 = 0x01;
const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_UTC_TIME: u8 = 0x17;
const TAG_GENERALIZED_TIME: u8 = 0x18;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_VERSION: u8 = 0xa0;
const TAG_ISSUER_UID: u8 = 0x81;
const TAG_SUBJECT_UID: u8 = 0x82;
const TAG_EXTENSIONS: u8 = 0xa3;

/// An uncompressed SEC1 P-384 point: 0x04 || x || y.
pub(crate) const P384_POINT_LEN: usize = 97;

/// KeyUsage bits (RFC 5280 section 4.2.1.3), numbered from the most significant bit of the first byte.
pub(crate) const KU_DIGITAL_SIGNATURE: u16 = 1 << 15;
/// keyCertSign is bit 5.
pub(crate) const KU_KEY_CERT_SIGN: u16 = 1 << 10;

/// The parts of one certificate that the path check uses, each already in bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Certificate {
    pub(crate) der: Vec<u8>,
    /// The exact signed bytes: the tbsCertificate TLV.
    pub(crate) tbs: Vec<u8>,
    /// The ECDSA signature as DER (r, s) INTEGERs, from the signatureValue BIT STRING.
    pub(crate) signature: Vec<u8>,
    /// Issuer Name TLV, compared byte for byte with the issuer's subject.
    pub(crate) issuer: Vec<u8>,
    /// Subject Name TLV.
    pub(crate) subject: Vec<u8>,
    pub(crate) not_before: UnixTime,
    pub(crate) not_after: UnixTime,
    /// Uncompressed P-384 point.
    pub(crate) public_key: Vec<u8>,
    /// BasicConstraints: (cA, pathLenConstraint), when the extension is present.
    pub(crate) basic_constraints: Option<(bool, Option<u64>)>,
    /// KeyUsage bits, when the extension is present.
    pub(crate) key_usage: Option<u16>,
    /// Critical extensions other than the two above, as dotted OIDs.
    pub(crate) unknown_critical: Vec<String>,
}

impl Certificate {
    /// Parses `der` under the Nitro profile. Trailing bytes after the certificate are an error.
    pub(crate) fn parse(der: &[u8]) -> Result<Self, DerError> {
        let mut outer = Der::new(der);
        let cert = outer.expect(TAG_SEQUENCE, "Certificate")?;
        outer.finish("Certificate")?;

        let mut c = Der::new(cert);
        let (tbs_value, tbs_whole) = c.expect_tlv(TAG_SEQUENCE, "tbsCertificate")?;
        let outer_alg = c.expect(TAG_SEQUENCE, "signatureAlgorithm")?;
        let signature = bit_string(c.expect(TAG_BIT_STRING, "signatureValue")?)?.to_vec();
        c.finish("Certificate")?;
        check_signature_algorithm(outer_alg)?;

        let mut t = Der::new(tbs_value);
        let version = t.expect(TAG_VERSION, "version")?;
        // RFC 5280 section 4.1.2.1: v3 is INTEGER 2, inside [0] EXPLICIT.
        if version != [TAG_INTEGER, 0x01, 0x02] {
            return Err(DerError::NotV3);
        }
        t.expect(TAG_INTEGER, "serialNumber")?;
        let inner_alg = t.expect(TAG_SEQUENCE, "signature")?;
        if inner_alg != outer_alg {
            return Err(DerError::AlgorithmMismatch);
        }
        let (_, issuer) = t.expect_tlv(TAG_SEQUENCE, "issuer")?;
        let validity = t.expect(TAG_SEQUENCE, "validity")?;
        let (_, subject) = t.expect_tlv(TAG_SEQUENCE, "subject")?;
        let spki = t.expect(TAG_SEQUENCE, "subjectPublicKeyInfo")?;
        if t.peek() == Some(TAG_ISSUER_UID) {
            t.expect(TAG_ISSUER_UID, "issuerUniqueID")?;
        }
        if t.peek() == Some(TAG_SUBJECT_UID) {
            t.expect(TAG_SUBJECT_UID, "subjectUniqueID")?;
        }
        let mut cert = Certificate {
            der: der.to_vec(),
            tbs: tbs_whole.to_vec(),
            signature,
            issuer: issuer.to_vec(),
            subject: subject.to_vec(),
            not_before: UnixTime::from_secs(0),
            not_after: UnixTime::from_secs(0),
            public_key: Vec::new(),
            basic_constraints: None,
            key_usage: None,
            unknown_critical: Vec::new(),
        };
        if t.peek() == Some(TAG_EXTENSIONS) {
            let exts = t.expect(TAG_EXTENSIONS, "extensions")?;
            let mut e = Der::new(exts);
            let list = e.expect(TAG_SEQUENCE, "Extensions")?;
            e.finish("extensions")?;
            cert.read_extensions(list)?;
        }
        t.finish("tbsCertificate")?;

        let mut v = Der::new(validity);
        cert.not_before = time(&mut v)?;
        cert.not_after = time(&mut v)?;
        v.finish("validity")?;
        cert.public_key = p384_key(spki)?;
        Ok(cert)
    }

    fn read_extensions(&mut self, list: &[u8]) -> Result<(), DerError> {
        let mut seen: Vec<&[u8]> = Vec::new();
        let mut l = Der::new(list);
        while !l.is_empty() {
            let mut ext = Der::new(l.expect(TAG_SEQUENCE, "Extension")?);
            let oid = ext.expect(TAG_OID, "extnID")?;
            let critical =
                if ext.peek() == Some(TAG_BOOLEAN) { boolean(ext.expect(TAG_BOOLEAN, "critical")?)? } else { false };
            let value = ext.expect(TAG_OCTET_STRING, "extnValue")?;
            ext.finish("Extension")?;
            if seen.contains(&oid) {
                return Err(DerError::DuplicateExtension { oid: oid_string(oid) });
            }
            seen.push(oid);
            if oid == OID_BASIC_CONSTRAINTS {
                self.basic_constraints = Some(basic_constraints(value)?);
            } else if oid == OID_KEY_USAGE {
                self.key_usage = Some(key_usage(value)?);
            } else if critical {
                self.unknown_critical.push(oid_string(oid));
            }
        }
        Ok(())
    }

    /// The subject as `CN=..., O=...` text, for display only (never compared).
    pub(crate) fn subject_text(&self) -> String {
        name_text(&self.subject)
    }

    /// The issuer as text, for display only.
    pub(crate) fn issuer_text(&self) -> String {
        name_text(&self.issuer)
    }
}

fn check_signature_algorithm(alg: &[u8]) -> Result<(), DerError> {
    let mut a = Der::new(alg);
    let oid = a.expect(TAG_OID, "algorithm")?;
    // RFC 5758 section 3.2: for ecdsa-with-SHA384 the parameters field MUST be absent.
    if oid != OID_ECDSA_WITH_SHA384 || !a.is_empty() {
        return Err(DerError::SignatureAlgorithm { oid: oid_string(oid) });
    }
    Ok(())
}

/// RFC 5480 section 2: id-ecPublicKey with namedCurve secp384r1, and an uncompressed point.
fn p384_key(spki: &[u8]) -> Result<Vec<u8>, DerError> {
    let mut s = Der::new(spki);
    let mut alg = Der::new(s.expect(TAG_SEQUENCE, "AlgorithmIdentifier")?);
    let key = bit_string(s.expect(TAG_BIT_STRING, "subjectPublicKey")?)?;
    s.finish("subjectPublicKeyInfo")?;
    let alg_oid = alg.expect(TAG_OID, "algorithm")?;
    let params = if alg.peek() == Some(TAG_OID) { Some(alg.expect(TAG_OID, "namedCurve")?) } else { None };
    if alg_oid != OID_EC_PUBLIC_KEY || params != Some(OID_SECP384R1) || !alg.is_empty() {
        return Err(DerError::KeyAlgorithm {
            alg: oid_string(alg_oid),
            params: params.map_or_else(|| "none".to_owned(), oid_string),
        });
    }
    if key.len() != P384_POINT_LEN || key.first() != Some(&0x04) {
        return Err(DerError::KeyEncoding { len: key.len() });
    }
    Ok(key.to_vec())
}

/// BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL }
fn basic_constraints(value: &[u8]) -> Result<(bool, Option<u64>), DerError> {
    let bad = DerError::BadExtension { what: "BasicConstraints" };
    let mut outer = Der::new(value);
    let mut s = Der::new(outer.expect(TAG_SEQUENCE, "BasicConstraints").map_err(|_| bad.clone())?);
    outer.finish("BasicConstraints").map_err(|_| bad.clone())?;
    let ca = if s.peek() == Some(TAG_BOOLEAN) {
        boolean(s.expect(TAG_BOOLEAN, "cA")?).map_err(|_| bad.clone())?
    } else {
        false
    };
    let path_len = if s.peek() == Some(TAG_INTEGER) {
        Some(small_unsigned(s.expect(TAG_INTEGER, "pathLenConstraint")?).ok_or(bad.clone())?)
    } else {
        None
    };
    s.finish("BasicConstraints").map_err(|_| bad)?;
    Ok((ca, path_len))
}

/// KeyUsage ::= BIT STRING; returns the first 16 bits (bit 0 is the most significant).
fn key_usage(value: &[u8]) -> Result<u16, DerError> {
    let bad = DerError::BadExtension { what: "KeyUsage" };
    let mut outer = Der::new(value);
    let bits = outer.expect(TAG_BIT_STRING, "KeyUsage").map_err(|_| bad.clone())?;
    outer.finish("KeyUsage").map_err(|_| bad.clone())?;
    match bits {
        [unused, rest @ ..] if *unused < 8 && rest.len() <= 2 && !rest.is_empty() => {
            let hi = u16::from(rest.first().copied().unwrap_or(0)) << 8;
            let lo = u16::from(rest.get(1).copied().unwrap_or(0));
            Ok(hi | lo)
        }
        _ => Err(bad),
    }
}

fn boolean(v: &[u8]) -> Result<bool, DerError> {
    match v {
        [0x00] => Ok(false),
        [0xff] => Ok(true),
        _ => Err(DerError::BadExtension { what: "BOOLEAN" }),
    }
}

/// A non-negative INTEGER that fits in u64, in minimal DER form.
fn small_unsigned(v: &[u8]) -> Option<u64> {
    let (first, _) = v.split_first()?;
    if *first & 0x80 != 0 || v.len() > 9 || (v.len() > 1 && *first == 0 && v.get(1).is_some_and(|b| b & 0x80 == 0)) {
        return None;
    }
    Some(v.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

/// A BIT STRING whose content is whole bytes (unused-bits octet 0).
fn bit_string(v: &[u8]) -> Result<&[u8], DerError> {
    match v.split_first() {
        Some((0, rest)) => Ok(rest),
        _ => Err(DerError::BitString),
    }
}

// Operands are at most four ASCII digits each, so this arithmetic cannot overflow.
#[allow(clippy::arithmetic_side_effects)]
/// RFC 5280 section 4.1.2.5: UTCTime YYMMDDHHMMSSZ (YY >= 50 is 19YY) or GeneralizedTime YYYYMMDDHHMMSSZ.
fn time(d: &mut Der<'_>) -> Result<UnixTime, DerError> {
    let (tag, v, _) = d.tlv()?;
    let digits = |s: &[u8]| -> Result<u64, DerError> {
        s.iter().try_fold(0u64, |acc, c| {
            if c.is_ascii_digit() {
                Ok(acc * 10 + u64::from(c - b'0'))
            } else {
                Err(DerError::BadTime)
            }
        })
    };
    let (year, rest) = match (tag, v.len()) {
        (TAG_UTC_TIME, 13) => {
            let yy = digits(v.get(..2).ok_or(DerError::BadTime)?)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, v.get(2..).ok_or(DerError::BadTime)?)
        }
        (TAG_GENERALIZED_TIME, 15) => {
            (digits(v.get(..4).ok_or(DerError::BadTime)?)?, v.get(4..).ok_or(DerError::BadTime)?)
        }
        _ => return Err(DerError::BadTime),
    };
    let field = |i: usize| -> Result<u64, DerError> { digits(rest.get(i..i + 2).ok_or(DerError::BadTime)?) };
    if rest.last() != Some(&b'Z') {
        return Err(DerError::BadTime);
    }
    let (month, day, hour, min, sec) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(DerError::BadTime),
    };
    if day == 0 || day > days_in_month || hour > 23 || min > 59 || sec > 59 {
        return Err(DerError::BadTime);
    }
    unix_from_civil(year, month, day, hour, min, sec).map(UnixTime::from_secs).ok_or(DerError::BadTime)
}

/// Dotted-decimal form of an OID's content bytes, for messages.
// `first` is at most 2 and `acc >= first * 40` by construction; the accumulation saturates.
#[allow(clippy::arithmetic_side_effects)]
fn oid_string(oid: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for b in oid {
        acc = acc.saturating_mul(128).saturating_add(u64::from(b & 0x7f));
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (acc / 40).min(2);
                parts.push(first);
                parts.push(acc - first * 40);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
    }
    parts.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// A Name as `C=US, O=Amazon, CN=...` (RFC 4514 order is reversed; we print in encoded order).
fn name_text(name: &[u8]) -> String {
    fn inner(name: &[u8]) -> Option<String> {
        let mut out: Vec<String> = Vec::new();
        let mut outer = Der::new(name);
        let mut rdns = Der::new(outer.expect(TAG_SEQUENCE, "Name").ok()?);
        while !rdns.is_empty() {
            let mut set = Der::new(rdns.expect(TAG_SET, "RDN").ok()?);
            while !set.is_empty() {
                let mut atv = Der::new(set.expect(TAG_SEQUENCE, "AttributeTypeAndValue").ok()?);
                let oid = atv.expect(TAG_OID, "type").ok()?;
                let (_, value, _) = atv.tlv().ok()?;
                let key = match oid {
                    [0x55, 0x04, 0x03] => "CN".to_owned(),
                    [0x55, 0x04, 0x06] => "C".to_owned(),
                    [0x55, 0x04, 0x07] => "L".to_owned(),
                    [0x55, 0x04, 0x08] => "ST".to_owned(),
                    [0x55, 0x04, 0x0a] => "O".to_owned(),
                    [0x55, 0x04, 0x0b] => "OU".to_owned(),
                    other => oid_string(other),
                };
                let text: String =
                    String::from_utf8_lossy(value).chars().filter(|c| !c.is_control()).take(128).collect();
                out.push(format!("{key}={text}"));
            }
        }
        Some(out.join(", "))
    }
    inner(name).unwrap_or_else(|| "(unreadable name)".to_owned())
}

/// A cursor over DER TLVs with single-byte tags and definite, minimal lengths.
struct Der<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Der<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn byte(&mut self) -> Result<u8, DerError> {
        let b = *self.data.get(self.pos).ok_or(DerError::Truncated)?;
        self.pos = self.pos.saturating_add(1);
        Ok(b)
    }

    /// Reads one TLV: (tag, value, whole TLV).
    fn tlv(&mut self) -> Result<(u8, &'a [u8], &'a [u8]), DerError> {
        let start = self.pos;
        let tag = self.byte()?;
        if tag & 0x1f == 0x1f {
            return Err(DerError::UnexpectedTag { what: "element", expected: 0, found: tag });
        }
        let first = self.byte()?;
        let len = match first {
            0..=0x7f => usize::from(first),
            0x81..=0x84 => {
                let n = usize::from(first & 0x7f);
                let mut len: usize = 0;
                for i in 0..n {
                    let b = self.byte()?;
                    // X.690 section 10.1: the shortest form, no leading zero octets.
                    if i == 0 && b == 0 {
                        return Err(DerError::BadLength);
                    }
                    len = len.checked_mul(256).ok_or(DerError::BadLength)? | usize::from(b);
                }
                if len < 0x80 {
                    return Err(DerError::BadLength);
                }
                len
            }
            _ => return Err(DerError::BadLength),
        };
        let end = self.pos.checked_add(len).ok_or(DerError::Truncated)?;
        let value = self.data.get(self.pos..end).ok_or(DerError::Truncated)?;
        let whole = self.data.get(start..end).ok_or(DerError::Truncated)?;
        self.pos = end;
        Ok((tag, value, whole))
    }

    fn expect_tlv(&mut self, tag: u8, what: &'static str) -> Result<(&'a [u8], &'a [u8]), DerError> {
        let found = self.peek().ok_or(DerError::Truncated)?;
        if found != tag {
            return Err(DerError::UnexpectedTag { what, expected: tag, found });
        }
        let (_, value, whole) = self.tlv()?;
        Ok((value, whole))
    }

    fn expect(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], DerError> {
        self.expect_tlv(tag, what).map(|(v, _)| v)
    }

    fn finish(&self, what: &'static str) -> Result<(), DerError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DerError::TrailingBytes { what })
        }
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn oids_print_dotted() {
        assert_eq!(oid_string(OID_ECDSA_WITH_SHA384), "1.2.840.10045.4.3.3");
        assert_eq!(oid_string(OID_SECP384R1), "1.3.132.0.34");
    }

    #[test]
    fn times_parse_and_refuse_nonsense() {
        let t = |tag: u8, s: &str| {
            let mut der = vec![tag, s.len() as u8];
            der.extend_from_slice(s.as_bytes());
            time(&mut Der::new(&der))
        };
        assert_eq!(t(TAG_UTC_TIME, "230918150400Z"), Ok(UnixTime::from_secs(1_695_049_440)));
        assert_eq!(t(TAG_GENERALIZED_TIME, "20491028143505Z").map(UnixTime::as_secs), Ok(2_519_044_505));
        assert_eq!(t(TAG_UTC_TIME, "230230000000Z"), Err(DerError::BadTime));
        assert_eq!(t(TAG_UTC_TIME, "2309181504000"), Err(DerError::BadTime));
        assert_eq!(t(TAG_UTC_TIME, "23091815040Z"), Err(DerError::BadTime));
        assert_eq!(t(TAG_UTC_TIME, "2309181504+0Z"), Err(DerError::BadTime));
    }

    #[test]
    fn lengths_must_be_minimal() {
        assert_eq!(Der::new(&[0x04, 0x81, 0x05, 0, 0, 0, 0, 0]).tlv().unwrap_err(), DerError::BadLength);
        assert_eq!(Der::new(&[0x04, 0x80]).tlv().unwrap_err(), DerError::BadLength);
        assert_eq!(Der::new(&[0x04, 0x82, 0x00, 0x80]).tlv().unwrap_err(), DerError::BadLength);
        assert_eq!(Der::new(&[0x04, 0x05, 0]).tlv().unwrap_err(), DerError::Truncated);
    }

    /// A real AWS intermediate (cabundle[1] of a genuine document), for single-byte edits.
    fn aws_intermediate() -> Vec<u8> {
        let doc =
            crate::attestation::UnverifiedDocument::parse(include_bytes!("../../testdata/nitro/cape-cli-key.cbor"))
                .unwrap();
        doc.dangerous_unverified_fields().cabundle()[1].clone()
    }

    fn edited(find: &[u8], replace: &[u8], nth: usize) -> Result<Certificate, DerError> {
        let mut der = aws_intermediate();
        let at = der.windows(find.len()).enumerate().filter(|(_, w)| *w == find).map(|(i, _)| i).nth(nth).unwrap();
        der.splice(at..at + find.len(), replace.iter().copied());
        Certificate::parse(&der)
    }

    #[test]
    fn real_intermediate_parses_with_both_extensions() {
        let c = Certificate::parse(&aws_intermediate()).unwrap();
        assert!(matches!(c.basic_constraints, Some((true, Some(_)))));
        assert_ne!(c.key_usage.unwrap() & KU_KEY_CERT_SIGN, 0);
        assert!(c.unknown_critical.is_empty());
        assert_eq!(c.public_key.len(), P384_POINT_LEN);
    }

    #[test]
    fn profile_violations_in_a_real_certificate() {
        let sha384 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
        let sha256 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
        // tbsCertificate.signature differs from signatureAlgorithm.
        assert_eq!(edited(&sha384, &sha256, 0), Err(DerError::AlgorithmMismatch));
        // An uncompressed-point prefix replaced by a compressed one.
        assert_eq!(
            edited(&[0x03, 0x62, 0x00, 0x04], &[0x03, 0x62, 0x00, 0x02], 0),
            Err(DerError::KeyEncoding { len: 97 })
        );
        // Unused bits in the key's BIT STRING.
        assert_eq!(edited(&[0x03, 0x62, 0x00, 0x04], &[0x03, 0x62, 0x01, 0x04], 0), Err(DerError::BitString));
        // KeyUsage relabelled as a second BasicConstraints.
        assert_eq!(
            edited(&[0x06, 0x03, 0x55, 0x1d, 0x0f], &[0x06, 0x03, 0x55, 0x1d, 0x13], 0),
            Err(DerError::DuplicateExtension { oid: "2.5.29.19".into() })
        );
        // BasicConstraints' value read as KeyUsage.
        assert_eq!(
            edited(&[0x06, 0x03, 0x55, 0x1d, 0x13], &[0x06, 0x03, 0x55, 0x1d, 0x0f], 0),
            Err(DerError::BadExtension { what: "KeyUsage" })
        );
        // The tbsCertificate SEQUENCE tagged as a SET.
        let mut der = aws_intermediate();
        der[4] = 0x31;
        assert_eq!(
            Certificate::parse(&der),
            Err(DerError::UnexpectedTag { what: "tbsCertificate", expected: 0x30, found: 0x31 })
        );
    }

    #[test]
    fn path_len_integers() {
        assert_eq!(small_unsigned(&[0x00]), Some(0));
        assert_eq!(small_unsigned(&[0x02]), Some(2));
        assert_eq!(small_unsigned(&[0x00, 0x80]), Some(128));
        assert_eq!(small_unsigned(&[0x00, 0x01]), None);
        assert_eq!(small_unsigned(&[0x80]), None);
        assert_eq!(small_unsigned(&[]), None);
    }
}
