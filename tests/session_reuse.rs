//! Session-less calls reuse an idle attested session, within bounds: a second call to the same
//! function costs no new attestation; a failed session, one the enclave ended, one past its idle or
//! age bound (an injected clock), or one whose certificates have expired is never reused; the pool
//! keeps at most its bound; and a session for one function never serves another.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use enclave_sdk::attestation::{AttestationError, ChainError, UnixTime};
use enclave_sdk::error::LimitError;
use enclave_sdk::{Client, Clock, Error, SessionReuse};
use mock_enclave::{MockEnclave, ServerStats};

/// The system clock moved on by a settable number of seconds: documents the mock issues now stay
/// fresh for small offsets, and the pool's bounds see the offset.
#[derive(Debug, Default)]
struct Later(AtomicU64);

impl Later {
    fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for Later {
    fn now(&self) -> UnixTime {
        UnixTime::from_secs(UnixTime::now().as_secs() + self.0.load(Ordering::SeqCst))
    }
}

fn reusing(mock: &MockEnclave, reuse: SessionReuse, clock: Arc<Later>) -> Client {
    Client::builder()
        .endpoint(mock.url())
        .policy(
            pinned(mock, "echo")
                .function_checksum_for(fid("uppercase"), checksum(mock, "uppercase"))
                .function_checksum_for(fid("sleep-ms"), checksum(mock, "sleep-ms"))
                .build()
                .unwrap(),
        )
        .session_reuse(reuse)
        .clock(clock)
        .build()
        .unwrap()
}

async fn settled(mock: &MockEnclave, done: impl Fn(&ServerStats) -> bool) -> ServerStats {
    for _ in 0..300 {
        if done(&mock.stats()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    mock.stats()
}

#[tokio::test]
async fn a_second_call_reuses_the_attested_session_and_another_function_gets_its_own() {
    let mock = mock().await;
    let c = reusing(&mock, SessionReuse::default(), Arc::default());
    assert_eq!(c.invoke("echo", b"one").await.unwrap(), b"one");
    assert_eq!(c.invoke("echo", b"two").await.unwrap(), b"two");
    // A clone shares the pool.
    assert_eq!(c.clone().invoke("echo", b"three").await.unwrap(), b"three");
    let st = mock.stats();
    assert_eq!((st.sessions, st.documents, st.key_shares, st.invocations), (1, 1, 1, 3), "{st:?}");
    // Another function: its own connection and document, never the echo session.
    assert_eq!(c.invoke("uppercase", b"up").await.unwrap(), b"UP");
    assert_eq!(c.invoke("echo", b"four").await.unwrap(), b"four");
    let st = mock.stats();
    assert_eq!((st.sessions, st.documents, st.invocations), (2, 2, 5), "{st:?}");
    // A function's own error leaves the session usable, and it is kept.
    let fail_checksum = checksum(&mock, "fail");
    let c = Client::builder()
        .endpoint(mock.url())
        .policy(pinned(&mock, "fail").function_checksum_for(fid("fail"), fail_checksum).build().unwrap())
        .build()
        .unwrap();
    for _ in 0..2 {
        assert!(matches!(c.invoke("fail", b"x").await, Err(Error::Function { .. })));
    }
    assert_eq!(mock.stats().documents, 3);
}

#[tokio::test]
async fn reuse_disabled_attests_every_call() {
    let mock = mock().await;
    let c = reusing(&mock, SessionReuse::disabled(), Arc::default());
    for _ in 0..3 {
        assert_eq!(c.invoke("echo", b"x").await.unwrap(), b"x");
    }
    assert_eq!(mock.stats().documents, 3);
}

/// A call that failed (here the client's own output bound) never gives its session back: the next
/// call attests afresh.
#[tokio::test]
async fn a_failed_call_does_not_return_its_session() {
    let mock = mock().await;
    let c = Client::builder()
        .endpoint(mock.url())
        .policy(pinned(&mock, "echo").build().unwrap())
        .max_output_len(8)
        .build()
        .unwrap();
    assert_eq!(c.invoke("echo", b"short").await.unwrap(), b"short");
    let err = c.invoke("echo", b"longer than eight").await.unwrap_err();
    assert_eq!(err, Error::Limit(LimitError::OutputTooLarge { max: 8 }));
    assert_eq!(mock.stats().documents, 1);
    assert_eq!(c.invoke("echo", b"again").await.unwrap(), b"again");
    assert_eq!(mock.stats().documents, 2, "the failed session was reused");
}

/// The enclave ends an idle session with a SessionError: the kept session is dead, and the next
/// call attests afresh rather than failing on it.
#[tokio::test]
async fn a_session_the_enclave_ended_is_not_reused() {
    let mock = mock_with(|l| l.idle_timeout = Duration::from_secs(1)).await;
    let c = reusing(&mock, SessionReuse::default().with_max_idle(Duration::from_secs(60)), Arc::default());
    assert_eq!(c.invoke("echo", b"one").await.unwrap(), b"one");
    settled(&mock, |s| s.open_sessions == 0).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(c.invoke("echo", b"two").await.unwrap(), b"two");
    let st = mock.stats();
    assert_eq!((st.sessions, st.documents, st.invocations), (2, 2, 2), "{st:?}");
}

#[tokio::test]
async fn the_idle_and_age_bounds_force_a_fresh_attestation() {
    let mock = mock().await;
    let clock = Arc::new(Later::default());
    let reuse = SessionReuse::default().with_max_idle(Duration::from_secs(10)).with_max_age(Duration::from_secs(25));
    let c = reusing(&mock, reuse, clock.clone());
    assert_eq!(c.invoke("echo", b"a").await.unwrap(), b"a");
    // Idle 10 s: still reused. Idle 11 s: not.
    clock.advance(10);
    assert_eq!(c.invoke("echo", b"b").await.unwrap(), b"b");
    assert_eq!(mock.stats().documents, 1);
    clock.advance(11);
    assert_eq!(c.invoke("echo", b"c").await.unwrap(), b"c");
    assert_eq!(mock.stats().documents, 2, "a session idle past its bound was reused");
    // Never idle for long, but older than 25 s: attested again.
    for _ in 0..2 {
        clock.advance(9);
        assert_eq!(c.invoke("echo", b"d").await.unwrap(), b"d");
    }
    assert_eq!(mock.stats().documents, 2, "18 s old, idle 9 s: reused");
    clock.advance(9);
    assert_eq!(c.invoke("echo", b"e").await.unwrap(), b"e");
    let st = mock.stats();
    assert_eq!((st.documents, st.invocations), (3, 6), "a session past its age was reused: {st:?}");
}

/// Past the end of its document's certificates a session is not reused, whatever the age bound
/// allows: the call attests afresh, and at that clock the fresh document's chain has expired, so the
/// enclave gets no key share and no input.
#[tokio::test]
async fn a_session_is_not_reused_past_its_certificates() {
    let mock = mock().await;
    let clock = Arc::new(Later::default());
    let day = Duration::from_secs(86_400);
    let c = reusing(&mock, SessionReuse::default().with_max_idle(day).with_max_age(day), clock.clone());
    assert_eq!(c.invoke("echo", b"a").await.unwrap(), b"a");
    clock.advance(4 * 3600);
    let err = c.invoke("echo", CANARY).await.unwrap_err();
    assert!(matches!(err, Error::Attestation(AttestationError::Chain(ChainError::Expired { .. }))), "{err:?}");
    let st = settled(&mock, |s| s.open_sessions == 0).await;
    assert_eq!((st.documents, st.key_shares, st.invocations), (2, 1, 1), "{st:?}");
}

const CANARY: &[u8] = b"CANARY-reuse-must-not-reach-a-stale-session";

#[tokio::test]
async fn the_pool_keeps_at_most_its_bound() {
    let mock = mock().await;
    let c = reusing(&mock, SessionReuse::default().with_max_idle_sessions(2), Arc::default());
    // Four calls at once: four sessions, of which two are kept.
    let calls = (0..4).map(|i| {
        let c = c.clone();
        async move { c.invoke("sleep-ms", format!("{}", 100 + i).as_bytes()).await }
    });
    for r in futures_util::future::join_all(calls).await {
        r.unwrap();
    }
    let st = settled(&mock, |s| s.open_sessions == 2).await;
    assert_eq!((st.sessions, st.open_sessions), (4, 2), "{st:?}");
    // The next two calls use the kept ones; a third call at once needs a new one.
    let calls = (0..3).map(|_| {
        let c = c.clone();
        async move { c.invoke("sleep-ms", b"100").await }
    });
    for r in futures_util::future::join_all(calls).await {
        r.unwrap();
    }
    let st = settled(&mock, |s| s.open_sessions == 2).await;
    assert_eq!((st.sessions, st.open_sessions), (5, 2), "{st:?}");
}
