//! Who gets a session slot when the enclave is full, and how fast documents are signed: the server's
//! admission policy (PROTOCOL.md section 6, README's security model).
//!
//! Input: upgrades that passed the token, path, function and subprotocol checks; marks of progress
//! from the sessions; the time. Output: a [`Ticket`] (the slot; dropping it frees the slot), or a
//! refusal; a session told to stop when a newcomer takes its slot; when a hello may be attested.
//!
//! The one place these are decided:
//!
//! - **Eviction.** When every slot is taken, a newcomer takes the slot of the session that has made
//!   progress least recently, provided that was at least `eviction_grace` ago; that session ends with
//!   `SessionError` `Evicted` (detail: seconds since its progress). Otherwise the newcomer gets 503.
//!   Progress is what costs the enclave work for the client and gives it something: the key share
//!   (the client accepted a document), an answer's record queued, a Cape result sent. A record that
//!   merely arrives is not progress, so trickling records holds nothing.
//! - **Attestation rate.** Documents are signed at most `attestations_per_second` on average, with
//!   bursts of `attestation_burst` (a GCRA, first come first served): a hello waits for its turn
//!   within its handshake timeout; an upgrade that would wait longer than the handshake timeout is
//!   refused with 503 before it costs anything.
//!
//! Behind the parent instance's relay every client has the same address, so nothing here looks at
//! addresses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use enclave_protocol::SessionErrorCode;
use tokio::time::Instant;

use crate::stop::{self, Stop, Stopped};

/// The slot table and the attestation schedule.
#[derive(Debug)]
pub(crate) struct Admission {
    slots: Mutex<HashMap<u64, Arc<Entry>>>,
    next_id: AtomicU64,
    evicted: AtomicU64,
    max: usize,
    grace: Duration,
    epoch: Instant,
    rate: Option<Rate>,
}

#[derive(Debug)]
struct Rate {
    /// Time between documents on average.
    interval: Duration,
    /// How far ahead of the average a burst may run: (burst - 1) intervals.
    tolerance: Duration,
    /// The theoretical arrival time of the next document.
    next: Mutex<Instant>,
}

/// One session's slot, as the table sees it.
#[derive(Debug)]
struct Entry {
    /// Milliseconds since the table's epoch at the session's last progress (its admission first).
    progress_ms: AtomicU64,
    stop: Arc<Stop>,
}

/// A session's slot. Dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Ticket {
    admission: Arc<Admission>,
    id: u64,
    entry: Arc<Entry>,
}

/// Why an upgrade gets no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Every slot is taken by a session that progressed within the grace period.
    Full,
    /// Attesting now would wait longer than the handshake allows.
    AttestationRate,
}

impl Admission {
    /// A table of `max` slots; `rate` = (documents per second, burst), `None` for no bound.
    pub(crate) fn new(max: usize, grace: Duration, rate: Option<(u32, u32)>) -> Arc<Self> {
        let rate = rate.filter(|(per_s, _)| *per_s > 0).map(|(per_s, burst)| {
            let interval = Duration::from_secs(1) / per_s;
            Rate { interval, tolerance: interval * burst.saturating_sub(1), next: Mutex::new(Instant::now()) }
        });
        Arc::new(Self {
            slots: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            max,
            grace,
            epoch: Instant::now(),
            rate,
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Sessions holding a slot (not counting those told to stop and still ending).
    pub(crate) fn open(&self) -> usize {
        self.slots.lock().map_or(0, |s| s.values().filter(|e| !e.stop.is_stopped()).count())
    }

    /// Sessions evicted so far.
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// A slot for a newcomer, evicting the session that progressed least recently if the table is
    /// full (see the module's rule), or the refusal.
    pub(crate) fn admit(self: &Arc<Self>, attest_within: Duration) -> Result<(Ticket, Stopped), Refusal> {
        if self.attestation_wait() > attest_within {
            return Err(Refusal::AttestationRate);
        }
        let now = self.now_ms();
        let Ok(mut slots) = self.slots.lock() else { return Err(Refusal::Full) };
        let live = slots.values().filter(|e| !e.stop.is_stopped()).count();
        if live >= self.max {
            // Sessions told to stop still hold their memory until they have ended: bound them too.
            if slots.len() >= self.max.saturating_mul(2) {
                return Err(Refusal::Full);
            }
            let grace = u64::try_from(self.grace.as_millis()).unwrap_or(u64::MAX);
            let victim = slots
                .values()
                .filter(|e| !e.stop.is_stopped())
                .map(|e| (e.progress_ms.load(Ordering::Relaxed), e))
                .filter(|(p, _)| now.saturating_sub(*p) >= grace)
                .min_by_key(|(p, _)| *p);
            let Some((progress, victim)) = victim else { return Err(Refusal::Full) };
            let idle_secs = now.saturating_sub(progress) / 1000;
            if victim.stop.stop(SessionErrorCode::Evicted, idle_secs) {
                self.evicted.fetch_add(1, Ordering::Relaxed);
                tracing::info!(idle_secs, "every session slot taken: evicted the session with the oldest progress");
            }
        }
        let (stop, stopped) = stop::signal();
        let entry = Arc::new(Entry { progress_ms: AtomicU64::new(now), stop: Arc::new(stop) });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        slots.insert(id, entry.clone());
        Ok((Ticket { admission: self.clone(), id, entry }, stopped))
    }

    /// How long a hello arriving now would wait for its document.
    fn attestation_wait(&self) -> Duration {
        let Some(rate) = &self.rate else { return Duration::ZERO };
        let now = Instant::now();
        let next = rate.next.lock().map_or(now, |n| *n).max(now);
        (next - now).saturating_sub(rate.tolerance)
    }

    /// Waits for this session's turn to be attested; `Err` with the wait when it is later than
    /// `deadline` (the turn is then not taken). A session waiting here can still be evicted: that
    /// costs the enclave nothing, while protecting every queued hello would make each newcomer cost
    /// a signature (measured in the soak: legitimate throughput fell by an order of magnitude).
    pub(crate) async fn attestation_turn(&self, deadline: Instant) -> Result<(), Duration> {
        let Some(rate) = &self.rate else { return Ok(()) };
        let now = Instant::now();
        let at = {
            let Ok(mut next) = rate.next.lock() else { return Ok(()) };
            let tat = (*next).max(now);
            let at = tat.checked_sub(rate.tolerance).unwrap_or(now).max(now);
            if at > deadline {
                return Err(at - now);
            }
            *next = tat + rate.interval;
            at
        };
        // Not `sleep_until(now)`: tokio's timer completes even a past deadline only at its next
        // millisecond tick, which added about a millisecond to every document (handshake_ratio).
        if at > now {
            tokio::time::sleep_until(at).await;
        }
        Ok(())
    }
}

impl Ticket {
    /// The session made progress (see the module's rule): its slot is safe for `eviction_grace`.
    pub(crate) fn progress(&self) {
        self.entry.progress_ms.fetch_max(self.admission.now_ms(), Ordering::Relaxed);
    }

    /// The handle that stops this session, for the memory budget.
    pub(crate) fn stop_handle(&self) -> Arc<Stop> {
        self.entry.stop.clone()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Ok(mut slots) = self.admission.slots.lock() {
            slots.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt as _;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_session_with_the_oldest_progress_goes_once_its_grace_has_passed() {
        let table = Admission::new(2, Duration::from_secs(1), None);
        let (a, mut a_stopped) = table.admit(Duration::from_secs(10)).unwrap();
        tokio::time::advance(Duration::from_millis(10)).await;
        let (b, b_stopped) = table.admit(Duration::from_secs(10)).unwrap();
        // Full, and nobody is past the grace period.
        assert_eq!(table.admit(Duration::from_secs(10)).err(), Some(Refusal::Full));
        tokio::time::advance(Duration::from_secs(3)).await;
        a.progress();
        tokio::time::advance(Duration::from_millis(10)).await;
        let (_c, _) = table.admit(Duration::from_secs(10)).unwrap();
        // b progressed least recently (at its admission, 3 s ago): it goes, a stays.
        assert_eq!(b_stopped.reason().map(|r| (r.code, r.detail)), Some((SessionErrorCode::Evicted, 3)));
        assert_eq!(a_stopped.reason(), None);
        assert_eq!((table.open(), table.evicted()), (2, 1));
        drop(b);
        assert_eq!(table.admit(Duration::from_secs(10)).err(), Some(Refusal::Full));
        tokio::time::advance(Duration::from_secs(1)).await;
        let _d = table.admit(Duration::from_secs(10)).unwrap();
        assert_eq!(a_stopped.wait().await.code, SessionErrorCode::Evicted);
    }

    #[tokio::test(start_paused = true)]
    async fn documents_are_signed_at_the_configured_rate_after_a_burst() {
        let table = Admission::new(8, Duration::from_secs(1), Some((10, 2)));
        let start = Instant::now();
        let deadline = start + Duration::from_secs(10);
        for _ in 0..2 {
            table.attestation_turn(deadline).await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        table.attestation_turn(deadline).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        // A turn later than the deadline is refused, and taken by nobody.
        let soon = Instant::now() + Duration::from_millis(50);
        assert_eq!(table.attestation_turn(soon).await, Err(Duration::from_millis(100)));
        // An upgrade that would wait longer than it may is refused before it costs anything.
        assert_eq!(table.admit(Duration::from_millis(50)).err(), Some(Refusal::AttestationRate));
        assert!(table.admit(Duration::from_millis(150)).is_ok());
    }

    /// On the real clock (a paused one completes a zero-length sleep at once and hides this): a turn
    /// within the burst is ready at the first poll. A zero-length sleep would wait for the timer's
    /// next tick, which put about a millisecond on every document (`enclave-bench` handshake_ratio).
    #[tokio::test]
    async fn a_free_turn_is_taken_without_waiting_for_the_timer() {
        let table = Admission::new(8, Duration::from_secs(1), Some((10, 4)));
        let deadline = Instant::now() + Duration::from_secs(10);
        for _ in 0..4 {
            assert_eq!(table.attestation_turn(deadline).now_or_never(), Some(Ok(())));
        }
        // The fifth is a tenth of a second away: not ready now.
        assert_eq!(table.attestation_turn(deadline).now_or_never(), None);
    }
}
