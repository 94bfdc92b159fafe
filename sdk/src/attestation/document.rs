//! `attestation::document`: turns the COSE payload (attacker-controlled CBOR) into bounded, typed fields.
//!
//! In: the payload bytes of an envelope whose signature has NOT been checked yet. Out: [`DocumentFields`],
//! every field type- and size-checked against the AWS NSM CDDL. Decides nothing about trust: `chain`
//! and `cose` decide whether to believe these fields, and `policy` what they must say.
//!
//! Decode leniently, validate strictly: definite or indefinite maps; `null` optional fields are absent;
//! unknown keys are ignored; duplicate keys are refused (two readers could disagree on the value).
//! Bounds follow the CDDL, not the "512 bytes" of one AWS text, which genuine documents exceed.

#![warn(clippy::arithmetic_side_effects)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use enclave_protocol::{PcrIndex, PcrValue};

use super::cbor::{self, Item};
use super::error::{DocumentError, Field};

/// `module_id: text .size (1..255)`.
pub(crate) const MAX_MODULE_ID_LEN: usize = 255;
/// `cert = bstr .size (1..1024)`.
pub(crate) const MAX_CERT_LEN: usize = 1024;
/// `public_key`, `user_data`, `nonce`: `bstr .size (0..1024)`.
pub(crate) const MAX_OPTIONAL_LEN: usize = 1024;
/// `pcrs: { + index => pcr }`: 1..32 entries.
pub(crate) const MAX_PCRS: usize = 32;
/// `cabundle: [* cert]`: AWS sends the root and three intermediates; allow some headroom, not more.
pub(crate) const MAX_CABUNDLE: usize = 8;

/// The fields of an attestation document, each within its CDDL bounds. Not yet believed.
///
/// `Debug` shows lengths, not contents, for `user_data` and `public_key`, so that logging a document
/// never logs what an enclave put there.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
/// let doc = enclave_sdk::attestation::UnverifiedDocument::parse(&raw)?;
/// let fields = doc.dangerous_unverified_fields();
/// println!("{} {} {} PCRs", fields.module_id(), fields.digest(), fields.pcrs().len());
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct DocumentFields {
    pub(crate) module_id: String,
    pub(crate) digest: String,
    pub(crate) timestamp_ms: u64,
    pub(crate) pcrs: BTreeMap<PcrIndex, PcrValue>,
    pub(crate) certificate: Vec<u8>,
    pub(crate) cabundle: Vec<Vec<u8>>,
    pub(crate) public_key: Option<Vec<u8>>,
    pub(crate) user_data: Option<Vec<u8>>,
    pub(crate) nonce: Option<Vec<u8>>,
}

impl fmt::Debug for DocumentFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pcrs: BTreeMap<u8, String> = self.pcrs.iter().map(|(i, v)| (i.get(), v.to_string())).collect();
        f.debug_struct("DocumentFields")
            .field("module_id", &self.module_id)
            .field("digest", &self.digest)
            .field("timestamp_ms", &self.timestamp_ms)
            .field("pcrs", &pcrs)
            .field("certificate_len", &self.certificate.len())
            .field("cabundle_len", &self.cabundle.len())
            .field("public_key_len", &self.public_key.as_ref().map(Vec::len))
            .field("user_data_len", &self.user_data.as_ref().map(Vec::len))
            .field("nonce", &self.nonce.as_ref().map(hex::encode))
            .finish()
    }
}

impl DocumentFields {
    /// `module_id`: the enclave's instance and enclave id.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// let doc = enclave_sdk::attestation::UnverifiedDocument::parse(&raw)?;
    /// let fields = doc.dangerous_unverified_fields();
    /// assert!(fields.module_id().starts_with("i-"));
    /// # Ok(()) }
    /// ```
    pub fn module_id(&self) -> &str {
        &self.module_id
    }
    /// `digest`: always "SHA384".
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// let doc = enclave_sdk::attestation::UnverifiedDocument::parse(&raw)?;
    /// let fields = doc.dangerous_unverified_fields();
    /// assert_eq!(fields.digest(), "SHA384");
    /// # Ok(()) }
    /// ```
    pub fn digest(&self) -> &str {
        &self.digest
    }
    /// `timestamp`: milliseconds since the epoch, per the NSM's clock.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// let doc = enclave_sdk::attestation::UnverifiedDocument::parse(&raw)?;
    /// let fields = doc.dangerous_unverified_fields();
    /// assert!(fields.timestamp_ms() > 0);
    /// # Ok(()) }
    /// ```
    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp_ms
    }
    /// `pcrs`: index to value.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// let doc = enclave_sdk::attestation::UnverifiedDocument::parse(&raw)?;
    /// let fields = doc.dangerous_unverified_fields();
    /// assert!(fields.pcrs().contains_key(&enclave_sdk::PcrIndex::IMAGE));
    /// # Ok(()) }
    /// ```
    pub fn pcrs(&self) -> &BTreeMap<PcrIndex, PcrValue> {
        &self.pcrs
    }
    /// Whether these are a debug-mode enclave's measurements: PCR0, PCR1 and PCR2 all zero (AWS Nitro
    /// Enclaves user guide, "Debug mode"). The parent instance can read such an enclave's memory; a
    /// policy refuses its documents unless it allows debug enclaves, by this same test.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// let doc = enclave_sdk::attestation::UnverifiedDocument::parse(&raw)?;
    /// let fields = doc.dangerous_unverified_fields();
    /// assert!(!fields.is_debug_mode()); // a production enclave's PCR0..2 are not zero
    /// # Ok(()) }
    /// ```
    pub fn is_debug_mode(&self) -> bool {
        is_debug_mode(&self.pcrs)
    }
    /// `certificate`: the leaf's DER.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// let doc = enclave_sdk::attestation::UnverifiedDocument::parse(&raw)?;
    /// let fields = doc.dangerous_unverified_fields();
    /// assert!(!fields.certificate().is_empty());
    /// # Ok(()) }
    /// ```
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }
    /// `cabundle`: `[root, intermediates...]`, DER.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// let doc = enclave_sdk::attestation::UnverifiedDocument::parse(&raw)?;
    /// let fields = doc.dangerous_unverified_fields();
    /// assert_eq!(fields.cabundle().len(), 4);
    /// # Ok(()) }
    /// ```
    pub fn cabundle(&self) -> &[Vec<u8>] {
        &self.cabundle
    }
    /// `public_key`, absent when null.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// let doc = enclave_sdk::attestation::UnverifiedDocument::parse(&raw)?;
    /// let fields = doc.dangerous_unverified_fields();
    /// assert_eq!(fields.public_key().map(<[u8]>::len), Some(32));
    /// # Ok(()) }
    /// ```
    pub fn public_key(&self) -> Option<&[u8]> {
        self.public_key.as_deref()
    }
    /// `user_data`, absent when null.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// let doc = enclave_sdk::attestation::UnverifiedDocument::parse(&raw)?;
    /// let fields = doc.dangerous_unverified_fields();
    /// assert!(fields.user_data().is_some());
    /// # Ok(()) }
    /// ```
    pub fn user_data(&self) -> Option<&[u8]> {
        self.user_data.as_deref()
    }
    /// `nonce`, absent when null.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// let doc = enclave_sdk::attestation::UnverifiedDocument::parse(&raw)?;
    /// let fields = doc.dangerous_unverified_fields();
    /// let _nonce = fields.nonce();
    /// # Ok(()) }
    /// ```
    pub fn nonce(&self) -> Option<&[u8]> {
        self.nonce.as_deref()
    }

    /// Parses and bounds-checks the payload.
    pub(crate) fn parse(payload: &[u8]) -> Result<Self, DocumentError> {
        let entries = match cbor::decode(payload).map_err(DocumentError::Cbor)? {
            Item::Map(entries) => entries,
            other => return Err(DocumentError::NotMap { found: other.type_name() }),
        };
        // A set, not a list: a hostile payload can hold thousands of keys.
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut module_id = None;
        let mut digest = None;
        let mut timestamp = None;
        let mut pcrs = None;
        let mut certificate = None;
        let mut cabundle = None;
        let mut public_key = None;
        let mut user_data = None;
        let mut nonce = None;
        for (key, value) in &entries {
            let Item::Text(key) = key else {
                return Err(DocumentError::BadKey { map: "payload", found: key.type_name() });
            };
            if !seen.insert(key.as_str()) {
                return Err(DocumentError::DuplicateKey { map: "payload", key: key.chars().take(64).collect() });
            }
            match key.as_str() {
                "module_id" => module_id = Some(text(Field::ModuleId, value, 1, MAX_MODULE_ID_LEN)?),
                "digest" => digest = Some(text(Field::Digest, value, 0, 64)?),
                "timestamp" => timestamp = Some(unsigned(Field::Timestamp, value)?),
                "pcrs" => pcrs = Some(parse_pcrs(value)?),
                "certificate" => certificate = Some(bytes(Field::Certificate, value, 1, MAX_CERT_LEN)?),
                "cabundle" => cabundle = Some(parse_cabundle(value)?),
                "public_key" => public_key = optional(Field::PublicKey, value)?,
                "user_data" => user_data = optional(Field::UserData, value)?,
                "nonce" => nonce = optional(Field::Nonce, value)?,
                // Unknown keys are ignored: AWS may add fields, and nothing here reads them.
                _ => {}
            }
        }
        let digest = digest.ok_or(DocumentError::Missing { field: Field::Digest })?;
        if digest != "SHA384" {
            return Err(DocumentError::Digest { found: digest });
        }
        let timestamp_ms = timestamp.ok_or(DocumentError::Missing { field: Field::Timestamp })?;
        if timestamp_ms == 0 {
            return Err(DocumentError::ZeroTimestamp);
        }
        let pcrs = pcrs.ok_or(DocumentError::Missing { field: Field::Pcrs })?;
        // The NSM always reports PCR0..2, and debug mode is told by their values: without one of them
        // (PCR0 and PCR1 zero, PCR2 absent, say) the document would escape that check.
        if let Some(index) =
            [PcrIndex::IMAGE, PcrIndex::KERNEL, PcrIndex::APPLICATION].into_iter().find(|i| !pcrs.contains_key(i))
        {
            return Err(DocumentError::PcrAbsent { index: index.get() });
        }
        Ok(Self {
            module_id: module_id.ok_or(DocumentError::Missing { field: Field::ModuleId })?,
            digest,
            timestamp_ms,
            pcrs,
            certificate: certificate.ok_or(DocumentError::Missing { field: Field::Certificate })?,
            cabundle: cabundle.ok_or(DocumentError::Missing { field: Field::CaBundle })?,
            public_key,
            user_data,
            nonce,
        })
    }
}

fn wrong(field: Field, expected: &'static str, found: &Item) -> DocumentError {
    if found.is_null() {
        return DocumentError::Missing { field };
    }
    DocumentError::WrongType { field, expected, found: found.type_name() }
}

fn check_len(field: Field, len: usize, min: usize, max: usize) -> Result<(), DocumentError> {
    if len < min || len > max {
        return Err(DocumentError::Length { field, len, min, max });
    }
    Ok(())
}

fn text(field: Field, item: &Item, min: usize, max: usize) -> Result<String, DocumentError> {
    let Item::Text(t) = item else { return Err(wrong(field, "text string", item)) };
    if field == Field::Digest {
        // Shown in the error if it is not "SHA384": bound what gets echoed.
        return Ok(t.chars().take(max).collect());
    }
    check_len(field, t.len(), min, max)?;
    Ok(t.clone())
}

fn bytes(field: Field, item: &Item, min: usize, max: usize) -> Result<Vec<u8>, DocumentError> {
    let Item::Bytes(b) = item else { return Err(wrong(field, "byte string", item)) };
    check_len(field, b.len(), min, max)?;
    Ok(b.clone())
}

/// Optional fields: CBOR null means absent; an empty byte string is present and empty.
fn optional(field: Field, item: &Item) -> Result<Option<Vec<u8>>, DocumentError> {
    if item.is_null() {
        return Ok(None);
    }
    bytes(field, item, 0, MAX_OPTIONAL_LEN).map(Some)
}

fn unsigned(field: Field, item: &Item) -> Result<u64, DocumentError> {
    match item {
        Item::Unsigned(n) => Ok(*n),
        other => Err(wrong(field, "unsigned integer", other)),
    }
}

fn parse_pcrs(item: &Item) -> Result<BTreeMap<PcrIndex, PcrValue>, DocumentError> {
    let Item::Map(entries) = item else { return Err(wrong(Field::Pcrs, "map", item)) };
    check_len(Field::Pcrs, entries.len(), 1, MAX_PCRS)?;
    let mut pcrs = BTreeMap::new();
    for (k, v) in entries {
        let Item::Unsigned(index) = k else {
            return Err(DocumentError::BadKey { map: "pcrs", found: k.type_name() });
        };
        let index = u8::try_from(*index)
            .ok()
            .filter(|i| usize::from(*i) < MAX_PCRS)
            .ok_or(DocumentError::PcrIndex { index: *index })?;
        let Item::Bytes(value) = v else { return Err(wrong(Field::Pcr(index), "byte string", v)) };
        // pcr = bstr .size (32 / 48 / 64): SHA-256, SHA-384 or SHA-512 sized.
        let value = PcrValue::from_bytes(value).map_err(|_| DocumentError::PcrLength { index, len: value.len() })?;
        let typed = PcrIndex::new(index).ok_or(DocumentError::PcrIndex { index: u64::from(index) })?;
        if pcrs.insert(typed, value).is_some() {
            return Err(DocumentError::DuplicateKey { map: "pcrs", key: index.to_string() });
        }
    }
    Ok(pcrs)
}

fn parse_cabundle(item: &Item) -> Result<Vec<Vec<u8>>, DocumentError> {
    let Item::Array(entries) = item else { return Err(wrong(Field::CaBundle, "array", item)) };
    check_len(Field::CaBundle, entries.len(), 1, MAX_CABUNDLE)?;
    entries.iter().enumerate().map(|(i, e)| bytes(Field::CaBundleEntry(i), e, 1, MAX_CERT_LEN)).collect()
}

/// Debug mode: the NSM reports PCR0, PCR1 and PCR2 as all zero (AWS Nitro Enclaves user guide,
/// "Debug mode"). Evaluated without early exit; PCR values are public, but this keeps one habit. The
/// policy refuses such documents unless it allows debug enclaves; tools that describe or pin a
/// document use this same test ([`DocumentFields::is_debug_mode`]).
pub(crate) fn is_debug_mode(pcrs: &BTreeMap<PcrIndex, PcrValue>) -> bool {
    [PcrIndex::IMAGE, PcrIndex::KERNEL, PcrIndex::APPLICATION]
        .iter()
        .fold(true, |all_zero, i| all_zero & pcrs.get(i).is_some_and(PcrValue::is_zero))
}
