//! Many concurrent sessions against one enclave, each pipelining invocations of random sizes: every
//! output is checked, none lost, none mixed up between sessions or invocations. The default size suits
//! CI on two cores (debug-build crypto); the ignored variant is bigger:
//! `cargo test --test session_load -- --ignored --nocapture`.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use common::*;
use sha2::{Digest, Sha256};

/// Deterministic input for (session, invocation): its length and bytes depend on both, so a swapped
/// answer cannot go unnoticed.
fn input(session: u64, invocation: u64, max_len: u64) -> Vec<u8> {
    let seed = Sha256::digest([session.to_be_bytes(), invocation.to_be_bytes()].concat());
    let len = u64::from_be_bytes(seed[..8].try_into().unwrap()) % (max_len + 1);
    (0..len).map(|i| seed[(i % 32) as usize] ^ (i as u8)).collect()
}

async fn load(sessions: u64, invocations: u64, max_len: u64) -> u64 {
    let mut limits = mock_enclave::ServerLimits::default();
    limits.handshake_timeout = std::time::Duration::from_secs(300);
    let mock = Arc::new(mock_enclave::MockEnclave::builder().limits(limits).spawn().await.unwrap());
    let tasks: Vec<_> = (0..sessions)
        .map(|s| {
            let mock = mock.clone();
            tokio::spawn(async move {
                // Correctness under load, not latency: on two shared cores in a debug build, hundreds of
                // simultaneous P-384 signs and verifications can take longer than the default timeout.
                let client = enclave_sdk::Client::builder()
                    .endpoint(mock.url())
                    .policy(pinned(&mock, "sha256").build().unwrap())
                    .handshake_timeout(std::time::Duration::from_secs(300))
                    .idle_timeout(std::time::Duration::from_secs(300))
                    .build()
                    .unwrap();
                let session = Arc::new(client.connect("sha256").await.unwrap());
                let calls: Vec<_> = (0..invocations)
                    .map(|i| {
                        let session = session.clone();
                        tokio::spawn(async move {
                            let data = input(s, i, max_len);
                            let want = hex::encode(Sha256::digest(&data));
                            let got = session.invoke(&data).await.unwrap();
                            assert_eq!(got, want.as_bytes(), "session {s} invocation {i}");
                            data.len() as u64
                        })
                    })
                    .collect();
                let mut bytes = 0;
                for c in calls {
                    bytes += c.await.unwrap();
                }
                bytes
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let stats = mock.stats();
    assert_eq!(stats.sessions, sessions);
    assert_eq!(stats.invocations, sessions * invocations);
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_sessions_of_ten_pipelined_invocations() {
    load(20, 10, 16 * 1024).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "bigger load; run with --ignored --nocapture"]
async fn two_hundred_sessions_of_twenty_invocations_up_to_64_kib() {
    let start = std::time::Instant::now();
    let bytes = load(200, 20, 64 * 1024).await;
    println!("200 sessions x 20 invocations, {} KiB of input, in {:?}", bytes >> 10, start.elapsed());
}
