//! The server above the sessions: accept loop, TLS, upgrade, limits on connections and sessions,
//! counters, and graceful drain; [`Server`] is the running handle.
//!
//! Input: connections from anyone, over TCP or vsock ([`crate::listener`]). Each gets a pending-upgrade slot, then (under the handshake
//! timeout) TLS when configured and the upgrade's checks ([`upgrade`]); an accepted
//! upgrade takes a session slot and is handed, with a [`SessionContext`], to the session of the
//! protocol it chose. Output: a running server and counters (never contents) of what it saw. This
//! module neither attests nor runs functions: the sessions do, through the attester and functions it
//! was built with.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use zeroize::Zeroizing;

use crate::admission::Admission;
use crate::attester::{Attestations, Attester};
use crate::budget::Budget;
use crate::corked::{Cork, Corked};
use crate::function::Functions;
use crate::limits::ServerLimits;
use crate::listener::{Connection, ListenAddr, Listener};
use crate::peek;
use crate::session::cape::run_cape_session;
use crate::session::context::SessionContext;
use crate::session::end::SessionEnd;
use crate::session::native::run_native_session;
use crate::stats::{count, ServerStats, Stats};
use crate::tls::TlsIdentity;
use crate::upgrade::{self, Accepted, Gate, Wire};

/// Initial WebSocket read buffer of a session (see `upgrade_and_serve`).
const IDLE_READ_BUFFER: usize = 16 * 1024;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Binding the listener failed (for vsock, also: built without the `vsock` feature).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: ListenAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// Builds and starts a [`Server`].
#[must_use]
pub struct ServerBuilder {
    listen: ListenAddr,
    attester: Arc<dyn Attester>,
    functions: Functions,
    token: Option<Zeroizing<String>>,
    limits: ServerLimits,
    tls: Option<TlsIdentity>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("listen", &self.listen)
            .field("attester", &self.attester)
            .field("limits", &self.limits)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// TCP listen address (default `127.0.0.1:0`, an ephemeral port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = ListenAddr::Tcp(addr);
        self
    }

    /// Listen on TCP or, inside an enclave, on vsock (`ListenAddr::Vsock`, feature `vsock`): the
    /// sessions, limits and functions are the same either way.
    pub fn listen_on(mut self, addr: ListenAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The functions served (default: none; every upgrade then gets 404).
    pub fn functions(mut self, functions: Functions) -> Self {
        self.functions = functions;
        self
    }

    /// Require `Authorization: Bearer <token>` on the upgrade (or, from a Cape client, the token as a
    /// subprotocol entry), compared in constant time.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Zeroizing::new(token.into()));
        self
    }

    /// Serve `wss://` with this identity; every native document then binds its key
    /// (`EnclaveUserData::tls_spki_sha256`).
    pub fn tls(mut self, identity: TlsIdentity) -> Self {
        self.tls = Some(identity);
        self
    }

    /// Replace the limits.
    pub fn limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Binds and starts serving in the background.
    ///
    /// # Errors
    /// [`StartError::Bind`] when the address cannot be bound.
    pub async fn spawn(self) -> Result<Server, StartError> {
        let (listener, addr) =
            Listener::bind(self.listen).await.map_err(|source| StartError::Bind { addr: self.listen, source })?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let stats = Arc::new(Stats::default());
        let (done_tx, done_rx) = mpsc::channel::<()>(1);
        let tls_certificate = self.tls.as_ref().map(|t| t.certificate_der().to_vec());
        let shared = Arc::new(Shared {
            functions: self.functions,
            attester: Attestations::new(self.attester),
            token: self.token,
            limits: self.limits,
            stats: stats.clone(),
            admission: Admission::new(
                self.limits.max_sessions,
                self.limits.eviction_grace,
                Some((self.limits.attestations_per_second, self.limits.attestation_burst)),
            ),
            budget: Budget::new(self.limits.memory_budget, self.limits.session_memory),
            pending: Arc::new(Semaphore::new(self.limits.max_pending_upgrades)),
            shutdown: shutdown_rx,
            tls: self.tls,
        });
        tracing::info!(%addr, tls = shared.tls.is_some(), "enclave runtime listening");
        let slots = Gauges {
            admission: shared.admission.clone(),
            budget: shared.budget.clone(),
            pending: shared.pending.clone(),
        };
        let accept = tokio::spawn(accept_loop(listener, shared, done_tx));
        Ok(Server {
            addr,
            stats,
            shutdown: shutdown_tx,
            accept: Some(accept),
            done: done_rx,
            limits: self.limits,
            tls_certificate,
            slots,
        })
    }
}

/// What every connection's task shares.
struct Shared {
    functions: Functions,
    attester: Attestations,
    token: Option<Zeroizing<String>>,
    limits: ServerLimits,
    stats: Arc<Stats>,
    admission: Arc<Admission>,
    budget: Arc<Budget>,
    pending: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
    tls: Option<TlsIdentity>,
}

/// What the gauges in [`ServerStats`] are read from.
struct Gauges {
    admission: Arc<Admission>,
    budget: Arc<Budget>,
    pending: Arc<Semaphore>,
}

/// A running server. Dropping it stops accepting; [`shutdown`](Self::shutdown) also drains.
///
/// # Examples
///
/// ```
/// # use std::sync::Arc;
/// # use enclave_runtime::{AttestationRequest, Attester, AttesterError};
/// # #[derive(Debug)] struct Fixed;
/// # impl Attester for Fixed {
/// #     fn attest(&self, _: &AttestationRequest) -> Result<Vec<u8>, AttesterError> { Ok(vec![0x84]) }
/// # }
/// use enclave_runtime::{Functions, Server};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), enclave_runtime::StartError> {
/// let attester: Arc<dyn Attester> = Arc::new(Fixed); // NitroNsm inside a real enclave
/// let server = Server::builder(attester).functions(Functions::new()).spawn().await?;
/// assert!(server.url().starts_with("ws://127.0.0.1:"));
/// assert_eq!(server.stats().sessions, 0);
/// server.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct Server {
    addr: ListenAddr,
    stats: Arc<Stats>,
    shutdown: watch::Sender<bool>,
    accept: Option<tokio::task::JoinHandle<()>>,
    done: mpsc::Receiver<()>,
    limits: ServerLimits,
    tls_certificate: Option<Vec<u8>>,
    slots: Gauges,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Server {
    /// A builder for a server that attests with `attester`: `NitroNsm` inside a real enclave, a
    /// software NSM for tests and demos. Defaults: `127.0.0.1:0`, no functions, no token, no TLS,
    /// [`ServerLimits::default`].
    pub fn builder(attester: Arc<dyn Attester>) -> ServerBuilder {
        ServerBuilder {
            listen: ListenAddr::Tcp(SocketAddr::from(([127, 0, 0, 1], 0))),
            attester,
            functions: Functions::new(),
            token: None,
            limits: ServerLimits::default(),
            tls: None,
        }
    }

    /// The base URL, `ws://ADDR` (or `wss://` with TLS). On vsock, where clients arrive through
    /// the parent's relay, the scheme with the vsock address (`ws://vsock:CID:PORT`), for logs.
    pub fn url(&self) -> String {
        let scheme = if self.tls_certificate.is_some() { "wss" } else { "ws" };
        match self.addr {
            ListenAddr::Tcp(addr) => format!("{scheme}://{addr}"),
            vsock => format!("{scheme}://{vsock}"),
        }
    }

    /// The address listened on (with the port chosen for port 0).
    pub fn local_addr(&self) -> ListenAddr {
        self.addr
    }

    /// The TLS certificate (DER) served on `wss://`, if TLS is on.
    pub fn tls_certificate_der(&self) -> Option<&[u8]> {
        self.tls_certificate.as_deref()
    }

    /// The limits in force.
    pub fn limits(&self) -> ServerLimits {
        self.limits
    }

    /// What the server has seen so far.
    pub fn stats(&self) -> ServerStats {
        let g = &self.slots;
        let mut stats = self.stats.snapshot((&g.pending, self.limits.max_pending_upgrades));
        stats.open_sessions = g.admission.open() as u64;
        stats.evicted = g.admission.evicted();
        stats.input_bytes_held = g.budget.in_use() as u64;
        stats.input_bytes_peak = g.budget.peak() as u64;
        stats
    }

    /// Stops accepting, lets running invocations finish (up to the drain timeout), tells each client
    /// with an authenticated `ShuttingDown`, and returns when every session has ended.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(a) = self.accept.take() {
            let _ = a.await;
        }
        // Every session holds a clone of the sender behind `done`; recv() returns None once all ended.
        let _ = tokio::time::timeout(self.limits.drain_timeout, self.done.recv()).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

fn tungstenite_io(e: std::io::Error) -> tokio_tungstenite::tungstenite::Error {
    tokio_tungstenite::tungstenite::Error::Io(e)
}

async fn accept_loop(listener: Listener, shared: Arc<Shared>, done: mpsc::Sender<()>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let (connection, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    // Out of descriptors and similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let shared = shared.clone();
        let done = done.clone();
        tokio::spawn(async move {
            handle_connection(connection, peer, shared).await;
            drop(done);
        });
    }
    tracing::info!("enclave runtime stopped accepting; draining");
}

async fn handle_connection(connection: Connection, peer: ListenAddr, shared: Arc<Shared>) {
    // Bounds what connections that never finish their upgrade can hold (a task, a socket, a request
    // buffer each) until the handshake timeout; dropping `connection` closes it.
    let Ok(pending) = shared.pending.clone().try_acquire_owned() else {
        count(&shared.stats.refused_upgrades);
        tracing::debug!(%peer, "pending-upgrade limit reached; connection closed");
        return;
    };
    match shared.tls.as_ref().map(|t| t.acceptor().clone()) {
        None => upgrade_and_serve(connection, peer, shared, pending).await,
        Some(acceptor) => {
            match tokio::time::timeout(shared.limits.handshake_timeout, acceptor.accept(connection)).await {
                Ok(Ok(tls)) => upgrade_and_serve(tls, peer, shared, pending).await,
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

#[allow(clippy::result_large_err)] // the upgrade callback's signature is tungstenite's
async fn upgrade_and_serve<S>(stream: S, peer: ListenAddr, shared: Arc<Shared>, pending: OwnedSemaphorePermit)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // The session slot is taken once the request has been read: a connection that never sends one
    // holds only a pending-upgrade slot.
    let mut admitted = None;
    let mut chosen = None;
    // An accepted native upgrade holds its 101 back until the session's document is ready, so
    // both leave in one write (see `corked`); a refusal is written at once.
    let cork = Cork::default();
    let callback = |req: &Request, resp: Response| {
        let mut admit = || {
            admitted = Some(shared.admission.admit(shared.limits.handshake_timeout)?);
            Ok(())
        };
        let mut gate = Gate { functions: &shared.functions, token: shared.token.as_ref(), admit: &mut admit };
        match upgrade::check(req, resp, &mut gate) {
            Ok((resp, function_id, accepted)) => {
                if accepted.wire() == Wire::Native {
                    cork.hold();
                }
                chosen = Some((function_id, accepted));
                Ok(resp)
            }
            Err(refusal) => {
                count(&shared.stats.refused_upgrades);
                Err(refusal)
            }
        }
    };
    // tungstenite zero-fills its whole read buffer (128 KiB by default) before the first read, making
    // it resident in every session, idle or not; the buffer grows to a frame's length when one
    // arrives, so starting small costs an idle session 16 KiB instead of 128 KiB. The size is also
    // the most one read takes from the socket, so a 64 KiB record costs 4 reads here (8 at 8 KiB,
    // which measured ~10% less bulk throughput; 32 KiB brought idle sessions near their 64 KiB
    // target) (`enclave-bench`: idle_session_bytes, bulk_ratio).
    //
    // The message bound is the protocol's: one native frame, or one whole Cape invocation (pycape
    // sends its input as one message), so the request is peeked for the protocol it offers first.
    let upgrade = async {
        let (peeked, stream) = peek::peek_wire(stream).await.map_err(tungstenite_io)?;
        let max = match peeked {
            Some(Wire::Cape) => shared.limits.cape_message_len(),
            _ => shared.limits.frame.max_frame_len(),
        };
        let config = WebSocketConfig::default()
            .read_buffer_size(IDLE_READ_BUFFER)
            .max_message_size(Some(max))
            .max_frame_size(Some(max));
        let stream = Corked::new(stream, cork.clone());
        let ws = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await?;
        Ok::<_, tokio_tungstenite::tungstenite::Error>((peeked, ws))
    };
    let upgraded = tokio::time::timeout(shared.limits.handshake_timeout, upgrade).await;
    drop(pending);
    let (peeked, ws) = match upgraded {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "upgrade refused");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "upgrade timed out");
            return;
        }
    };
    let (Some((ticket, stopped)), Some((function_id, accepted))) = (admitted, chosen) else { return };
    // The message bound was chosen from the peeked protocol: a native session must never have
    // Cape's larger one (the two parsers read the same header, so this does not happen).
    if accepted.wire() == Wire::Native && peeked != Some(Wire::Native) {
        tracing::warn!(%peer, "the upgrade chose another protocol than the request offered; closed");
        return;
    }
    let Some(function) = shared.functions.get(&function_id) else { return };
    count(&shared.stats.sessions);
    let function_id = function_id.as_str();
    // Logged once the session's first message is out (a native session's document): a log line
    // costs a write, and nothing before the document should wait for it.
    let protocol = accepted.name();
    let started = || tracing::info!(%peer, function_id, tls = shared.tls.is_some(), protocol, "session started");
    let ctx = SessionContext {
        function,
        attester: shared.attester.clone(),
        limits: shared.limits,
        stats: shared.stats.clone(),
        shutdown: shared.shutdown.clone(),
        tls_spki_sha256: shared.tls.as_ref().map(TlsIdentity::spki_sha256),
        memory: shared.budget.share(ticket.stop_handle()),
        ticket: Arc::new(ticket),
        stopped,
        admission: shared.admission.clone(),
    };
    let end = match accepted {
        Accepted::Native(nonce) => run_native_session(ws, nonce, cork, ctx, started).await,
        Accepted::Cape => {
            started();
            run_cape_session(ws, ctx).await
        }
    };
    match &end {
        SessionEnd::ClientClosed | SessionEnd::Disconnected | SessionEnd::ShuttingDown => {
            tracing::info!(%peer, function_id, reason = %end, "session ended")
        }
        _ => tracing::warn!(%peer, function_id, reason = %end, "session ended"),
    }
}
