//! The mock enclave's platform configuration registers (PCRs).
//!
//! Input: the image identity the operator configures (name, version, configuration bytes; trusted, it
//! is our own configuration) and optional values for the PCRs a real enclave gets from its parent
//! instance (PCR3, PCR4) or its signing certificate (PCR8). Output: the 16 SHA-384 registers a Nitro
//! document reports. This module decides nothing about which values a client should trust; it only
//! computes what the mock reports, so a client can pin it.
//!
//! # Encoding (stable; clients reproduce it to pin the mock)
//!
//! A real PCR starts at 48 zero bytes and is *extended* with each measured component:
//! `PCR = SHA-384(PCR || SHA-384(component))`. The mock extends each of PCR0..2 exactly once, from
//! zero, with one component built from length-prefixed fields (`enc(x)` = `x.len()` as 8 bytes
//! big-endian, then `x`):
//!
//! | PCR | real enclave measures          | mock component                                                    |
//! |-----|--------------------------------|-------------------------------------------------------------------|
//! | 0   | the whole enclave image file   | `enc("enclave-sdk mock PCR0") ‖ enc(name) ‖ enc(version) ‖ enc(configuration)` |
//! | 1   | kernel and bootstrap           | `enc("enclave-sdk mock PCR1") ‖ enc(name) ‖ enc(version)`          |
//! | 2   | the application                | `enc("enclave-sdk mock PCR2") ‖ enc(configuration)`                |
//!
//! PCR3, PCR4 and PCR8 are zero unless set with [`Measurements::with_pcr`]; every other register
//! (5..=7, 9..=15) is zero. In debug mode PCR0..2 are all zero, as AWS reports for an enclave started
//! with `--debug-mode`; the other registers keep their values.

use std::collections::BTreeMap;

use enclave_protocol::{Pcr, PcrIndex, PcrValue};
use sha2::{Digest, Sha384};

/// Length of a SHA-384 PCR value.
pub const PCR_LEN: usize = 48;

/// The number of registers a Nitro document reports (indices `0..PCR_COUNT`).
pub const PCR_COUNT: u8 = 16;

/// The PCR indices an operator may set; the others are measured or zero.
pub const SETTABLE_PCRS: [PcrIndex; 3] =
    [PcrIndex::PARENT_ROLE, PcrIndex::PARENT_INSTANCE, PcrIndex::SIGNING_CERTIFICATE];

/// Why a measurement could not be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MeasurementsError {
    /// Only PCR3, PCR4 and PCR8 can be set; PCR0..2 are measured and the rest stay zero.
    #[error("{index} cannot be set; settable PCRs are 3, 4 and 8")]
    NotSettable {
        /// The index the caller tried to set.
        index: PcrIndex,
    },
    /// The mock reports SHA-384 PCRs only.
    #[error("{index}: the mock's PCRs are 48 bytes; this is {len} bytes")]
    Length {
        /// The index.
        index: PcrIndex,
        /// The value's length.
        len: usize,
    },
}

/// The PCRs a mock enclave reports. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measurements {
    measured: [[u8; PCR_LEN]; 3],
    set: BTreeMap<PcrIndex, PcrValue>,
    debug: bool,
    pcrs: BTreeMap<PcrIndex, PcrValue>,
}

/// The image name the mock enclave measures as its own identity.
pub const MOCK_IMAGE_NAME: &str = "mock-enclave";

impl Measurements {
    /// The mock enclave's own measurements: image `mock-enclave`, this crate's version, and
    /// `configuration` (empty by default). `mock-enclave measurements` prints these, and a served mock
    /// should report the same, so a client can pin what the command printed.
    pub fn for_mock(configuration: impl AsRef<[u8]>) -> Self {
        Self::for_image(MOCK_IMAGE_NAME, env!("CARGO_PKG_VERSION"), configuration)
    }

    /// Measures an image identity: PCR0..2 per the module-level encoding, every other PCR zero.
    ///
    /// ```
    /// use mock_enclave::measurements::Measurements;
    /// use enclave_protocol::PcrIndex;
    /// let m = Measurements::for_image("demo", "1.0.0", b"functions=builtins");
    /// assert_eq!(m.pcrs().len(), 16);
    /// assert!(!m.pcrs()[&PcrIndex::IMAGE].is_zero());
    /// assert!(m.pcrs()[&PcrIndex::new(5).unwrap()].is_zero());
    /// ```
    pub fn for_image(name: impl AsRef<[u8]>, version: impl AsRef<[u8]>, configuration: impl AsRef<[u8]>) -> Self {
        let (name, version, configuration) = (name.as_ref(), version.as_ref(), configuration.as_ref());
        let measured = [
            extend_from_zero(&component(&[b"enclave-sdk mock PCR0", name, version, configuration])),
            extend_from_zero(&component(&[b"enclave-sdk mock PCR1", name, version])),
            extend_from_zero(&component(&[b"enclave-sdk mock PCR2", configuration])),
        ];
        let mut m = Self { measured, set: BTreeMap::new(), debug: false, pcrs: BTreeMap::new() };
        m.recompute();
        m
    }

    /// Sets PCR3, PCR4 or PCR8 (what a real enclave gets from its parent's IAM role, its parent
    /// instance id, and its signing certificate).
    ///
    /// # Errors
    /// [`MeasurementsError::NotSettable`] for any other index, [`MeasurementsError::Length`] for a
    /// value that is not 48 bytes.
    pub fn with_pcr(mut self, pcr: Pcr) -> Result<Self, MeasurementsError> {
        let index = pcr.index();
        if !SETTABLE_PCRS.contains(&index) {
            return Err(MeasurementsError::NotSettable { index });
        }
        let len = pcr.value().as_bytes().len();
        if len != PCR_LEN {
            return Err(MeasurementsError::Length { index, len });
        }
        self.set.insert(index, pcr.value().clone());
        self.recompute();
        Ok(self)
    }

    /// Debug mode: PCR0..2 read as zero, like a real enclave started with `--debug-mode`.
    #[must_use]
    pub fn debug_mode(mut self, debug: bool) -> Self {
        self.debug = debug;
        self.recompute();
        self
    }

    /// Whether debug mode is on.
    pub fn is_debug(&self) -> bool {
        self.debug
    }

    /// All 16 registers, index to value, as the document reports them.
    pub fn pcrs(&self) -> &BTreeMap<PcrIndex, PcrValue> {
        &self.pcrs
    }

    fn recompute(&mut self) {
        let mut pcrs = BTreeMap::new();
        for index in PcrIndex::all().take(usize::from(PCR_COUNT)) {
            let value = match self.measured.get(usize::from(index.get())) {
                Some(_) if self.debug => PcrValue::from([0u8; PCR_LEN]),
                Some(measured) => PcrValue::from(*measured),
                None => self.set.get(&index).cloned().unwrap_or_else(|| PcrValue::from([0u8; PCR_LEN])),
            };
            pcrs.insert(index, value);
        }
        self.pcrs = pcrs;
    }
}

/// Concatenates length-prefixed fields (8-byte big-endian length, then the bytes), so no two
/// different field lists encode to the same component.
fn component(fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        out.extend_from_slice(&(field.len() as u64).to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

/// AWS Nitro Enclaves user guide, "Where to get an enclave's measurements": a PCR is extended as
/// `PCR_new = SHA-384(PCR_old || SHA-384(data))`, starting from 48 zero bytes.
fn extend_from_zero(data: &[u8]) -> [u8; PCR_LEN] {
    let mut hasher = Sha384::new();
    hasher.update([0u8; PCR_LEN]);
    hasher.update(Sha384::digest(data));
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcr0_matches_the_documented_encoding() {
        let m = Measurements::for_image("n", "v", "c");
        // enc("enclave-sdk mock PCR0") ‖ enc("n") ‖ enc("v") ‖ enc("c"), computed by hand here.
        let mut comp = Vec::new();
        for f in [&b"enclave-sdk mock PCR0"[..], b"n", b"v", b"c"] {
            comp.extend_from_slice(&(f.len() as u64).to_be_bytes());
            comp.extend_from_slice(f);
        }
        let mut pcr = vec![0u8; 48];
        pcr.extend_from_slice(&Sha384::digest(&comp));
        let expected: [u8; 48] = Sha384::digest(&pcr).into();
        assert_eq!(m.pcrs()[&PcrIndex::IMAGE], PcrValue::from(expected));
    }

    #[test]
    fn every_identity_field_changes_pcr0() {
        let base = Measurements::for_image("n", "v", "c");
        for other in [
            Measurements::for_image("m", "v", "c"),
            Measurements::for_image("n", "w", "c"),
            Measurements::for_image("n", "v", "d"),
            // Length prefixes: moving a byte between fields is a different identity.
            Measurements::for_image("nv", "", "c"),
        ] {
            assert_ne!(base.pcrs()[&PcrIndex::IMAGE], other.pcrs()[&PcrIndex::IMAGE]);
        }
        assert_ne!(base.pcrs()[&PcrIndex::IMAGE], base.pcrs()[&PcrIndex::KERNEL]);
        assert_ne!(base.pcrs()[&PcrIndex::KERNEL], base.pcrs()[&PcrIndex::APPLICATION]);
    }

    #[test]
    fn debug_mode_zeroes_pcr0_to_2_only() {
        let eight = Pcr::new(PcrIndex::SIGNING_CERTIFICATE, PcrValue::from([7; 48]));
        let m = Measurements::for_image("n", "v", "c").with_pcr(eight).unwrap().debug_mode(true);
        for i in [PcrIndex::IMAGE, PcrIndex::KERNEL, PcrIndex::APPLICATION] {
            assert!(m.pcrs()[&i].is_zero());
        }
        assert_eq!(m.pcrs()[&PcrIndex::SIGNING_CERTIFICATE], PcrValue::from([7; 48]));
        assert!(m.is_debug());
        let back = m.debug_mode(false);
        assert!(!back.pcrs()[&PcrIndex::IMAGE].is_zero());
    }

    #[test]
    fn only_3_4_8_are_settable() {
        let m = Measurements::for_image("n", "v", "c");
        let pcr = |i: PcrIndex| Pcr::new(i, PcrValue::from([1; 48]));
        for i in SETTABLE_PCRS {
            assert_eq!(m.clone().with_pcr(pcr(i)).unwrap().pcrs()[&i], PcrValue::from([1; 48]));
        }
        for i in [0, 1, 2, 5, 15, 16, 31].map(|i| PcrIndex::new(i).unwrap()) {
            assert_eq!(m.clone().with_pcr(pcr(i)), Err(MeasurementsError::NotSettable { index: i }));
        }
        let short = Pcr::new(PcrIndex::PARENT_ROLE, PcrValue::from_bytes(&[1; 32]).unwrap());
        assert_eq!(m.with_pcr(short), Err(MeasurementsError::Length { index: PcrIndex::PARENT_ROLE, len: 32 }));
    }
}
