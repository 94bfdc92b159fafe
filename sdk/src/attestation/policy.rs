//! `attestation::policy`: what the caller trusts, and the checks made after the cryptography.
//!
//! In: a [`VerifiedDocument`] (signature and chain already checked, so its fields are the enclave's
//! words), the per-connection [`Expected`] values and `now`. Out: an [`AttestedDocument`], or the first
//! policy check that failed. Does not parse or verify anything cryptographic.
//!
//! Checks, in order: debug mode, PCR pins, document age, nonce, function claim and checksum, key.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use subtle::{Choice, ConstantTimeEq};

use super::error::{AttestationError, Hex, HexList};
use super::root::TrustRoot;
use super::time::UnixTime;
use super::user_data::EnclaveUserData;
use super::{AttestedDocument, Expected, VerifiedDocument};

/// Default maximum document age. NSM documents are made on request, so a fresh one is seconds old.
pub const DEFAULT_MAX_DOCUMENT_AGE: Duration = Duration::from_secs(300);
/// Leaf certificates live about three hours and are not backdated, so a device whose clock runs slow
/// would reject a fresh document; this much disagreement between clocks is tolerated.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Why a [`PolicyBuilder`] refused to build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// No PCR and no checksum is pinned: such a policy would accept any enclave AWS ever signed for.
    #[error(
        "the policy pins no PCR and no function checksum; call dangerous_accept_any_enclave() to accept any enclave"
    )]
    PinsNothing,
    /// A PCR index outside 0..=31.
    #[error("PCR index {index} is outside 0..=31")]
    PcrIndex {
        /// Index given.
        index: u8,
    },
    /// A PCR value that is not 32, 48 or 64 bytes: it could never match.
    #[error("PCR{index} value is {len} bytes; PCRs are 32, 48 or 64")]
    PcrLength {
        /// Index given.
        index: u8,
        /// Length given.
        len: usize,
    },
    /// An empty or over-long function id in a checksum pin.
    #[error("function id of {len} bytes; allowed 1..=128")]
    FunctionId {
        /// Length given.
        len: usize,
    },
}

/// Whether documents from debug-mode enclaves (PCR0..2 all zero) are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DebugEnclaves {
    /// Rejected (the default): the parent instance can read a debug enclave's memory.
    Reject,
    /// Accepted; only for development.
    Allow,
}

/// What the caller trusts: root(s), measurements, function checksums, freshness. Build with
/// [`Policy::builder`].
///
/// ```
/// use enclave_sdk::attestation::Policy;
/// let policy = Policy::builder()
///     .allow_pcr(0, vec![0xab; 48]) // call again to allow another value for the same index
///     .function_checksum([0x11; 32])
///     .build()?;
/// assert_eq!(policy.pcr_allow_list().len(), 1);
/// # Ok::<(), enclave_sdk::attestation::PolicyError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Policy {
    roots: Vec<TrustRoot>,
    pcrs: BTreeMap<u8, Vec<Vec<u8>>>,
    checksum: Option<[u8; 32]>,
    checksums: BTreeMap<String, [u8; 32]>,
    max_age: Duration,
    skew: Duration,
    debug: DebugEnclaves,
    any_enclave: bool,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pcrs: BTreeMap<u8, Vec<String>> =
            self.pcrs.iter().map(|(i, v)| (*i, v.iter().map(hex::encode).collect())).collect();
        f.debug_struct("Policy")
            .field("roots", &self.roots)
            .field("pcrs", &pcrs)
            .field("checksum", &self.checksum.map(hex::encode))
            .field("checksums", &self.checksums.iter().map(|(k, v)| (k, hex::encode(v))).collect::<Vec<_>>())
            .field("max_age", &self.max_age)
            .field("skew", &self.skew)
            .field("debug", &self.debug)
            .field("any_enclave", &self.any_enclave)
            .finish()
    }
}

impl Policy {
    /// A builder with safe defaults: AWS Root-G1, 300 s maximum age, 60 s skew, debug enclaves rejected.
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder {
            roots: None,
            pcrs: BTreeMap::new(),
            checksum: None,
            checksums: BTreeMap::new(),
            max_age: DEFAULT_MAX_DOCUMENT_AGE,
            skew: DEFAULT_CLOCK_SKEW,
            debug: DebugEnclaves::Reject,
            any_enclave: false,
            error: None,
        }
    }

    /// The pinned roots; a chain must end at one of them.
    pub fn trust_roots(&self) -> &[TrustRoot] {
        &self.roots
    }
    /// PCR index to allowed values.
    pub fn pcr_allow_list(&self) -> &BTreeMap<u8, Vec<Vec<u8>>> {
        &self.pcrs
    }
    /// The checksum pinned for whatever function is attested, if any.
    pub fn function_checksum(&self) -> Option<[u8; 32]> {
        self.checksum
    }
    /// Checksums pinned per function id.
    pub fn function_checksums(&self) -> &BTreeMap<String, [u8; 32]> {
        &self.checksums
    }
    /// Maximum document age.
    pub fn max_document_age(&self) -> Duration {
        self.max_age
    }
    /// Clock-skew allowance for certificate validity and timestamps.
    pub fn clock_skew(&self) -> Duration {
        self.skew
    }
    /// Whether debug-mode enclaves are accepted.
    pub fn debug_enclaves(&self) -> DebugEnclaves {
        self.debug
    }
    /// Whether the caller opted in to a policy that pins nothing.
    pub fn accepts_any_enclave(&self) -> bool {
        self.any_enclave
    }

    /// The checks after the cryptography. Takes the verified document by value: on success it comes
    /// back as an [`AttestedDocument`]; on failure it is dropped.
    pub(crate) fn check(
        &self,
        doc: VerifiedDocument,
        expected: &Expected<'_>,
        now: UnixTime,
    ) -> Result<AttestedDocument, AttestationError> {
        let fields = &doc.fields;
        if self.debug == DebugEnclaves::Reject && is_debug_mode(&fields.pcrs) {
            return Err(AttestationError::DebugMode);
        }
        for (&index, allowed) in &self.pcrs {
            let found = fields.pcrs.get(&index).ok_or(AttestationError::PcrMissing { index })?;
            if !any_equal(found, allowed) {
                return Err(AttestationError::PcrNotAllowed {
                    index,
                    found: Hex(found.clone()),
                    allowed: HexList(allowed.iter().map(|a| Hex(a.clone())).collect()),
                });
            }
        }
        self.check_age(fields.timestamp_ms, now)?;
        if let Some(sent) = expected.nonce {
            let found = fields
                .nonce
                .as_deref()
                .ok_or_else(|| AttestationError::NonceMissing { expected: Hex(sent.to_vec()) })?;
            if !bool::from(found.ct_eq(sent)) {
                return Err(AttestationError::NonceMismatch {
                    expected: Hex(sent.to_vec()),
                    found: Hex(found.to_vec()),
                });
            }
        }
        let claim = self.check_function(fields.user_data.as_deref(), expected)?;
        if expected.require_x25519_key {
            let key = fields.public_key.as_deref().ok_or(AttestationError::PublicKeyMissing)?;
            // Length only: HPKE's DHKEM (RFC 9180 section 7.1.4) rejects small-order points when the
            // shared secret comes out all-zero, so the session layer catches those.
            if key.len() != 32 {
                return Err(AttestationError::PublicKeyLength { len: key.len() });
            }
        }
        Ok(AttestedDocument { raw: doc.raw, fields: doc.fields, claim, _sig: doc._sig })
    }

    fn check_age(&self, timestamp_ms: u64, now: UnixTime) -> Result<(), AttestationError> {
        let ts = timestamp_ms / 1000;
        if ts > now.saturating_add(self.skew).as_secs() {
            return Err(AttestationError::TimestampInFuture { timestamp_ms, now, skew_s: self.skew.as_secs() });
        }
        let age_s = now.as_secs().saturating_sub(ts);
        if age_s > self.max_age.as_secs() {
            return Err(AttestationError::Stale { age_s, max_s: self.max_age.as_secs(), timestamp_ms, now });
        }
        Ok(())
    }

    /// Decodes the claim when there is user data (a claim that does not decode is only an error when a
    /// checksum is pinned), then matches function id and checksum against the pins.
    fn check_function(
        &self,
        user_data: Option<&[u8]>,
        expected: &Expected<'_>,
    ) -> Result<Option<EnclaveUserData>, AttestationError> {
        let pinned = self.checksum.is_some() || !self.checksums.is_empty();
        let claim = match user_data {
            None if pinned => return Err(AttestationError::UserDataMissing),
            None => None,
            Some(bytes) => match EnclaveUserData::decode(bytes) {
                Ok(c) => Some(c),
                Err(e) if pinned => return Err(e),
                Err(_) => None,
            },
        };
        if let (Some(want), Some(c)) = (expected.function_id, &claim) {
            // Cape's JSON form carries no function id; only a claimed id can contradict the request.
            if !c.function_id.is_empty() && c.function_id != want {
                return Err(AttestationError::FunctionIdMismatch {
                    expected: want.to_owned(),
                    found: c.function_id.clone(),
                });
            }
        }
        let Some(c) = &claim else { return Ok(claim) };
        if !pinned {
            return Ok(claim);
        }
        let function_id = expected.function_id.unwrap_or(&c.function_id);
        let pin = self
            .checksums
            .get(function_id)
            .copied()
            .or(self.checksum)
            .ok_or_else(|| AttestationError::NoChecksumForFunction { function_id: function_id.to_owned() })?;
        if !bool::from(pin.ct_eq(&c.function_checksum)) {
            return Err(AttestationError::ChecksumMismatch {
                expected: Hex(pin.to_vec()),
                found: Hex(c.function_checksum.to_vec()),
            });
        }
        Ok(claim)
    }
}

/// Debug mode: the NSM reports PCR0, PCR1 and PCR2 as all zero (AWS Nitro Enclaves user guide,
/// "Debug mode"). Evaluated without early exit; PCR values are public, but this keeps one habit.
pub(crate) fn is_debug_mode(pcrs: &BTreeMap<u8, Vec<u8>>) -> bool {
    let mut all_zero = Choice::from(1);
    for i in 0..3u8 {
        match pcrs.get(&i) {
            Some(v) => all_zero &= v.iter().fold(Choice::from(1), |acc, b| acc & b.ct_eq(&0)),
            None => all_zero &= Choice::from(0),
        }
    }
    bool::from(all_zero)
}

/// Compares `found` with every allowed value, with no early exit, and branches once at the end.
fn any_equal(found: &[u8], allowed: &[Vec<u8>]) -> bool {
    bool::from(allowed.iter().fold(Choice::from(0), |hit, a| hit | a.as_slice().ct_eq(found)))
}

/// Builds a [`Policy`]; starts from safe defaults and refuses a policy that pins nothing.
#[derive(Debug, Clone)]
#[must_use]
pub struct PolicyBuilder {
    roots: Option<Vec<TrustRoot>>,
    pcrs: BTreeMap<u8, Vec<Vec<u8>>>,
    checksum: Option<[u8; 32]>,
    checksums: BTreeMap<String, [u8; 32]>,
    max_age: Duration,
    skew: Duration,
    debug: DebugEnclaves,
    any_enclave: bool,
    error: Option<PolicyError>,
}

impl PolicyBuilder {
    /// Trust this root instead of AWS Root-G1. Call [`PolicyBuilder::add_trust_root`] to trust several.
    pub fn trust_root(mut self, root: TrustRoot) -> Self {
        self.roots = Some(vec![root]);
        self
    }

    /// Trust this root as well (the first call keeps AWS Root-G1 unless [`PolicyBuilder::trust_root`]
    /// replaced it).
    pub fn add_trust_root(mut self, root: TrustRoot) -> Self {
        self.roots.get_or_insert_with(|| vec![TrustRoot::aws_nitro_root_g1()]).push(root);
        self
    }

    /// Allow `value` for PCR `index`. Call again to allow more values for the same index; a document
    /// must match one of them, and must carry the PCR.
    pub fn allow_pcr(mut self, index: u8, value: Vec<u8>) -> Self {
        if usize::from(index) >= super::document::MAX_PCRS {
            self.error.get_or_insert(PolicyError::PcrIndex { index });
        } else if !matches!(value.len(), 32 | 48 | 64) {
            self.error.get_or_insert(PolicyError::PcrLength { index, len: value.len() });
        } else {
            let values = self.pcrs.entry(index).or_default();
            if !values.contains(&value) {
                values.push(value);
            }
        }
        self
    }

    /// Pin the checksum of whatever function the enclave attests (used when no per-function pin
    /// matches). Requires user data that decodes to an [`EnclaveUserData`].
    pub fn function_checksum(mut self, checksum: [u8; 32]) -> Self {
        self.checksum = Some(checksum);
        self
    }

    /// Pin the checksum for one function id.
    pub fn function_checksum_for(mut self, function_id: &str, checksum: [u8; 32]) -> Self {
        if function_id.is_empty() || function_id.len() > super::user_data::MAX_FUNCTION_ID_LEN {
            self.error.get_or_insert(PolicyError::FunctionId { len: function_id.len() });
        } else {
            self.checksums.insert(function_id.to_owned(), checksum);
        }
        self
    }

    /// Maximum age of a document, from its `timestamp` to `now` (default 300 s).
    pub fn max_document_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// Clock-skew allowance for certificate validity and the document timestamp (default 60 s).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// Accept documents from debug-mode enclaves (PCR0..2 all zero).
    ///
    /// # Security
    ///
    /// The parent EC2 instance can read a debug enclave's memory and console: data sent to it is not
    /// confidential. Development only.
    pub fn dangerous_allow_debug(mut self) -> Self {
        self.debug = DebugEnclaves::Allow;
        self
    }

    /// Allow a policy that pins no PCR and no checksum.
    ///
    /// # Security
    ///
    /// Any code in any Nitro enclave can then produce an accepted document: only "some enclave signed
    /// by AWS" is established. Use only for inspection tools.
    pub fn dangerous_accept_any_enclave(mut self) -> Self {
        self.any_enclave = true;
        self
    }

    /// The policy.
    ///
    /// # Errors
    ///
    /// The first invalid pin given ([`PolicyError::PcrIndex`], [`PolicyError::PcrLength`],
    /// [`PolicyError::FunctionId`]), or [`PolicyError::PinsNothing`] when nothing is pinned and
    /// [`PolicyBuilder::dangerous_accept_any_enclave`] was not called.
    pub fn build(self) -> Result<Policy, PolicyError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.pcrs.is_empty() && self.checksum.is_none() && self.checksums.is_empty() && !self.any_enclave {
            return Err(PolicyError::PinsNothing);
        }
        Ok(Policy {
            roots: self.roots.unwrap_or_else(|| vec![TrustRoot::aws_nitro_root_g1()]),
            pcrs: self.pcrs,
            checksum: self.checksum,
            checksums: self.checksums,
            max_age: self.max_age,
            skew: self.skew,
            debug: self.debug,
            any_enclave: self.any_enclave,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_refuses_nonsense() {
        assert_eq!(Policy::builder().build(), Err(PolicyError::PinsNothing));
        assert_eq!(Policy::builder().allow_pcr(32, vec![0; 48]).build(), Err(PolicyError::PcrIndex { index: 32 }));
        assert_eq!(
            Policy::builder().allow_pcr(0, vec![0; 47]).build(),
            Err(PolicyError::PcrLength { index: 0, len: 47 })
        );
        assert_eq!(
            Policy::builder().function_checksum_for("", [0; 32]).build(),
            Err(PolicyError::FunctionId { len: 0 })
        );
        assert!(Policy::builder().dangerous_accept_any_enclave().build().is_ok());
        assert!(Policy::builder().function_checksum([1; 32]).build().is_ok());
        let p = Policy::builder()
            .allow_pcr(0, vec![1; 48])
            .allow_pcr(0, vec![2; 48])
            .allow_pcr(0, vec![1; 48])
            .build()
            .unwrap();
        assert_eq!(p.pcr_allow_list()[&0].len(), 2);
        assert_eq!(p.trust_roots(), &[TrustRoot::aws_nitro_root_g1()]);
        assert_eq!(p.max_document_age(), DEFAULT_MAX_DOCUMENT_AGE);
        assert_eq!(p.debug_enclaves(), DebugEnclaves::Reject);
    }

    #[test]
    fn debug_mode_needs_all_three_zero() {
        let mut pcrs: BTreeMap<u8, Vec<u8>> = (0..3).map(|i| (i, vec![0; 48])).collect();
        assert!(is_debug_mode(&pcrs));
        pcrs.insert(1, {
            let mut v = vec![0; 48];
            v[47] = 1;
            v
        });
        assert!(!is_debug_mode(&pcrs));
        pcrs.remove(&1);
        assert!(!is_debug_mode(&pcrs));
    }

    #[test]
    fn pcr_match_checks_every_candidate() {
        assert!(any_equal(&[1; 48], &[vec![2; 48], vec![1; 48]]));
        assert!(!any_equal(&[1; 48], &[vec![1; 32]]));
        assert!(!any_equal(&[1; 48], &[]));
    }
}
