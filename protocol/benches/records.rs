//! Cost of the session's record layer: sealing and opening 1 KiB and 64 KiB records as the session
//! does them (aws-lc-rs AES-256-GCM, sealed in place in the frame, opened straight from it), against
//! the pure-Rust `chacha20poly1305` crate (what the suite's HPKE context would seal with) as the baseline,
//! and the key setup of one connection (client `SetupBaseS` + exports, enclave `SetupBaseR` +
//! exports). After criterion, one interleaved pass prints the aws-lc-rs / pure-Rust speed ratios.
//!
//! `cargo bench -p enclave-protocol --bench records`

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use chacha20poly1305::aead::{AeadInPlace as _, KeyInit as _};
use criterion::{Criterion, Throughput};
use enclave_protocol::{client_setup, ClientMessage, EnclaveKey, Frame, FrameLimits, RequestOpener, RequestSealer};
use rand_core::OsRng;

const SIZES: [(usize, &str); 2] = [(1024, "1 KiB"), (64 * 1024, "64 KiB")];

fn pair() -> (RequestSealer, RequestOpener) {
    let key = EnclaveKey::generate(&mut OsRng);
    let (enc, sealer, _) = client_setup(&key.public_key(), b"bench transcript", &mut OsRng).unwrap();
    let (opener, _) = key.accept(&enc, b"bench transcript").unwrap();
    (sealer, opener)
}

/// The session's path for one record: lay the message out in its record, seal in place.
fn seal_session(sealer: &mut RequestSealer, data: &[u8]) -> Vec<u8> {
    sealer.seal(ClientMessage::InputLast { id: 1, data }.to_record()).unwrap()
}

/// The baseline: the same plaintext sealed by the pure-Rust crate (nonce handling as RFC 9180).
struct PureRust {
    cipher: chacha20poly1305::ChaCha20Poly1305,
    seq: u64,
}

impl PureRust {
    fn seal(&mut self, data: &[u8]) -> Vec<u8> {
        let message = ClientMessage::InputLast { id: 1, data }.encode();
        let mut frame = Vec::with_capacity(1 + message.len() + 16);
        frame.push(0x04);
        frame.extend_from_slice(&message);
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&self.seq.to_be_bytes());
        self.seq += 1;
        let tag = self.cipher.encrypt_in_place_detached(&nonce.into(), b"aad", &mut frame[1..]).unwrap();
        frame.extend_from_slice(&tag);
        frame
    }
}

fn bench(c: &mut Criterion) {
    for (len, name) in SIZES {
        let data = vec![0x5a; len];
        let mut g = c.benchmark_group(format!("records/{name}"));
        g.throughput(Throughput::Bytes(len as u64));
        let (mut sealer, _) = pair();
        g.bench_function("seal (aws-lc-rs, session)", |b| {
            b.iter(|| black_box(seal_session(&mut sealer, black_box(&data))))
        });
        let mut pure = PureRust { cipher: chacha20poly1305::ChaCha20Poly1305::new(&[7u8; 32].into()), seq: 0 };
        g.bench_function("seal (pure Rust baseline)", |b| b.iter(|| black_box(pure.seal(black_box(&data)))));
        // Opening consumes records in order: seal each one just before, and time the open alone.
        let (mut sealer, mut opener) = pair();
        g.bench_function("open (aws-lc-rs, session)", |b| {
            b.iter_batched(
                || seal_session(&mut sealer, &data),
                |frame| {
                    let Ok(Frame::Record(ct)) = Frame::decode(&frame, &FrameLimits::default()) else { unreachable!() };
                    black_box(opener.open(ct).unwrap())
                },
                criterion::BatchSize::SmallInput,
            )
        });
        g.finish();
    }
    c.bench_function("records/key setup (client + enclave, one connection)", |b| {
        b.iter_batched(
            || EnclaveKey::generate(&mut OsRng),
            |key| {
                let (enc, s, o) = client_setup(&key.public_key(), b"bench transcript", &mut OsRng).unwrap();
                black_box((s, o, key.accept(&enc, b"bench transcript").unwrap()))
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

/// Median over interleaved batches of the per-record seal time, session vs baseline, per size.
fn ratios(batches: usize, per_batch: u32) {
    println!(
        "\nrecord sealing, aws-lc-rs (session) vs pure Rust (median of {batches} interleaved batches of {per_batch}):"
    );
    for (len, name) in SIZES {
        let data = vec![0x5a; len];
        let (mut sealer, _) = pair();
        let mut pure = PureRust { cipher: chacha20poly1305::ChaCha20Poly1305::new(&[7u8; 32].into()), seq: 0 };
        let (mut fast, mut slow): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
        for _ in 0..batches {
            let t = Instant::now();
            for _ in 0..per_batch {
                black_box(seal_session(&mut sealer, black_box(&data)));
            }
            fast.push(t.elapsed() / per_batch);
            let t = Instant::now();
            for _ in 0..per_batch {
                black_box(pure.seal(black_box(&data)));
            }
            slow.push(t.elapsed() / per_batch);
        }
        fast.sort();
        slow.sort();
        let (f, s) = (fast[fast.len() / 2], slow[slow.len() / 2]);
        let mib_s = |d: Duration| len as f64 / (1 << 20) as f64 / d.as_secs_f64();
        println!(
            "  {name:>6}: session {:>8.0} MiB/s, pure Rust {:>8.0} MiB/s, ratio {:.2}x",
            mib_s(f),
            mib_s(s),
            s.as_secs_f64() / f.as_secs_f64()
        );
    }
}

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    // Under `cargo test --benches` each function runs once; keep the ratio pass tiny there.
    if bench_mode {
        ratios(31, 200);
    } else {
        ratios(1, 1);
    }
}
