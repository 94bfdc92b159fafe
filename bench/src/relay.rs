//! Round trips a user feels: an in-process TCP relay that delays every byte by a fixed one-way time,
//! and the calls through it, reported as multiples of the relay's measured round-trip time.
//!
//! Input: nothing untrusted beyond our own servers' answers over loopback. Output: medians, as
//! multiples of the median round trip of one byte through the same relay in the same run.
//!
//! The relay delays the bytes of an established connection; it cannot delay TCP's own handshake
//! (the kernel completes it before the relay accepts), so every figure adds the one round trip that
//! handshake costs on a real path: the counts are from `connect` to the first output byte, TCP's
//! handshake included.

use std::collections::VecDeque;
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
pub(super) async fn relay(upstream: SocketAddr, one_way: Duration) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((down, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(up) = TcpStream::connect(upstream).await else { return };
                let _ = (down.set_nodelay(true), up.set_nodelay(true));
                let (down_r, down_w) = down.into_split();
                let (up_r, up_w) = up.into_split();
                tokio::join!(delayed(down_r, up_w, one_way), delayed(up_r, down_w, one_way));
            });
        }
    });
    Ok(addr)
}

/// Copies `from` to `to`, each chunk written `delay` after it was read, in order: a fixed latency,
/// not a bandwidth limit (a chunk read while another waits is not held up by it).
async fn delayed(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, delay: Duration) {
    let mut queue: VecDeque<(tokio::time::Instant, Vec<u8>)> = VecDeque::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut open = true;
    loop {
        let due = queue.front().map(|(t, _)| *t);
        tokio::select! {
            n = from.read(&mut buf), if open => match n {
                Ok(0) | Err(_) => open = false,
                Ok(n) => queue.push_back((tokio::time::Instant::now() + delay, buf.get(..n).unwrap_or_default().to_vec())),
            },
            () = async { if let Some(t) = due { tokio::time::sleep_until(t).await } }, if due.is_some() => {
                if let Some((_, chunk)) = queue.pop_front() {
                    if to.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            }
        }
        if !open && queue.is_empty() {
            let _ = to.shutdown().await;
            return;
        }
    }
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
