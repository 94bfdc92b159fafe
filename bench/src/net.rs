//! The loopback half of `enclave-bench`: a mock enclave and a plain WebSocket echo server in this
//! process, and the session costs measured against the plain baseline.
//!
//! Input: nothing untrusted beyond what our own servers send back over loopback (still handled without
//! panics). Output: medians of latencies and rates. The baseline and the session figures are sampled
//! alternately, so both see the same machine state.

use std::net::SocketAddr;
use std::time::Instant;

use enclave_protocol::MAX_CHUNK_LEN;
use enclave_sdk::attestation::{Policy, TrustRoot};
use enclave_sdk::{Client, ClientBuilder, FunctionChecksum, FunctionId, MeasurementSet, Pcr, Session};
use futures_util::{SinkExt as _, StreamExt as _};
use mock_enclave::MockEnclave;
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{median, micros, MIB, MSG_LEN};

/// The function every session figure invokes: it returns its input, like the plain echo server.
const FUNCTION: &str = "echo";

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub(super) struct Bench {
    mock: MockEnclave,
    client: Client,
    plain: SocketAddr,
}

/// A client pinned to `mock`: its root, every PCR it reports (one set), and the echo function's checksum.
pub(super) fn pinned_client(
    url: String,
    root_pem: &str,
    pcrs: &MeasurementSet,
    checksum: FunctionChecksum,
) -> Result<Client, String> {
    pinned_builder(url, root_pem, pcrs, checksum)?.build().map_err(|e| e.to_string())
}

pub(super) fn pinned_builder(
    url: String,
    root_pem: &str,
    pcrs: &MeasurementSet,
    checksum: FunctionChecksum,
) -> Result<ClientBuilder, String> {
    let policy = Policy::builder()
        .trust_root(TrustRoot::from_pem(root_pem).map_err(|e| e.to_string())?)
        .allow_measurements(pcrs.clone())
        .function_checksum_for(function()?, checksum)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Client::builder().endpoint(url).policy(policy))
}

fn function() -> Result<FunctionId, String> {
    FUNCTION.parse().map_err(|e| format!("{FUNCTION}: {e}"))
}

/// Every PCR `mock` reports, as one set.
pub(super) fn every_pcr(mock: &MockEnclave) -> Result<MeasurementSet, String> {
    MeasurementSet::new(mock.measurements().pcrs().iter().map(|(i, v)| Pcr::new(*i, v.clone())))
        .map_err(|e| e.to_string())
}

/// The checksum `mock` reports for the benchmark's function.
pub(super) fn checksum(mock: &MockEnclave) -> Result<FunctionChecksum, String> {
    mock.function_checksum(&function()?).ok_or_else(|| "the mock has no echo function".to_owned())
}

/// A client pinned to `mock` that keeps as many invocations in flight as `mock` allows (the plain
/// baseline pipelines every message; the session gets the enclave's limit rather than the client's
/// smaller default).
pub(super) fn client_for(mock: &MockEnclave) -> Result<Client, String> {
    pinned_builder(mock.url(), &mock.root_pem(), &every_pcr(mock)?, checksum(mock)?)?
        .max_in_flight(mock.limits().max_in_flight)
        .build()
        .map_err(|e| e.to_string())
}

impl Bench {
    pub(super) async fn start() -> Result<Self, String> {
        let mock = MockEnclave::builder().spawn().await.map_err(|e| e.to_string())?;
        let client = client_for(&mock)?;
        let plain = plain_echo_server().await.map_err(|e| format!("plain echo server: {e}"))?;
        Ok(Self { mock, client, plain })
    }

    pub(super) async fn shutdown(self) {
        self.mock.shutdown().await;
    }

    async fn plain_connect(&self) -> Result<Ws, String> {
        let (ws, _) = tokio_tungstenite::connect_async_with_config(format!("ws://{}/", self.plain), None, true)
            .await
            .map_err(|e| e.to_string())?;
        Ok(ws)
    }

    async fn session(&self) -> Result<Session, String> {
        self.client.connect(FUNCTION).await.map_err(|e| e.to_string())
    }

    /// Medians (us) of: plain connect + one 1 KiB echo; session connect + attestation + verification
    /// (warm path cache: the client is reused) + HPKE setup + one 1 KiB invocation.
    pub(super) async fn connects(&self, samples: usize) -> Result<(f64, f64), String> {
        let input = vec![0x5a; MSG_LEN];
        // Warm the client's path cache and both servers' accept paths.
        self.session().await?.close().await.map_err(|e| e.to_string())?;
        drop(self.plain_connect().await?);
        let (mut plain, mut session) = (Vec::new(), Vec::new());
        for _ in 0..samples {
            let t = Instant::now();
            let mut ws = self.plain_connect().await?;
            ws.send(Message::binary(input.clone())).await.map_err(|e| e.to_string())?;
            let n = next_binary(&mut ws).await?;
            plain.push(micros(t.elapsed()));
            check_len(n, MSG_LEN)?;
            let _ = ws.close(None).await;

            let t = Instant::now();
            let s = self.session().await?;
            let out = s.invoke(&input).await.map_err(|e| e.to_string())?;
            session.push(micros(t.elapsed()));
            check_len(out.len(), MSG_LEN)?;
            s.close().await.map_err(|e| e.to_string())?;
        }
        Ok((median(plain), median(session)))
    }

    /// Medians (messages per second) of `n` 1 KiB echoes pipelined on one connection: plain WebSocket
    /// messages, then invocations on one session (as many in flight as the session allows). One
    /// untimed round of each first, so that neither side's first sample pays for growing buffers.
    pub(super) async fn message_rates(&self, n: usize, samples: usize) -> Result<(f64, f64), String> {
        let input = vec![0x5a; MSG_LEN];
        let mut ws = self.plain_connect().await?;
        let session = self.session().await?;
        let in_flight = self.mock.limits().max_in_flight;
        plain_messages(&mut ws, &input, n).await?;
        session_messages(&session, &input, n, in_flight).await?;
        let (mut plain, mut sealed) = (Vec::new(), Vec::new());
        for _ in 0..samples {
            let t = Instant::now();
            plain_messages(&mut ws, &input, n).await?;
            plain.push(n as f64 / t.elapsed().as_secs_f64());
            let t = Instant::now();
            session_messages(&session, &input, n, in_flight).await?;
            sealed.push(n as f64 / t.elapsed().as_secs_f64());
        }
        session.close().await.map_err(|e| e.to_string())?;
        Ok((median(plain), median(sealed)))
    }

    /// Medians (MiB/s) of a `len`-byte echo: plain WebSocket messages of the session's chunk size on
    /// one connection, then one streamed invocation on one session. One untimed round of each first.
    pub(super) async fn bulk(&self, len: usize, samples: usize) -> Result<(f64, f64), String> {
        let mut ws = self.plain_connect().await?;
        let session = self.session().await?;
        plain_bulk(&mut ws, len.min(MAX_CHUNK_LEN * 16)).await?;
        stream_echo(&session, len.min(MAX_CHUNK_LEN * 16) as u64).await?;
        let (mut plain, mut sealed) = (Vec::new(), Vec::new());
        for _ in 0..samples {
            let t = Instant::now();
            plain_bulk(&mut ws, len).await?;
            plain.push(len as f64 / MIB / t.elapsed().as_secs_f64());
            let t = Instant::now();
            let n = stream_echo(&session, len as u64).await?;
            sealed.push(len as f64 / MIB / t.elapsed().as_secs_f64());
            check_len(usize::try_from(n).unwrap_or(usize::MAX), len)?;
        }
        session.close().await.map_err(|e| e.to_string())?;
        Ok((median(plain), median(sealed)))
    }
}

/// `n` copies of `input` pipelined through the plain echo server: all sent (one flush), all received.
async fn plain_messages(ws: &mut Ws, input: &[u8], n: usize) -> Result<(), String> {
    let (tx, mut rx) = ws.split();
    let send = async {
        let mut tx = tx;
        for _ in 0..n {
            tx.feed(Message::binary(input.to_vec())).await.map_err(|e| e.to_string())?;
        }
        tx.flush().await.map_err(|e| e.to_string())
    };
    let receive = async {
        for _ in 0..n {
            match rx.next().await {
                Some(Ok(Message::Binary(b))) => check_len(b.len(), input.len())?,
                Some(Ok(_)) => continue,
                _ => return Err("plain echo connection ended".to_string()),
            }
        }
        Ok(())
    };
    let (a, b) = tokio::join!(send, receive);
    a.and(b)
}

/// `n` invocations of `input`, `in_flight` at a time on one session.
async fn session_messages(session: &Session, input: &[u8], n: usize, in_flight: usize) -> Result<(), String> {
    let mut results = futures_util::stream::iter(0..n).map(|_| session.invoke(input)).buffer_unordered(in_flight);
    while let Some(out) = results.next().await {
        check_len(out.map_err(|e| e.to_string())?.len(), input.len())?;
    }
    Ok(())
}

/// `len` bytes through the plain echo server in messages of the session's chunk size.
async fn plain_bulk(ws: &mut Ws, len: usize) -> Result<(), String> {
    let chunk = vec![0x5a; MAX_CHUNK_LEN];
    let (tx, mut rx) = ws.split();
    let send = async {
        let mut tx = tx;
        let mut left = len;
        while left > 0 {
            let n = left.min(MAX_CHUNK_LEN);
            tx.send(Message::binary(chunk.get(..n).unwrap_or_default().to_vec())).await.map_err(|e| e.to_string())?;
            left -= n;
        }
        Ok::<_, String>(())
    };
    let receive = async {
        let mut got = 0;
        while got < len {
            match rx.next().await {
                Some(Ok(Message::Binary(b))) => got += b.len(),
                Some(Ok(_)) => continue,
                _ => return Err("plain echo connection ended".to_string()),
            }
        }
        Ok(())
    };
    let (a, b) = tokio::join!(send, receive);
    a.and(b)
}

/// Streams `len` bytes through the echo function and discards the output; returns the bytes received.
pub(super) async fn stream_echo(session: &Session, len: u64) -> Result<u64, String> {
    let input = tokio::io::repeat(0x5a).take(len);
    session.invoke_stream(input, tokio::io::sink(), |_| {}).await.map_err(|e| e.to_string())
}

fn check_len(got: usize, want: usize) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("echo returned {got} bytes, sent {want}"))
    }
}

async fn next_binary(ws: &mut Ws) -> Result<usize, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => return Ok(b.len()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("plain echo connection ended".into()),
        }
    }
}

/// The baseline: a WebSocket server that returns every binary message, with the same transport
/// settings as the mock (loopback TCP, no Nagle delay, tungstenite's framing).
async fn plain_echo_server() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                let (mut tx, mut rx) = ws.split();
                while let Some(Ok(m)) = rx.next().await {
                    if m.is_binary() {
                        if tx.send(m).await.is_err() {
                            break;
                        }
                    } else if m.is_close() {
                        break;
                    }
                }
            });
        }
    });
    Ok(addr)
}
