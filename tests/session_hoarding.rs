//! Issue 14, "no one can hoard the sessions": an attacker holding every slot by trickling records
//! loses the slot that has made progress least recently to a newcomer, so a legitimate client attests
//! and invokes within 2 s; a pool of sessions that all progressed recently still answers 503; and
//! documents are signed no faster than the attestation rate. Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::raw::{open, Raw};
use common::*;
use enclave_protocol::{ClientMessage, ServerMessage, SessionErrorCode};
use enclave_sdk::error::{ConnectError, LimitError};
use enclave_sdk::Error;
use tokio::time::timeout;

/// Keeps `raw` alive with one small record of a never-ended input every 100 ms, until the enclave
/// ends it; returns its session error.
async fn trickle(mut raw: Raw) -> Option<(SessionErrorCode, u64)> {
    loop {
        if raw.try_send(ClientMessage::Input { id: 1, data: b"[" }).await.is_err() {
            break;
        }
        if let Ok(got) = timeout(Duration::from_millis(100), raw.recv()).await {
            let m = got?;
            if let Ok(ServerMessage::SessionError { code, detail }) = ServerMessage::decode(&m) {
                return Some((code, detail));
            }
        }
    }
    let m = raw.recv_within(Duration::from_secs(5)).await?;
    match ServerMessage::decode(&m) {
        Ok(ServerMessage::SessionError { code, detail }) => Some((code, detail)),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_slot_trickled_a_legitimate_client_attests_and_invokes_within_two_seconds() {
    let mock = mock_with(|l| l.max_sessions = 16).await;
    let mut hoarders = Vec::new();
    for _ in 0..16 {
        hoarders.push(open(&mock, "mean").await);
    }
    assert_eq!(mock.stats().open_sessions, 16);
    let hoarders: Vec<_> = hoarders.into_iter().map(|r| tokio::spawn(trickle(r))).collect();
    // Past the grace period (1 s by default), the hoarders' last progress is their key share.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let started = Instant::now();
    let client = pinned_client(&mock, "echo");
    let served = timeout(Duration::from_secs(2), async {
        let session = client.connect("echo").await?;
        let out = session.invoke(b"mine").await?;
        session.close().await?;
        Ok::<_, Error>(out)
    })
    .await
    .expect("the legitimate client was not served within 2 s");
    assert_eq!(served.unwrap(), b"mine");
    assert!(started.elapsed() < Duration::from_secs(2));
    // Exactly one hoarder made room, told why: evicted after at least a second without progress.
    timeout(Duration::from_secs(5), async {
        while mock.stats().open_sessions != 15 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the newcomer's closed session kept its slot");
    assert_eq!(mock.stats().evicted, 1);
    let mut told = Vec::new();
    for h in hoarders {
        if h.is_finished() {
            told.push(h.await.unwrap());
        } else {
            h.abort();
        }
    }
    assert_eq!(told.len(), 1);
    assert!(matches!(told[0], Some((SessionErrorCode::Evicted, secs)) if secs >= 1), "{told:?}");
}

#[tokio::test]
async fn a_pool_that_progressed_within_the_grace_period_answers_503() {
    let mock = mock_with(|l| {
        l.max_sessions = 2;
        l.eviction_grace = Duration::from_secs(60);
    })
    .await;
    let a = pinned_client(&mock, "echo").connect("echo").await.unwrap();
    let b = pinned_client(&mock, "echo").connect("echo").await.unwrap();
    let err = pinned_client(&mock, "echo").connect("echo").await.unwrap_err();
    assert!(matches!(err, Error::Connect(ConnectError::Http { status: 503 })), "{err:?}");
    assert_eq!(mock.stats().evicted, 0);
    // Both sessions still work.
    assert_eq!(a.invoke(b"a").await.unwrap(), b"a");
    assert_eq!(b.invoke(b"b").await.unwrap(), b"b");
}

/// The SDK reports an eviction as the typed limit, with the seconds since progress.
#[tokio::test]
async fn the_sdk_names_an_eviction() {
    let mock = mock_with(|l| {
        l.max_sessions = 1;
        l.eviction_grace = Duration::from_millis(200);
    })
    .await;
    let idle = pinned_client(&mock, "sleep-ms").connect("sleep-ms").await.unwrap();
    // Its progress is the key share, which the enclave may take a moment after `connect` returned.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let newcomer = pinned_client(&mock, "echo").connect("echo").await.unwrap();
    assert_eq!(newcomer.invoke(b"n").await.unwrap(), b"n");
    let err = idle.invoke(b"1").await.unwrap_err();
    assert!(matches!(err, Error::Limit(LimitError::Evicted { idle_secs: 0 })), "{err:?}");
    assert!(err.is_transient());
}

/// With one document per second and no burst beyond it, a second upgrade that would wait longer
/// than its handshake timeout is refused before anything is signed.
#[tokio::test]
async fn documents_beyond_the_attestation_rate_are_refused_before_they_are_signed() {
    let mock = mock_with(|l| {
        l.attestations_per_second = 1;
        l.attestation_burst = 1;
        l.handshake_timeout = Duration::from_millis(500);
    })
    .await;
    let first = pinned_client(&mock, "echo").connect("echo").await.unwrap();
    let err = pinned_client(&mock, "echo").connect("echo").await.unwrap_err();
    assert!(matches!(err, Error::Connect(ConnectError::Http { status: 503 })), "{err:?}");
    assert_eq!(mock.stats().documents, 1);
    assert_eq!(first.invoke(b"ok").await.unwrap(), b"ok");
}
