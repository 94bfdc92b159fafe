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
    pub fn new(policy: Policy) -> Self {
        Self(Arc::new(VerifierInner { policy, cache: PathCache::new(cache::DEFAULT_CAPACITY) }))
    }

    /// The policy this verifier applies.
    pub fn policy(&self) -> &Policy {
        &self.0.policy
    }

    /// Everything: size, COSE envelope, fields, the chain at `now` +- skew and the signature, then the
    /// policy (debug mode, PCRs, age, nonce, checksum, key).
    ///
    /// # Errors
    ///
    /// The first failed check, as an [`AttestationError`] carrying the values involved.
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
    pub fn verify_now(&self, raw: &[u8], expected: &Expected<'_>) -> Result<AttestedDocument, AttestationError> {
        self.verify(raw, expected, UnixTime::now())
    }
}
