//! Attested sessions kept for the next call to the same function, so that a repeated call costs one
//! round trip instead of a connection and an attestation.
//!
//! Input: sessions a call has finished with, and the client's clock (injectable). Output: an idle
//! session for a function, or none. The one place that decides whether a session may be reused
//! ([`Pool::take`] and the `reusable` check behind it): it is alive (never failed, never told of a
//! `SessionError`), idle for at most `max_idle`, opened at most `max_age` ago, and every certificate
//! of its document is still valid. Everything else opens a fresh, freshly attested session.

use std::sync::Mutex;
use std::time::Duration;

use enclave_protocol::FunctionId;

use super::session::Session;
use crate::attestation::UnixTime;

/// How a [`Client`](crate::Client) reuses attested sessions between its Session-less calls
/// ([`Client::invoke`](crate::Client::invoke), [`crate::connect_and_invoke`], the blocking API).
///
/// A call gets a fresh attestation (a new connection, a new nonce, a new document verified against
/// the policy) when no idle session for its function passes every bound: the session never failed,
/// it was idle for at most [`max_idle`](Self::with_max_idle), it was opened at most
/// [`max_age`](Self::with_max_age) ago, and every certificate of its document is still valid. At most
/// [`max_idle_sessions`](Self::with_max_idle_sessions) idle sessions are kept; a call that fails, on
/// any error but the function's own, never gives its session back.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let policy = enclave_sdk::attestation::Policy::builder().dangerous_accept_any_enclave().build()?;
/// use enclave_sdk::{Client, SessionReuse};
/// use std::time::Duration;
/// let reuse = SessionReuse::default().with_max_age(Duration::from_secs(120)).with_max_idle_sessions(2);
/// assert_eq!(reuse.max_age(), Duration::from_secs(120));
/// let client = Client::builder().endpoint("wss://enclave.example").policy(policy).session_reuse(reuse).build()?;
/// # let _ = client;
/// // Every call attested afresh:
/// assert_eq!(SessionReuse::disabled().max_idle_sessions(), 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionReuse {
    max_idle_sessions: usize,
    max_idle: Duration,
    max_age: Duration,
}

impl SessionReuse {
    /// Default bound on idle sessions kept per client.
    pub const DEFAULT_MAX_IDLE_SESSIONS: usize = 8;
    /// Default bound on a session's idle time: well inside the enclave's default idle timeout
    /// (120 s), so a kept session is rarely one the enclave has already ended.
    pub const DEFAULT_MAX_IDLE: Duration = Duration::from_secs(30);
    /// Default bound on a session's age: after it, the next call attests afresh. Well inside a Nitro
    /// leaf certificate's three hours.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);

    /// No reuse: every Session-less call connects and attests.
    pub const fn disabled() -> Self {
        Self { max_idle_sessions: 0, max_idle: Duration::ZERO, max_age: Duration::ZERO }
    }

    /// At most `n` idle sessions kept (0: no reuse); the least recently used goes first.
    pub const fn with_max_idle_sessions(mut self, n: usize) -> Self {
        self.max_idle_sessions = n;
        self
    }

    /// A session idle for longer than `d` is closed instead of reused.
    pub const fn with_max_idle(mut self, d: Duration) -> Self {
        self.max_idle = d;
        self
    }

    /// A session opened longer than `d` ago is closed instead of reused: the next call attests again.
    pub const fn with_max_age(mut self, d: Duration) -> Self {
        self.max_age = d;
        self
    }

    /// The bound on idle sessions kept.
    pub const fn max_idle_sessions(&self) -> usize {
        self.max_idle_sessions
    }

    /// The bound on idle time.
    pub const fn max_idle(&self) -> Duration {
        self.max_idle
    }

    /// The bound on age.
    pub const fn max_age(&self) -> Duration {
        self.max_age
    }
}

impl Default for SessionReuse {
    fn default() -> Self {
        Self {
            max_idle_sessions: Self::DEFAULT_MAX_IDLE_SESSIONS,
            max_idle: Self::DEFAULT_MAX_IDLE,
            max_age: Self::DEFAULT_MAX_AGE,
        }
    }
}

/// A session and when it was opened.
#[derive(Debug)]
pub(crate) struct Pooled {
    pub(crate) session: Session,
    opened: UnixTime,
}

impl Pooled {
    pub(crate) fn new(session: Session, opened: UnixTime) -> Self {
        Self { session, opened }
    }
}

#[derive(Debug)]
struct Idle {
    pooled: Pooled,
    since: UnixTime,
}

/// The idle sessions of one client (and its clones).
#[derive(Debug)]
pub(crate) struct Pool {
    reuse: SessionReuse,
    idle: Mutex<Vec<Idle>>,
}

impl Pool {
    pub(crate) fn new(reuse: SessionReuse) -> Self {
        Self { reuse, idle: Mutex::new(Vec::new()) }
    }

    /// The most recently used idle session for `function_id` that may be reused at `now`. Sessions
    /// found past a bound are dropped on the way (which closes their connections).
    pub(crate) fn take(&self, function_id: &FunctionId, now: UnixTime) -> Option<Pooled> {
        let (found, expired) = {
            let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let (kept, expired): (Vec<Idle>, Vec<Idle>) =
                std::mem::take(&mut *idle).into_iter().partition(|e| self.reusable(e, now));
            *idle = kept;
            let best = idle
                .iter()
                .enumerate()
                .filter(|(_, e)| e.pooled.session.function_id() == function_id)
                .max_by_key(|(_, e)| e.since)
                .map(|(i, _)| i);
            (best.map(|i| idle.swap_remove(i).pooled), expired)
        };
        // Dropped outside the lock.
        drop(expired);
        found
    }

    /// Keeps `pooled` for a later call, if reuse is on and it may be reused now; evicts the least
    /// recently used beyond the bound.
    pub(crate) fn put(&self, pooled: Pooled, now: UnixTime) {
        let entry = Idle { pooled, since: now };
        if self.reuse.max_idle_sessions == 0 || !self.reusable(&entry, now) {
            return;
        }
        let evicted = {
            let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            idle.push(entry);
            let mut evicted = Vec::new();
            while idle.len() > self.reuse.max_idle_sessions {
                let oldest = idle.iter().enumerate().min_by_key(|(_, e)| e.since).map(|(i, _)| i);
                match oldest {
                    Some(i) => evicted.push(idle.swap_remove(i)),
                    None => break,
                }
            }
            evicted
        };
        drop(evicted);
    }

    /// The one reuse decision: alive, within the idle and age bounds, and its document's
    /// certificates still valid. Times are the client's clock; a clock that went back counts as no
    /// time passed, which the age bound still caps through the certificates' validity.
    fn reusable(&self, entry: &Idle, now: UnixTime) -> bool {
        let since = |t: UnixTime| Duration::from_secs(now.as_secs().saturating_sub(t.as_secs()));
        entry.pooled.session.is_alive()
            && since(entry.since) <= self.reuse.max_idle
            && since(entry.pooled.opened) <= self.reuse.max_age
            && now < entry.pooled.session.attestation().certificates_valid_until()
    }
}
