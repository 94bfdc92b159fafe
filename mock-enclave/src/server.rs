//! The mock enclave's server: accept loop, upgrade checks, limits, graceful drain, and the
//! [`MockEnclave`] handle for in-process use.
//!
//! Input: TCP connections from anyone. The upgrade is accepted only on `/v1/run/{function_id}` for a
//! registered function, with the `enclave-session.v1` subprotocol (or Cape's `cape.runtime`, served by `cape`), the bearer token when one is
//! configured, and a free session slot; everything after the upgrade is `protocol`'s. Output: a
//! running server and counters (never contents) of what it saw. This module does not attest or run
//! functions itself.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use enclave_protocol::{FrameLimits, FunctionChecksum, FunctionId, PROTOCOL_LABEL};
use subtle::ConstantTimeEq;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use zeroize::Zeroizing;

use crate::attester::software::{Clock as NsmClock, SoftwareNsm};
use crate::attester::{Attester, AttesterError};
use crate::cape::CAPE_SUBPROTOCOL;
use crate::functions::FunctionRegistry;
use crate::measurements::Measurements;
use crate::protocol::{run_session, Context, SessionEnd};

/// Limits the server enforces. Exceeding one ends that session with a clear, authenticated error (or,
/// before the upgrade, an HTTP status); other sessions are unaffected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerLimits {
    /// From the upgrade to the key share.
    pub handshake_timeout: Duration,
    /// With no invocation running, how long the server waits for the client's next record.
    /// Also how long a write may wait for a client that accepts no bytes (it stopped reading) before
    /// the session is closed.
    pub idle_timeout: Duration,
    /// Invocations running at once per session.
    pub max_in_flight: usize,
    /// Sessions at once per server; further upgrades get HTTP 503. A connection takes its slot when
    /// its upgrade request has been read, so connections that never send one cannot lock clients out.
    pub max_sessions: usize,
    /// Connections at once that have not completed their upgrade (TLS handshake and HTTP request,
    /// each under `handshake_timeout`); further connections are closed at once.
    pub max_pending_upgrades: usize,
    /// Frame size bounds.
    pub frame: FrameLimits,
    /// How long a shutdown waits for running invocations.
    pub drain_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_in_flight: 64,
            max_sessions: 1024,
            max_pending_upgrades: 4096,
            frame: FrameLimits::default(),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Counters of what the server saw (numbers only), for tests and logs.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) sessions: AtomicU64,
    pub(crate) documents: AtomicU64,
    pub(crate) key_shares: AtomicU64,
    pub(crate) invocations: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) abandoned: AtomicU64,
    pub(crate) records_rejected: AtomicU64,
    pub(crate) refused_upgrades: AtomicU64,
}

/// A snapshot of the server's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ServerStats {
    /// WebSocket sessions accepted.
    pub sessions: u64,
    /// Attestation documents sent.
    pub documents: u64,
    /// Key shares received: clients that accepted a document.
    pub key_shares: u64,
    /// Invocations started: a client sent input.
    pub invocations: u64,
    /// Invocations whose function ran to the end (output or function error).
    pub completed: u64,
    /// Invocations aborted because their session ended before their input's end marker.
    pub abandoned: u64,
    /// Records that failed authentication.
    pub records_rejected: u64,
    /// Upgrades refused (bad path, token, subprotocol, the session limit), and connections closed at
    /// once for the pending-upgrade limit.
    pub refused_upgrades: u64,
    /// Sessions now open (upgraded and not yet ended).
    pub open_sessions: u64,
    /// Connections now waiting for their upgrade to complete.
    pub pending_upgrades: u64,
}

/// Builds and starts a mock enclave.
#[must_use]
pub struct MockEnclaveBuilder {
    listen: SocketAddr,
    measurements: Option<Measurements>,
    functions: Option<FunctionRegistry>,
    state_dir: Option<PathBuf>,
    nsm_clock: Option<NsmClock>,
    token: Option<Zeroizing<String>>,
    limits: ServerLimits,
    tls: bool,
}

impl std::fmt::Debug for MockEnclaveBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockEnclaveBuilder")
            .field("listen", &self.listen)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Why a mock enclave could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The software NSM could not be created or loaded.
    #[error("attester: {0}")]
    Attester(#[from] AttesterError),
    /// Loading user functions failed.
    #[error("functions: {0}")]
    Functions(String),
    /// The TLS identity could not be created, loaded or used.
    #[error("TLS: {0}")]
    Tls(String),
}

impl MockEnclaveBuilder {
    /// Listen address (default `127.0.0.1:0`, an ephemeral port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The measurements the software NSM reports (default: [`Measurements::for_mock`]`("")`, production mode).
    pub fn measurements(mut self, m: Measurements) -> Self {
        self.measurements = Some(m);
        self
    }

    /// The functions served (default: the built-ins).
    pub fn functions(mut self, f: FunctionRegistry) -> Self {
        self.functions = Some(f);
        self
    }

    /// Keep the CA keys in `dir` (created on first use), so the root survives restarts.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// The NSM's clock in Unix milliseconds (tests move it to issue documents at other times).
    pub fn nsm_clock(mut self, clock: NsmClock) -> Self {
        self.nsm_clock = Some(clock);
        self
    }

    /// Require `Authorization: Bearer <token>` on the upgrade.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Zeroizing::new(token.into()));
        self
    }

    /// Serve `wss://` with a self-signed certificate (kept in the state directory when there is one)
    /// whose key the attestation binds (`EnclaveUserData::tls_spki_sha256`).
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// Replace the limits.
    pub fn limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Binds, creates the NSM, and starts serving in the background.
    ///
    /// # Errors
    /// [`StartError`] when binding or the NSM fails.
    pub async fn spawn(self) -> Result<MockEnclave, StartError> {
        let measurements = self.measurements.unwrap_or_else(default_measurements);
        let nsm = match &self.state_dir {
            Some(dir) => SoftwareNsm::load_or_create(dir, measurements)?,
            None => SoftwareNsm::ephemeral(measurements)?,
        };
        let nsm = match self.nsm_clock {
            Some(c) => nsm.with_clock(c),
            None => nsm,
        };
        let nsm = Arc::new(nsm);
        let listener =
            TcpListener::bind(self.listen).await.map_err(|source| StartError::Bind { addr: self.listen, source })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: self.listen, source })?;
        let functions = Arc::new(self.functions.unwrap_or_else(FunctionRegistry::builtins));
        let tls = if self.tls { Some(tls_identity(self.state_dir.as_deref())?) } else { None };
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let stats = Arc::new(Stats::default());
        let (done_tx, done_rx) = mpsc::channel::<()>(1);
        let shared = Arc::new(Shared {
            functions: functions.clone(),
            attester: nsm.clone(),
            token: self.token,
            limits: self.limits,
            stats: stats.clone(),
            sessions: Arc::new(Semaphore::new(self.limits.max_sessions)),
            pending: Arc::new(Semaphore::new(self.limits.max_pending_upgrades)),
            shutdown: shutdown_rx,
            tls_spki_sha256: tls.as_ref().map(|t| t.1),
            tls: tls.as_ref().map(|t| t.0.clone()),
        });
        tracing::info!(%addr, "mock enclave listening");
        let slots = (shared.sessions.clone(), shared.pending.clone());
        let accept = tokio::spawn(accept_loop(listener, shared, done_tx));
        Ok(MockEnclave {
            addr,
            nsm,
            functions,
            stats,
            shutdown: shutdown_tx,
            accept: Some(accept),
            done: done_rx,
            limits: self.limits,
            tls: self.tls,
            tls_certificate: tls.map(|t| t.2),
            slots,
        })
    }
}

fn default_measurements() -> Measurements {
    // The same as `mock-enclave measurements` prints, so its output can be pinned.
    Measurements::for_mock("")
}

struct Shared {
    functions: Arc<FunctionRegistry>,
    attester: Arc<SoftwareNsm>,
    token: Option<Zeroizing<String>>,
    limits: ServerLimits,
    stats: Arc<Stats>,
    sessions: Arc<Semaphore>,
    pending: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    tls_spki_sha256: Option<[u8; 32]>,
}

/// A TLS acceptor for a self-signed certificate, and the SHA-256 of its SubjectPublicKeyInfo.
/// With a state directory the key and certificate persist there (`tls-key.der` mode 0600,
/// `tls-cert.der`), so a restarted mock presents the same certificate.
fn tls_identity(
    state_dir: Option<&std::path::Path>,
) -> Result<(tokio_rustls::TlsAcceptor, [u8; 32], Vec<u8>), StartError> {
    use rcgen::{CertificateParams, KeyPair, PublicKeyData};
    use sha2::{Digest, Sha256};
    let tls_err = |what: &str, e: &dyn std::fmt::Display| StartError::Tls(format!("{what}: {e}"));
    let paths = state_dir.map(|d| (d.join("tls-key.der"), d.join("tls-cert.der")));
    let stored = paths.as_ref().filter(|(k, c)| k.exists() && c.exists());
    let (key, cert_der) = match stored {
        Some((k, c)) => {
            let key_der = Zeroizing::new(std::fs::read(k).map_err(|e| tls_err("reading tls-key.der", &e))?);
            let key = KeyPair::try_from(key_der.as_slice()).map_err(|e| tls_err("tls-key.der", &e))?;
            (key, std::fs::read(c).map_err(|e| tls_err("reading tls-cert.der", &e))?)
        }
        None => {
            let key = KeyPair::generate().map_err(|e| tls_err("generating the TLS key", &e))?;
            let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .map_err(|e| tls_err("certificate parameters", &e))?;
            let cert = params.self_signed(&key).map_err(|e| tls_err("self-signing", &e))?;
            if let Some((k, c)) = &paths {
                write_private(k, &key.serialize_der()).map_err(|e| tls_err("writing tls-key.der", &e))?;
                std::fs::write(c, cert.der()).map_err(|e| tls_err("writing tls-cert.der", &e))?;
            }
            (key, cert.der().to_vec())
        }
    };
    let spki_sha256: [u8; 32] = Sha256::digest(key.subject_public_key_info()).into();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("TLS versions", &e))?
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone().into()], private)
        .map_err(|e| tls_err("TLS certificate", &e))?;
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), spki_sha256, cert_der))
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)
}

/// A running mock enclave. Dropping it stops accepting; [`shutdown`](Self::shutdown) also drains.
pub struct MockEnclave {
    addr: SocketAddr,
    nsm: Arc<SoftwareNsm>,
    functions: Arc<FunctionRegistry>,
    stats: Arc<Stats>,
    shutdown: watch::Sender<bool>,
    accept: Option<tokio::task::JoinHandle<()>>,
    done: mpsc::Receiver<()>,
    limits: ServerLimits,
    tls: bool,
    tls_certificate: Option<Vec<u8>>,
    /// The session and pending-upgrade semaphores, for the gauges in [`ServerStats`].
    slots: (Arc<Semaphore>, Arc<Semaphore>),
}

impl std::fmt::Debug for MockEnclave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockEnclave").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl MockEnclave {
    /// Starts a builder with defaults: `127.0.0.1:0`, the built-in functions, an ephemeral NSM.
    pub fn builder() -> MockEnclaveBuilder {
        MockEnclaveBuilder {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            measurements: None,
            functions: None,
            state_dir: None,
            nsm_clock: None,
            token: None,
            limits: ServerLimits::default(),
            tls: false,
        }
    }

    /// The base URL, `ws://127.0.0.1:PORT` (or `wss://` with TLS).
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "wss" } else { "ws" }, self.addr)
    }

    /// The listening address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The software NSM's root certificate, PEM: what a client pins.
    pub fn root_pem(&self) -> String {
        self.nsm.root_pem()
    }

    /// The software NSM's root certificate, DER.
    pub fn root_der(&self) -> &[u8] {
        self.nsm.root_der()
    }

    /// The measurements the NSM reports.
    pub fn measurements(&self) -> &Measurements {
        self.nsm.measurements()
    }

    /// The registry served.
    pub fn functions(&self) -> &FunctionRegistry {
        &self.functions
    }

    /// The checksum a function attests, if it is registered.
    pub fn function_checksum(&self, function_id: &FunctionId) -> Option<FunctionChecksum> {
        self.functions.get(function_id).map(|f| f.checksum())
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
        let s = &self.stats;
        ServerStats {
            sessions: s.sessions.load(Ordering::Relaxed),
            documents: s.documents.load(Ordering::Relaxed),
            key_shares: s.key_shares.load(Ordering::Relaxed),
            invocations: s.invocations.load(Ordering::Relaxed),
            completed: s.completed.load(Ordering::Relaxed),
            abandoned: s.abandoned.load(Ordering::Relaxed),
            records_rejected: s.records_rejected.load(Ordering::Relaxed),
            refused_upgrades: s.refused_upgrades.load(Ordering::Relaxed),
            open_sessions: in_use(&self.slots.0, self.limits.max_sessions),
            pending_upgrades: in_use(&self.slots.1, self.limits.max_pending_upgrades),
        }
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

fn in_use(slots: &Semaphore, max: usize) -> u64 {
    max.saturating_sub(slots.available_permits()) as u64
}

impl Drop for MockEnclave {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, done: mpsc::Sender<()>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let (tcp, peer) = tokio::select! {
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
            handle_connection(tcp, peer, shared).await;
            drop(done);
        });
    }
    tracing::info!("mock enclave stopped accepting; draining");
}

async fn handle_connection(tcp: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    // Bounds what connections that never finish their upgrade can hold (a task, a socket, a request
    // buffer each) until the handshake timeout; dropping `tcp` closes it.
    let Ok(pending) = shared.pending.clone().try_acquire_owned() else {
        shared.stats.refused_upgrades.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%peer, "pending-upgrade limit reached; connection closed");
        return;
    };
    let _ = tcp.set_nodelay(true);
    match shared.tls.clone() {
        None => upgrade_and_serve(tcp, peer, shared, pending).await,
        Some(acceptor) => match tokio::time::timeout(shared.limits.handshake_timeout, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => upgrade_and_serve(tls, peer, shared, pending).await,
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        },
    }
}

/// Initial WebSocket read buffer of a session (see `upgrade_and_serve`).
const IDLE_READ_BUFFER: usize = 16 * 1024;

#[allow(clippy::result_large_err)] // the upgrade callback's signature is tungstenite's
async fn upgrade_and_serve<S>(stream: S, peer: SocketAddr, shared: Arc<Shared>, pending: OwnedSemaphorePermit)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // The session slot is taken once the request has been read: a connection that never sends one
    // holds only a pending-upgrade slot.
    let mut permit = None;
    let mut chosen: Option<(FunctionId, Wire)> = None;
    let callback = |req: &Request, resp: Response| {
        permit = shared.sessions.clone().try_acquire_owned().ok();
        upgrade_check(req, resp, &shared, permit.is_some(), &mut chosen)
    };
    // tungstenite zero-fills its whole read buffer (128 KiB by default) before the first read, making
    // it resident in every session, idle or not; the buffer grows to a frame's length when one
    // arrives, so starting small costs an idle session 16 KiB instead of 128 KiB. The size is also
    // the most one read takes from the socket, so a 64 KiB record costs 4 reads here (8 at 8 KiB,
    // which measured ~10% less bulk throughput; 32 KiB brought idle sessions near their 64 KiB
    // target) (`enclave bench`: idle_session_bytes, bulk_ratio).
    let config = WebSocketConfig::default()
        .read_buffer_size(IDLE_READ_BUFFER)
        .max_message_size(Some(shared.limits.frame.max_frame_len()))
        .max_frame_size(Some(shared.limits.frame.max_frame_len()));
    let upgraded = tokio::time::timeout(
        shared.limits.handshake_timeout,
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)),
    )
    .await;
    drop(pending);
    let ws = match upgraded {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "upgrade refused");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "upgrade timed out");
            return;
        }
    };
    let (Some(_permit), Some((function_id, wire))) = (permit, chosen) else { return };
    let Some(function) = shared.functions.get(&function_id) else { return };
    shared.stats.sessions.fetch_add(1, Ordering::Relaxed);
    let function_id = function_id.as_str();
    tracing::info!(%peer, function_id, tls = shared.tls.is_some(), "session started");
    let ctx = Context {
        function,
        attester: shared.attester.clone() as Arc<dyn Attester>,
        limits: shared.limits,
        stats: shared.stats.clone(),
        shutdown: shared.shutdown.clone(),
        tls_spki_sha256: shared.tls_spki_sha256,
    };
    let end = match wire {
        Wire::Native => run_session(ws, ctx).await,
        Wire::Cape => crate::cape::run_cape_session(ws, ctx).await,
    };
    match &end {
        SessionEnd::ClientClosed | SessionEnd::Disconnected | SessionEnd::ShuttingDown => {
            tracing::info!(%peer, function_id, reason = %end, "session ended")
        }
        _ => tracing::warn!(%peer, function_id, reason = %end, "session ended"),
    }
}

fn refuse(status: StatusCode, why: &str) -> ErrorResponse {
    let mut r = ErrorResponse::new(Some(why.to_owned()));
    *r.status_mut() = status;
    r
}

// The error type is tungstenite's callback contract (an HTTP response); its size is not ours to choose.
#[allow(clippy::result_large_err)]
/// The upgrade's checks, in an order that reveals nothing to an unauthenticated caller: token first.
fn upgrade_check(
    req: &Request,
    mut resp: Response,
    shared: &Shared,
    have_slot: bool,
    chosen: &mut Option<(FunctionId, Wire)>,
) -> Result<Response, ErrorResponse> {
    let refused = |status, why| {
        shared.stats.refused_upgrades.fetch_add(1, Ordering::Relaxed);
        Err(refuse(status, why))
    };
    let offered: Vec<&str> = req
        .headers()
        .get_all("Sec-WebSocket-Protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let wire = if offered.contains(&PROTOCOL_LABEL) {
        Some(Wire::Native)
    } else if offered.contains(&CAPE_SUBPROTOCOL) {
        Some(Wire::Cape)
    } else {
        None
    };
    if let Some(token) = &shared.token {
        let given = req.headers().get("Authorization").map(|v| v.as_bytes()).unwrap_or_default();
        let expected = format!("Bearer {}", token.as_str());
        let mut ok = given.ct_eq(expected.as_bytes());
        // Cape clients carry their token as the second subprotocol entry, not in a header.
        if wire == Some(Wire::Cape) {
            for entry in &offered {
                ok |= entry.as_bytes().ct_eq(token.as_bytes());
            }
        }
        if !bool::from(ok) {
            return refused(StatusCode::UNAUTHORIZED, "bearer token missing or wrong");
        }
    }
    let Some(path) = req.uri().path().strip_prefix("/v1/run/") else {
        return refused(StatusCode::NOT_FOUND, "path must be /v1/run/{function_id}");
    };
    // Cape also addresses a function as `{user}/{name}`; the mock has one namespace, so the name is the id.
    let function_id = match (wire, path.split_once('/')) {
        (Some(Wire::Cape), Some((user, name))) if !user.is_empty() => name,
        _ => path,
    };
    // Text that is not a function id cannot name a registered function.
    let Some(function_id) = FunctionId::new(function_id).ok().filter(|id| shared.functions.get(id).is_some()) else {
        return refused(StatusCode::NOT_FOUND, "no such function");
    };
    let Some(wire) = wire else {
        return refused(StatusCode::BAD_REQUEST, "subprotocol enclave-session.v1 or cape.runtime required");
    };
    if !have_slot {
        return refused(StatusCode::SERVICE_UNAVAILABLE, "session limit reached");
    }
    let label = match wire {
        Wire::Native => PROTOCOL_LABEL,
        Wire::Cape => CAPE_SUBPROTOCOL,
    };
    resp.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(label));
    *chosen = Some((function_id, wire));
    Ok(resp)
}

/// Which protocol a connection speaks, chosen from the offered subprotocols (native preferred).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    Native,
    Cape,
}
