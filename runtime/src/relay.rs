//! The parent instance's relay: accepts TCP connections and forwards each, byte for byte, to the
//! enclave's vsock port.
//!
//! Input: TCP connections from anyone (untrusted bytes, never parsed here) and an upstream
//! [`Connector`] (the enclave's vsock address in production, any TCP address in tests). Output: one
//! upstream connection per client connection, carrying exactly the client's bytes and the
//! enclave's. Nothing here is trusted by the client: attestation and the session's keys are end to
//! end, so a relay that drops, delays or alters bytes can cut a session but not read or change it,
//! and TLS (`wss://`, the runtime's `--tls`) passes through to the enclave, whose documents bind its
//! key. A TLS-terminating relay would present a key no document binds, and the SDK would refuse it.
//!
//! What the relay decides is only admission and time, per [`RelayLimits`]: at most
//! `max_connections` at once (a connection past it is closed at once); a client that sends nothing
//! within `handshake_timeout` is closed before the enclave sees it (so idle connects take no enclave
//! slot); the upstream connect has `connect_timeout`; a connection with no byte in either direction
//! for `idle_timeout` is closed; and [`Relay::shutdown`] stops accepting, lets open connections run
//! for `drain_timeout`, then closes them.
//!
//! The logic is generic over the connector, so the tests drive it end to end over TCP (client ->
//! relay -> runtime), the same code that forwards to vsock ([`VsockConnector`], feature `vsock`).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::Instant;

use crate::listener::{Connection, ListenAddr};
use crate::server::StartError;
use crate::stats::count;

/// Bytes moved per read, each direction.
const BUFFER: usize = 64 * 1024;

/// Opens the upstream side of a relayed connection.
///
/// # Examples
///
/// ```
/// use enclave_runtime::{Connector, ListenAddr, TcpConnector};
/// let to_mock = TcpConnector::new("127.0.0.1:8443".parse()?);
/// assert_eq!(to_mock.address(), "127.0.0.1:8443".parse::<ListenAddr>()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Connector: Send + Sync + fmt::Debug + 'static {
    /// The upstream byte stream.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Connects once (the relay bounds it with [`RelayLimits::connect_timeout`]).
    fn connect(&self) -> BoxFuture<'_, io::Result<Self::Stream>>;

    /// Where it connects, for logs.
    fn address(&self) -> ListenAddr;
}

/// Connects upstream over TCP: a runtime on another host, or a local one in tests.
#[derive(Debug, Clone, Copy)]
pub struct TcpConnector {
    addr: SocketAddr,
}

impl TcpConnector {
    /// Connects to `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr }
    }
}

impl Connector for TcpConnector {
    type Stream = TcpStream;

    fn connect(&self) -> BoxFuture<'_, io::Result<TcpStream>> {
        Box::pin(async move {
            let tcp = TcpStream::connect(self.addr).await?;
            let _ = tcp.set_nodelay(true);
            Ok(tcp)
        })
    }

    fn address(&self) -> ListenAddr {
        ListenAddr::Tcp(self.addr)
    }
}

/// Connects upstream over vsock: the enclave's CID and port (feature `vsock`).
#[cfg(feature = "vsock")]
#[derive(Debug, Clone, Copy)]
pub struct VsockConnector {
    cid: u32,
    port: u32,
}

#[cfg(feature = "vsock")]
impl VsockConnector {
    /// Connects to the enclave with context id `cid` (from `nitro-cli describe-enclaves`) on `port`.
    pub fn new(cid: u32, port: u32) -> Self {
        Self { cid, port }
    }
}

#[cfg(feature = "vsock")]
impl Connector for VsockConnector {
    type Stream = tokio_vsock::VsockStream;

    fn connect(&self) -> BoxFuture<'_, io::Result<tokio_vsock::VsockStream>> {
        Box::pin(tokio_vsock::VsockStream::connect(tokio_vsock::VsockAddr::new(self.cid, self.port)))
    }

    fn address(&self) -> ListenAddr {
        ListenAddr::Vsock { cid: self.cid, port: self.port }
    }
}

/// Connects to whichever kind of address it is given (what the `enclave-runtime relay` command
/// uses); vsock needs the `vsock` feature.
#[derive(Debug, Clone, Copy)]
pub struct AddrConnector {
    addr: ListenAddr,
}

impl AddrConnector {
    /// Connects to `addr`.
    pub fn new(addr: ListenAddr) -> Self {
        Self { addr }
    }
}

/// The upstream stream of an [`AddrConnector`].
#[derive(Debug)]
pub struct AddrStream(Connection);

impl Connector for AddrConnector {
    type Stream = AddrStream;

    fn connect(&self) -> BoxFuture<'_, io::Result<AddrStream>> {
        Box::pin(async move { Connection::connect(self.addr).await.map(AddrStream) })
    }

    fn address(&self) -> ListenAddr {
        self.addr
    }
}

impl AsyncRead for AddrStream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for AddrStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// What the relay admits, and for how long.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let mut limits = enclave_runtime::RelayLimits::default();
/// limits.max_connections = 64;
/// assert_eq!(limits.handshake_timeout, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayLimits {
    /// Connections relayed at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// How long a new client may take to send its first byte (TLS hello or HTTP upgrade) before it
    /// is closed, without an upstream connection ever being opened for it.
    pub handshake_timeout: Duration,
    /// How long the upstream connect may take.
    pub connect_timeout: Duration,
    /// A connection with no byte in either direction for this long is closed. Longer than the
    /// runtime's own idle and function time limits, so the runtime, which knows when an
    /// invocation is running, ends sessions first.
    pub idle_timeout: Duration,
    /// After [`Relay::shutdown`], how long open connections may go on.
    pub drain_timeout: Duration,
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(600),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// A snapshot of what the relay has seen (counts only, never bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RelayStats {
    /// Connections forwarded upstream.
    pub relayed: u64,
    /// Connections closed at once for `max_connections`.
    pub refused: u64,
    /// Clients closed for sending nothing within `handshake_timeout`.
    pub silent: u64,
    /// Upstream connects that failed or timed out (the client was closed).
    pub upstream_failures: u64,
    /// Connections closed for `idle_timeout`.
    pub idle_closed: u64,
    /// Connections cut when a shutdown's drain time ran out.
    pub drain_cut: u64,
    /// Connections open now.
    pub open: u64,
}

#[derive(Debug, Default)]
struct Counters {
    relayed: AtomicU64,
    refused: AtomicU64,
    silent: AtomicU64,
    upstream_failures: AtomicU64,
    idle_closed: AtomicU64,
    drain_cut: AtomicU64,
}

/// Builds and starts a [`Relay`].
#[must_use]
#[derive(Debug)]
pub struct RelayBuilder<C> {
    listen: SocketAddr,
    connector: C,
    limits: RelayLimits,
}

impl<C: Connector> RelayBuilder<C> {
    /// Where clients connect (default `127.0.0.1:0`; a parent instance listens on its public
    /// interface, e.g. `0.0.0.0:8443`).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Replace the limits.
    pub fn limits(mut self, limits: RelayLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Binds and starts relaying in the background.
    ///
    /// # Errors
    /// [`StartError::Bind`] when the address cannot be bound.
    pub async fn spawn(self) -> Result<Relay, StartError> {
        let bind = |source| StartError::Bind { addr: ListenAddr::Tcp(self.listen), source };
        let listener = TcpListener::bind(self.listen).await.map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (done_tx, done_rx) = mpsc::channel::<()>(1);
        let shared = Arc::new(Shared {
            connector: self.connector,
            limits: self.limits,
            counters: Counters::default(),
            slots: Arc::new(Semaphore::new(self.limits.max_connections)),
            shutdown: shutdown_rx,
        });
        tracing::info!(%addr, upstream = %shared.connector.address(), "relay listening");
        let accept = tokio::spawn(accept_loop(listener, shared.clone(), done_tx));
        let shared: Arc<dyn Gauges> = shared;
        Ok(Relay { addr, limits: self.limits, shutdown: shutdown_tx, accept: Some(accept), done: done_rx, shared })
    }
}

struct Shared<C> {
    connector: C,
    limits: RelayLimits,
    counters: Counters,
    slots: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
}

/// The relay's counters, whatever its connector.
trait Gauges: Send + Sync {
    fn stats(&self) -> RelayStats;
}

impl<C: Connector> Gauges for Shared<C> {
    fn stats(&self) -> RelayStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let c = &self.counters;
        RelayStats {
            relayed: load(&c.relayed),
            refused: load(&c.refused),
            silent: load(&c.silent),
            upstream_failures: load(&c.upstream_failures),
            idle_closed: load(&c.idle_closed),
            drain_cut: load(&c.drain_cut),
            open: self.limits.max_connections.saturating_sub(self.slots.available_permits()) as u64,
        }
    }
}

/// A running relay. Dropping it stops accepting; [`shutdown`](Self::shutdown) also drains.
///
/// # Examples
///
/// ```
/// use enclave_runtime::{Relay, TcpConnector};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), enclave_runtime::StartError> {
/// // On a parent instance: Relay::builder(VsockConnector::new(cid, 5005)).listen("0.0.0.0:8443".parse()?)
/// let relay = Relay::builder(TcpConnector::new("127.0.0.1:9".parse().unwrap())).spawn().await?;
/// println!("clients connect to ws://{}", relay.local_addr());
/// assert_eq!(relay.stats().open, 0);
/// relay.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct Relay {
    addr: SocketAddr,
    limits: RelayLimits,
    shutdown: watch::Sender<bool>,
    accept: Option<tokio::task::JoinHandle<()>>,
    done: mpsc::Receiver<()>,
    shared: Arc<dyn Gauges>,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay").field("addr", &self.addr).field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Relay {
    /// A builder for a relay to `connector`'s address, with [`RelayLimits::default`].
    pub fn builder<C: Connector>(connector: C) -> RelayBuilder<C> {
        RelayBuilder { listen: SocketAddr::from(([127, 0, 0, 1], 0)), connector, limits: RelayLimits::default() }
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the relay has seen so far.
    pub fn stats(&self) -> RelayStats {
        self.shared.stats()
    }

    /// Stops accepting, lets open connections go on for the drain timeout, then closes what is
    /// left; returns when every connection has ended.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        // Each connection's task holds a clone of the sender behind `done`, and ends by the drain
        // timeout at the latest; recv() returns None once all have.
        let _ = self.done.recv().await;
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn accept_loop<C: Connector>(listener: TcpListener, shared: Arc<Shared<C>>, done: mpsc::Sender<()>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let (client, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "relay accept failed");
                    // Out of descriptors and similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let Ok(slot) = shared.slots.clone().try_acquire_owned() else {
            count(&shared.counters.refused);
            tracing::debug!(%peer, "relay connection limit reached; closed");
            continue;
        };
        let _ = client.set_nodelay(true);
        let shared = shared.clone();
        let done = done.clone();
        tokio::spawn(async move {
            relay_one(client, peer, &shared).await;
            drop(slot);
            drop(done);
        });
    }
    tracing::info!("relay stopped accepting; draining");
}

async fn relay_one<C: Connector>(client: TcpStream, peer: SocketAddr, shared: &Shared<C>) {
    let limits = &shared.limits;
    // Wait for the client's first byte before opening anything upstream: a connection that never
    // speaks holds only its relay slot, and never one of the enclave's.
    let mut probe = [0u8; 1];
    match tokio::time::timeout(limits.handshake_timeout, client.peek(&mut probe)).await {
        Ok(Ok(n)) if n > 0 => {}
        Ok(_) => return, // closed or failed before sending anything
        Err(_) => {
            count(&shared.counters.silent);
            tracing::debug!(%peer, "client sent nothing in time; closed");
            return;
        }
    }
    let upstream = match tokio::time::timeout(limits.connect_timeout, shared.connector.connect()).await {
        Ok(Ok(upstream)) => upstream,
        Ok(Err(e)) => {
            count(&shared.counters.upstream_failures);
            tracing::warn!(%peer, upstream = %shared.connector.address(), error = %e, "upstream connect failed");
            return;
        }
        Err(_) => {
            count(&shared.counters.upstream_failures);
            tracing::warn!(%peer, upstream = %shared.connector.address(), "upstream connect timed out");
            return;
        }
    };
    count(&shared.counters.relayed);
    let end = pipe(client, upstream, limits, shared.shutdown.clone()).await;
    match end {
        PipeEnd::Idle => count(&shared.counters.idle_closed),
        PipeEnd::DrainCut => count(&shared.counters.drain_cut),
        PipeEnd::Closed | PipeEnd::Failed => {}
    }
    tracing::debug!(%peer, ?end, "relayed connection ended");
}

/// Why a relayed connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PipeEnd {
    /// Both sides closed their direction.
    Closed,
    /// A read or write failed (a reset, for instance).
    Failed,
    /// No byte either way for the idle timeout.
    Idle,
    /// The shutdown's drain time ran out.
    DrainCut,
}

/// Moves bytes both ways until both directions have ended, one fails, the connection idles, or a
/// shutdown's drain time runs out. A direction that ends (EOF) is passed on as a write shutdown, so
/// half-closes survive the relay.
async fn pipe<S>(client: TcpStream, upstream: S, limits: &RelayLimits, mut shutdown: watch::Receiver<bool>) -> PipeEnd
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let start = Instant::now();
    // Milliseconds since `start` of the last byte moved either way.
    let last = AtomicU64::new(0);
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut upstream_read, mut upstream_write) = tokio::io::split(upstream);
    let both = async {
        tokio::try_join!(
            copy(&mut client_read, &mut upstream_write, start, &last),
            copy(&mut upstream_read, &mut client_write, start, &last),
        )
    };
    let idle = async {
        loop {
            let at = start + Duration::from_millis(last.load(Ordering::Relaxed)) + limits.idle_timeout;
            tokio::time::sleep_until(at).await;
            let since = start + Duration::from_millis(last.load(Ordering::Relaxed));
            if Instant::now().saturating_duration_since(since) >= limits.idle_timeout {
                return;
            }
        }
    };
    let drained = async {
        if !*shutdown.borrow_and_update() {
            // Err: the relay is gone altogether, which is a shutdown too.
            let _ = shutdown.changed().await;
        }
        tokio::time::sleep(limits.drain_timeout).await;
    };
    tokio::select! {
        r = both => if r.is_ok() { PipeEnd::Closed } else { PipeEnd::Failed },
        () = idle => PipeEnd::Idle,
        () = drained => PipeEnd::DrainCut,
    }
}

async fn copy<R, W>(from: &mut R, to: &mut W, start: Instant, last: &AtomicU64) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let touch = || {
        let now = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        last.store(now, Ordering::Relaxed);
    };
    let mut buf = vec![0u8; BUFFER];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            // This direction is done: pass the half-close on.
            return to.shutdown().await;
        }
        touch();
        to.write_all(buf.get(..n).unwrap_or_default()).await?;
        touch();
    }
}
