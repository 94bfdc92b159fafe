//! `attestation::cache`: remembers rustls-webpki's verdict on a certificate path, so a repeat document
//! costs one signature check (the COSE signature) instead of five.
//!
//! In: the exact DER of (pinned root, `cabundle[1..]`, leaf) and the time window that `chain` computed
//! for it; webpki has just accepted that path at an instant inside the window. Out: "webpki accepts
//! this exact path at this instant". Does not decide trust: `chain` still checks the root, names, time,
//! KeyUsage and the profile on every call, and only skips the webpki call on a hit.
//!
//! Why the verdict may be reused (soundness): webpki's answer is a function of the anchor, the
//! intermediates, the end-entity certificate, the time, and constants of this crate (ES384 only, the
//! EKU rule, no revocation, no name check), and `chain` makes it accept only the one path that
//! follows `cabundle`'s order. Everything webpki checks on that path is a property of its bytes
//! (signatures, names, BasicConstraints, extensions) except validity, which holds exactly when the
//! instant lies in every certificate's [notBefore, notAfter]. The window stored here is the
//! intersection of those intervals over the whole path, root included, so for any instant in it webpki
//! would give the same answer it gave. The key is the bytes themselves, length-prefixed: a changed
//! byte anywhere, another root, or another split between the certificates is a miss. The window is
//! read from the same bytes by x509-cert, which refuses every non-DER time, so webpki (which reads
//! the times again) cannot see other instants.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::time::UnixTime;

/// Default number of paths remembered: a path is one enclave's leaf under its instance CA, reissued
/// every few hours, so this covers dozens of enclaves while bounding memory (each key is at most the
/// root plus 8 KiB of `cabundle` and leaf DER).
pub(crate) const DEFAULT_CAPACITY: usize = 64;

/// The instants at which a cached verdict holds, both ends included (RFC 5280 section 4.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) from: UnixTime,
    pub(crate) until: UnixTime,
}

impl Window {
    fn contains(self, t: UnixTime) -> bool {
        self.from <= t && t <= self.until
    }
}

/// A bounded map from exact path bytes to the window of its webpki verdict, evicting the oldest.
#[derive(Debug)]
pub(crate) struct PathCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    paths: HashMap<Vec<u8>, Window>,
    order: VecDeque<Vec<u8>>,
}

impl PathCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity, inner: Mutex::new(Inner::default()) }
    }

    /// Did webpki accept the path `key` at an instant whose window also holds `at`?
    pub(crate) fn holds(&self, key: &[u8], at: UnixTime) -> bool {
        // A poisoned lock only means another thread panicked mid-insert; treat it as a miss and verify.
        self.inner.lock().map(|inner| inner.paths.get(key).is_some_and(|w| w.contains(at))).unwrap_or(false)
    }

    /// Records that webpki accepted the path `key`, valid throughout `window`.
    pub(crate) fn insert(&self, key: Vec<u8>, window: Window) {
        if self.capacity == 0 {
            return;
        }
        if let Ok(mut inner) = self.inner.lock() {
            if inner.paths.contains_key(&key) {
                return;
            }
            while inner.order.len() >= self.capacity {
                if let Some(old) = inner.order.pop_front() {
                    inner.paths.remove(&old);
                }
            }
            inner.order.push_back(key.clone());
            inner.paths.insert(key, window);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.lock().map(|i| i.paths.len()).unwrap_or(0)
    }
}

/// The cache key of a path: each certificate's DER behind its length, so no two different paths (or
/// splits of the same bytes) give the same key.
pub(crate) fn key<'a>(certs: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut k = Vec::with_capacity(4096);
    for der in certs {
        k.extend_from_slice(&(der.len() as u64).to_be_bytes());
        k.extend_from_slice(der);
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(from: u64, until: u64) -> Window {
        Window { from: UnixTime::from_secs(from), until: UnixTime::from_secs(until) }
    }

    #[test]
    fn bounded_exact_and_windowed() {
        let c = PathCache::new(2);
        let a = key([b"root".as_slice(), b"a"]);
        c.insert(a.clone(), w(10, 20));
        assert!(c.holds(&a, UnixTime::from_secs(10)) && c.holds(&a, UnixTime::from_secs(20)));
        assert!(!c.holds(&a, UnixTime::from_secs(9)) && !c.holds(&a, UnixTime::from_secs(21)));
        assert!(!c.holds(&key([b"roo".as_slice(), b"ta"]), UnixTime::from_secs(15)), "no collision by concatenation");
        c.insert(key([b"root".as_slice(), b"b"]), w(0, 99));
        c.insert(key([b"root".as_slice(), b"c"]), w(0, 99));
        assert_eq!(c.len(), 2);
        assert!(!c.holds(&a, UnixTime::from_secs(15)), "oldest evicted");
        let none = PathCache::new(0);
        none.insert(a.clone(), w(0, 99));
        assert!(!none.holds(&a, UnixTime::from_secs(15)));
    }
}
