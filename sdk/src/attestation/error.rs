//! `attestation::error`: why a document was refused, as values a program can match and a person can read.
//!
//! One enum per layer (`CborError` < `CoseError`, `DocumentError`, `ChainError`, `UserDataError`), wrapped by
//! [`AttestationError`], whose other variants are the policy checks. Every `Display` here is safe to log:
//! it may show lengths, indices, times, PCRs, nonces and checksums (all public), never `user_data` bytes
//! or key material.

use std::fmt;

use enclave_protocol::{FunctionChecksum, FunctionId, PcrIndex, PcrValue, SetMismatch, UserDataError};

use super::time::UnixTime;

/// Bytes as lowercase hex in messages (PCRs, nonces, checksums, fingerprints); `(empty)` for none.
fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "(empty)".to_owned();
    }
    hex::encode(bytes)
}

/// Digests as `[aa.., bb..]`.
fn hex_list(digests: &[[u8; 32]]) -> String {
    format!("[{}]", digests.iter().map(hex::encode).collect::<Vec<_>>().join(", "))
}

/// How a document failed each of a policy's allowed measurement sets: `set 1: PCR0 is ..; set 2: ...`.
fn set_mismatches(mismatches: &[SetMismatch]) -> String {
    let mut out = String::new();
    for (i, m) in mismatches.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(&format!("set {}: {m}", i.saturating_add(1)));
    }
    out
}

/// The reason a document was not accepted: one variant per check, carrying what was expected and found.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use enclave_sdk::attestation::*;
/// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
/// # let at = UnixTime::from_secs(1_676_033_041);
/// let wrong: enclave_sdk::MeasurementSet = format!("0={}", "ab".repeat(48)).parse()?;
/// let verifier = Verifier::new(Policy::builder().allow_measurements(wrong).build()?);
/// let refused = verifier.verify(&raw, &Expected::none(), at).unwrap_err();
/// assert!(matches!(refused, AttestationError::PcrNotAllowed { .. }));
/// println!("{refused}"); // PCR0 is bda7…; the policy allows abab…
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// The whole document is larger than any genuine one can be; nothing was parsed.
    #[error("document is {len} bytes; the limit is {max}")]
    DocumentTooLarge {
        /// Bytes received.
        len: usize,
        /// [`UnverifiedDocument::MAX_LEN`](super::UnverifiedDocument::MAX_LEN).
        max: usize,
    },
    /// The COSE_Sign1 envelope is malformed, or its signature does not verify with the leaf key.
    #[error("COSE envelope: {0}")]
    Cose(#[from] CoseError),
    /// The payload is not a well-formed, in-bounds attestation document.
    #[error("document payload: {0}")]
    Document(#[from] DocumentError),
    /// The certificate path from the leaf to the pinned root does not hold at the verification time.
    #[error("certificate chain: {0}")]
    Chain(#[from] ChainError),
    /// PCR0, PCR1 and PCR2 are all zero: a genuine document from an enclave started in debug mode,
    /// whose memory the host can read.
    #[error("debug-mode enclave (PCR0..2 all zero); the policy does not allow debug enclaves")]
    DebugMode,
    /// The policy allows one measurement set and the document's value for one of its PCRs is another.
    #[error("{index} is {found}; the policy allows {expected}")]
    PcrNotAllowed {
        /// The first pinned PCR (in index order) that differed.
        index: PcrIndex,
        /// The document's value.
        found: PcrValue,
        /// The value the policy's set has.
        expected: PcrValue,
    },
    /// The policy allows one measurement set, and the document lacks one of its PCRs.
    #[error("{index} is pinned by the policy but absent from the document")]
    PcrMissing {
        /// The PCR.
        index: PcrIndex,
    },
    /// The policy allows several measurement sets (releases) and the document matches none of them
    /// entirely: each entry says where it first differed from one set.
    #[error("the document matches none of the policy's {} measurement sets: {}", mismatches.len(), set_mismatches(mismatches))]
    MeasurementsNotAllowed {
        /// Per allowed set, in the policy's order, the first PCR that did not match.
        mismatches: Vec<SetMismatch>,
    },
    /// The caller expects a nonce and the document carries none.
    #[error("document carries no nonce; expected {}", hex(expected))]
    NonceMissing {
        /// The nonce this client sent.
        expected: Vec<u8>,
    },
    /// The document's nonce is not the one this client sent (a replay, or another client's document).
    #[error("nonce is {}; expected {}", hex(found), hex(expected))]
    NonceMismatch {
        /// The nonce this client sent.
        expected: Vec<u8>,
        /// The document's nonce.
        found: Vec<u8>,
    },
    /// The document's timestamp is older than the policy's maximum age allows.
    #[error("document is {age_s} s old (timestamp {timestamp_ms} ms, checked at {now}); the policy allows {max_s} s")]
    Stale {
        /// Age in seconds at `now`.
        age_s: u64,
        /// Policy maximum, seconds.
        max_s: u64,
        /// The document's timestamp, milliseconds since the epoch.
        timestamp_ms: u64,
        /// The verification time.
        now: UnixTime,
    },
    /// The document's timestamp lies further in the future than the clock-skew allowance.
    #[error("document timestamp {timestamp_ms} ms is after {now} plus {skew_s} s of allowed skew")]
    TimestampInFuture {
        /// The document's timestamp, milliseconds since the epoch.
        timestamp_ms: u64,
        /// The verification time.
        now: UnixTime,
        /// Allowed clock skew, seconds.
        skew_s: u64,
    },
    /// A checksum is pinned but the document carries no user data to hold the function claim.
    #[error("the policy pins a function checksum but the document has no user_data")]
    UserDataMissing,
    /// The user data is not an [`super::EnclaveUserData`] claim (or, in Cape mode, Cape's JSON claim).
    #[error("user_data: {0}")]
    UserData(#[from] UserDataError),
    /// The function id the caller asked for is not the one the enclave claims to run.
    #[error("enclave claims function {found}; expected {expected}")]
    FunctionIdMismatch {
        /// What the caller asked for.
        expected: FunctionId,
        /// What the user data says.
        found: FunctionId,
    },
    /// The policy pins checksums per function, but none for this function (and no catch-all pin).
    #[error("the policy pins no checksum for {}", .function_id.as_ref().map_or_else(|| "a function the document does not name".to_owned(), |id| format!("function {id}")))]
    NoChecksumForFunction {
        /// The function id (requested, or claimed when none was requested; `None` when neither names one).
        function_id: Option<FunctionId>,
    },
    /// The enclave runs a function whose checksum is not the pinned one.
    #[error("function checksum is {found}; expected {expected}")]
    ChecksumMismatch {
        /// The pinned checksum.
        expected: FunctionChecksum,
        /// The checksum in the user data.
        found: FunctionChecksum,
    },
    /// A session needs the enclave's X25519 key and the document carries no public key.
    #[error("document has no public_key; an X25519 key is required")]
    PublicKeyMissing,
    /// The public key is not a 32-byte X25519 key.
    #[error("public_key is {len} bytes; an X25519 key is 32")]
    PublicKeyLength {
        /// Length found.
        len: usize,
    },
}

/// What ciborium, which reads the envelope and the payload, found wrong with the CBOR.
///
/// # Examples
///
/// ```
/// use enclave_sdk::attestation::{AttestationError, CborError, CborProblem, CoseError, UnverifiedDocument};
/// let err = UnverifiedDocument::parse(&[0x84]).unwrap_err();
/// // An array of four items, and no item: the input ends where the first should be.
/// assert_eq!(err, AttestationError::Cose(CoseError::Cbor(CborError { offset: 1, problem: CborProblem::Truncated })));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CborProblem {
    /// The input ended inside an item, or before the bytes or items a length declared.
    Truncated,
    /// Bytes follow the single top-level item.
    TrailingBytes,
    /// Not well-formed (RFC 8949 section 3 and appendix F): a reserved additional-information value
    /// (28..=30), an indefinite length where none is allowed, a chunk of an indefinite-length string of
    /// another type, or text that is not UTF-8. ciborium reports the offset, not which of these.
    Malformed,
    /// A major type 7 item other than `false`, `true`, `null`, `undefined` and floats: an unassigned
    /// simple value, or a break outside an indefinite-length item.
    UnsupportedSimple,
    /// Nesting deeper than the reader allows.
    TooDeep,
}

impl fmt::Display for CborProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "input ends inside an item",
            Self::TrailingBytes => "bytes follow the item",
            Self::Malformed => "not well-formed",
            Self::UnsupportedSimple => "unassigned simple value or misplaced break",
            Self::TooDeep => "nested too deeply",
        })
    }
}

/// Malformed CBOR, with the byte offset where reading stopped.
///
/// # Examples
///
/// ```
/// use enclave_sdk::attestation::{AttestationError, CborProblem, CoseError, UnverifiedDocument};
/// let err = UnverifiedDocument::parse(&[0x84]).unwrap_err();
/// assert!(matches!(err, AttestationError::Cose(CoseError::Cbor(c)) if c.problem == CborProblem::Truncated));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("CBOR at byte {offset}: {problem}")]
pub struct CborError {
    /// Offset into the CBOR input (the envelope, or the payload for payload errors).
    pub offset: usize,
    /// What is wrong there.
    pub problem: CborProblem,
}

/// The COSE_Sign1 envelope (RFC 9052 section 4.2) is malformed or its signature is wrong.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use enclave_sdk::attestation::*;
/// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
/// # let at = UnixTime::from_secs(1_676_033_041);
/// let mut bad = raw.clone();
/// let last = bad.len() - 1;
/// bad[last] ^= 1; // one signature bit
/// let any = Verifier::new(Policy::builder().dangerous_accept_any_enclave().build()?);
/// assert_eq!(any.verify(&bad, &Expected::none(), at).unwrap_err(), AttestationError::Cose(CoseError::BadSignature));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoseError {
    /// The envelope is not well-formed CBOR.
    #[error("{0}")]
    Cbor(CborError),
    /// Tagged with something other than 18 (COSE_Sign1).
    #[error("tag {tag}; COSE_Sign1 is untagged or tag 18")]
    WrongTag {
        /// The tag found.
        tag: u64,
    },
    /// Not an array of four items.
    #[error("not a 4-element array (found {found})")]
    NotFourArray {
        /// What was found, e.g. `map` or `array of 3`.
        found: String,
    },
    /// A structural element of COSE_Sign1 has the wrong CBOR type.
    #[error("{element} is a {found}; expected {expected}")]
    WrongType {
        /// `protected`, `unprotected`, `payload` or `signature`.
        element: &'static str,
        /// Expected type.
        expected: &'static str,
        /// Type found.
        found: &'static str,
    },
    /// The protected header is not exactly `{1: -35}` (alg: ES384).
    #[error("protected header is {}; expected {{1: -35}} (a1 01 38 22)", hex(found))]
    ProtectedHeader {
        /// The protected header bytes.
        found: Vec<u8>,
    },
    /// The unprotected header is not one RFC 9052 allows, as coset reads it: a label that is neither
    /// an integer nor text, a label twice, an empty `crit`, or a known parameter of the wrong type
    /// (`kid` must be a non-empty byte string, for instance).
    #[error("unprotected header has {found} where COSE expects {expected}")]
    Header {
        /// What was found, in coset's words (`int`, `a label twice`, ...).
        found: &'static str,
        /// What COSE expects there.
        expected: &'static str,
    },
    /// The unprotected header carries `alg` (label 1) or `crit` (label 2). RFC 9052 section 3: `crit`
    /// must be protected, and an `alg` outside the protected bucket must not stand beside the signed one.
    #[error(
        "unprotected header carries label {label} ({name}); RFC 9052 section 3 allows it only in the protected header"
    )]
    UnprotectedHeader {
        /// The header label (1 or 2).
        label: u8,
        /// `alg` or `crit`.
        name: &'static str,
    },
    /// The payload length is outside 1..=16384 bytes.
    #[error("payload is {len} bytes; allowed 1..={max}")]
    PayloadLength {
        /// Length found.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// The signature is not 96 bytes (r || s for P-384).
    #[error("signature is {len} bytes; ES384 needs 96 (r || s)")]
    SignatureLength {
        /// Length found.
        len: usize,
    },
    /// The ES384 signature over the Sig_structure does not verify with the leaf certificate's key.
    #[error("ES384 signature does not verify with the leaf certificate's key")]
    BadSignature,
}

/// A payload field, for messages.
///
/// # Examples
///
/// ```
/// use enclave_sdk::attestation::{DocumentError, Field};
/// let e = DocumentError::Missing { field: Field::ModuleId };
/// assert_eq!(e.to_string(), "module_id is missing");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// `module_id`
    ModuleId,
    /// `digest`
    Digest,
    /// `timestamp`
    Timestamp,
    /// `pcrs`
    Pcrs,
    /// One PCR value.
    Pcr(u8),
    /// `certificate`
    Certificate,
    /// `cabundle`
    CaBundle,
    /// One `cabundle` entry.
    CaBundleEntry(usize),
    /// `public_key`
    PublicKey,
    /// `user_data`
    UserData,
    /// `nonce`
    Nonce,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ModuleId => f.write_str("module_id"),
            Self::Digest => f.write_str("digest"),
            Self::Timestamp => f.write_str("timestamp"),
            Self::Pcrs => f.write_str("pcrs"),
            Self::Pcr(i) => write!(f, "pcrs[{i}]"),
            Self::Certificate => f.write_str("certificate"),
            Self::CaBundle => f.write_str("cabundle"),
            Self::CaBundleEntry(i) => write!(f, "cabundle[{i}]"),
            Self::PublicKey => f.write_str("public_key"),
            Self::UserData => f.write_str("user_data"),
            Self::Nonce => f.write_str("nonce"),
        }
    }
}

/// The payload violates the attestation document's CDDL (AWS NSM API) or is not well-formed CBOR.
///
/// # Examples
///
/// ```
/// use enclave_sdk::attestation::{AttestationError, UnverifiedDocument};
/// // A COSE_Sign1 whose payload is not an attestation document.
/// let err = UnverifiedDocument::parse(&[0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0, 0x41, 0x00, 0x40]).unwrap_err();
/// assert!(matches!(err, AttestationError::Document(_) | AttestationError::Cose(_)), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// The payload is not well-formed CBOR.
    #[error("{0}")]
    Cbor(CborError),
    /// The payload is not a map.
    #[error("payload is a {found}; expected a map")]
    NotMap {
        /// Type found.
        found: &'static str,
    },
    /// A map key is not a text string (top level) or not an unsigned integer (`pcrs`).
    #[error("a key in {map} is a {found}")]
    BadKey {
        /// `payload` or `pcrs`.
        map: &'static str,
        /// Type found.
        found: &'static str,
    },
    /// The same key appears twice in a map: two readers could disagree about the document.
    #[error("duplicate key {key:?} in {map}")]
    DuplicateKey {
        /// `payload` or `pcrs`.
        map: &'static str,
        /// The key (text, at most 64 characters kept, or a PCR index), chosen by whoever sent the
        /// document: `Display` escapes it, as it does [`DocumentError::Digest`]'s value.
        key: String,
    },
    /// A mandatory field is absent (or null).
    #[error("{field} is missing")]
    Missing {
        /// The field.
        field: Field,
    },
    /// A field has the wrong CBOR type.
    #[error("{field} is a {found}; expected {expected}")]
    WrongType {
        /// The field.
        field: Field,
        /// Expected type.
        expected: &'static str,
        /// Type found.
        found: &'static str,
    },
    /// A field's length is outside its CDDL bounds.
    #[error("{field} has length {len}; allowed {min}..={max}")]
    Length {
        /// The field.
        field: Field,
        /// Length found (bytes, or entries for `pcrs`/`cabundle`).
        len: usize,
        /// Minimum.
        min: usize,
        /// Maximum.
        max: usize,
    },
    /// `digest` is not "SHA384".
    #[error("digest is {found:?}; expected \"SHA384\"")]
    Digest {
        /// The value found (at most 64 characters shown).
        found: String,
    },
    /// A PCR value that is not 32, 48 or 64 bytes (SHA-256/384/512).
    #[error("PCR{index} is {len} bytes; allowed 32, 48 or 64")]
    PcrLength {
        /// PCR index.
        index: u8,
        /// Length found.
        len: usize,
    },
    /// A PCR index outside 0..=31.
    #[error("PCR index {index} is outside 0..=31")]
    PcrIndex {
        /// Index found.
        index: u64,
    },
    /// `pcrs` lacks PCR0, PCR1 or PCR2. Every NSM document carries them, and debug mode is recognised
    /// by their values, so a document without one cannot be judged.
    #[error("pcrs lacks PCR{index}; every NSM document carries PCR0, PCR1 and PCR2")]
    PcrAbsent {
        /// The missing index (0, 1 or 2).
        index: u8,
    },
    /// `timestamp` is zero.
    #[error("timestamp is 0")]
    ZeroTimestamp,
}

/// A certificate's place in the path, counted the way the document stores it.
///
/// # Examples
///
/// ```
/// use enclave_sdk::attestation::CertPosition;
/// assert_eq!(CertPosition::CaBundle(0).to_string(), "cabundle[0]");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CertPosition {
    /// The document's `certificate` (the leaf, whose key signs the document).
    Leaf,
    /// `cabundle[i]`; `cabundle[0]` is the root as the enclave sent it.
    CaBundle(usize),
    /// The trust root pinned by the policy (not from the document).
    PinnedRoot,
}

impl fmt::Display for CertPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Leaf => f.write_str("leaf certificate"),
            Self::CaBundle(i) => write!(f, "cabundle[{i}]"),
            Self::PinnedRoot => f.write_str("pinned root"),
        }
    }
}

/// A certificate does not decode as strict DER X.509, or lies outside the narrow profile Nitro uses.
///
/// # Examples
///
/// ```
/// use enclave_sdk::attestation::{AttestationError, CertPosition, ChainError, DerError, TrustRoot};
/// assert_eq!(TrustRoot::from_pem("no PEM here"), Err(AttestationError::Chain(ChainError::Malformed { at: CertPosition::PinnedRoot, problem: DerError::PemNoCertificate })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DerError {
    /// The `x509-cert` decoder refused the bytes (strict DER: minimal lengths and integers, no
    /// trailing data, every field where X.509 puts it).
    #[error("not DER X.509: {problem} (at byte {offset})")]
    Decode {
        /// What the decoder found.
        problem: DerProblem,
        /// Byte offset into the certificate where decoding stopped.
        offset: usize,
    },
    /// A root given as PEM text has no `-----BEGIN CERTIFICATE-----` section.
    #[error("PEM: no CERTIFICATE section (TrustRoot::from_pem takes PEM text; for a file, TrustRoot::from_pem_file)")]
    PemNoCertificate,
    /// A root given as PEM text has a section that does not end, or whose base64 does not decode.
    #[error("PEM: malformed CERTIFICATE section")]
    PemMalformed,
    /// The certificate is not X.509 v3.
    #[error("not an X.509 v3 certificate")]
    NotV3,
    /// The serial number is zero (RFC 5280 section 4.1.2.2 requires a positive integer).
    #[error("serial number is zero; RFC 5280 requires a positive integer of at most 20 octets")]
    SerialZero,
    /// The serial number is negative (RFC 5280 section 4.1.2.2 requires a positive integer).
    #[error("serial number is negative; RFC 5280 requires a positive integer of at most 20 octets")]
    SerialNegative,
    /// The serial number's value needs more than 20 octets (RFC 5280 section 4.1.2.2).
    #[error("serial number is {octets} octets long; RFC 5280 requires a positive integer of at most 20 octets")]
    SerialTooLong {
        /// Octets of the value, without a leading sign octet.
        octets: usize,
    },
    /// A signature algorithm other than ecdsa-with-SHA384.
    #[error("signature algorithm {oid}; only ecdsa-with-SHA384 (1.2.840.10045.4.3.3) is accepted")]
    SignatureAlgorithm {
        /// The OID found, dotted.
        oid: String,
    },
    /// A key other than an EC key on P-384.
    #[error("public key is not EC P-384 (algorithm {alg}, parameters {params})")]
    KeyAlgorithm {
        /// Algorithm OID, dotted.
        alg: String,
        /// Curve OID, dotted (or "none").
        params: String,
    },
    /// The EC point is not an uncompressed 97-byte P-384 point.
    #[error("EC public key is {len} bytes; expected an uncompressed P-384 point (97)")]
    KeyEncoding {
        /// Length found.
        len: usize,
    },
    /// The outer and inner signature algorithms differ (RFC 5280 section 4.1.1.2).
    #[error("signatureAlgorithm differs from tbsCertificate.signature")]
    AlgorithmMismatch,
    /// A BIT STRING with unused bits where whole bytes are required (the key, the signature).
    #[error("BIT STRING with unused bits")]
    BitString,
    /// A named-bit BIT STRING sets one of its unused bits, which DER requires to be zero
    /// (X.690 section 11.2.1): a reader that ignores the unused-bits count would see another value.
    #[error("{extension} sets a bit among its unused bits")]
    UnusedBitSet {
        /// The extension holding the BIT STRING.
        extension: &'static str,
    },
    /// An extension appears twice (RFC 5280 section 4.2).
    #[error("extension {oid} appears twice")]
    DuplicateExtension {
        /// Extension OID, dotted.
        oid: String,
    },
    /// A BasicConstraints or KeyUsage value that does not decode as DER (an explicitly encoded
    /// DEFAULT, such as `cA FALSE`, is not DER).
    #[error("malformed {what} extension")]
    BadExtension {
        /// Which extension.
        what: &'static str,
    },
    /// rustls-webpki refused to parse the certificate.
    #[error("rustls-webpki refused it: {reason}")]
    Webpki {
        /// Its reason.
        reason: WebpkiReason,
    },
}

/// What the strict DER decoder found, for [`DerError::Decode`].
///
/// # Examples
///
/// ```
/// use enclave_sdk::attestation::{AttestationError, ChainError, DerError, TrustRoot};
/// let err = TrustRoot::from_der(vec![0x30, 0x03, 0x02]).unwrap_err();
/// assert!(matches!(err, AttestationError::Chain(ChainError::Malformed { problem: DerError::Decode { .. }, .. })), "{err}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DerProblem {
    /// The input ends inside an element.
    Truncated,
    /// Bytes follow the certificate, or an element inside its container.
    TrailingData,
    /// A length that is not DER (indefinite, non-minimal, or too long for its container).
    Length,
    /// A value in a non-canonical encoding (e.g. an INTEGER with a redundant leading octet, a BOOLEAN
    /// other than 00/ff, an encoded DEFAULT).
    Noncanonical,
    /// An element with an unexpected tag.
    UnexpectedTag,
    /// A malformed value (e.g. a BIT STRING, an OID, a string type's characters).
    Value,
    /// A malformed UTCTime or GeneralizedTime.
    Time,
    /// Anything else the decoder refused.
    Other,
}

impl fmt::Display for DerProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "input ends inside an element",
            Self::TrailingData => "trailing bytes",
            Self::Length => "invalid length encoding",
            Self::Noncanonical => "non-canonical encoding",
            Self::UnexpectedTag => "unexpected tag",
            Self::Value => "malformed value",
            Self::Time => "malformed validity time",
            Self::Other => "malformed",
        })
    }
}

/// rustls-webpki's reason for refusing a certificate or a path, in this crate's words.
///
/// The reasons that name a check this crate reports more precisely (a bad signature, a CA flag, a
/// path length, a name) become their own [`ChainError`] variants instead.
///
/// # Examples
///
/// ```
/// use enclave_sdk::attestation::WebpkiReason;
/// println!("{}", WebpkiReason::Validity); // shown inside a ChainError or a DerError
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WebpkiReason {
    /// Not DER as webpki reads it.
    BadDer,
    /// A validity time webpki cannot read.
    BadTime,
    /// Not X.509 v3.
    UnsupportedVersion,
    /// The inner and outer signature algorithms differ.
    AlgorithmMismatch,
    /// A signature algorithm outside ES384, or a key that does not fit it.
    UnsupportedSignatureAlgorithm,
    /// A critical extension webpki does not process.
    UnsupportedCriticalExtension,
    /// An extension that is malformed or appears twice.
    BadExtension,
    /// notBefore is after notAfter, or the time lies outside them.
    Validity,
    /// A name constraint excludes the names below it.
    NameConstraints,
    /// More intermediates than webpki builds paths through.
    PathTooLong,
    /// Any other reason; its text as webpki words it.
    Other(String),
}

impl fmt::Display for WebpkiReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadDer => "not DER",
            Self::BadTime => "unreadable validity time",
            Self::UnsupportedVersion => "not X.509 v3",
            Self::AlgorithmMismatch => "signature algorithms differ",
            Self::UnsupportedSignatureAlgorithm => "signature algorithm or key outside ES384",
            Self::UnsupportedCriticalExtension => "unsupported critical extension",
            Self::BadExtension => "malformed or repeated extension",
            Self::Validity => "validity period",
            Self::NameConstraints => "name constraints violated",
            Self::PathTooLong => "path longer than webpki builds",
            Self::Other(text) => text,
        })
    }
}

/// The certificate path from the leaf through `cabundle` to the pinned root does not hold.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use enclave_sdk::attestation::*;
/// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
/// # let at = UnixTime::from_secs(1_676_033_041);
/// // Cape's document under a root it does not chain to (here: no pinned root of its own).
/// let any = Verifier::new(Policy::builder().dangerous_accept_any_enclave().build()?);
/// let late = any.verify(&raw, &Expected::none(), UnixTime::from_secs(1_900_000_000)).unwrap_err();
/// assert!(matches!(late, AttestationError::Chain(ChainError::Expired { .. })));
/// # let _ = at;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// A certificate does not parse under the Nitro X.509 profile.
    #[error("{at}: {problem}")]
    Malformed {
        /// Which certificate.
        at: CertPosition,
        /// What is wrong with it.
        problem: DerError,
    },
    /// `cabundle[0]` is not the pinned root: the document chains to another root (or none).
    #[error("cabundle[0] has SHA-256 {}; the pinned root(s) are {}", found_sha256.map_or_else(|| "(empty)".to_owned(), hex::encode), hex_list(pinned_sha256))]
    UnknownRoot {
        /// SHA-256 of `cabundle[0]`'s DER (`None` when the document has no `cabundle[0]`).
        found_sha256: Option<[u8; 32]>,
        /// SHA-256 of every pinned root's DER.
        pinned_sha256: Vec<[u8; 32]>,
    },
    /// A certificate's issuer name is not its issuer's subject name.
    #[error("{at}: issuer name does not match the subject of {issuer}")]
    NameMismatch {
        /// The certificate.
        at: CertPosition,
        /// The certificate that should have issued it.
        issuer: CertPosition,
    },
    /// A certificate's signature does not verify with its issuer's key.
    #[error("{at}: signature does not verify with the key of {issuer}")]
    BadSignature {
        /// The certificate.
        at: CertPosition,
        /// The issuer whose key was used.
        issuer: CertPosition,
    },
    /// A certificate has expired at the verification time (even allowing for clock skew).
    #[error("{at}: expired at {not_after}; checked at {now} with {skew_s} s skew allowed")]
    Expired {
        /// The certificate.
        at: CertPosition,
        /// Its notAfter.
        not_after: UnixTime,
        /// The verification time.
        now: UnixTime,
        /// Allowed skew, seconds.
        skew_s: u64,
    },
    /// A certificate is not yet valid at the verification time (even allowing for clock skew).
    #[error(
        "{at}: not valid before {not_before}; checked at {now} with {skew_s} s skew allowed (is this clock slow?)"
    )]
    NotYetValid {
        /// The certificate.
        at: CertPosition,
        /// Its notBefore.
        not_before: UnixTime,
        /// The verification time.
        now: UnixTime,
        /// Allowed skew, seconds.
        skew_s: u64,
    },
    /// A certificate's notBefore lies after its notAfter: it is valid at no time at all, whatever the
    /// skew allowance.
    #[error("{at}: notBefore {not_before} is after notAfter {not_after}")]
    InvalidValidity {
        /// The certificate.
        at: CertPosition,
        /// Its notBefore.
        not_before: UnixTime,
        /// Its notAfter.
        not_after: UnixTime,
    },
    /// Each certificate is valid within the skew allowance, but there is no single instant at which
    /// all of them are: one ends before another begins.
    #[error("{starts} is valid from {not_before}, after {ends} ended at {not_after}: no instant suits the whole path")]
    NoCommonValidity {
        /// The certificate that starts last.
        starts: CertPosition,
        /// Its notBefore.
        not_before: UnixTime,
        /// The certificate that ends first.
        ends: CertPosition,
        /// Its notAfter.
        not_after: UnixTime,
    },
    /// An issuing certificate is not a CA (BasicConstraints cA absent or false).
    #[error("{at} issues a certificate but is not a CA")]
    NotCa {
        /// The certificate.
        at: CertPosition,
    },
    /// The leaf claims to be a CA: a CA key must not sign attestation documents.
    #[error("leaf certificate is a CA")]
    LeafIsCa,
    /// A CA's pathLenConstraint is smaller than the number of CAs below it.
    #[error("{at} allows {path_len} intermediate(s) below it; the path has {below}")]
    PathLen {
        /// The certificate.
        at: CertPosition,
        /// Its pathLenConstraint.
        path_len: u64,
        /// Intermediate CAs below it in the path.
        below: u64,
    },
    /// KeyUsage lacks a bit this role needs (keyCertSign for CAs, digitalSignature for the leaf).
    #[error("{at}: KeyUsage lacks {missing}")]
    KeyUsage {
        /// The certificate.
        at: CertPosition,
        /// The missing bit.
        missing: &'static str,
    },
    /// A critical extension other than BasicConstraints and KeyUsage, the only two Nitro marks critical
    /// (RFC 5280 section 4.2: a critical extension the verifier does not process refuses the certificate).
    #[error("{at}: unknown critical extension {oid}")]
    UnknownCriticalExtension {
        /// The certificate.
        at: CertPosition,
        /// Extension OID, dotted.
        oid: String,
    },
    /// The certificate restricts its key to named purposes (ExtendedKeyUsage), none of which is
    /// signing attestation documents; no Nitro certificate carries the extension.
    #[error("{at} carries an ExtendedKeyUsage extension; Nitro certificates have none")]
    ExtendedKeyUsage {
        /// The certificate.
        at: CertPosition,
    },
    /// rustls-webpki refused the path at this certificate for a reason not named above.
    #[error("{at}: rustls-webpki refused the path: {reason}")]
    Refused {
        /// The certificate.
        at: CertPosition,
        /// webpki's reason.
        reason: WebpkiReason,
    },
}
