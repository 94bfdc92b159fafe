//! `attestation::verifier`: everything in one call, with the path cache shared by a client's
//! connections.
//!
//! In: raw document bytes (untrusted), the connection's [`Expected`] values, the time. Out: an
//! [`AttestedDocument`], or the first failed check as an [`AttestationError`]. Decides nothing itself:
//! the steps are `documents`', `chain`'s and `policy`'s.

use std::fmt;
use std::sync::Arc;

use super::cache::{self, PathCache};
use super::documents::{AttestedDocument, Expected, UnverifiedDocument};
use super::error::AttestationError;
use super::policy::Policy;
use super::time::UnixTime;

/// Verifies documents against one [`Policy`], remembering verified certificate paths between calls.
///
/// Cheap to clone; clones share the cache. `Send + Sync`.
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
/// let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
/// let doc = verifier.verify(&raw, &Expected::none(), at)?;
/// assert_eq!(doc.raw(), &raw[..]);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Verifier(Arc<VerifierInner>);

struct VerifierInner {
    policy: Policy,
    cache: PathCache,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier").field("policy", &self.0.policy).field("cached_paths", &self.0.cache.len()).finish()
    }
}

/// `Verifier` is shared across tasks and threads (the contract promises `Clone + Send + Sync`).
const _: () = {
    const fn shared<T: Clone + Send + Sync + 'static>() {}
    shared::<Verifier>();
    shared::<Policy>();
    shared::<AttestedDocument>();
};

impl Verifier {
    /// A verifier for `policy`, with an empty path cache.
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
    /// let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let clone = verifier.clone(); // shares the path cache
    /// clone.verify(&raw, &Expected::none(), at)?;
    /// # Ok(()) }
    /// ```
    pub fn new(policy: Policy) -> Self {
        Self(Arc::new(VerifierInner { policy, cache: PathCache::new(cache::DEFAULT_CAPACITY) }))
    }

    /// The policy this verifier applies.
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
    /// let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// assert_eq!(verifier.policy().measurement_sets().len(), 1);
    /// # let _ = (raw, at, Expected::none());
    /// # Ok(()) }
    /// ```
    pub fn policy(&self) -> &Policy {
        &self.0.policy
    }

    /// Everything: size, COSE envelope, fields, the chain at `now` +- skew and the signature, then the
    /// policy (debug mode, PCRs, age, nonce, checksum, key).
    ///
    /// # Errors
    ///
    /// The first failed check, as an [`AttestationError`] carrying the values involved.
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
    /// use enclave_sdk::attestation::AttestationError;
    /// let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let doc = verifier.verify(&raw, &Expected::none(), at)?;
    /// assert_eq!(doc.module_id(), "i-08dd44ce4cc5ced0b-enc01863b583eb9dfbf");
    /// // The same document for a nonce this client never sent: a replay.
    /// let replayed = verifier.verify(&raw, &Expected::none().with_nonce(&[7; 32]), at);
    /// assert!(matches!(replayed, Err(AttestationError::NonceMismatch { .. })));
    /// # Ok(()) }
    /// ```
    pub fn verify(
        &self,
        raw: &[u8],
        expected: &Expected<'_>,
        now: UnixTime,
    ) -> Result<AttestedDocument, AttestationError> {
        let policy = &self.0.policy;
        UnverifiedDocument::parse(raw)?
            .verify_with(policy.trust_roots(), now, policy.clock_skew(), &self.0.cache)?
            .check(policy, expected, now)
    }

    /// [`Verifier::verify`] at the system clock's current time.
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify`].
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
    /// use enclave_sdk::attestation::AttestationError;
    /// let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// // Years later, the leaf certificate has long expired.
    /// assert!(matches!(verifier.verify_now(&raw, &Expected::none()), Err(AttestationError::Chain(_))));
    /// # let _ = at;
    /// # Ok(()) }
    /// ```
    pub fn verify_now(&self, raw: &[u8], expected: &Expected<'_>) -> Result<AttestedDocument, AttestationError> {
        self.verify(raw, expected, UnixTime::now())
    }
}
