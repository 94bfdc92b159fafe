//! Round trips a user feels: an in-process TCP relay that delays every byte by a fixed one-way time,
//! and the calls through it, reported as multiples of the relay's measured round-trip time.
//!
//! Input: nothing untrusted beyond our own servers' answers over loopback. Output: medians, as
//! multiples of the median round trip of one byte through the same relay in the same run.
//!
//! The relay delays the bytes of an established connection; it cannot delay TCP's own handshake
//! (the kernel completes it before the relay accepts), so every figure adds the one round trip that
//! handshake costs on a real path: the counts are from `connect` to the first output byte, TCP's
//! handshake included. The server sees the connection one one-way delay after the client
//! connected, as on a network (see [`Spare`]).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use enclave_sdk::{Client, SessionReuse};
use mock_enclave::MockEnclave;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::median;
use super::net::{checksum, every_pcr, pinned_builder};

/// Arguments of `enclave-bench relay`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The server to relay to, host:port.
    #[arg(long, value_name = "ADDR")]
    upstream: SocketAddr,
    /// One-way delay, in milliseconds.
    #[arg(long, default_value_t = 5, value_name = "MS")]
    one_way_ms: u64,
}

/// Runs a relay until the process is killed.
pub(crate) async fn run(args: Args) -> std::process::ExitCode {
    match relay(args.upstream, Duration::from_millis(args.one_way_ms)).await {
        Ok(addr) => {
            println!("relaying {addr}");
            std::future::pending::<()>().await;
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("enclave-bench relay: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Size of the invocation each call makes.
const INPUT_LEN: usize = 1024;

/// The relay's figures.
pub(super) struct Figures {
    pub(super) rtt_ms: f64,
    pub(super) fresh_ws: f64,
    pub(super) fresh_wss: f64,
    pub(super) reused: f64,
}

/// Starts a relay on 127.0.0.1:0 to `upstream` that holds each chunk for `one_way` in each direction.
///
/// Its threads are the operating system's, not tokio's: tokio's timer counts whole milliseconds, so a
/// chunk would wait until the first tick after its due time, 5 to 6 ms, and every leg of a call would
/// land on the same millisecond grid. Up to a millisecond of work at each end then fits in the
/// rounding and vanishes from the figures, while the byte echo that sets the round trip pays the
/// rounding too. A thread that sleeps until the due instant delays each chunk by `one_way` plus the
/// kernel's wake-up (about 0.1 ms here), so the figures show the work done at each end as it is.
///
/// A connection's threads are started before it arrives (see [`Spare`]): started after the accept,
/// they stamped the client's first chunk 0.2-0.3 ms after it had arrived (measured: it was waiting in
/// 433 of 460 first reads), time no network takes.
pub(super) async fn relay(upstream: SocketAddr, one_way: Duration) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        let mut spare = Spare::start(upstream, one_way);
        for down in listener.incoming() {
            let Ok(down) = down else { return };
            let _ = spare.take(down);
            // The next connection's threads start while this one's first chunk is in flight, when
            // neither end is working. The bench's calls are sequential: none arrives in the meantime.
            std::thread::sleep(one_way / 2);
            spare = Spare::start(upstream, one_way);
        }
    });
    Ok(addr)
}

/// The threads of the relay's next connection, waiting for it: one reads the client and stamps its
/// chunks the moment they are read; one connects upstream one `delay` after the client connected
/// and then writes the client's chunks when due; one reads the server once that connection exists
/// (and starts the fourth, which writes the server's chunks to the client when due).
///
/// On a network the server accepts when the client's last handshake packet arrives: one one-way
/// delay after the client's `connect` returned, and before the client's first data by as long as
/// the client took to write it. The relay connects upstream at that instant. Connecting at once, as
/// it did before, had the server accept a whole one-way delay early, its accept hidden in the wait,
/// and run that accept on this machine's two cores while the client was connecting: timestamps in
/// the SDK put the client's `connect` at 0.45 ms, against 0.18 ms with the upstream connect later.
struct Spare {
    down: std::sync::mpsc::SyncSender<std::net::TcpStream>,
}

impl Spare {
    fn start(upstream: SocketAddr, delay: Duration) -> Self {
        use std::sync::mpsc::{channel, sync_channel};
        let (down_tx, down_rx) = sync_channel::<std::net::TcpStream>(1);
        let (to_client_tx, to_client_rx) = sync_channel::<std::net::TcpStream>(1);
        let (server_tx, server_rx) = sync_channel::<std::net::TcpStream>(1);
        let (upward, upward_due) = channel::<(Instant, Vec<u8>)>();
        let (accept_due_tx, accept_due) = sync_channel::<Instant>(1);
        std::thread::spawn(move || {
            let Ok(down) = down_rx.recv() else { return };
            let _ = accept_due_tx.send(Instant::now() + delay);
            let _ = down.set_nodelay(true);
            let Ok(to_client) = down.try_clone() else { return };
            if to_client_tx.send(to_client).is_ok() {
                stamp(down, &upward, delay);
            }
        });
        std::thread::spawn(move || {
            let Ok(to_client) = to_client_rx.recv() else { return };
            let Ok(up) = server_rx.recv() else {
                // No server: end the client's connection (its reader is blocked reading it).
                let _ = to_client.shutdown(std::net::Shutdown::Both);
                return;
            };
            let (downward, downward_due) = channel();
            let writer = std::thread::spawn(move || write_when_due(downward_due, to_client));
            stamp(up, &downward, delay);
            drop(downward);
            let _ = writer.join();
        });
        std::thread::spawn(move || {
            let Ok(at) = accept_due.recv() else { return };
            sleep_until(at);
            let Ok(up) = std::net::TcpStream::connect(upstream) else { return };
            let _ = up.set_nodelay(true);
            let Ok(from_server) = up.try_clone() else { return };
            if server_tx.send(from_server).is_err() {
                return;
            }
            write_when_due(upward_due, up);
        });
        Self { down: down_tx }
    }

    /// Hands the accepted connection to the waiting threads.
    fn take(self, down: std::net::TcpStream) -> Result<(), std::sync::mpsc::SendError<std::net::TcpStream>> {
        self.down.send(down)
    }
}

fn sleep_until(at: Instant) {
    if let Some(wait) = at.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
}

/// Reads `from` until it ends, queueing each chunk with the instant it is due: `delay` after it was
/// read. A chunk read while another waits is not held up by it: a fixed latency, not a bandwidth limit.
fn stamp(mut from: std::net::TcpStream, queue: &std::sync::mpsc::Sender<(Instant, Vec<u8>)>, delay: Duration) {
    use std::io::Read as _;
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        if queue.send((Instant::now() + delay, buf.get(..n).unwrap_or_default().to_vec())).is_err() {
            return;
        }
    }
}

/// Writes each queued chunk to `to` at its due instant, in order; once the queue ends, ends `to`'s
/// writing half, as the side it was read from did.
fn write_when_due(due: std::sync::mpsc::Receiver<(Instant, Vec<u8>)>, mut to: std::net::TcpStream) {
    use std::io::Write as _;
    for (at, chunk) in due {
        sleep_until(at);
        if to.write_all(&chunk).is_err() {
            return;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// A one-byte TCP echo server on 127.0.0.1:0: the relay's round trip without any protocol.
async fn byte_echo() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = s.set_nodelay(true);
                let mut b = [0u8; 1];
                while matches!(s.read(&mut b).await, Ok(1)) {
                    if s.write_all(&b).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(addr)
}

async fn round_trip(s: &mut TcpStream) -> Result<Duration, String> {
    let t = Instant::now();
    s.write_all(&[7]).await.map_err(|e| e.to_string())?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b).await.map_err(|e| e.to_string())?;
    Ok(t.elapsed())
}

fn client(mock: &MockEnclave, url: String, reuse: SessionReuse) -> Result<Client, String> {
    pinned_builder(url, &mock.root_pem(), &every_pcr(mock)?, checksum(mock)?)?
        .session_reuse(reuse)
        .build()
        .map_err(|e| e.to_string())
}

/// One call: invoke `echo` on 1 KiB and check the output; returns its duration.
async fn call(client: &Client, input: &[u8]) -> Result<Duration, String> {
    let t = Instant::now();
    let out = client.invoke("echo", input).await.map_err(|e| e.to_string())?;
    let took = t.elapsed();
    if out != input {
        return Err("echo returned something else".into());
    }
    Ok(took)
}

/// Measures, through relays adding `one_way` each way, `samples` alternating samples of: the relay's
/// byte round trip; a fresh call on `ws://` and on `wss://` (connect, attest, one 1 KiB invocation,
/// on a client whose verifier cache is warm and which keeps no session); the next call on a client
/// that kept its session.
pub(super) async fn figures(one_way: Duration, samples: usize) -> Result<Figures, String> {
    let io = |e: std::io::Error| e.to_string();
    let plain = MockEnclave::builder().spawn().await.map_err(|e| e.to_string())?;
    let tls = MockEnclave::builder().tls(true).spawn().await.map_err(|e| e.to_string())?;
    let echo = relay(byte_echo().await.map_err(io)?, one_way).await.map_err(io)?;
    let ws = relay(plain.local_addr(), one_way).await.map_err(io)?;
    let wss = relay(tls.local_addr(), one_way).await.map_err(io)?;
    let fresh_ws = client(&plain, format!("ws://{ws}"), SessionReuse::disabled())?;
    // The mock's certificate names 127.0.0.1; the relay listens there too.
    let fresh_wss = client(&tls, format!("wss://{wss}"), SessionReuse::disabled())?;
    let reusing = client(&plain, format!("ws://{ws}"), SessionReuse::default())?;
    let input = vec![0x5a; INPUT_LEN];
    let mut pinger = TcpStream::connect(echo).await.map_err(io)?;
    let _ = pinger.set_nodelay(true);
    // Warm every path once (verifier caches, the servers' accept paths, the kept session).
    round_trip(&mut pinger).await?;
    call(&fresh_ws, &input).await?;
    call(&fresh_wss, &input).await?;
    call(&reusing, &input).await?;
    let (mut rtt, mut ws_ms, mut wss_ms, mut reused_ms) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for _ in 0..samples {
        rtt.push(ms(round_trip(&mut pinger).await?));
        ws_ms.push(ms(call(&fresh_ws, &input).await?));
        wss_ms.push(ms(call(&fresh_wss, &input).await?));
        reused_ms.push(ms(call(&reusing, &input).await?));
    }
    plain.shutdown().await;
    tls.shutdown().await;
    let rtt_ms = median(rtt);
    // TCP's handshake: one round trip the relay cannot delay (see the module's comment).
    let tcp = 1.0;
    Ok(Figures {
        rtt_ms,
        fresh_ws: median(ws_ms) / rtt_ms + tcp,
        fresh_wss: median(wss_ms) / rtt_ms + tcp,
        reused: median(reused_ms) / rtt_ms,
    })
}
