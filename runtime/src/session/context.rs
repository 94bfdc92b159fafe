//! What a session is given by the server that accepted it: the one value both protocols' sessions
//! take, so neither reaches up into the server for its inputs.
//!
//! Input: chosen by the server for this connection (the function the upgrade named, the attester, the
//! limits). Output: none; sessions read it.

use std::sync::Arc;

use tokio::sync::watch;

use crate::admission::{Admission, Ticket};
use crate::attester::Attestations;
use crate::budget::Share;
use crate::function::Function;
use crate::limits::ServerLimits;
use crate::stats::Stats;
use crate::stop::Stopped;

/// A session's inputs.
pub(crate) struct SessionContext {
    /// The function the upgrade asked for; it exists (the upgrade refused unknown ids).
    pub(crate) function: Arc<dyn Function>,
    pub(crate) attester: Attestations,
    pub(crate) limits: ServerLimits,
    pub(crate) stats: Arc<Stats>,
    /// Turns true when the server starts draining.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// SHA-256 of the TLS key's SubjectPublicKeyInfo when serving `wss://`: bound into every native
    /// document (PROTOCOL.md section 2.1).
    pub(crate) tls_spki_sha256: Option<[u8; 32]>,
    /// The session's slot: where it marks its progress (an answer, the key share), which keeps it
    /// from eviction.
    pub(crate) ticket: Arc<Ticket>,
    /// Resolves when the server tells the session to stop (evicted, or the memory budget's largest
    /// holder).
    pub(crate) stopped: Stopped,
    /// The session's share of the memory budget for buffered input.
    pub(crate) memory: Share,
    /// The attestation schedule.
    pub(crate) admission: Arc<Admission>,
}
