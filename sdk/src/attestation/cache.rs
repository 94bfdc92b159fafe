//! `attestation::cache`: remembers which CA links have verified, so a repeat document costs two
//! signature checks (leaf link + COSE) instead of five.
//!
//! In: (issuer DER, child DER) pairs whose signature `chain` has just verified. Out: "this exact pair
//! verified before". Keyed by the exact DER of both certificates, so any changed byte is a miss. Stores
//! only the signature fact: validity, constraints and names are re-checked by `chain` at every `now`.
//! Does not decide trust; a hit only saves recomputing a signature that depends on nothing but the bytes.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// Default number of links remembered: one AWS region's chain has three CA links, so this covers many
/// regions and rotations while bounding memory (each entry is at most 2 KiB of DER).
pub(crate) const DEFAULT_CAPACITY: usize = 64;

/// A bounded set of verified CA links, evicting the oldest when full.
#[derive(Debug)]
pub(crate) struct LinkCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    links: HashSet<Vec<u8>>,
    order: VecDeque<Vec<u8>>,
}

impl LinkCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity, inner: Mutex::new(Inner::default()) }
    }

    /// Was the signature of `child` by `issuer` verified before?
    pub(crate) fn contains(&self, issuer: &[u8], child: &[u8]) -> bool {
        let key = key(issuer, child);
        // A poisoned lock only means another thread panicked mid-insert; treat it as a miss and verify.
        self.inner.lock().map(|inner| inner.links.contains(&key)).unwrap_or(false)
    }

    /// Records that the signature of `child` by `issuer` verified.
    pub(crate) fn insert(&self, issuer: &[u8], child: &[u8]) {
        if self.capacity == 0 {
            return;
        }
        let key = key(issuer, child);
        if let Ok(mut inner) = self.inner.lock() {
            if inner.links.contains(&key) {
                return;
            }
            while inner.order.len() >= self.capacity {
                if let Some(old) = inner.order.pop_front() {
                    inner.links.remove(&old);
                }
            }
            inner.order.push_back(key.clone());
            inner.links.insert(key);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.lock().map(|i| i.links.len()).unwrap_or(0)
    }
}

/// The issuer's length first, so no two different pairs concatenate to the same key.
fn key(issuer: &[u8], child: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + issuer.len() + child.len());
    k.extend_from_slice(&(issuer.len() as u64).to_be_bytes());
    k.extend_from_slice(issuer);
    k.extend_from_slice(child);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_exact() {
        let c = LinkCache::new(2);
        c.insert(b"root", b"a");
        c.insert(b"root", b"b");
        assert!(c.contains(b"root", b"a"));
        assert!(!c.contains(b"roo", b"ta"), "pairs must not collide by concatenation");
        c.insert(b"root", b"c");
        assert_eq!(c.len(), 2);
        assert!(!c.contains(b"root", b"a"), "oldest evicted");
        assert!(c.contains(b"root", b"c"));
    }
}
