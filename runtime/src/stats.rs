//! Counters of what a server saw (numbers only, never contents), written by the sessions and the
//! accept loop, read as a [`ServerStats`] snapshot.
//!
//! Input: events from the server and its sessions. Output: a snapshot for tests and logs.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Semaphore;

/// The live counters; every field only ever grows.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) sessions: AtomicU64,
    pub(crate) documents: AtomicU64,
    pub(crate) key_shares: AtomicU64,
    pub(crate) invocations: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) abandoned: AtomicU64,
    pub(crate) records_rejected: AtomicU64,
    pub(crate) refused_upgrades: AtomicU64,
}

/// Counts one event.
pub(crate) fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A snapshot of the server's counters.
///
/// # Examples
///
/// ```
/// let stats = enclave_runtime::ServerStats::default();
/// assert_eq!((stats.sessions, stats.open_sessions), (0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ServerStats {
    /// WebSocket sessions accepted.
    pub sessions: u64,
    /// Attestation documents sent.
    pub documents: u64,
    /// Key shares received: clients that accepted a document.
    pub key_shares: u64,
    /// Invocations started: a client sent input.
    pub invocations: u64,
    /// Invocations whose function ran to the end (output or function error).
    pub completed: u64,
    /// Invocations aborted because their session ended before their input's end marker.
    pub abandoned: u64,
    /// Records that failed authentication.
    pub records_rejected: u64,
    /// Upgrades refused (bad path, token, subprotocol, the session limit), and connections closed at
    /// once for the pending-upgrade limit.
    pub refused_upgrades: u64,
    /// Sessions now open (upgraded and not yet ended).
    pub open_sessions: u64,
    /// Connections now waiting for their upgrade to complete.
    pub pending_upgrades: u64,
    /// Sessions that lost their slot to a newcomer (`SessionError` `Evicted`).
    pub evicted: u64,
    /// Bytes of client input held now against the memory budget.
    pub input_bytes_held: u64,
    /// The most bytes of client input ever held at once; never above the memory budget.
    pub input_bytes_peak: u64,
}

impl Stats {
    /// The counters now, with the pending-upgrade gauge read from its semaphore (the server fills in
    /// the other gauges).
    pub(crate) fn snapshot(&self, pending: (&Semaphore, usize)) -> ServerStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ServerStats {
            sessions: load(&self.sessions),
            documents: load(&self.documents),
            key_shares: load(&self.key_shares),
            invocations: load(&self.invocations),
            completed: load(&self.completed),
            abandoned: load(&self.abandoned),
            records_rejected: load(&self.records_rejected),
            refused_upgrades: load(&self.refused_upgrades),
            pending_upgrades: in_use(pending),
            ..ServerStats::default()
        }
    }
}

fn in_use((slots, max): (&Semaphore, usize)) -> u64 {
    max.saturating_sub(slots.available_permits()) as u64
}
