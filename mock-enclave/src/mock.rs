//! [`MockEnclave`]: the runtime's [`Server`] with the software NSM as its attester, the mock's
//! functions, and its state directory, for in-process use (tests, examples, `mock-enclave serve`).
//!
//! Input: the builder's settings (trusted: the operator's or the test's). Output: a running server
//! and what a client pins for it (root, measurements, checksums). Everything a connection meets is
//! the runtime's; this module only assembles the parts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use enclave_protocol::{FunctionChecksum, FunctionId, Pcr};
use enclave_runtime::{Server, ServerLimits, ServerStats};
use zeroize::Zeroizing;

use crate::attester::{Clock, SoftwareNsm, StateError};
use crate::error::StartError;
use crate::functions::FunctionRegistry;
use crate::measurements::{Measurements, MOCK_IMAGE_NAME};

/// Builds and starts a mock enclave.
#[must_use]
pub struct MockEnclaveBuilder {
    listen: SocketAddr,
    image: (String, String),
    debug_mode: bool,
    pcrs: Vec<Pcr>,
    functions: Option<FunctionRegistry>,
    state_dir: Option<PathBuf>,
    nsm_clock: Option<Clock>,
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

impl MockEnclaveBuilder {
    /// Listen address (default `127.0.0.1:0`, an ephemeral port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The image identity measured into PCR0 and PCR1 (default: `mock-enclave` and this crate's
    /// version, what `mock-enclave measurements` prints). Tests give another name or version to
    /// stand for an enclave running other code. PCR2 always measures the functions served.
    pub fn image(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.image = (name.into(), version.into());
        self
    }

    /// Report debug-mode measurements (PCR0..2 all zero), as an enclave started with `--debug-mode`.
    pub fn debug_mode(mut self, on: bool) -> Self {
        self.debug_mode = on;
        self
    }

    /// Report this value for PCR3, PCR4 or PCR8 (what a parent's IAM role, its instance id or a
    /// signing certificate sets in a real enclave); repeatable. Another index fails [`spawn`](Self::spawn)
    /// with [`StartError::Measurements`].
    pub fn pcr(mut self, pcr: Pcr) -> Self {
        self.pcrs.push(pcr);
        self
    }

    /// The functions served (default: the built-ins).
    pub fn functions(mut self, f: FunctionRegistry) -> Self {
        self.functions = Some(f);
        self
    }

    /// Keep the CA keys (and the TLS identity) in `dir` (created on first use), so the root survives restarts.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// The NSM's clock in Unix milliseconds (tests move it to issue documents at other times).
    pub fn nsm_clock(mut self, clock: Clock) -> Self {
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

    /// Creates (or loads) the NSM, binds, and starts serving in the background.
    ///
    /// # Errors
    /// [`StartError`] when the state directory, the NSM, the TLS identity or binding fails.
    pub async fn spawn(self) -> Result<MockEnclave, StartError> {
        let functions = Arc::new(self.functions.unwrap_or_else(FunctionRegistry::builtins));
        // Measured from the functions as loaded and sealed, so a document names what runs; with the
        // default image, exactly what `mock-enclave measurements` prints for the same functions.
        let (name, version) = &self.image;
        let mut measurements = Measurements::for_image(name, version, functions.manifest()).debug_mode(self.debug_mode);
        for pcr in self.pcrs {
            measurements = measurements.with_pcr(pcr)?;
        }
        let nsm = match &self.state_dir {
            // Before anything is created there: keys a function could read are keys it could use.
            Some(dir) if functions.readable_by_functions(dir) => {
                return Err(StateError::ReadableByFunctions { path: dir.clone() }.into())
            }
            Some(dir) => SoftwareNsm::load_or_create(dir, measurements)?,
            None => SoftwareNsm::ephemeral(measurements)?,
        };
        let nsm = Arc::new(match self.nsm_clock {
            Some(c) => nsm.with_clock(c),
            None => nsm,
        });
        let mut server =
            Server::builder(nsm.clone()).listen(self.listen).functions(functions.to_functions()).limits(self.limits);
        if self.tls {
            server = server.tls(crate::tls::load_or_create(self.state_dir.as_deref())?);
        }
        if let Some(mut token) = self.token {
            // Moves the string (no copy is left behind unwiped); the runtime keeps it zeroizing.
            server = server.token(std::mem::take(&mut *token));
        }
        let server = server.spawn().await?;
        Ok(MockEnclave { server, listen: self.listen, nsm, functions })
    }
}

/// A running mock enclave. Dropping it stops accepting; [`shutdown`](Self::shutdown) also drains.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mock_enclave::StartError> {
/// let mock = mock_enclave::MockEnclave::builder().spawn().await?;
/// assert!(mock.url().starts_with("ws://127.0.0.1:"));
/// assert!(mock.root_pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// let echo = mock.function_checksum(&"echo".parse().unwrap());
/// assert!(echo.is_some());
/// mock.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct MockEnclave {
    server: Server,
    listen: SocketAddr,
    nsm: Arc<SoftwareNsm>,
    functions: Arc<FunctionRegistry>,
}

impl std::fmt::Debug for MockEnclave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockEnclave").field("server", &self.server).finish_non_exhaustive()
    }
}

impl MockEnclave {
    /// Starts a builder with defaults: `127.0.0.1:0`, the built-in functions, an ephemeral NSM.
    pub fn builder() -> MockEnclaveBuilder {
        MockEnclaveBuilder {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            image: (MOCK_IMAGE_NAME.to_owned(), crate::functions::MOCK_VERSION.to_owned()),
            debug_mode: false,
            pcrs: Vec::new(),
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
        self.server.url()
    }

    /// The listening address.
    pub fn local_addr(&self) -> SocketAddr {
        // The mock listens on TCP only (its builder takes a socket address).
        self.server.local_addr().as_tcp().unwrap_or(self.listen)
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
        self.server.tls_certificate_der()
    }

    /// The limits in force.
    pub fn limits(&self) -> ServerLimits {
        self.server.limits()
    }

    /// What the server has seen so far.
    pub fn stats(&self) -> ServerStats {
        self.server.stats()
    }

    /// Stops accepting, lets running invocations finish (up to the drain timeout), tells each client
    /// with an authenticated `ShuttingDown`, and returns when every session has ended.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
