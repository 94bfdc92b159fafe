//! The mock enclave's platform configuration registers (PCRs).
//!
//! Input: the image identity the operator configures (name, version, configuration bytes; trusted, it
//! is our own configuration) and optional values for the PCRs a real enclave gets from its parent
//! instance (PCR3, PCR4) or its signing certificate (PCR8). Output: the 16 SHA-384 registers a Nitro
//! document reports. This module decides nothing about which values a client should trust; it only
//! computes what the mock reports, so a client can pin it.
//!
//! # Encoding (version 2, stable; clients reproduce it to pin the mock)
//!
//! A real PCR starts at 48 zero bytes and is *extended* with each measured component:
//! `PCR = SHA-384(PCR || SHA-384(component))`. The mock extends each of PCR0..2 exactly once, from
//! zero, with one component built from length-prefixed fields (`enc(x)` = `x.len()` as 8 bytes
//! big-endian, then `x`). Its application, like a real EIF's application ramdisk, is the set of
//! functions it serves, each by id and checksum, sorted by id:
//!
//! ```text
//! functions = for each served function, in bytewise order of its id: enc(id) ‖ enc(checksum, 32 bytes)
//! ```
//!
//! | PCR | real enclave measures          | mock component                                                    |
//! |-----|--------------------------------|-------------------------------------------------------------------|
//! | 0   | the whole enclave image file   | `enc("enclave-sdk mock PCR0 v2") ‖ enc(name) ‖ enc(version) ‖ enc(functions)` |
//! | 1   | kernel and bootstrap           | `enc("enclave-sdk mock PCR1 v2") ‖ enc(name) ‖ enc(version)`          |
//! | 2   | the application                | `enc("enclave-sdk mock PCR2 v2") ‖ enc(functions)`                    |
//!
//! So PCR2 (and PCR0) tell which functions the image carries: adding, removing or changing one
//! function (one byte of its directory, see [`enclave_sdk::checksum`]) changes both, while PCR1 stays
//! the mock's own. The mock measures the functions it loaded and sealed at start, so what a document
//! reports is what runs. Version 1 measured an operator-chosen configuration string instead of the
//! function set.
//!
//! PCR3, PCR4 and PCR8 are zero unless set with [`Measurements::with_pcr`]; every other register
//! (5..=7, 9..=15) is zero. In debug mode PCR0..2 are all zero, as AWS reports for an enclave started
//! with `--debug-mode`; the other registers keep their values.

use std::collections::BTreeMap;

use enclave_protocol::{FunctionChecksum, FunctionId, Pcr, PcrIndex, PcrValue};
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
    functions: BTreeMap<FunctionId, FunctionChecksum>,
    measured: [[u8; PCR_LEN]; 3],
    set: BTreeMap<PcrIndex, PcrValue>,
    debug: bool,
    pcrs: BTreeMap<PcrIndex, PcrValue>,
}

/// The image name the mock enclave measures as its own identity.
pub const MOCK_IMAGE_NAME: &str = "mock-enclave";

impl Measurements {
    /// The mock enclave's own measurements: image `mock-enclave`, this crate's version, serving
    /// `functions` (id and checksum each; [`FunctionRegistry::manifest`](crate::functions::FunctionRegistry::manifest)).
    /// `mock-enclave measurements` prints these, and a mock serving the same functions reports them.
    pub fn for_mock(functions: impl IntoIterator<Item = (FunctionId, FunctionChecksum)>) -> Self {
        Self::for_image(MOCK_IMAGE_NAME, env!("CARGO_PKG_VERSION"), functions)
    }

    /// Measures an image identity and the functions it serves: PCR0..2 per the module-level
    /// encoding, every other PCR zero.
    ///
    /// ```
    /// use mock_enclave::measurements::Measurements;
    /// use enclave_protocol::{FunctionChecksum, PcrIndex};
    /// let echo = ("echo".parse().unwrap(), FunctionChecksum::from_bytes([1; 32]));
    /// let m = Measurements::for_image("demo", "1.0.0", [echo.clone()]);
    /// assert_eq!(m.pcrs().len(), 16);
    /// assert!(!m.pcrs()[&PcrIndex::IMAGE].is_zero());
    /// assert!(m.pcrs()[&PcrIndex::new(5).unwrap()].is_zero());
    /// // Another function set is another application: PCR2 (and PCR0) differ, PCR1 does not.
    /// let other = Measurements::for_image("demo", "1.0.0", [(echo.0, FunctionChecksum::from_bytes([2; 32]))]);
    /// assert_ne!(m.pcrs()[&PcrIndex::APPLICATION], other.pcrs()[&PcrIndex::APPLICATION]);
    /// assert_eq!(m.pcrs()[&PcrIndex::KERNEL], other.pcrs()[&PcrIndex::KERNEL]);
    /// ```
    pub fn for_image(
        name: impl AsRef<[u8]>,
        version: impl AsRef<[u8]>,
        functions: impl IntoIterator<Item = (FunctionId, FunctionChecksum)>,
    ) -> Self {
        let functions: BTreeMap<FunctionId, FunctionChecksum> = functions.into_iter().collect();
        let set = component(
            &functions
                .iter()
                .flat_map(|(id, checksum)| [id.as_str().as_bytes(), checksum.as_bytes().as_slice()])
                .collect::<Vec<_>>(),
        );
        let (name, version) = (name.as_ref(), version.as_ref());
        let measured = [
            extend_from_zero(&component(&[b"enclave-sdk mock PCR0 v2", name, version, &set])),
            extend_from_zero(&component(&[b"enclave-sdk mock PCR1 v2", name, version])),
            extend_from_zero(&component(&[b"enclave-sdk mock PCR2 v2", &set])),
        ];
        let mut m = Self { functions, measured, set: BTreeMap::new(), debug: false, pcrs: BTreeMap::new() };
        m.recompute();
        m
    }

    /// The functions the image carries, by id: what PCR0 and PCR2 measure.
    pub fn functions(&self) -> &BTreeMap<FunctionId, FunctionChecksum> {
        &self.functions
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

    fn f(id: &str, byte: u8) -> (FunctionId, FunctionChecksum) {
        (FunctionId::new(id).unwrap(), FunctionChecksum::from_bytes([byte; 32]))
    }

    /// `enc(x)` of the module docs, by hand.
    fn enc(out: &mut Vec<u8>, field: &[u8]) {
        out.extend_from_slice(&(field.len() as u64).to_be_bytes());
        out.extend_from_slice(field);
    }

    fn extended(component: &[u8]) -> PcrValue {
        let mut pcr = vec![0u8; 48];
        pcr.extend_from_slice(&Sha384::digest(component));
        PcrValue::from(<[u8; 48]>::from(Sha384::digest(&pcr)))
    }

    #[test]
    fn pcrs_match_the_documented_encoding() {
        // Given out of order: the encoding sorts by id.
        let m = Measurements::for_image("n", "v", [f("b", 2), f("a", 1)]);
        let mut set = Vec::new();
        for (id, byte) in [("a", 1u8), ("b", 2)] {
            enc(&mut set, id.as_bytes());
            enc(&mut set, &[byte; 32]);
        }
        let (mut pcr0, mut pcr1, mut pcr2) = (Vec::new(), Vec::new(), Vec::new());
        for field in [&b"enclave-sdk mock PCR0 v2"[..], b"n", b"v", &set] {
            enc(&mut pcr0, field);
        }
        for field in [&b"enclave-sdk mock PCR1 v2"[..], b"n", b"v"] {
            enc(&mut pcr1, field);
        }
        for field in [&b"enclave-sdk mock PCR2 v2"[..], &set] {
            enc(&mut pcr2, field);
        }
        assert_eq!(m.pcrs()[&PcrIndex::IMAGE], extended(&pcr0));
        assert_eq!(m.pcrs()[&PcrIndex::KERNEL], extended(&pcr1));
        assert_eq!(m.pcrs()[&PcrIndex::APPLICATION], extended(&pcr2));
        assert_eq!(m.functions().len(), 2);
    }

    #[test]
    fn the_function_set_changes_pcr0_and_pcr2_and_never_pcr1() {
        let base = Measurements::for_image("n", "v", [f("a", 1), f("b", 2)]);
        for other in [
            Measurements::for_image("n", "v", [f("a", 1), f("b", 3)]), // one function changed
            Measurements::for_image("n", "v", [f("a", 1)]),            // one removed
            Measurements::for_image("n", "v", [f("a", 1), f("b", 2), f("c", 3)]), // one added
            Measurements::for_image("n", "v", [f("a", 1), f("c", 2)]), // one renamed
            Measurements::for_image("n", "v", []),
        ] {
            assert_ne!(base.pcrs()[&PcrIndex::IMAGE], other.pcrs()[&PcrIndex::IMAGE]);
            assert_ne!(base.pcrs()[&PcrIndex::APPLICATION], other.pcrs()[&PcrIndex::APPLICATION]);
            assert_eq!(base.pcrs()[&PcrIndex::KERNEL], other.pcrs()[&PcrIndex::KERNEL]);
        }
    }

    #[test]
    fn every_identity_field_changes_pcr0() {
        let base = Measurements::for_image("n", "v", [f("a", 1)]);
        for other in [
            Measurements::for_image("m", "v", [f("a", 1)]),
            Measurements::for_image("n", "w", [f("a", 1)]),
            // Length prefixes: moving a byte between fields is a different identity.
            Measurements::for_image("nv", "", [f("a", 1)]),
        ] {
            assert_ne!(base.pcrs()[&PcrIndex::IMAGE], other.pcrs()[&PcrIndex::IMAGE]);
            assert_eq!(base.pcrs()[&PcrIndex::APPLICATION], other.pcrs()[&PcrIndex::APPLICATION]);
        }
        assert_ne!(base.pcrs()[&PcrIndex::IMAGE], base.pcrs()[&PcrIndex::KERNEL]);
        assert_ne!(base.pcrs()[&PcrIndex::KERNEL], base.pcrs()[&PcrIndex::APPLICATION]);
    }

    #[test]
    fn debug_mode_zeroes_pcr0_to_2_only() {
        let eight = Pcr::new(PcrIndex::SIGNING_CERTIFICATE, PcrValue::from([7; 48]));
        let m = Measurements::for_image("n", "v", [f("a", 1)]).with_pcr(eight).unwrap().debug_mode(true);
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
        let m = Measurements::for_image("n", "v", [f("a", 1)]);
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
