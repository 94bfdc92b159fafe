//! The enclave's memory for buffered input: a server-wide budget of bytes and each session's share of
//! it (PROTOCOL.md section 6, README's security model).
//!
//! Input: requests to hold `n` bytes, made *before* the bytes are read from the socket (a session
//! charges its next frame's largest size before it reads it) and carried with the bytes afterwards
//! (a chunk queued for a function, a chunk waiting for room, an input a function gathers whole).
//! Output: a [`Charge`] that gives its bytes back when dropped, or the session error that reaching a
//! limit amounts to. This is the one place that decides whether a session may hold more input:
//!
//! - past its own share, the session that asks is refused (`SessionMemory`, detail: the share);
//! - when the whole budget is taken, the session that holds the most of it is told to stop
//!   (`MemoryBudget`, detail: the budget), and the one that asked waits for the bytes to come back,
//!   for at most [`RECLAIM_WAIT`]; if it holds the most itself, it is the one refused.
//!
//! So the bytes a server holds for input never exceed the budget, however many sessions ask, and a
//! session that holds little is served while one that hoards is ended.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use enclave_protocol::SessionErrorCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::stop::{Stop, StopReason};

/// How long a session whose request found the budget taken waits for the largest holder to give
/// its bytes back (its session ends and its invocations are aborted, which takes a scheduler turn).
pub(crate) const RECLAIM_WAIT: Duration = Duration::from_secs(1);

/// The server-wide budget.
#[derive(Debug)]
pub(crate) struct Budget {
    bytes: Arc<Semaphore>,
    limit: usize,
    share: usize,
    peak: AtomicUsize,
    holders: Mutex<Vec<Weak<Holder>>>,
}

/// What one session holds, and how to stop it.
#[derive(Debug)]
struct Holder {
    held: AtomicUsize,
    stop: Arc<Stop>,
}

/// One session's share of the budget.
#[derive(Debug)]
pub(crate) struct Share {
    budget: Arc<Budget>,
    own: Arc<Semaphore>,
    holder: Arc<Holder>,
}

/// Bytes held against a session's share and the server's budget; dropping it gives them back.
#[derive(Debug)]
pub(crate) struct Charge {
    /// The session's and the server's permits, always of one size; `None` once merged into another.
    permits: Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)>,
    holder: Arc<Holder>,
}

impl Budget {
    /// A budget of `limit` bytes, of which one session may hold at most `share`.
    pub(crate) fn new(limit: usize, share: usize) -> Arc<Self> {
        let limit = limit.min(Semaphore::MAX_PERMITS);
        Arc::new(Self {
            bytes: Arc::new(Semaphore::new(limit)),
            limit,
            share: share.min(limit),
            peak: AtomicUsize::new(0),
            holders: Mutex::new(Vec::new()),
        })
    }

    /// Bytes held now.
    pub(crate) fn in_use(&self) -> usize {
        self.limit.saturating_sub(self.bytes.available_permits())
    }

    /// The most bytes ever held at once.
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// A share for a new session, which `stop` ends.
    pub(crate) fn share(self: &Arc<Self>, stop: Arc<Stop>) -> Share {
        let holder = Arc::new(Holder { held: AtomicUsize::new(0), stop });
        if let Ok(mut holders) = self.holders.lock() {
            holders.retain(|h| h.strong_count() > 0);
            holders.push(Arc::downgrade(&holder));
        }
        Share { budget: self.clone(), own: Arc::new(Semaphore::new(self.share)), holder }
    }

    /// Who should give bytes back: `Err(())` while a session already told to stop still holds some
    /// (they are on their way back), else the live session holding the most (the first registered
    /// among equals: it has held its bytes longest).
    fn largest(&self) -> Result<Option<Arc<Holder>>, ()> {
        let Ok(holders) = self.holders.lock() else { return Ok(None) };
        let mut best: Option<Arc<Holder>> = None;
        for h in holders.iter().filter_map(Weak::upgrade) {
            let n = h.held.load(Ordering::Relaxed);
            if h.stop.is_stopped() {
                if n > 0 {
                    return Err(());
                }
                continue;
            }
            if n > 0 && best.as_ref().is_none_or(|b| n > b.held.load(Ordering::Relaxed)) {
                best = Some(h);
            }
        }
        Ok(best)
    }

    fn note_peak(&self) {
        self.peak.fetch_max(self.in_use(), Ordering::Relaxed);
    }
}

impl Share {
    /// Holds `n` more bytes for this session (see the module's rules). `reclaim` remembers, across
    /// calls that a `select!` cancels and repeats, until when this session may wait for the budget.
    ///
    /// # Errors
    /// `SessionMemory` past the session's share; `MemoryBudget` when the budget is taken and this
    /// session holds the most of it, or the bytes did not come back in time.
    pub(crate) async fn charge(&self, n: usize, reclaim: &mut Option<Instant>) -> Result<Charge, StopReason> {
        let session_memory = StopReason { code: SessionErrorCode::SessionMemory, detail: self.budget.share as u64 };
        let budget = StopReason { code: SessionErrorCode::MemoryBudget, detail: self.budget.limit as u64 };
        let permits = u32::try_from(n).map_err(|_| session_memory)?;
        let own = self.own.clone().try_acquire_many_owned(permits).map_err(|_| session_memory)?;
        let global = match self.budget.bytes.clone().try_acquire_many_owned(permits) {
            Ok(g) => g,
            Err(_) => {
                let deadline = *reclaim.get_or_insert_with(|| Instant::now() + RECLAIM_WAIT);
                match self.budget.largest() {
                    Ok(Some(h)) if Arc::ptr_eq(&h, &self.holder) => return Err(budget),
                    Ok(Some(h)) => {
                        if h.stop.stop(budget.code, budget.detail) {
                            tracing::warn!(
                                held = h.held.load(Ordering::Relaxed),
                                "memory budget taken: the largest holder is stopped"
                            );
                        }
                    }
                    Ok(None) | Err(()) => {}
                }
                let acquire = self.budget.bytes.clone().acquire_many_owned(permits);
                match tokio::time::timeout_at(deadline, acquire).await {
                    Ok(Ok(g)) => g,
                    _ => return Err(budget),
                }
            }
        };
        *reclaim = None;
        self.holder.held.fetch_add(n, Ordering::Relaxed);
        self.budget.note_peak();
        Ok(Charge { permits: Some((own, global)), holder: self.holder.clone() })
    }
}

impl Charge {
    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.permits.as_ref().map_or(0, |(own, _)| own.num_permits())
    }

    /// Gives back all but `n` bytes (a frame turned out smaller than the most it could have been).
    pub(crate) fn shrink_to(&mut self, n: usize) {
        let extra = self.bytes().saturating_sub(n);
        drop(self.split(extra));
    }

    /// Moves `n` bytes of this charge (at most all of it) into a charge of their own.
    pub(crate) fn split(&mut self, n: usize) -> Charge {
        let n = n.min(self.bytes());
        let permits = self.permits.as_mut().and_then(|(own, global)| Some((own.split(n)?, global.split(n)?)));
        Charge { permits, holder: self.holder.clone() }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.holder.held.fetch_sub(self.bytes(), Ordering::Relaxed);
    }
}
