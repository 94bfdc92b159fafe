//! The client: the only part of the SDK that does I/O.
//!
//! Input: the caller's configuration and input bytes (trusted), and everything from the network
//! (untrusted until the document verified, then trusted only as far as the records authenticate).
//! Output: function outputs, verified documents, or an [`Error`]. The order is fixed (PROTOCOL.md
//! section 4): nothing of the caller's input leaves this process before the one binding step
//! (`attested`) has accepted the document for this nonce, this function, this TLS key and this time.
//!
//! From the bottom up: `config` (what a client was built with, and its [`Clock`]), `endpoint` (the
//! base URL, parsed by `http::Uri`), `tls` (attested TLS), `transport` (TCP, TLS, the upgrade and its
//! subprotocol, for both protocols), `attested` (the binding step), `session` (the pipelining session
//! over sealed records), `states` (a native connection as typed states: connected -> attested ->
//! open), `cape` (Cape's protocol over the same transport and binding step), `env` (configuration
//! from the environment); this file is the face: [`Client`], [`ClientBuilder`] and
//! [`connect_and_invoke`].

mod attested;
mod cape;
mod config;
mod endpoint;
mod env;
mod pool;
mod session;
mod states;
mod tls;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use enclave_protocol::{
    FrameLimits, FunctionId, MeasurementError, DEFAULT_CLIENT_IDLE_TIMEOUT, DEFAULT_CLIENT_MAX_IN_FLIGHT,
    DEFAULT_HANDSHAKE_TIMEOUT, MAX_CHUNK_LEN,
};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use zeroize::Zeroizing;

pub use cape::CapeSession;
pub use config::Clock;
pub use pool::SessionReuse;
pub use session::{Progress, Session};

use config::{Config, SystemClock, DEFAULT_MAX_OUTPUT_LEN};
use endpoint::Endpoint;
use pool::{Pool, Pooled};
use states::Connected;
use transport::CAPE_SUBPROTOCOL;

use crate::attestation::{AttestedDocument, Policy, Verifier};
use crate::error::{ConfigError, Error, SessionError};

/// Connects to enclaves, verifying each one against a [`Policy`] before sending it anything.
///
/// Cheap to clone; clones share the verifier's certificate cache and the idle sessions kept for
/// [`invoke`](Self::invoke) (see [`SessionReuse`] for when a call attests afresh).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let mock = mock_enclave::MockEnclave::builder().spawn().await?;
/// # let release = enclave_sdk::MeasurementSet::new(
/// #     mock.measurements().pcrs().iter().map(|(i, v)| enclave_protocol::Pcr::new(*i, v.clone())))?;
/// # let url = mock.url();
/// use enclave_sdk::attestation::{Policy, TrustRoot};
/// use enclave_sdk::Client;
///
/// let policy = Policy::builder()
///     .trust_root(TrustRoot::from_pem(&mock.root_pem())?) // the mock's; AWS Root-G1 by default
///     .allow_measurements(release) // the image you built
///     .build()?;
/// let client = Client::builder().endpoint(url).policy(policy).build()?;
/// let session = client.connect("uppercase").await?; // nonce -> document -> verified -> HPKE
/// assert_eq!(session.invoke(b"hello").await?, b"HELLO");
/// session.close().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    config: Arc<Config>,
    pool: Arc<Pool>,
}

/// Builds a [`Client`]; the endpoint and the policy are required, everything else has a safe default.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use enclave_sdk::attestation::Policy;
/// use enclave_sdk::error::ConfigError;
/// use enclave_sdk::{Client, Error};
/// use std::time::Duration;
///
/// let release: enclave_sdk::MeasurementSet = format!("0={}", "ab".repeat(48)).parse()?;
/// let policy = || Policy::builder().allow_measurements(release.clone()).build();
/// let client = Client::builder()
///     .endpoint("wss://enclave.example")
///     .policy(policy()?)
///     .token("front-door token") // sent in the upgrade, never logged
///     .handshake_timeout(Duration::from_secs(5))
///     .max_in_flight(8)
///     .build()?;
/// assert_eq!(client.policy().measurement_sets().len(), 1);
///
/// // Plain ws:// is for loopback only, unless the caller says otherwise.
/// let far = Client::builder().endpoint("ws://enclave.example:8443").policy(policy()?).build();
/// assert!(matches!(far, Err(Error::Config(ConfigError::PlaintextTransport(_)))));
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    endpoint: Option<String>,
    webpki_roots: Vec<Vec<u8>>,
    policy: Option<Policy>,
    token: Option<zeroize::Zeroizing<String>>,
    handshake_timeout: Duration,
    idle_timeout: Duration,
    max_in_flight: usize,
    max_output_len: usize,
    limits: FrameLimits,
    clock: Arc<dyn Clock>,
    allow_plaintext_transport: bool,
    reuse: SessionReuse,
}

impl Client {
    /// Starts a builder with safe defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = enclave_sdk::Client::builder(); // then .endpoint(..).policy(..).build()
    /// # drop(builder);
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            endpoint: None,
            webpki_roots: Vec::new(),
            policy: None,
            token: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            idle_timeout: DEFAULT_CLIENT_IDLE_TIMEOUT,
            max_in_flight: DEFAULT_CLIENT_MAX_IN_FLIGHT,
            max_output_len: DEFAULT_MAX_OUTPUT_LEN,
            limits: FrameLimits::default(),
            allow_plaintext_transport: false,
            clock: Arc::new(SystemClock),
            reuse: SessionReuse::default(),
        }
    }

    /// A client configured from the environment:
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `ENCLAVE_URL` | base URL, `ws://host:port` (required) |
    /// | `ENCLAVE_POLICY` | path to a policy file (TOML, see [`Policy::from_file`]); excludes the four pin variables below |
    /// | `ENCLAVE_ROOT_PEM` | path to the trust root's PEM (default: AWS Nitro Root-G1, built in) |
    /// | `ENCLAVE_PCRS` | the allowed measurement sets: `IDX=HEX,IDX=HEX,...`, releases separated by `;` |
    /// | `ENCLAVE_FUNCTION_CHECKSUM` | 64 hex digits: the function checksum to pin |
    /// | `ENCLAVE_ALLOW_DEBUG` | `1`/`true`/`yes`: accept debug-mode enclaves (**insecure**) |
    /// | `ENCLAVE_TOKEN` | bearer token (optional) |
    ///
    /// Either `ENCLAVE_POLICY`, or `ENCLAVE_PCRS` with every set pinning PCR0, PCR2 or PCR8, must be
    /// set: a function checksum alone is the enclave's own claim, and PCR1, PCR3 and PCR4 do not identify
    /// the image. Setting `ENCLAVE_POLICY` together with a pin variable is refused rather than merged, so
    /// no pin is silently ignored. An empty variable counts as unset.
    ///
    /// # Errors
    /// [`ConfigError::EnvMissing`], [`ConfigError::EnvConflict`], [`ConfigError::EnvPolicyFile`],
    /// [`ConfigError::EnvRootUnreadable`] or [`ConfigError::EnvRoot`] naming the variable at fault,
    /// [`ConfigError::EnvValue`] for a pin that does not parse, [`ConfigError::EnvImageNotPinned`]
    /// when the pins do not identify the image; then as [`ClientBuilder::build`].
    ///
    /// # Examples
    ///
    /// ```
    /// use enclave_sdk::{error::ConfigError, Client, Error};
    /// let vars = |name: &str| match name {
    ///     "ENCLAVE_URL" => Some("ws://127.0.0.1:8443".to_owned()),
    ///     "ENCLAVE_FUNCTION_CHECKSUM" => Some("11".repeat(32)),
    ///     _ => None,
    /// };
    /// // A checksum without ENCLAVE_PCRS would trust any enclave that claims it.
    /// assert!(matches!(Client::from_vars(vars), Err(Error::Config(ConfigError::EnvImageNotPinned { .. }))));
    /// ```
    pub fn from_env() -> Result<Client, Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// As [`from_env`](Self::from_env), reading variables through `get` (tests pass a map).
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    ///
    /// # Examples
    ///
    /// ```
    /// let pcrs = format!("0={}", "ab".repeat(48));
    /// let client = enclave_sdk::Client::from_vars(|name| match name {
    ///     "ENCLAVE_URL" => Some("wss://enclave.example".to_owned()),
    ///     "ENCLAVE_PCRS" => Some(pcrs.clone()),
    ///     _ => None,
    /// })?;
    /// assert_eq!(client.policy().measurement_sets().len(), 1);
    /// # Ok::<(), enclave_sdk::Error>(())
    /// ```
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Client, Error> {
        let env = env::read(get)?;
        Self::configured(env.url, env.policy, env.token)
    }

    /// The client the environment's settings describe: the one place that turns them into a client,
    /// for [`from_vars`](Self::from_vars) and for [`connect_and_invoke`]'s process-wide clients.
    fn configured(url: String, policy: Policy, token: Option<String>) -> Result<Client, Error> {
        let mut builder = Client::builder().endpoint(url).policy(policy);
        if let Some(token) = token {
            builder = builder.token(token);
        }
        builder.build()
    }

    /// The policy documents are verified against.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let policy = enclave_sdk::attestation::Policy::builder().dangerous_accept_any_enclave().build()?;
    /// let client = enclave_sdk::Client::builder().endpoint("ws://127.0.0.1:8443").policy(policy).build()?;
    /// assert!(client.policy().accepts_any_enclave());
    /// # Ok(()) }
    /// ```
    pub fn policy(&self) -> &Policy {
        self.config.verifier.policy()
    }

    /// Connects to `function_id` (a [`FunctionId`], or text that must follow its rule), verifies the
    /// enclave, and opens a session.
    ///
    /// # Errors
    /// [`ConfigError::FunctionId`] for an id outside the rule (before connecting), [`Error::Connect`]
    /// before the document, [`Error::Attestation`] or [`Error::Session`] when the document is refused
    /// (nothing was sent), [`Error::Session`] or [`Error::Limit`] for protocol failures and timeouts.
    ///
    /// # Cancel safety
    /// Dropping the future closes the connection (at the runtime's next turn); no input has been
    /// sent yet.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: enclave_sdk::Client) -> Result<(), enclave_sdk::Error> {
    /// let session = client.connect("word-count").await?;
    /// let count = session.invoke(b"one two three").await?;
    /// # let _ = count; Ok(()) }
    /// # let _ = demo;
    /// ```
    pub async fn connect(
        &self,
        function_id: impl TryInto<FunctionId, Error = MeasurementError>,
    ) -> Result<Session, Error> {
        let function_id = function_id.try_into().map_err(ConfigError::FunctionId)?;
        self.connect_to(&function_id).await
    }

    async fn connect_to(&self, function_id: &FunctionId) -> Result<Session, Error> {
        let (config, function_id) = (self.config.clone(), function_id.clone());
        on_runtime(async move { open_session(config, &function_id).await }).await
    }

    /// Invokes `function_id` on `input` and returns the output, on an idle attested session this
    /// client kept from an earlier call to the same function, or else on a new one ([`connect`](Self::connect)).
    ///
    /// A reused session costs one round trip; a new one connects and attests (3 round trips on
    /// `ws://`, 4 on `wss://`, counting TCP's). The call attests afresh whenever no kept session
    /// passes every bound of this client's [`SessionReuse`]: never failed, idle and age within
    /// bounds, document certificates still valid. Afterwards the session is kept for the next call
    /// unless the call failed (a function's own error, [`Error::Function`], leaves the session
    /// usable and it is kept). A call on a kept session can fail if the enclave ended the session in
    /// between (a restart, an idle timeout shorter than [`SessionReuse::max_idle`]); such a failure is
    /// returned, not retried, since the input may have reached the enclave.
    ///
    /// # Errors
    /// As [`connect`](Self::connect) and [`Session::invoke`].
    ///
    /// # Cancel safety
    /// Dropping the future ends the call and its session, which is not kept: a fresh call (on a
    /// multi-threaded runtime, a task of its own) stops at its next wait and its connection closes.
    /// Once the input was sent it may have reached the enclave.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mock = mock_enclave::MockEnclave::builder().spawn().await?;
    /// # let release = enclave_sdk::MeasurementSet::new(
    /// #     mock.measurements().pcrs().iter().map(|(i, v)| enclave_protocol::Pcr::new(*i, v.clone())))?;
    /// # let policy = enclave_sdk::attestation::Policy::builder()
    /// #     .trust_root(enclave_sdk::attestation::TrustRoot::from_pem(&mock.root_pem())?)
    /// #     .allow_measurements(release)
    /// #     .build()?;
    /// # let client = enclave_sdk::Client::builder().endpoint(mock.url()).policy(policy).build()?;
    /// assert_eq!(client.invoke("uppercase", b"first").await?, b"FIRST"); // connects and attests
    /// assert_eq!(client.invoke("uppercase", b"again").await?, b"AGAIN"); // the same session
    /// # assert_eq!(mock.stats().documents, 1);
    /// # Ok(()) }
    /// ```
    pub async fn invoke(
        &self,
        function_id: impl TryInto<FunctionId, Error = MeasurementError>,
        input: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let function_id = function_id.try_into().map_err(ConfigError::FunctionId)?;
        if let Some(pooled) = self.pool.take(&function_id, self.config.clock.now()) {
            return self.invoke_on(pooled, input).await;
        }
        let opened = self.config.clock.now();
        if input.len() > MAX_CHUNK_LEN || !on_workers() {
            let session = self.connect_to(&function_id).await?;
            return self.invoke_on(Pooled::new(session, opened), input).await;
        }
        // A fresh call of one record runs as one task on the runtime's workers, handshake and
        // invocation (see `on_runtime`): the caller is woken once, with the output, rather than also
        // with the session and then by the writer it queues the input for. The task needs the input
        // owned (a copy, wiped after), and hands the output back in a wiped buffer too, so that an
        // output left behind by a cancelled call is not freed unwiped.
        let (client, input) = (self.clone(), Zeroizing::new(input.to_vec()));
        let mut output = on_runtime(async move {
            let session = open_session(client.config.clone(), &function_id).await?;
            client.invoke_on(Pooled::new(session, opened), &input).await.map(Zeroizing::new)
        })
        .await?;
        // The caller owns the output from here, as from `Session::invoke`.
        Ok(std::mem::take(&mut *output))
    }

    /// Invokes on `pooled`, and keeps it for the next call unless the call failed (a function's own
    /// error leaves the session usable).
    async fn invoke_on(&self, pooled: Pooled, input: &[u8]) -> Result<Vec<u8>, Error> {
        let result = pooled.session.invoke(input).await;
        if matches!(result, Ok(_) | Err(Error::Function { .. })) {
            self.pool.put(pooled, self.config.clock.now());
        }
        result
    }

    /// Connects to `function_id`, asks for a document over a fresh nonce, and returns it verified. No
    /// input is sent and no session is opened.
    ///
    /// The document is verified against the policy, this nonce and (when the policy pins checksums)
    /// this function, and on `wss://` it must bind the TLS key, as in [`connect`](Self::connect);
    /// unlike a session, it need not carry this protocol's claim or an X25519 key, so documents of
    /// other enclave frameworks can be fetched too (a TLS key they bind as their whole user data, as
    /// Evervault's do, is accepted). With a policy built by `dangerous_accept_any_enclave` only the
    /// signature, chain and nonce are checked.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: enclave_sdk::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let document = client.fetch_attestation("echo").await?;
    /// std::fs::write("doc.cbor", document.raw())?; // the exact bytes that verified
    /// println!("{} at {} ms", document.module_id(), document.timestamp_ms());
    /// # Ok(()) }
    /// # let _ = demo;
    /// ```
    pub async fn fetch_attestation(
        &self,
        function_id: impl TryInto<FunctionId, Error = MeasurementError>,
    ) -> Result<AttestedDocument, Error> {
        let function_id = function_id.try_into().map_err(ConfigError::FunctionId)?;
        let config = self.config.clone();
        on_runtime(async move { Connected::open(&config, &function_id).await?.fetch(&config).await }).await
    }

    /// Connects with Cape's protocol to `function` (`name`, or `user/name` as Cape addresses
    /// functions), verifies the enclave's document against this client's policy, and returns a
    /// session. Nothing but the nonce is sent before the document verified.
    ///
    /// The checksum pin is looked up under the function's name (the part after `/`), since Cape's user
    /// data carries only a checksum. The client's token, if any, is sent as Cape does: as the second
    /// `Sec-WebSocket-Protocol` entry.
    ///
    /// # Errors
    /// [`ConfigError::CapeNeedsWebPki`] on `wss://` without [`ClientBuilder::tls_webpki_root`],
    /// [`Error::Connect`] before the document, [`Error::Attestation`] when it is refused (only the
    /// nonce was sent), [`Error::Session`] for a malformed Cape message, [`Error::Limit`] on timeout.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: enclave_sdk::Client) -> Result<(), enclave_sdk::Error> {
    /// let mut session = client.connect_cape("alice/echo").await?;
    /// let out = session.invoke(b"input").await?;
    /// # let _ = out; Ok(()) }
    /// # let _ = demo;
    /// ```
    pub async fn connect_cape(&self, function: &str) -> Result<CapeSession, Error> {
        let (config, function) = (self.config.clone(), function.to_owned());
        on_runtime(async move { cape::connect(&config, &function).await }).await
    }
}

impl ClientBuilder {
    /// The enclave's base URL, `ws://host[:port]` or `wss://host[:port]` (parsed by `http::Uri`: no
    /// user info, path, query or fragment); the SDK appends `/v1/run/{function_id}`. On `wss://` the
    /// enclave's TLS key must be bound by its attestation.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let policy = enclave_sdk::attestation::Policy::builder().dangerous_accept_any_enclave().build()?;
    /// use enclave_sdk::Client;
    /// let client = Client::builder().endpoint("wss://enclave.example:8443").policy(policy).build()?;
    /// # let _ = client;
    /// # Ok(()) }
    /// ```
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// What the enclave must prove before it gets any input.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::Policy;
    /// let policy = Policy::from_file("policy.toml")?; // or Policy::builder()...build()?
    /// let client = enclave_sdk::Client::builder().endpoint("wss://enclave.example").policy(policy).build()?;
    /// # let _ = client;
    /// # Ok(()) }
    /// ```
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Allows a plain `ws://` endpoint on a host that is not loopback.
    ///
    /// # Security
    /// Inputs and outputs stay end-to-end encrypted to the attested enclave either way, but without TLS
    /// the function id, the bearer token and the sizes and timing of every record are visible to the
    /// network, and anyone on the path can take the token. By default `ws://` is accepted only for
    /// `localhost` and loopback addresses.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let policy = enclave_sdk::attestation::Policy::builder().dangerous_accept_any_enclave().build()?;
    /// use enclave_sdk::Client;
    /// // Inside a private network where TLS is terminated elsewhere: the session stays end-to-end
    /// // encrypted and attested, but the upgrade (function id, token) crosses the network in clear.
    /// let client = Client::builder()
    ///     .endpoint("ws://10.0.0.7:8443")
    ///     .policy(policy)
    ///     .dangerous_allow_plaintext_transport()
    ///     .build()?;
    /// # let _ = client;
    /// # Ok(()) }
    /// ```
    pub fn dangerous_allow_plaintext_transport(mut self) -> Self {
        self.allow_plaintext_transport = true;
        self
    }

    /// A bearer token sent in the upgrade's `Authorization` header (Cape mode: as Cape sends it), never
    /// logged. It must be a valid HTTP header value (visible ASCII).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let policy = enclave_sdk::attestation::Policy::builder().dangerous_accept_any_enclave().build()?;
    /// use enclave_sdk::Client;
    /// let token = std::env::var("MY_ENCLAVE_TOKEN").unwrap_or_default();
    /// let client = Client::builder().endpoint("wss://enclave.example").policy(policy).token(token).build();
    /// # let _ = client;
    /// # Ok(()) }
    /// ```
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(zeroize::Zeroizing::new(token.into()));
        self
    }

    /// Bound on connecting, the WebSocket upgrade and receiving the document (default 10 s).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let policy = enclave_sdk::attestation::Policy::builder().dangerous_accept_any_enclave().build()?;
    /// use enclave_sdk::Client;
    /// use std::time::Duration;
    /// let client = Client::builder()
    ///     .endpoint("wss://enclave.example")
    ///     .policy(policy)
    ///     .handshake_timeout(Duration::from_secs(3))
    ///     .build()?;
    /// # let _ = client;
    /// # Ok(()) }
    /// ```
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = d;
        self
    }

    /// How long an invocation waits with no record in either direction before it fails (default 60 s).
    /// Time the caller takes to consume output (a slow `invoke_stream` writer) does not count: the
    /// period starts when the session is ready to read again.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let policy = enclave_sdk::attestation::Policy::builder().dangerous_accept_any_enclave().build()?;
    /// use enclave_sdk::Client;
    /// use std::time::Duration;
    /// let client = Client::builder()
    ///     .endpoint("wss://enclave.example")
    ///     .policy(policy)
    ///     .idle_timeout(Duration::from_secs(300)) // a function that computes for minutes
    ///     .build()?;
    /// # let _ = client;
    /// # Ok(()) }
    /// ```
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }

    /// Invocations one session keeps in flight; further calls wait for a slot. At least 1 (default 32).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let policy = enclave_sdk::attestation::Policy::builder().dangerous_accept_any_enclave().build()?;
    /// use enclave_sdk::Client;
    /// let client = Client::builder().endpoint("wss://enclave.example").policy(policy).max_in_flight(64).build()?;
    /// # let _ = client;
    /// # Ok(()) }
    /// ```
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Bound on the output [`Session::invoke`] collects (default 64 MiB).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let policy = enclave_sdk::attestation::Policy::builder().dangerous_accept_any_enclave().build()?;
    /// use enclave_sdk::Client;
    /// // Outputs above 1 MiB fail with LimitError::OutputTooLarge; invoke_stream has no bound.
    /// let client = Client::builder().endpoint("wss://enclave.example").policy(policy).max_output_len(1 << 20).build()?;
    /// # let _ = client;
    /// # Ok(()) }
    /// ```
    pub fn max_output_len(mut self, n: usize) -> Self {
        self.max_output_len = n;
        self
    }

    /// Bound on the attestation document's size (default 20 KiB).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let policy = enclave_sdk::attestation::Policy::builder().dangerous_accept_any_enclave().build()?;
    /// use enclave_sdk::Client;
    /// let client = Client::builder().endpoint("wss://enclave.example").policy(policy).max_document_len(8 * 1024).build()?;
    /// # let _ = client;
    /// # Ok(()) }
    /// ```
    pub fn max_document_len(mut self, n: usize) -> Self {
        self.limits = self.limits.with_max_document_len(n);
        self
    }

    /// On `wss://`, also require ordinary WebPKI validation of the enclave's certificate: a chain to
    /// one of these root certificates (DER; call again to add more), valid now, for the endpoint's
    /// host name. The attestation binding is required either way.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let policy = enclave_sdk::attestation::Policy::builder().dangerous_accept_any_enclave().build()?;
    /// let ca = std::fs::read("corporate-ca.der")?; // the CA that issued the enclave's certificate
    /// let client = enclave_sdk::Client::builder()
    ///     .endpoint("wss://enclave.example")
    ///     .policy(policy)
    ///     .tls_webpki_root(ca)
    ///     .build()?;
    /// # let _ = client;
    /// # Ok(()) }
    /// ```
    pub fn tls_webpki_root(mut self, root_der: Vec<u8>) -> Self {
        self.webpki_roots.push(root_der);
        self
    }

    /// How Session-less calls ([`Client::invoke`]) keep and reuse attested sessions (default:
    /// [`SessionReuse::default`]; [`SessionReuse::disabled`] attests every call).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let policy = enclave_sdk::attestation::Policy::builder().dangerous_accept_any_enclave().build()?;
    /// use enclave_sdk::{Client, SessionReuse};
    /// let client = Client::builder().endpoint("wss://enclave.example").policy(policy).session_reuse(SessionReuse::disabled()).build()?;
    /// # let _ = client;
    /// # Ok(()) }
    /// ```
    pub fn session_reuse(mut self, reuse: SessionReuse) -> Self {
        self.reuse = reuse;
        self
    }

    /// Where "now" comes from (default: the system clock).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let policy = enclave_sdk::attestation::Policy::builder().dangerous_accept_any_enclave().build()?;
    /// use enclave_sdk::Client;
    /// use enclave_sdk::attestation::UnixTime;
    /// use enclave_sdk::Clock;
    ///
    /// /// Verifies as of a fixed instant (e.g. a test against recorded documents).
    /// #[derive(Debug)]
    /// struct Fixed;
    /// impl Clock for Fixed {
    ///     fn now(&self) -> UnixTime {
    ///         UnixTime::from_secs(1_676_033_041)
    ///     }
    /// }
    /// let client = Client::builder().endpoint("wss://enclave.example").policy(policy).clock(std::sync::Arc::new(Fixed)).build()?;
    /// # let _ = client;
    /// # Ok(()) }
    /// ```
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the configuration and builds the client.
    ///
    /// # Errors
    /// [`ConfigError::NoEndpoint`], [`ConfigError::NoPolicy`], [`ConfigError::Endpoint`],
    /// [`ConfigError::PlaintextTransport`], [`ConfigError::Token`] or [`ConfigError::WebPkiRoot`].
    ///
    /// # Examples
    ///
    /// ```
    /// use enclave_sdk::error::ConfigError;
    /// use enclave_sdk::{Client, Error};
    /// # let policy = || enclave_sdk::attestation::Policy::builder().dangerous_accept_any_enclave().build().unwrap();
    /// let no_policy = Client::builder().endpoint("wss://enclave.example").build();
    /// assert!(matches!(no_policy, Err(Error::Config(ConfigError::NoPolicy))));
    /// // The user info of a URL names no host: refused, not read as a host called `user@enclave.example`.
    /// let odd = Client::builder().endpoint("wss://user@enclave.example").policy(policy()).build();
    /// assert!(matches!(odd, Err(Error::Config(ConfigError::Endpoint { .. }))));
    /// ```
    pub fn build(self) -> Result<Client, Error> {
        let text = self.endpoint.ok_or(ConfigError::NoEndpoint)?;
        let endpoint = Endpoint::parse(&text)?;
        let policy = self.policy.ok_or(ConfigError::NoPolicy)?;
        if !endpoint.tls() && !self.allow_plaintext_transport && !endpoint.is_loopback() {
            return Err(ConfigError::PlaintextTransport(text).into());
        }
        let webpki = if self.webpki_roots.is_empty() {
            None
        } else {
            let mut store = rustls::RootCertStore::empty();
            for der in self.webpki_roots {
                store.add(der.into()).map_err(ConfigError::WebPkiRoot)?;
            }
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            // With at least one root and no revocation lists, building cannot fail; should a newer
            // rustls refuse anyway, no WebPKI validation is ever silently skipped: the client fails.
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
                .build()
                .map_err(|_| ConfigError::WebPkiRoot(rustls::Error::General("no usable WebPKI root".into())))?;
            Some(verifier)
        };
        let tls = if endpoint.tls() { Some(tls::ClientTls::new(webpki)?) } else { None };
        let (bearer, cape_protocols) = upgrade_headers(self.token.as_deref().map(String::as_str))?;
        Ok(Client {
            config: Arc::new(Config {
                endpoint,
                tls,
                verifier: Verifier::new(policy),
                bearer,
                cape_protocols,
                handshake_timeout: self.handshake_timeout,
                idle_timeout: self.idle_timeout,
                max_in_flight: self.max_in_flight,
                max_output_len: self.max_output_len,
                limits: self.limits,
                clock: self.clock,
            }),
            pool: Arc::new(Pool::new(self.reuse)),
        })
    }
}

/// The token as each protocol sends it: `Authorization: Bearer <token>`, and Cape's
/// `Sec-WebSocket-Protocol: cape.runtime, <token>`; both marked sensitive, so the HTTP layer keeps them
/// out of its debug output.
fn upgrade_headers(token: Option<&str>) -> Result<(Option<HeaderValue>, HeaderValue), ConfigError> {
    let Some(token) = token else { return Ok((None, HeaderValue::from_static(CAPE_SUBPROTOCOL))) };
    let sensitive = |text: zeroize::Zeroizing<String>| -> Result<HeaderValue, ConfigError> {
        let mut value = HeaderValue::from_str(&text).map_err(|_| ConfigError::Token)?;
        value.set_sensitive(true);
        Ok(value)
    };
    let bearer = sensitive(zeroize::Zeroizing::new(format!("Bearer {token}")))?;
    let cape = sensitive(zeroize::Zeroizing::new(format!("{CAPE_SUBPROTOCOL}, {token}")))?;
    Ok((Some(bearer), cape))
}

/// Whether `on_runtime` spawns: only on a multi-threaded tokio runtime.
fn on_workers() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// Connects, attests and opens a session, in the caller's task. Every step up to the key share runs
/// by one deadline, which names the step it ran out in.
async fn open_session(config: Arc<Config>, function_id: &FunctionId) -> Result<Session, Error> {
    let attested = Connected::open(&config, function_id).await?.attest(&config).await?;
    attested.open(config).await
}

/// Runs `work`, a handshake (every connect, fetch and Cape connect goes through here) or a fresh
/// Session-less call of one record, as a task of the current multi-threaded tokio runtime, and
/// waits for it. Each of its waits (TCP, TLS, the upgrade, the document, the output) is then woken
/// on the worker that polls the socket, rather than through a caller polling on another thread (a
/// `block_on` main, Python's callers), one cross-thread wake-up per round trip; on a fresh call
/// through `enclave-bench`'s relay that measured about 0.2 ms (fresh_call_rtts_ws 3.144 -> 3.130,
/// wss 4.193 -> 4.178, four interleaved runs each, with the relay of the time). On a
/// current-thread runtime (the blocking API's, the `enclave` CLI's) or outside any runtime, `work`
/// runs in place: a task there would only queue every caller thread's handshake on the one thread
/// that drives it.
///
/// Dropping the returned future aborts the task: it stops at its next wait, and the connection
/// closes then (work run in place stops at once, and its socket closes with it).
async fn on_runtime<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, Error>> + Send + 'static,
) -> Result<T, Error> {
    use tracing::Instrument as _;
    struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);
    impl<T> Drop for AbortOnDrop<T> {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    if !on_workers() {
        return work.await;
    }
    let mut task = AbortOnDrop(tokio::spawn(work.in_current_span()));
    match (&mut task.0).await {
        Ok(result) => result,
        // A panic in the handshake is a bug: keep it a panic, in the caller.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: the client's runtime is shutting down.
        Err(_) => Err(SessionError::Closed.into()),
    }
}

/// Invokes `function_id` on `input` at the enclave named by the environment (see
/// [`Client::from_env`]) and returns the output, as [`Client::invoke`] does.
///
/// The environment is read and the policy built on every call; calls whose configuration (URL,
/// policy, token) is equal share one process-wide [`Client`], so a repeated call reuses its
/// attested session (within [`SessionReuse::default`]'s bounds) and costs one round trip. A changed
/// variable or policy file gets a new client, and so a fresh attestation. Sessions run on the
/// caller's tokio runtime: a call from another runtime finds the earlier ones' sessions ended and
/// attests afresh.
///
/// # Errors
/// Any [`Error`]: configuration, connection, attestation (nothing was sent), session, or the function's.
///
/// # Examples
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), enclave_sdk::Error> {
/// // ENCLAVE_URL and ENCLAVE_PCRS (or ENCLAVE_POLICY) say where and what to trust.
/// let output = enclave_sdk::connect_and_invoke("word-count", b"input that only the enclave sees").await?;
/// let again = enclave_sdk::connect_and_invoke("word-count", b"one round trip this time").await?;
/// # let _ = (output, again); Ok(()) }
/// ```
pub async fn connect_and_invoke(
    function_id: impl TryInto<FunctionId, Error = MeasurementError>,
    input: &[u8],
) -> Result<Vec<u8>, Error> {
    process_client(|name| std::env::var(name).ok())?.invoke(function_id, input).await
}

/// Process-wide clients of [`connect_and_invoke`], by configuration; at most this many are kept.
const MAX_PROCESS_CLIENTS: usize = 8;

/// What makes two environments the same client.
#[derive(PartialEq, Eq)]
struct EnvKey {
    url: String,
    policy: Policy,
    token: Option<zeroize::Zeroizing<String>>,
}

/// The process-wide client for the configuration `get` reads, built on first use.
fn process_client(get: impl Fn(&str) -> Option<String>) -> Result<Client, Error> {
    static CLIENTS: std::sync::Mutex<Vec<(EnvKey, Client)>> = std::sync::Mutex::new(Vec::new());
    let env = env::read(get)?;
    let key = EnvKey { url: env.url, policy: env.policy, token: env.token.map(zeroize::Zeroizing::new) };
    let mut clients = CLIENTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, client)) = clients.iter().find(|(k, _)| *k == key) {
        return Ok(client.clone());
    }
    // The token's copy moves into the builder's own zeroizing buffer.
    let client = Client::configured(key.url.clone(), key.policy.clone(), key.token.as_deref().cloned())?;
    if clients.len() >= MAX_PROCESS_CLIENTS {
        clients.remove(0);
    }
    clients.push((key, client.clone()));
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(endpoint: &str, allow_plaintext: bool) -> Result<Client, Error> {
        let policy = Policy::builder().dangerous_accept_any_enclave().build().unwrap();
        let builder = Client::builder().endpoint(endpoint).policy(policy);
        if allow_plaintext { builder.dangerous_allow_plaintext_transport() } else { builder }.build()
    }

    #[test]
    fn plain_ws_only_to_loopback_unless_allowed() {
        for ok in [
            "ws://127.0.0.1:9000",
            "ws://localhost:9000",
            "ws://[::1]:9000",
            "ws://127.8.0.1",
            "wss://enclave.example:443",
        ] {
            assert!(build(ok, false).is_ok(), "{ok}");
        }
        for far in ["ws://enclave.example:9000", "ws://10.0.0.7:9000", "ws://[2001:db8::1]:9000"] {
            assert_eq!(
                build(far, false).err(),
                Some(Error::Config(ConfigError::PlaintextTransport(far.to_owned()))),
                "{far}"
            );
            assert!(build(far, true).is_ok(), "{far}");
        }
    }

    /// `connect_and_invoke`'s process-wide client is per configuration: the same variables share one
    /// client and its attested session; a changed policy gets a new client, so the session the old
    /// policy accepted is never reused, and an enclave the new policy refuses (here: PCR0 pinned to
    /// another image) gets no key share and no input.
    #[tokio::test]
    async fn the_process_client_is_per_configuration() {
        let mock = mock_enclave::MockEnclave::builder().spawn().await.unwrap();
        let root = std::env::temp_dir().join(format!("enclave-sdk-process-client-{}.pem", std::process::id()));
        std::fs::write(&root, mock.root_pem()).unwrap();
        let pcrs = enclave_protocol::MeasurementSet::new(
            mock.measurements().pcrs().iter().map(|(i, v)| enclave_protocol::Pcr::new(*i, v.clone())),
        )
        .unwrap()
        .to_string();
        let vars = |pcrs: String| {
            let (url, root) = (mock.url(), root.to_str().unwrap().to_owned());
            move |name: &str| match name {
                "ENCLAVE_URL" => Some(url.clone()),
                "ENCLAVE_ROOT_PEM" => Some(root.clone()),
                "ENCLAVE_PCRS" => Some(pcrs.clone()),
                _ => None,
            }
        };
        for input in [&b"first"[..], b"second"] {
            assert_eq!(process_client(vars(pcrs.clone())).unwrap().invoke("echo", input).await.unwrap(), input);
        }
        let st = mock.stats();
        assert_eq!((st.documents, st.invocations), (1, 2), "{st:?}");
        let other_image = format!("0={}", "ab".repeat(48));
        let err = process_client(vars(other_image)).unwrap().invoke("echo", b"CANARY").await.unwrap_err();
        assert!(
            matches!(err, Error::Attestation(crate::attestation::AttestationError::PcrNotAllowed { .. })),
            "{err:?}"
        );
        let st = mock.stats();
        assert_eq!((st.documents, st.key_shares, st.invocations), (2, 1, 2), "{st:?}");
        let _ = std::fs::remove_file(root);
    }

    /// A token that cannot travel in a header is a configuration error of its own, found when the
    /// client is built, not an environment variable's problem found at the first connection.
    #[test]
    fn a_token_that_is_no_header_value_is_refused_by_name() {
        let policy = Policy::builder().dangerous_accept_any_enclave().build().unwrap();
        let built = Client::builder().endpoint("ws://127.0.0.1:1").policy(policy).token("line\nbreak").build();
        assert_eq!(built.err(), Some(Error::Config(ConfigError::Token)));
    }
}
