//! How the server ends a session from outside it: the eviction policy and the memory budget each
//! name a session to stop, and the session's loop ends with the session error they chose.
//!
//! Input: one request to stop (the first wins). Output: the code and detail the session tells its
//! client. This module decides nothing about which session goes; `admission` and `budget` do.

use enclave_protocol::SessionErrorCode;
use tokio::sync::watch;

/// Why a session was told to stop: the session error it sends, and that error's detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StopReason {
    pub(crate) code: SessionErrorCode,
    pub(crate) detail: u64,
}

/// The sending half, held by the server's tables.
#[derive(Debug)]
pub(crate) struct Stop(watch::Sender<Option<StopReason>>);

/// The receiving half, held by the session.
#[derive(Debug, Clone)]
pub(crate) struct Stopped(watch::Receiver<Option<StopReason>>);

/// A new signal, not yet raised.
pub(crate) fn signal() -> (Stop, Stopped) {
    let (tx, rx) = watch::channel(None);
    (Stop(tx), Stopped(rx))
}

impl Stop {
    /// Tells the session to stop with `code` and `detail`, unless it was already told. Returns
    /// whether this call was the one that stopped it.
    pub(crate) fn stop(&self, code: SessionErrorCode, detail: u64) -> bool {
        self.0.send_if_modified(|now| {
            if now.is_some() {
                return false;
            }
            *now = Some(StopReason { code, detail });
            true
        })
    }

    /// Whether the session has been told to stop.
    pub(crate) fn is_stopped(&self) -> bool {
        self.0.borrow().is_some()
    }
}

impl Stopped {
    /// Resolves when the session is told to stop; never, if the server's table is dropped first.
    pub(crate) async fn wait(&mut self) -> StopReason {
        loop {
            if let Some(reason) = *self.0.borrow_and_update() {
                return reason;
            }
            if self.0.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// The reason, if the session has been told to stop.
    #[cfg(test)]
    pub(crate) fn reason(&self) -> Option<StopReason> {
        *self.0.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_reason_wins() {
        let (stop, mut stopped) = signal();
        assert!(stop.stop(SessionErrorCode::Evicted, 3));
        assert!(!stop.stop(SessionErrorCode::MemoryBudget, 9));
        assert_eq!(stopped.wait().await, StopReason { code: SessionErrorCode::Evicted, detail: 3 });
        assert!(stop.is_stopped());
    }
}
