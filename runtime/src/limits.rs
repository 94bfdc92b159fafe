//! The limits a server enforces, shared by the server (sessions, pending upgrades, drain) and the
//! sessions below it (timeouts, invocations in flight, frame sizes).
//!
//! Input: the operator's configuration (trusted). Output: values; this module enforces nothing itself.

use std::time::Duration;

use enclave_protocol::{
    FrameLimits, DEFAULT_ENCLAVE_IDLE_TIMEOUT, DEFAULT_ENCLAVE_MAX_IN_FLIGHT, DEFAULT_HANDSHAKE_TIMEOUT,
};

/// Default [`ServerLimits::memory_budget`]: a quarter of a 1 GiB enclave.
pub const DEFAULT_MEMORY_BUDGET: usize = 256 << 20;
/// Default [`ServerLimits::session_memory`]: a 16 MiB gathered input, a frame being read, and the
/// chunks queued for the session's other invocations.
pub const DEFAULT_SESSION_MEMORY: usize = 24 << 20;

/// Default [`ServerLimits::cape_max_input`].
pub const DEFAULT_CAPE_MAX_INPUT: usize = 16 << 20;
/// What sealing adds to a Cape invocation's input: the HPKE encapsulated key and the AEAD tag.
pub(crate) const CAPE_SEAL_OVERHEAD: usize = enclave_protocol::KEY_LEN + enclave_protocol::TAG_LEN;

/// Limits the server enforces. Exceeding one ends that session with a clear, authenticated error (or,
/// before the upgrade, an HTTP status); other sessions are unaffected. PROTOCOL.md section 6 lists
/// the defaults.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use enclave_runtime::ServerLimits;
///
/// let mut limits = ServerLimits::default();
/// limits.max_sessions = 16;
/// limits.idle_timeout = Duration::from_secs(30);
/// assert_eq!(limits.max_in_flight, 64);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerLimits {
    /// From the upgrade to the key share.
    pub handshake_timeout: Duration,
    /// With no invocation running, how long the server waits for the client's next record.
    /// Also how long a write may wait for a client that accepts no bytes (it stopped reading) before
    /// the session is closed.
    pub idle_timeout: Duration,
    /// Invocations running at once per session.
    pub max_in_flight: usize,
    /// Sessions at once per server; further upgrades get HTTP 503. A connection takes its slot when
    /// its upgrade request has been read, so connections that never send one cannot lock clients out.
    pub max_sessions: usize,
    /// Connections at once that have not completed their upgrade (TLS handshake and HTTP request,
    /// each under `handshake_timeout`); further connections are closed at once.
    pub max_pending_upgrades: usize,
    /// Frame size bounds.
    pub frame: FrameLimits,
    /// How long a shutdown waits for running invocations.
    pub drain_timeout: Duration,
    /// Bytes of client input the whole server holds at once: frames being read, chunks queued for
    /// functions, inputs functions gather whole. Charged before the bytes are read; when it is all
    /// taken, the session holding the most is ended (`SessionError` `MemoryBudget`).
    pub memory_budget: usize,
    /// Bytes of `memory_budget` one session may hold; past it the session ends (`SessionMemory`).
    pub session_memory: usize,
    /// How long an input may stay open with no chunk arriving for it (`SessionError` `InputStalled`).
    pub input_timeout: Duration,
    /// When every session slot is taken, a newcomer evicts the session whose last progress (key
    /// share, an answer, a Cape result) is oldest, if it is at least this old; otherwise 503.
    pub eviction_grace: Duration,
    /// Documents signed per second on average (0: no bound), so that a flood of connections cannot
    /// spend the enclave's CPU on signatures; hellos beyond it wait their turn.
    pub attestations_per_second: u32,
    /// Documents that may be signed at once above the average rate.
    pub attestation_burst: u32,
    /// The largest input of one Cape invocation, which Cape's clients send as one WebSocket message
    /// (its bytes are charged to the memory budget before they are read, so this must fit in
    /// `session_memory`). Larger ones get an `{"error"}` naming both sizes.
    pub cape_max_input: usize,
}

impl ServerLimits {
    /// The largest WebSocket message a Cape connection accepts: one invocation of `cape_max_input`
    /// bytes, sealed (its HPKE `enc` and tag).
    pub(crate) fn cape_message_len(&self) -> usize {
        self.cape_max_input.saturating_add(CAPE_SEAL_OVERHEAD).max(self.frame.max_frame_len())
    }
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            idle_timeout: DEFAULT_ENCLAVE_IDLE_TIMEOUT,
            max_in_flight: DEFAULT_ENCLAVE_MAX_IN_FLIGHT,
            max_sessions: 1024,
            max_pending_upgrades: 4096,
            frame: FrameLimits::default(),
            drain_timeout: Duration::from_secs(30),
            memory_budget: DEFAULT_MEMORY_BUDGET,
            session_memory: DEFAULT_SESSION_MEMORY,
            input_timeout: Duration::from_secs(30),
            eviction_grace: Duration::from_secs(1),
            attestations_per_second: 256,
            attestation_burst: 64,
            cape_max_input: DEFAULT_CAPE_MAX_INPUT,
        }
    }
}
