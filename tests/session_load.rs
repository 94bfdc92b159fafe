//! Many concurrent sessions against one enclave, each running invocations of random sizes with a
//! random pipelining depth: every output is checked, none lost, none mixed up between sessions or
//! invocations, and the enclave's counters show nothing refused, rejected or abandoned.
//!
//! Everything random (sizes, depth, which API sends the input, the input bytes) is drawn from one
//! seed, so a failure names a (session, invocation) that replays exactly. The default test suits CI on
//! two cores (debug-build crypto) yet covers the whole 0 B..=1 MiB range; the ignored one is the full
//! 1,000 sessions x 20 invocations x uniform 0..=1 MiB:
//! `cargo test --release --test session_load -- --ignored --nocapture`.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use common::*;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::Semaphore;

/// The largest input: the 1 MiB, sixteen 64 KiB chunks on the wire.
const MAX_INPUT: u64 = 1 << 20;
const SEED: u64 = 0x5e55_10ad_2026_1129;

/// SplitMix64's finalizer: a cheap bijective mix, good enough to make draws independent-looking.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The `what`-th random draw of (session, invocation).
fn draw(session: u64, invocation: u64, what: u64) -> u64 {
    mix(mix(mix(SEED ^ session) ^ invocation) ^ what)
}

/// How input sizes are drawn.
#[derive(Debug, Clone, Copy)]
enum Sizes {
    /// Uniform over 0..=[`MAX_INPUT`] (the distribution: 512 KiB on average).
    Uniform,
    /// Log-uniform over 0..=[`MAX_INPUT`], and one invocation in ten within 64 KiB of it: every size
    /// class from empty to sixteen full chunks, at a fraction of uniform's bytes (for a debug build).
    Skewed,
}

/// One invocation's plan.
#[derive(Debug, Clone, Copy)]
struct Call {
    session: u64,
    invocation: u64,
    len: u64,
    /// The input bytes' key: a swapped answer, or a chunk out of place, changes the hash.
    key: u64,
    /// `invoke` on a buffer, or `invoke_stream` from a generator (bounding the test's own memory).
    streamed: bool,
}

impl Call {
    fn new(session: u64, invocation: u64, sizes: Sizes) -> Self {
        let r = draw(session, invocation, 1);
        let len = match sizes {
            Sizes::Uniform => r % (MAX_INPUT + 1),
            Sizes::Skewed if r % 10 == 0 => MAX_INPUT - (r >> 8) % (64 * 1024),
            Sizes::Skewed => {
                let bits = (r >> 8) % 21; // 0..=20: up to 2^20 = MAX_INPUT
                (r >> 16) % ((1 << bits) + 1)
            }
        };
        let len = match (session, invocation) {
            // The edges, always: an empty input and a full 1 MiB.
            (0, 0) => 0,
            (0, 1) => MAX_INPUT,
            _ => len,
        };
        Self {
            session,
            invocation,
            len,
            key: draw(session, invocation, 2),
            streamed: draw(session, invocation, 3) % 2 == 0,
        }
    }

    /// Input bytes at `offset..offset + buf.len()`: eight bytes per counter step, position-dependent.
    fn fill(&self, offset: u64, buf: &mut [u8]) {
        for (j, b) in buf.iter_mut().enumerate() {
            let i = offset + j as u64;
            *b =
                mix(self.key.wrapping_add((i / 8).wrapping_mul(0x9e37_79b9_7f4a_7c15))).to_le_bytes()[(i % 8) as usize];
        }
    }

    fn input(&self) -> Vec<u8> {
        let mut v = vec![0; self.len as usize];
        self.fill(0, &mut v);
        v
    }
}

/// Streams a [`Call`]'s input in reads of varying size, hashing what it hands out.
struct Generator {
    call: Call,
    pos: u64,
    hash: Sha256,
}

impl AsyncRead for Generator {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        // Reads of 1..=96 KiB, so records of many sizes, not only full chunks, reach the enclave.
        let step = 1 + draw(self.call.session, self.call.invocation, 100 + self.pos) % (96 * 1024);
        let n = (self.call.len - self.pos).min(step).min(buf.remaining() as u64) as usize;
        let start = buf.filled().len();
        buf.initialize_unfilled_to(n);
        buf.advance(n);
        let this = &mut *self;
        let chunk = &mut buf.filled_mut()[start..];
        this.call.fill(this.pos, chunk);
        this.hash.update(&chunk[..]);
        this.pos += n as u64;
        Poll::Ready(Ok(()))
    }
}

/// Runs `call` on `session` and checks its output is the hex SHA-256 of exactly its input.
async fn run(session: &enclave_sdk::Session, call: Call) -> u64 {
    let Call { session: s, invocation: i, len, .. } = call;
    let (got, want) = if call.streamed {
        let mut gen = Generator { call, pos: 0, hash: Sha256::new() };
        let mut out = Vec::new();
        session.invoke_stream(&mut gen, &mut out, |_| {}).await.unwrap();
        assert_eq!(gen.pos, len, "session {s} invocation {i}: the generator was not read to its end");
        (out, gen.hash.finalize())
    } else {
        let data = call.input();
        (session.invoke(&data).await.unwrap(), Sha256::digest(&data))
    };
    assert_eq!(got, hex::encode(want).as_bytes(), "session {s} invocation {i} ({len} bytes, seed {SEED:#x})");
    len
}

/// What a load run did.
#[derive(Debug)]
struct Report {
    bytes: u64,
    smallest: u64,
    largest: u64,
    depths: (u64, u64),
    elapsed: Duration,
}

async fn load(sessions: u64, invocations: u64, sizes: Sizes) -> Report {
    let start = Instant::now();
    let mut limits = mock_enclave::ServerLimits::default();
    limits.handshake_timeout = Duration::from_secs(300);
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
                    .handshake_timeout(Duration::from_secs(300))
                    .idle_timeout(Duration::from_secs(300))
                    .build()
                    .unwrap();
                let session = Arc::new(client.connect("sha256").await.unwrap());
                // This session's pipelining depth: 1 (one at a time) to 20 (all at once) in flight; the
                // first two sessions take the extremes.
                let depth = match s {
                    0 => 1,
                    1 => 20,
                    _ => 1 + draw(s, u64::MAX, 0) % 20,
                };
                let window = Arc::new(Semaphore::new(depth as usize));
                let mut calls = Vec::new();
                for i in 0..invocations {
                    let permit = window.clone().acquire_owned().await.unwrap();
                    let session = session.clone();
                    let call = Call::new(s, i, sizes);
                    calls.push(tokio::spawn(async move {
                        let len = run(&session, call).await;
                        drop(permit);
                        len
                    }));
                }
                let mut lens = Vec::new();
                for c in calls {
                    lens.push(c.await.unwrap());
                }
                Arc::into_inner(session).unwrap().close().await.unwrap();
                (depth, lens)
            })
        })
        .collect();
    let mut report =
        Report { bytes: 0, smallest: u64::MAX, largest: 0, depths: (u64::MAX, 0), elapsed: Duration::ZERO };
    for t in tasks {
        let (depth, lens) = t.await.unwrap();
        report.depths = (report.depths.0.min(depth), report.depths.1.max(depth));
        for len in lens {
            report.bytes += len;
            report.smallest = report.smallest.min(len);
            report.largest = report.largest.max(len);
        }
    }
    report.elapsed = start.elapsed();
    // `completed` counts after an invocation's last record is queued, which can trail the client's
    // receipt of it by a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    while mock.stats().completed < sessions * invocations && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = mock.stats();
    assert_eq!(stats.sessions, sessions, "{stats:?}");
    assert_eq!(stats.documents, sessions, "{stats:?}");
    assert_eq!(stats.key_shares, sessions, "{stats:?}");
    assert_eq!(stats.invocations, sessions * invocations, "{stats:?}");
    assert_eq!(stats.completed, sessions * invocations, "{stats:?}");
    assert_eq!((stats.abandoned, stats.records_rejected, stats.refused_upgrades), (0, 0, 0), "{stats:?}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_with_random_pipelining_and_sizes_up_to_1_mib() {
    let r = load(12, 20, Sizes::Skewed).await;
    // The plan covers what the issue asks, so a change of seed or distribution cannot quietly shrink it.
    assert_eq!((r.smallest, r.largest), (0, MAX_INPUT), "{r:?}");
    assert_eq!(r.depths, (1, 20), "{r:?}");
    println!("{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the issue's full load (about 10 GiB of input); run in release with --ignored --nocapture"]
async fn thousand_sessions_of_twenty_invocations_up_to_1_mib() {
    let r = load(1000, 20, Sizes::Uniform).await;
    println!(
        "1000 sessions x 20 invocations, pipelining depth {}..={}, {} MiB of input ({}..={} B) in {:?}",
        r.depths.0,
        r.depths.1,
        r.bytes >> 20,
        r.smallest,
        r.largest,
        r.elapsed
    );
}
