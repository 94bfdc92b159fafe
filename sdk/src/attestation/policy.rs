//! `attestation::policy`: what the caller trusts, and the checks made after the cryptography.
//!
//! In: a [`VerifiedDocument`] (signature and chain already checked, so its fields are the enclave's
//! words), the per-connection [`Expected`] values and `now`. Out: an [`AttestedDocument`], or the first
//! policy check that failed. Does not parse or verify anything cryptographic.
//!
//! Checks, in order: debug mode, measurement sets, document age, nonce, function claim and checksum,
//! key.
//!
//! This module also holds the one rule for what a policy must pin ([`Policy::require_image_pinned`]:
//! [`PolicyBuilder::build`] applies it, and every other way of making a policy, the policy file, the
//! environment and every CLI command, goes through the builder; the KMS crate calls it too, without
//! the waiver).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use enclave_protocol::{FunctionChecksum, FunctionId, MeasurementSet, PcrIndex, PcrValue, SetMismatch};
use subtle::ConstantTimeEq;

use super::documents::{AttestedDocument, Expected, VerifiedDocument};
use super::error::AttestationError;
use super::root::TrustRoot;
use super::time::UnixTime;
use super::user_data::Claim;

/// Why a [`PolicyBuilder`] refused to build.
///
/// # Examples
///
/// ```
/// use enclave_sdk::attestation::{Policy, PolicyError};
/// let nothing = Policy::builder().build();
/// assert!(matches!(nothing, Err(PolicyError::ImageNotPinned { set: None, checksum_pinned: false, .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy does not identify the enclave image: it allows no measurement set, or an allowed
    /// set pins none of PCR0, PCR2 and PCR8 ([`Policy::IMAGE_PCRS`]) to a value other than all zeros. A zero
    /// value identifies nothing: every unsigned image reports PCR8 = 0, every debug-mode enclave
    /// PCR0..2 = 0. A function checksum cannot stand in either: the enclave's own code writes it, so any
    /// enclave can claim any checksum.
    ///
    /// [`PolicyBuilder::dangerous_accept_any_enclave`] (`--any-enclave`, `accept_any_enclave = true`)
    /// waives the rule.
    #[error("{}", image_not_pinned(*.set, .pins, .zeroed, *.checksum_pinned))]
    ImageNotPinned {
        /// The first allowed set (1-based, in the order given) that pins no image PCR; `None` when the
        /// policy allows no measurement set at all.
        set: Option<usize>,
        /// What that set pins (empty when there is no set).
        pins: Vec<PcrIndex>,
        /// The image PCRs that set pins to all zeros (which identify no image).
        zeroed: Vec<PcrIndex>,
        /// Whether the policy pins a function checksum (which does not identify the image).
        checksum_pinned: bool,
    },
}

fn image_not_pinned(set: Option<usize>, pins: &[PcrIndex], zeroed: &[PcrIndex], checksum_pinned: bool) -> String {
    const WHY: &str = "PCR1 is the same for every image of one nitro-cli version, PCR3 and PCR4 describe the \
                       parent instance its operator chooses, and a function checksum is the enclave's own claim";
    match set {
        None if checksum_pinned => format!(
            "the policy pins only a function checksum and no measurement: it must pin the enclave image with \
             PCR0, PCR2 or PCR8 ({WHY})"
        ),
        None => "the policy pins no measurement: it must pin the enclave image with PCR0, PCR2 or PCR8".to_owned(),
        Some(n) if !zeroed.is_empty() => {
            let list = |l: &[PcrIndex]| l.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            format!(
                "measurement set {n} pins {}, but its {} {} all zeros, which every unsigned image (PCR8) and every \
                 debug-mode enclave (PCR0..2) reports, so it does not identify the enclave image: pin a non-zero \
                 PCR0, PCR2 or PCR8",
                list(pins),
                list(zeroed),
                if zeroed.len() == 1 { "value is" } else { "values are" }
            )
        }
        Some(n) => {
            let pins: Vec<String> = pins.iter().map(ToString::to_string).collect();
            format!(
                "measurement set {n} pins {} but none of PCR0, PCR2 and PCR8, so it does not identify the enclave \
                 image ({WHY})",
                pins.join(", ")
            )
        }
    }
}

/// What the caller trusts: root(s), measurement sets, function checksums, freshness. Build with
/// [`Policy::builder`].
///
/// A document passes the measurements when it matches every PCR of at least one allowed
/// [`MeasurementSet`]: allow release N and release N+1 during a rolling deploy, and a document mixing
/// one release's PCR0 with the other's PCR2 is still refused.
///
/// # Examples
///
/// ```
/// use enclave_sdk::attestation::{Policy, PolicyError};
/// use enclave_sdk::{FunctionChecksum, MeasurementSet};
/// let release: MeasurementSet = format!("0={},1={},2={}", "ab".repeat(48), "cd".repeat(48), "ef".repeat(48)).parse()?;
/// let policy = Policy::builder()
///     .allow_measurements(release) // call again to allow another release
///     .function_checksum(FunctionChecksum::from_bytes([0x11; 32]))
///     .build()?;
/// assert_eq!(policy.measurement_sets().len(), 1);
///
/// // A checksum alone is the enclave's own claim: such a policy is refused.
/// let only_checksum = Policy::builder().function_checksum(FunctionChecksum::from_bytes([0x11; 32])).build();
/// assert!(matches!(only_checksum, Err(PolicyError::ImageNotPinned { set: None, checksum_pinned: true, .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Policy {
    roots: Vec<TrustRoot>,
    sets: Vec<MeasurementSet>,
    checksum: Option<FunctionChecksum>,
    checksums: BTreeMap<FunctionId, FunctionChecksum>,
    max_age: Duration,
    skew: Duration,
    allow_debug: bool,
    any_enclave: bool,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("roots", &self.roots)
            .field("measurement_sets", &self.sets)
            .field("checksum", &self.checksum)
            .field("checksums", &self.checksums)
            .field("max_age", &self.max_age)
            .field("skew", &self.skew)
            .field("allow_debug", &self.allow_debug)
            .field("any_enclave", &self.any_enclave)
            .finish()
    }
}

impl Policy {
    /// Default maximum document age. NSM documents are made on request, so a fresh one is seconds old.
    pub const DEFAULT_MAX_DOCUMENT_AGE: Duration = Duration::from_secs(300);
    /// Leaf certificates live about three hours and are not backdated, so a device whose clock runs
    /// slow would reject a fresh document; this much disagreement between clocks is tolerated.
    pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);
    /// The PCRs that identify an enclave image: every allowed measurement set must pin at least one.
    ///
    /// PCR0 measures the whole image file, PCR2 the application, PCR8 the certificate the image was
    /// signed with. The others do not identify the code: PCR1 (kernel and boot ramdisk) is the same for
    /// every image built by one nitro-cli version, and PCR3 and PCR4 (the parent instance's IAM role and
    /// id) are chosen by whoever runs the parent instance, whom the threat model does not trust.
    pub const IMAGE_PCRS: [PcrIndex; 3] = [PcrIndex::IMAGE, PcrIndex::APPLICATION, PcrIndex::SIGNING_CERTIFICATE];

    /// The one rule for what a policy must pin, applied to this policy whether or not it was built with
    /// [`PolicyBuilder::dangerous_accept_any_enclave`]: every allowed measurement set identifies the image
    /// by pinning PCR0, PCR2 or PCR8 ([`Policy::IMAGE_PCRS`]) to a value other than all zeros, and a
    /// policy without any set identifies nothing, whatever checksums it pins.
    ///
    /// [`PolicyBuilder::build`] applies it unless waived. Consumers that cannot honour the waiver call it
    /// themselves: a KMS key policy (the `enclave-kms` crate) releases plaintexts to whoever meets its
    /// conditions, so `accept_any_enclave` in a policy file must not carry over to it.
    ///
    /// # Errors
    ///
    /// [`PolicyError::ImageNotPinned`] naming the first set that pins no image PCR (or none at all).
    ///
    /// # Examples
    ///
    /// ```
    /// use enclave_sdk::attestation::{Policy, PolicyError};
    /// let release = format!("0={}", "ab".repeat(48)).parse()?;
    /// assert_eq!(Policy::builder().allow_measurements(release).build()?.require_image_pinned(), Ok(()));
    ///
    /// // Waived for the verifier, but the rule itself still says what is missing.
    /// let any = Policy::builder().dangerous_accept_any_enclave().build()?;
    /// assert!(matches!(any.require_image_pinned(), Err(PolicyError::ImageNotPinned { set: None, .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn require_image_pinned(&self) -> Result<(), PolicyError> {
        let checksum_pinned = self.checksum.is_some() || !self.checksums.is_empty();
        if self.sets.is_empty() {
            return Err(PolicyError::ImageNotPinned {
                set: None,
                pins: Vec::new(),
                zeroed: Vec::new(),
                checksum_pinned,
            });
        }
        for (i, set) in self.sets.iter().enumerate() {
            // All zeros is the reset value: PCR8 of every unsigned image, PCR0..2 of every debug enclave.
            let identifies = |index: &PcrIndex| set.get(*index).is_some_and(|value| !value.is_zero());
            if !Self::IMAGE_PCRS.iter().any(identifies) {
                return Err(PolicyError::ImageNotPinned {
                    set: Some(i.saturating_add(1)),
                    pins: set.indices().collect(),
                    zeroed: Self::IMAGE_PCRS.into_iter().filter(|index| set.pins(*index)).collect(),
                    checksum_pinned,
                });
            }
        }
        Ok(())
    }

    /// A builder with safe defaults: AWS Root-G1, 300 s maximum age, 60 s skew, debug enclaves rejected.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Policy, TrustRoot};
    /// use enclave_sdk::{FunctionChecksum, MeasurementSet};
    /// let release: MeasurementSet = format!("0={},2={}", "a0".repeat(48), "a2".repeat(48)).parse()?;
    /// let policy = Policy::builder().allow_measurements(release).build()?;
    /// assert_eq!(policy.trust_roots(), [TrustRoot::aws_nitro_root_g1()]); // the default root
    /// assert_eq!(policy.max_document_age(), Policy::DEFAULT_MAX_DOCUMENT_AGE);
    /// assert!(!policy.allows_debug() && !policy.accepts_any_enclave());
    /// # Ok(()) }
    /// ```
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder {
            roots: None,
            sets: Vec::new(),
            checksum: None,
            checksums: BTreeMap::new(),
            max_age: Self::DEFAULT_MAX_DOCUMENT_AGE,
            skew: Self::DEFAULT_CLOCK_SKEW,
            allow_debug: false,
            any_enclave: false,
        }
    }

    /// The pinned roots; a chain must end at one of them.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Policy, TrustRoot};
    /// use enclave_sdk::{FunctionChecksum, MeasurementSet};
    /// let release: MeasurementSet = format!("0={},2={}", "a0".repeat(48), "a2".repeat(48)).parse()?;
    /// let policy = Policy::builder().allow_measurements(release).build()?;
    /// assert_eq!(policy.trust_roots()[0].sha256(), TrustRoot::AWS_NITRO_ROOT_G1_SHA256);
    /// # Ok(()) }
    /// ```
    pub fn trust_roots(&self) -> &[TrustRoot] {
        &self.roots
    }
    /// The allowed measurement sets (releases), in the order given; a document must match one.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Policy, TrustRoot};
    /// use enclave_sdk::{FunctionChecksum, MeasurementSet};
    /// let release: MeasurementSet = format!("0={},2={}", "a0".repeat(48), "a2".repeat(48)).parse()?;
    /// let next: MeasurementSet = format!("0={},2={}", "b0".repeat(48), "b2".repeat(48)).parse()?;
    /// let policy = Policy::builder().allow_measurements(release).allow_measurements(next).build()?;
    /// assert_eq!(policy.measurement_sets().len(), 2); // a rolling deploy: release N and N+1
    /// # Ok(()) }
    /// ```
    pub fn measurement_sets(&self) -> &[MeasurementSet] {
        &self.sets
    }
    /// The checksum pinned for whatever function is attested, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Policy, TrustRoot};
    /// use enclave_sdk::{FunctionChecksum, MeasurementSet};
    /// let release: MeasurementSet = format!("0={},2={}", "a0".repeat(48), "a2".repeat(48)).parse()?;
    /// let sum = FunctionChecksum::from_bytes([0x11; 32]);
    /// let policy = Policy::builder().allow_measurements(release).function_checksum(sum).build()?;
    /// assert_eq!(policy.function_checksum(), Some(sum));
    /// # Ok(()) }
    /// ```
    pub fn function_checksum(&self) -> Option<FunctionChecksum> {
        self.checksum
    }
    /// Checksums pinned per function id.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Policy, TrustRoot};
    /// use enclave_sdk::{FunctionChecksum, MeasurementSet};
    /// let release: MeasurementSet = format!("0={},2={}", "a0".repeat(48), "a2".repeat(48)).parse()?;
    /// let sum = FunctionChecksum::from_bytes([0x11; 32]);
    /// let policy = Policy::builder().allow_measurements(release).function_checksum_for("echo".parse()?, sum).build()?;
    /// assert_eq!(policy.function_checksums().get("echo"), Some(&sum));
    /// # Ok(()) }
    /// ```
    pub fn function_checksums(&self) -> &BTreeMap<FunctionId, FunctionChecksum> {
        &self.checksums
    }
    /// Maximum document age.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Policy, TrustRoot};
    /// use enclave_sdk::{FunctionChecksum, MeasurementSet};
    /// let release: MeasurementSet = format!("0={},2={}", "a0".repeat(48), "a2".repeat(48)).parse()?;
    /// let policy = Policy::builder().allow_measurements(release).max_document_age(std::time::Duration::from_secs(60)).build()?;
    /// assert_eq!(policy.max_document_age().as_secs(), 60);
    /// # Ok(()) }
    /// ```
    pub fn max_document_age(&self) -> Duration {
        self.max_age
    }
    /// Clock-skew allowance for certificate validity and timestamps.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Policy, TrustRoot};
    /// use enclave_sdk::{FunctionChecksum, MeasurementSet};
    /// let release: MeasurementSet = format!("0={},2={}", "a0".repeat(48), "a2".repeat(48)).parse()?;
    /// let policy = Policy::builder().allow_measurements(release).build()?;
    /// assert_eq!(policy.clock_skew(), Policy::DEFAULT_CLOCK_SKEW);
    /// # Ok(()) }
    /// ```
    pub fn clock_skew(&self) -> Duration {
        self.skew
    }
    /// Whether documents from debug-mode enclaves (PCR0..2 all zero, memory readable by the parent
    /// instance) are accepted; only a policy built with `dangerous_allow_debug` accepts them.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Policy, TrustRoot};
    /// use enclave_sdk::{FunctionChecksum, MeasurementSet};
    /// let release: MeasurementSet = format!("0={},2={}", "a0".repeat(48), "a2".repeat(48)).parse()?;
    /// let policy = Policy::builder().allow_measurements(release).dangerous_allow_debug().build()?;
    /// assert!(policy.allows_debug());
    /// # Ok(()) }
    /// ```
    pub fn allows_debug(&self) -> bool {
        self.allow_debug
    }
    /// Whether the caller waived the rule that the policy must identify the image.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Policy, TrustRoot};
    /// use enclave_sdk::{FunctionChecksum, MeasurementSet};
    /// let release: MeasurementSet = format!("0={},2={}", "a0".repeat(48), "a2".repeat(48)).parse()?;
    /// let any = Policy::builder().dangerous_accept_any_enclave().build()?;
    /// assert!(any.accepts_any_enclave() && any.measurement_sets().is_empty());
    /// # let _ = release;
    /// # Ok(()) }
    /// ```
    pub fn accepts_any_enclave(&self) -> bool {
        self.any_enclave
    }

    /// The checks after the cryptography. Takes the verified document by value: on success it comes
    /// back as an [`AttestedDocument`]; on failure it is dropped.
    fn check(
        &self,
        doc: VerifiedDocument,
        expected: &Expected<'_>,
        now: UnixTime,
    ) -> Result<AttestedDocument, AttestationError> {
        let fields = &doc.fields;
        if !self.allow_debug && fields.is_debug_mode() {
            return Err(AttestationError::DebugMode);
        }
        self.check_measurements(&fields.pcrs)?;
        self.check_age(fields.timestamp_ms, now)?;
        if let Some(sent) = expected.nonce {
            let found =
                fields.nonce.as_deref().ok_or_else(|| AttestationError::NonceMissing { expected: sent.to_vec() })?;
            if !bool::from(found.ct_eq(sent)) {
                return Err(AttestationError::NonceMismatch { expected: sent.to_vec(), found: found.to_vec() });
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
        Ok(AttestedDocument { raw: doc.raw, fields: doc.fields, claim, valid_until: doc.valid_until, _sig: doc._sig })
    }

    /// A document passes when it matches every PCR of at least one allowed set. Every set is compared
    /// (each in constant time, with no early exit), then one decision is made.
    fn check_measurements(&self, pcrs: &BTreeMap<PcrIndex, PcrValue>) -> Result<(), AttestationError> {
        if self.sets.is_empty() {
            // Only a policy built with dangerous_accept_any_enclave() has no set.
            return Ok(());
        }
        let results: Vec<Result<(), SetMismatch>> = self.sets.iter().map(|set| set.matches(pcrs)).collect();
        if results.iter().any(Result::is_ok) {
            return Ok(());
        }
        let mut mismatches: Vec<SetMismatch> = results.into_iter().filter_map(Result::err).collect();
        if mismatches.len() == 1 {
            match mismatches.pop() {
                Some(SetMismatch::Differs { index, found, expected }) => {
                    return Err(AttestationError::PcrNotAllowed { index, found, expected })
                }
                Some(SetMismatch::Missing { index }) => return Err(AttestationError::PcrMissing { index }),
                Some(other) => mismatches.push(other),
                None => {}
            }
        }
        Err(AttestationError::MeasurementsNotAllowed { mismatches })
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

    /// Decodes the claim in the form `expected` names, when there is user data (a claim that does not
    /// decode is only an error when a checksum is pinned), then matches function id and checksum
    /// against the pins.
    fn check_function(
        &self,
        user_data: Option<&[u8]>,
        expected: &Expected<'_>,
    ) -> Result<Option<Claim>, AttestationError> {
        let pinned = self.checksum.is_some() || !self.checksums.is_empty();
        let claim = match user_data {
            None if pinned => return Err(AttestationError::UserDataMissing),
            None => None,
            Some(bytes) => match Claim::decode(expected.user_data, bytes) {
                Ok(c) => Some(c),
                Err(e) if pinned => return Err(e.into()),
                Err(_) => None,
            },
        };
        if let (Some(want), Some(found)) = (expected.function_id, claim.as_ref().and_then(Claim::function_id)) {
            // Cape's claim carries no function id; only a claimed id can contradict the request.
            if found != want {
                return Err(AttestationError::FunctionIdMismatch { expected: want.clone(), found: found.clone() });
            }
        }
        let Some(c) = &claim else { return Ok(claim) };
        if !pinned {
            return Ok(claim);
        }
        let function_id = expected.function_id.or(c.function_id());
        let pin = function_id
            .and_then(|id| self.checksums.get(id))
            .copied()
            .or(self.checksum)
            .ok_or_else(|| AttestationError::NoChecksumForFunction { function_id: function_id.cloned() })?;
        let found = c.checksum();
        if !bool::from(pin.ct_eq(&found)) {
            return Err(AttestationError::ChecksumMismatch { expected: pin, found });
        }
        Ok(claim)
    }
}

impl VerifiedDocument {
    /// Applies `policy`'s pins and the per-connection expectations (step 5).
    ///
    /// # Errors
    ///
    /// The first failed policy check, e.g. [`AttestationError::PcrNotAllowed`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, Verifier};
    /// // A real AWS document (Cape's enclave), valid at this time:
    /// let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// let at = UnixTime::from_secs(1_676_033_041);
    /// let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// use enclave_sdk::attestation::UnverifiedDocument;
    /// let verified = UnverifiedDocument::parse(&raw)?.verify(&[enclave_sdk::attestation::TrustRoot::aws_nitro_root_g1()], at, Policy::DEFAULT_CLOCK_SKEW)?;
    /// let attested = verified.check(&Policy::builder().allow_measurements(release).build()?, &Expected::none(), at)?;
    /// assert_eq!(attested.raw(), &raw[..]);
    /// # let _ = Verifier::new;
    /// # Ok(()) }
    /// ```
    pub fn check(
        self,
        policy: &Policy,
        expected: &Expected<'_>,
        now: UnixTime,
    ) -> Result<AttestedDocument, AttestationError> {
        policy.check(self, expected, now)
    }
}

/// Builds a [`Policy`]; starts from safe defaults and refuses a policy that does not identify the
/// enclave image (see [`PolicyError::ImageNotPinned`]).
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use enclave_sdk::attestation::{Policy, TrustRoot};
/// use enclave_sdk::{FunctionChecksum, MeasurementSet};
/// let release: MeasurementSet = format!("0={},2={}", "a0".repeat(48), "a2".repeat(48)).parse()?;
/// let policy = Policy::builder()
///     .allow_measurements(release)
///     .function_checksum(FunctionChecksum::from_bytes([0x11; 32]))
///     .max_document_age(std::time::Duration::from_secs(120))
///     .build()?;
/// # let _ = (policy, TrustRoot::aws_nitro_root_g1());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct PolicyBuilder {
    roots: Option<Vec<TrustRoot>>,
    sets: Vec<MeasurementSet>,
    checksum: Option<FunctionChecksum>,
    checksums: BTreeMap<FunctionId, FunctionChecksum>,
    max_age: Duration,
    skew: Duration,
    allow_debug: bool,
    any_enclave: bool,
}

impl PolicyBuilder {
    /// Trust this root instead of AWS Root-G1. Call [`PolicyBuilder::add_trust_root`] to trust several.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Policy, TrustRoot};
    /// let root = TrustRoot::from_pem(&std::fs::read_to_string("mock-state/root.pem")?)?; // e.g. the mock's
    /// let policy = Policy::builder().trust_root(root).allow_measurements(format!("0={}", "ab".repeat(48)).parse()?).build()?;
    /// # let _ = policy;
    /// # Ok(()) }
    /// ```
    pub fn trust_root(mut self, root: TrustRoot) -> Self {
        self.roots = Some(vec![root]);
        self
    }

    /// Trust this root as well (the first call keeps AWS Root-G1 unless [`PolicyBuilder::trust_root`]
    /// replaced it).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Policy, TrustRoot};
    /// let staging = TrustRoot::from_pem(&std::fs::read_to_string("staging-root.pem")?)?;
    /// // AWS Root-G1 and a second root: a document may chain to either.
    /// let policy = Policy::builder().add_trust_root(staging).allow_measurements(format!("0={}", "ab".repeat(48)).parse()?).build()?;
    /// assert_eq!(policy.trust_roots().len(), 2);
    /// # Ok(()) }
    /// ```
    pub fn add_trust_root(mut self, root: TrustRoot) -> Self {
        self.roots.get_or_insert_with(|| vec![TrustRoot::aws_nitro_root_g1()]).push(root);
        self
    }

    /// Allow one release: a document passes the measurements when it carries every PCR of `set` with
    /// the set's value (or matches another allowed set). Call again per release; a document never
    /// passes by mixing PCRs of two sets. Each set must pin PCR0, PCR2 or PCR8 ([`Policy::IMAGE_PCRS`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Policy, TrustRoot};
    /// use enclave_sdk::{FunctionChecksum, MeasurementSet};
    /// let release: MeasurementSet = format!("0={},2={}", "a0".repeat(48), "a2".repeat(48)).parse()?;
    /// // A document must match every PCR of one allowed set; mixing two releases is refused.
    /// let policy = Policy::builder().allow_measurements(release).build()?;
    /// assert_eq!(policy.measurement_sets().len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn allow_measurements(mut self, set: MeasurementSet) -> Self {
        if !self.sets.contains(&set) {
            self.sets.push(set);
        }
        self
    }

    /// Pin the checksum of whatever function the enclave attests (used when no per-function pin
    /// matches). Requires user data that decodes to a function claim.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Policy, TrustRoot};
    /// use enclave_sdk::{FunctionChecksum, MeasurementSet};
    /// let release: MeasurementSet = format!("0={},2={}", "a0".repeat(48), "a2".repeat(48)).parse()?;
    /// // `enclave checksum ./functions/my-function` prints it.
    /// let sum: FunctionChecksum = "25ea102efb6e40d70c07ea5f27f3e418df17f17d0a11af97b4745cbb738f18b2".parse()?;
    /// let policy = Policy::builder().allow_measurements(release).function_checksum(sum).build()?;
    /// # let _ = policy;
    /// # Ok(()) }
    /// ```
    pub fn function_checksum(mut self, checksum: FunctionChecksum) -> Self {
        self.checksum = Some(checksum);
        self
    }

    /// Pin the checksum for one function id.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Policy, TrustRoot};
    /// use enclave_sdk::{FunctionChecksum, MeasurementSet};
    /// let release: MeasurementSet = format!("0={},2={}", "a0".repeat(48), "a2".repeat(48)).parse()?;
    /// let sum = FunctionChecksum::from_bytes([0x11; 32]);
    /// let policy = Policy::builder().allow_measurements(release).function_checksum_for("word-count".parse()?, sum).build()?;
    /// assert_eq!(policy.function_checksums().len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn function_checksum_for(mut self, function_id: FunctionId, checksum: FunctionChecksum) -> Self {
        self.checksums.insert(function_id, checksum);
        self
    }

    /// Maximum age of a document, from its `timestamp` to `now` (default 300 s).
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Policy, TrustRoot};
    /// use enclave_sdk::{FunctionChecksum, MeasurementSet};
    /// let release: MeasurementSet = format!("0={},2={}", "a0".repeat(48), "a2".repeat(48)).parse()?;
    /// use std::time::Duration;
    /// let policy = Policy::builder().allow_measurements(release).max_document_age(Duration::from_secs(30)).build()?;
    /// # let _ = policy;
    /// # Ok(()) }
    /// ```
    pub fn max_document_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// Clock-skew allowance for certificate validity and the document timestamp (default 60 s).
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Policy, TrustRoot};
    /// use enclave_sdk::{FunctionChecksum, MeasurementSet};
    /// let release: MeasurementSet = format!("0={},2={}", "a0".repeat(48), "a2".repeat(48)).parse()?;
    /// use std::time::Duration;
    /// let policy = Policy::builder().allow_measurements(release).clock_skew(Duration::from_secs(5)).build()?;
    /// # let _ = policy;
    /// # Ok(()) }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Policy, TrustRoot};
    /// use enclave_sdk::{FunctionChecksum, MeasurementSet};
    /// let release: MeasurementSet = format!("0={},2={}", "a0".repeat(48), "a2".repeat(48)).parse()?;
    /// // Development only: a debug enclave's memory is readable by its parent instance.
    /// let policy = Policy::builder().allow_measurements(release).dangerous_allow_debug().build()?;
    /// assert!(policy.allows_debug());
    /// # Ok(()) }
    /// ```
    pub fn dangerous_allow_debug(mut self) -> Self {
        self.allow_debug = true;
        self
    }

    /// Waive the rule that the policy must identify the enclave image ([`PolicyError::ImageNotPinned`]).
    /// Any measurement sets and checksums given are still enforced.
    ///
    /// # Security
    ///
    /// Without a set pinning PCR0, PCR2 or PCR8, any code in any Nitro enclave can produce an accepted
    /// document (a function checksum is that code's own claim): only "some enclave signed by AWS" is
    /// established. Use only for inspection tools.
    ///
    /// # Examples
    ///
    /// ```
    /// use enclave_sdk::attestation::Policy;
    /// // Only "some enclave signed by AWS": for fetching a document to pin, never for sending data.
    /// let any = Policy::builder().dangerous_accept_any_enclave().build()?;
    /// assert!(any.accepts_any_enclave());
    /// # Ok::<(), enclave_sdk::attestation::PolicyError>(())
    /// ```
    pub fn dangerous_accept_any_enclave(mut self) -> Self {
        self.any_enclave = true;
        self
    }

    /// The policy.
    ///
    /// # Errors
    ///
    /// [`PolicyError::ImageNotPinned`] when no allowed measurement set is given, or a set pins none of
    /// PCR0, PCR2 and PCR8, unless [`PolicyBuilder::dangerous_accept_any_enclave`] was called.
    ///
    /// # Examples
    ///
    /// ```
    /// use enclave_sdk::attestation::{Policy, PolicyError};
    /// // PCR1 is the same for every image of one nitro-cli version: it identifies no image.
    /// let pcr1_only = Policy::builder().allow_measurements(format!("1={}", "ab".repeat(48)).parse()?).build();
    /// assert!(matches!(pcr1_only, Err(PolicyError::ImageNotPinned { set: Some(1), .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<Policy, PolicyError> {
        let policy = Policy {
            roots: self.roots.unwrap_or_else(|| vec![TrustRoot::aws_nitro_root_g1()]),
            sets: self.sets,
            checksum: self.checksum,
            checksums: self.checksums,
            max_age: self.max_age,
            skew: self.skew,
            allow_debug: self.allow_debug,
            any_enclave: self.any_enclave,
        };
        if !policy.any_enclave {
            policy.require_image_pinned()?;
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attestation::document::is_debug_mode;
    use enclave_protocol::Pcr;

    /// A set pinning `indices`, each to a non-zero value of its own.
    fn set(indices: &[u8]) -> MeasurementSet {
        MeasurementSet::new(
            indices.iter().map(|i| Pcr::new(PcrIndex::new(*i).unwrap(), PcrValue::from([0x40 | *i; 48]))),
        )
        .unwrap()
    }

    fn refused(b: PolicyBuilder) -> PolicyError {
        b.build().unwrap_err()
    }

    fn pins(indices: &[u8]) -> Vec<PcrIndex> {
        indices.iter().map(|i| PcrIndex::new(*i).unwrap()).collect()
    }

    const SUM: FunctionChecksum = FunctionChecksum::from_bytes([1; 32]);

    #[test]
    fn the_image_rule_refuses_what_does_not_identify_the_image() {
        let none =
            |checksum_pinned| PolicyError::ImageNotPinned { set: None, pins: vec![], zeroed: vec![], checksum_pinned };
        assert_eq!(refused(Policy::builder()), none(false));
        // A checksum is the enclave's own claim, whether catch-all or per function.
        assert_eq!(refused(Policy::builder().function_checksum(SUM)), none(true));
        assert_eq!(refused(Policy::builder().function_checksum_for("echo".parse().unwrap(), SUM)), none(true));
        // PCR1 (kernel), PCR3 (parent's role), PCR4 (parent instance), alone or together.
        for only in [&[1][..], &[3], &[4], &[1, 3, 4], &[1, 3, 4, 5, 15]] {
            assert_eq!(
                refused(Policy::builder().allow_measurements(set(only)).function_checksum(SUM)),
                PolicyError::ImageNotPinned { set: Some(1), pins: pins(only), zeroed: vec![], checksum_pinned: true },
                "{only:?}"
            );
        }
        // A zero value identifies nothing: PCR8 of every unsigned image, PCR0..2 of every debug enclave.
        let zero = |i: u8| Pcr::new(PcrIndex::new(i).unwrap(), PcrValue::from([0; 48]));
        let zeros = MeasurementSet::new([zero(0), zero(2), zero(8)]).unwrap();
        assert_eq!(
            refused(Policy::builder().allow_measurements(zeros).dangerous_allow_debug()),
            PolicyError::ImageNotPinned {
                set: Some(1),
                pins: pins(&[0, 2, 8]),
                zeroed: pins(&[0, 2, 8]),
                checksum_pinned: false
            }
        );
        // Every set must identify the image: the second set here does not.
        assert_eq!(
            refused(Policy::builder().allow_measurements(set(&[0, 1])).allow_measurements(set(&[3]))),
            PolicyError::ImageNotPinned { set: Some(2), pins: pins(&[3]), zeroed: vec![], checksum_pinned: false }
        );
    }

    #[test]
    fn any_image_pcr_satisfies_the_rule() {
        for image in [0, 2, 8] {
            let p = Policy::builder().allow_measurements(set(&[image, 3])).build().unwrap();
            assert_eq!(p.measurement_sets(), &[set(&[image, 3])]);
        }
        let p = Policy::builder().allow_measurements(set(&[0])).allow_measurements(set(&[2, 8])).build().unwrap();
        assert_eq!(p.measurement_sets().len(), 2);
    }

    #[test]
    fn dangerous_accept_any_enclave_waives_only_the_rule() {
        let p = Policy::builder().dangerous_accept_any_enclave().build().unwrap();
        assert!(p.accepts_any_enclave() && p.measurement_sets().is_empty());
        let p = Policy::builder().allow_measurements(set(&[3])).dangerous_accept_any_enclave().build().unwrap();
        assert_eq!(p.measurement_sets(), &[set(&[3])], "the sets given are still enforced");
    }

    #[test]
    fn the_messages_name_the_set_and_the_rule() {
        assert_eq!(
            refused(Policy::builder().allow_measurements(set(&[1, 4]))).to_string(),
            "measurement set 1 pins PCR1, PCR4 but none of PCR0, PCR2 and PCR8, so it does not identify the \
             enclave image (PCR1 is the same for every image of one nitro-cli version, PCR3 and PCR4 describe \
             the parent instance its operator chooses, and a function checksum is the enclave's own claim)"
        );
        let only_checksum = refused(Policy::builder().function_checksum(SUM)).to_string();
        assert!(only_checksum.starts_with("the policy pins only a function checksum and no measurement"));
        // The builder's message is shared by every front end: it names no Rust method and no flag.
        for message in [only_checksum, refused(Policy::builder()).to_string()] {
            assert!(!message.contains("dangerous") && !message.contains("--"), "{message}");
        }
    }

    #[test]
    fn builder_defaults_and_duplicate_sets() {
        let p = Policy::builder().allow_measurements(set(&[0])).allow_measurements(set(&[0])).build().unwrap();
        assert_eq!(p.measurement_sets().len(), 1);
        assert_eq!(p.trust_roots(), &[TrustRoot::aws_nitro_root_g1()]);
        assert_eq!(p.max_document_age(), Policy::DEFAULT_MAX_DOCUMENT_AGE);
        assert!(!p.allows_debug());
    }

    #[test]
    fn debug_mode_needs_all_three_zero() {
        let zero = PcrValue::from([0; 48]);
        let mut pcrs: BTreeMap<PcrIndex, PcrValue> = pins(&[0, 1, 2]).into_iter().map(|i| (i, zero.clone())).collect();
        assert!(is_debug_mode(&pcrs));
        let mut one = [0; 48];
        one[47] = 1;
        pcrs.insert(PcrIndex::KERNEL, PcrValue::from(one));
        assert!(!is_debug_mode(&pcrs));
        pcrs.remove(&PcrIndex::KERNEL);
        assert!(!is_debug_mode(&pcrs));
    }
}
