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

use sha2::{Digest, Sha384};

/// Length of a SHA-384 PCR value.
pub const PCR_LEN: usize = 48;

/// The number of registers a Nitro document reports (indices `0..PCR_COUNT`).
pub const PCR_COUNT: u8 = 16;

/// The PCR indices an operator may set; the others are measured or zero.
pub const SETTABLE_PCRS: [u8; 3] = [3, 4, 8];

/// Why a measurement could not be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MeasurementsError {
    /// Only PCR3, PCR4 and PCR8 can be set; PCR0..2 are measured and the rest stay zero.
    #[error("PCR{index} cannot be set; settable PCRs are 3, 4 and 8")]
    NotSettable {
        /// The index the caller tried to set.
        index: u8,
    },
}

/// The PCRs a mock enclave reports. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measurements {
    measured: [[u8; PCR_LEN]; 3],
    set: BTreeMap<u8, [u8; PCR_LEN]>,
    debug: bool,
    pcrs: BTreeMap<u8, [u8; PCR_LEN]>,
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
    /// let m = Measurements::for_image("demo", "1.0.0", b"functions=builtins");
    /// assert_eq!(m.pcrs().len(), 16);
    /// assert_ne!(m.pcrs()[&0], [0u8; 48]);
    /// assert_eq!(m.pcrs()[&5], [0u8; 48]);
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
    /// [`MeasurementsError::NotSettable`] for any other index.
    pub fn with_pcr(mut self, index: u8, value: [u8; PCR_LEN]) -> Result<Self, MeasurementsError> {
        if !SETTABLE_PCRS.contains(&index) {
            return Err(MeasurementsError::NotSettable { index });
        }
        self.set.insert(index, value);
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
    pub fn pcrs(&self) -> &BTreeMap<u8, [u8; PCR_LEN]> {
        &self.pcrs
    }

    fn recompute(&mut self) {
        let mut pcrs = BTreeMap::new();
        for index in 0..PCR_COUNT {
            let value = match (index, self.measured.get(usize::from(index))) {
                (_, Some(_)) if self.debug => [0u8; PCR_LEN],
                (_, Some(measured)) => *measured,
                _ => self.set.get(&index).copied().unwrap_or([0u8; PCR_LEN]),
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
        assert_eq!(m.pcrs()[&0], expected);
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
            assert_ne!(base.pcrs()[&0], other.pcrs()[&0]);
        }
        assert_ne!(base.pcrs()[&0], base.pcrs()[&1]);
        assert_ne!(base.pcrs()[&1], base.pcrs()[&2]);
    }

    #[test]
    fn debug_mode_zeroes_pcr0_to_2_only() {
        let m = Measurements::for_image("n", "v", "c").with_pcr(8, [7; 48]).unwrap().debug_mode(true);
        for i in 0..3 {
            assert_eq!(m.pcrs()[&i], [0; 48]);
        }
        assert_eq!(m.pcrs()[&8], [7; 48]);
        assert!(m.is_debug());
        let back = m.debug_mode(false);
        assert_ne!(back.pcrs()[&0], [0; 48]);
    }

    #[test]
    fn only_3_4_8_are_settable() {
        let m = Measurements::for_image("n", "v", "c");
        for i in [3, 4, 8] {
            assert_eq!(m.clone().with_pcr(i, [1; 48]).unwrap().pcrs()[&i], [1; 48]);
        }
        for i in [0, 1, 2, 5, 15, 16] {
            assert_eq!(m.clone().with_pcr(i, [1; 48]), Err(MeasurementsError::NotSettable { index: i }));
        }
    }
}
