//! Idle timing: when a session's read loop has waited long enough (PROTOCOL.md section 6).
//!
//! Input: a period, and the time of each thing that arrives, from the caller's clock. Output: the
//! deadline to sleep until, and whether the period has run out. This module reads no clock and
//! sleeps on nothing (a runtime's timer does, e.g. [`crate::io::IdleTimer`] with the `io` feature),
//! and it does not decide what counts as activity or what to do when the period ends; the read loops do.

use std::time::{Duration, Instant};

/// The idle period of one read loop: re-armed by activity, checked when its deadline passes.
///
/// One deadline for the whole loop, moved only when it is checked, rather than a timer registered and
/// cancelled around every record (which showed in pipelined profiles).
///
/// # Examples
///
/// ```
/// use enclave_protocol::Idle;
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// let mut idle = Idle::new(Duration::from_secs(5), start);
/// idle.touch(start + Duration::from_secs(3)); // a record arrived
/// // At the first deadline, the period has not run out: something arrived 2 s into it.
/// assert!(!idle.check(start + Duration::from_secs(5)));
/// assert_eq!(idle.deadline(), start + Duration::from_secs(8));
/// assert!(idle.check(start + Duration::from_secs(8)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Idle {
    period: Duration,
    last: Instant,
}

impl Idle {
    /// A period that starts at `now`.
    pub fn new(period: Duration, now: Instant) -> Self {
        Self { period, last: now }
    }

    /// The idle period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Something arrived at `now`: the period starts again.
    pub fn touch(&mut self, now: Instant) {
        self.last = now;
    }

    /// When the period runs out unless something arrives first.
    pub fn deadline(&self) -> Instant {
        self.last.checked_add(self.period).unwrap_or(self.last)
    }

    /// Whether nothing arrived for the whole period before `now`; if so, a new period starts at `now`.
    pub fn check(&mut self, now: Instant) -> bool {
        if now >= self.deadline() {
            self.last = now;
            true
        } else {
            false
        }
    }
}
