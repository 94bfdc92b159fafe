//! The idle deadline of a session's read loop, shared by the client and the mock enclave.
//!
//! Input: a period, and a note each time something arrives. Output: a future that resolves once
//! nothing has arrived for the whole period. This module does not decide what counts as activity or
//! what to do when the period ends; the read loops do.

use std::pin::Pin;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// One timer for a whole read loop, re-armed only when it fires, rather than a timer registered and
/// cancelled around every record (which showed in pipelined profiles).
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use enclave_sdk::session::idle::IdleTimer;
/// use std::time::Duration;
///
/// let mut timer = IdleTimer::new(Duration::from_secs(5));
/// timer.touch(); // a record arrived
/// timer.expired().await; // nothing more for 5 s
/// # }
/// ```
#[derive(Debug)]
pub struct IdleTimer {
    sleep: Pin<Box<Sleep>>,
    last: Instant,
    idle: Duration,
}

impl IdleTimer {
    /// A timer whose first period starts now.
    pub fn new(idle: Duration) -> Self {
        let now = Instant::now();
        Self { sleep: Box::pin(tokio::time::sleep_until(now + idle)), last: now, idle }
    }

    /// The idle period.
    pub fn period(&self) -> Duration {
        self.idle
    }

    /// Something arrived: the idle period starts again.
    pub fn touch(&mut self) {
        self.last = Instant::now();
    }

    /// Resolves once nothing has arrived for the idle period, and starts a new period. Cancel-safe.
    pub async fn expired(&mut self) {
        loop {
            self.sleep.as_mut().await;
            let due = self.last + self.idle;
            let now = Instant::now();
            if now >= due {
                self.last = now;
                self.sleep.as_mut().reset(now + self.idle);
                return;
            }
            self.sleep.as_mut().reset(due);
        }
    }
}
