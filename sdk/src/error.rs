//! The SDK's top-level error, layered by where a call failed (STYLE.md section 3).
//!
//! Input: failures from connecting, verifying, the session, the function and the configured limits.
//! Output: one [`Error`] whose `Display` is safe to log: it names the check, the limit and the values,
//! never input or output bytes, user data, keys, or a function's own message (which may echo input).

use std::path::PathBuf;
use std::time::Duration;

use enclave_protocol::{
    FunctionId, HandshakeError, MeasurementError, RecordError, RequestId, SessionErrorCode, WireError,
};

use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};

use crate::attestation::{AttestationError, PolicyError, PolicyFileError};

/// Everything a call into the SDK can fail with.
///
/// # Examples
///
/// ```
/// use enclave_sdk::error::{ConfigError, LimitError, Wait};
/// use enclave_sdk::Error;
/// use std::time::Duration;
///
/// let timeout = Error::from(LimitError::Timeout { wait: Wait::Document, after: Duration::from_secs(10) });
/// assert!(timeout.is_transient()); // a retry on a new connection may help
/// assert_eq!(timeout.to_string(), "limit: no attestation document within the 10s handshake timeout");
/// assert!(!Error::from(ConfigError::NoPolicy).is_transient());
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The enclave could not be reached, or refused the connection before attesting.
    #[error("connect: {0}")]
    Connect(#[from] ConnectError),
    /// The enclave's attestation document was refused: nothing was sent to it.
    #[error("attestation refused: {0}")]
    Attestation(#[from] AttestationError),
    /// The session broke: the connection or a record failed. Pending invocations fail with it.
    #[error("session: {0}")]
    Session(#[from] SessionError),
    /// The function ran and reported an error. The session is still usable.
    #[error("function {function_id} failed with code {code} ({} byte message; see `message`)", message.len())]
    Function {
        /// The function invoked.
        function_id: FunctionId,
        /// The function's error code.
        code: u16,
        /// The function's message. Not in `Display`: a function may echo its input.
        message: String,
    },
    /// A limit, ours or the enclave's, was exceeded.
    #[error("limit: {0}")]
    Limit(#[from] LimitError),
    /// The SDK was configured with something unusable.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// Reading the caller's input or writing the caller's output failed (streaming invoke).
    #[error("local i/o during streaming: {kind:?}")]
    LocalIo {
        /// The I/O error kind.
        kind: std::io::ErrorKind,
    },
}

/// Failures before the attestation document arrives.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use enclave_sdk::error::ConnectError;
/// use enclave_sdk::{Client, Error};
/// # let policy = enclave_sdk::attestation::Policy::builder().dangerous_accept_any_enclave().build()?;
/// // Nothing listens on port 1.
/// let client = Client::builder().endpoint("ws://127.0.0.1:1").policy(policy).build()?;
/// let refused = client.connect("echo").await.unwrap_err();
/// assert!(matches!(refused, Error::Connect(ConnectError::Io { .. })));
/// assert!(refused.is_transient());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The TCP connection failed, or the connection broke during the TLS handshake or the upgrade.
    #[error("cannot reach {addr}: {kind:?}")]
    Io {
        /// host:port.
        addr: String,
        /// The I/O error kind.
        kind: std::io::ErrorKind,
    },
    /// The WebSocket upgrade was answered with an HTTP status other than 101.
    #[error("enclave answered HTTP {status} to the upgrade{}", hint(*status))]
    Http {
        /// The status code.
        status: u16,
    },
    /// The enclave's answer to the upgrade broke the WebSocket handshake (RFC 6455 section 4).
    #[error("WebSocket upgrade failed: {0}")]
    Upgrade(ProtocolError),
    /// The enclave's answer to the upgrade exceeded the WebSocket library's bounds (e.g. its headers).
    #[error("WebSocket upgrade answer too large: {0}")]
    UpgradeTooLarge(CapacityError),
    /// The enclave did not select the protocol version this SDK speaks.
    #[error("enclave did not select subprotocol {expected} (selected: {found:?})")]
    Subprotocol {
        /// What the enclave selected, when it is known (`None`: nothing, or one this SDK did not offer).
        found: Option<String>,
        /// What the SDK offered.
        expected: &'static str,
    },
    /// The TLS handshake with the enclave failed.
    #[error("TLS handshake failed: {0}")]
    Tls(rustls::Error),
}

fn hint(status: u16) -> &'static str {
    match status {
        401 => " (bearer token missing or wrong)",
        404 => " (no such function)",
        503 => " (enclave at its session limit)",
        _ => "",
    }
}

/// Failures of an established, or attested but not yet established, session.
///
/// # Examples
///
/// ```
/// use enclave_sdk::error::SessionError;
/// // What a caller sees when the connection ends before an authenticated close.
/// let cut = enclave_sdk::Error::from(SessionError::Truncated { pending: 2 });
/// assert_eq!(cut.to_string(), "session: connection ended without an authenticated close (2 invocations pending)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// A frame or record plaintext was malformed.
    #[error("malformed message: {0}")]
    Wire(#[from] WireError),
    /// A record failed authentication or sealing: forged, replayed, reordered, or one was dropped.
    #[error("record: {0}")]
    Record(#[from] RecordError),
    /// A valid frame arrived where the protocol does not allow it.
    #[error("unexpected {found} frame; expected {expected}")]
    UnexpectedFrame {
        /// The frame the protocol requires here.
        expected: &'static str,
        /// The frame that arrived.
        found: &'static str,
    },
    /// A handshake step refused the enclave's frame for a reason the variants above do not name.
    #[error("handshake: {0}")]
    Handshake(HandshakeError),
    /// A WebSocket text message arrived; the protocol uses binary messages only.
    #[error("unexpected WebSocket text message")]
    TextMessage,
    /// The verified document claims no function, or another function than requested.
    #[error("document attests {}; requested function {expected}", .found.as_ref().map_or_else(|| "no function".to_owned(), |f| format!("function {f}")))]
    FunctionNotAttested {
        /// The function requested.
        expected: FunctionId,
        /// The function the document claims.
        found: Option<FunctionId>,
    },
    /// A record named an invocation that is not in flight.
    #[error("enclave sent a record for invocation {id}, which is not in flight")]
    UnknownInvocation {
        /// The id in the record.
        id: RequestId,
    },
    /// The enclave ended the session with an authenticated error.
    #[error("enclave ended the session: {code} (detail {detail})")]
    Remote {
        /// Why.
        code: SessionErrorCode,
        /// The code's detail (a limit or an id).
        detail: u64,
    },
    /// The connection ended without an authenticated close: output may be truncated.
    #[error("connection ended without an authenticated close ({pending} invocations pending)")]
    Truncated {
        /// Invocations still waiting.
        pending: usize,
    },
    /// The WebSocket layer refused what the enclave sent after the upgrade (RFC 6455).
    #[error("WebSocket: {0}")]
    WebSocket(ProtocolError),
    /// The TLS server's certificate does not parse.
    #[error("TLS certificate does not parse")]
    TlsCertificate,
    /// The TLS handshake resumed an earlier session: the server proved no key in this connection, so
    /// there is none for the attestation to bind (the certificate reported is the earlier one's).
    #[error("the TLS handshake resumed an earlier session, so no key was proven on this connection")]
    TlsResumed,
    /// The key the TLS handshake used is not the key the verified document binds (a TLS-terminating
    /// man in the middle, or a misconfigured enclave).
    #[error("TLS key sha256 {} is not attested (document binds {})", hex::encode(observed_sha256),
        attested_sha256.map_or_else(|| "no TLS key".to_owned(), hex::encode))]
    TlsKeyNotAttested {
        /// SHA-256 of the SubjectPublicKeyInfo the TLS handshake used.
        observed_sha256: [u8; 32],
        /// What the document binds, if anything.
        attested_sha256: Option<[u8; 32]>,
    },
    /// The session was closed by this client (or the client's runtime shut down).
    #[error("session closed")]
    Closed,
    /// A Cape-protocol enclave sent a message that is not what that protocol allows (the message
    /// itself is not repeated: it may carry output).
    #[error("malformed Cape message: {0}")]
    CapeMessage(&'static str),
    /// A Cape-protocol enclave refused the connection or the request with `{"error": ...}` before
    /// or instead of a function result.
    #[error("Cape enclave error ({len} byte message)")]
    CapeRemote {
        /// The enclave's text.
        message: String,
        /// Its length, for `Display`.
        len: usize,
    },
}

/// A limit, the client's or the enclave's, was reached.
///
/// # Examples
///
/// ```
/// use enclave_sdk::error::LimitError;
/// use enclave_sdk::Error;
/// fn explain(e: &Error) -> &'static str {
///     match e {
///         Error::Limit(LimitError::OutputTooLarge { .. }) => "use invoke_stream",
///         Error::Limit(LimitError::EnclaveInFlight { .. }) => "lower max_in_flight",
///         _ => "see the message",
///     }
/// }
/// assert_eq!(explain(&LimitError::OutputTooLarge { max: 64 }.into()), "use invoke_stream");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// A network wait ran out: which one, and the bound it had (the handshake timeout for the steps
    /// up to the key share, the idle timeout for sending and closing).
    #[error("{wait} within the {after:?} {}", wait.bound())]
    Timeout {
        /// What the client was waiting for.
        wait: Wait,
        /// The bound that ran out.
        after: Duration,
    },
    /// No record moved in either direction for this long while an invocation was waiting.
    #[error("no record from the enclave for {0:?} while an invocation was waiting (and none sent)")]
    IdleTimeout(Duration),
    /// A WebSocket message exceeded the size this client accepts.
    #[error("message exceeds the {max}-byte limit")]
    MessageTooLarge {
        /// The limit.
        max: usize,
    },
    /// An invocation's output exceeded what [`Session::invoke`](crate::Session::invoke) collects.
    #[error("output exceeds {max} bytes; use invoke_stream for large outputs")]
    OutputTooLarge {
        /// The limit.
        max: usize,
    },
    /// The enclave allows fewer invocations in flight than this client sent.
    #[error("enclave allows {max} invocations in flight per session")]
    EnclaveInFlight {
        /// The enclave's limit.
        max: u64,
    },
    /// The enclave's idle timeout ended the session.
    #[error("enclave closed the idle session after {secs}s")]
    EnclaveIdle {
        /// The enclave's timeout.
        secs: u64,
    },
    /// The session held more buffered input than its share of the enclave's memory.
    #[error("enclave ended the session: it held more than its {share}-byte share of the enclave's input memory")]
    EnclaveSessionMemory {
        /// The share, in bytes.
        share: u64,
    },
    /// The enclave's memory budget for buffered input was used up, and this session held the most.
    #[error(
        "enclave ended the session: its {budget}-byte input memory budget was used up and this session held the most"
    )]
    EnclaveMemoryBudget {
        /// The budget, in bytes.
        budget: u64,
    },
    /// Every session slot of the enclave was taken, and this session had made no progress for longest.
    #[error(
        "enclave evicted the session for a newcomer: every slot was taken and it had made no progress for {idle_secs}s"
    )]
    Evicted {
        /// Seconds since the session's last progress (key share, an answer).
        idle_secs: u64,
    },
    /// An input stayed open with no chunk for the enclave's input timeout.
    #[error("enclave ended the session: an input stayed open with no data for {secs}s")]
    EnclaveInputStalled {
        /// The enclave's input timeout.
        secs: u64,
    },
}

/// A network wait of the client (the `wait` of [`LimitError::Timeout`]).
///
/// # Examples
///
/// ```
/// use enclave_sdk::error::{LimitError, Wait};
/// use std::time::Duration;
/// let e = LimitError::Timeout { wait: Wait::Send, after: Duration::from_secs(60) };
/// assert_eq!(e.to_string(), "the enclave took no bytes of a message within the 60s idle timeout");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Wait {
    /// The TCP connection.
    #[error("no TCP connection")]
    Connect,
    /// The TLS handshake (`wss://`).
    #[error("no TLS handshake")]
    Tls,
    /// The WebSocket upgrade's response.
    #[error("no WebSocket upgrade")]
    Upgrade,
    /// Sending the nonce and receiving the attestation document.
    #[error("no attestation document")]
    Document,
    /// Sending the key share (native protocol).
    #[error("the key share not sent")]
    KeyShare,
    /// Sending an invocation's message: the enclave (or a proxy) stopped taking bytes.
    #[error("the enclave took no bytes of a message")]
    Send,
    /// The closing handshake.
    #[error("no close")]
    Close,
}

impl Wait {
    /// Which configured timeout bounds this wait.
    fn bound(self) -> &'static str {
        match self {
            Self::Connect | Self::Tls | Self::Upgrade | Self::Document | Self::KeyShare => "handshake timeout",
            Self::Send | Self::Close => "idle timeout",
        }
    }
}

/// The SDK's configuration is unusable.
///
/// # Examples
///
/// ```
/// use enclave_sdk::error::ConfigError;
/// use enclave_sdk::{Client, Error};
/// let no_endpoint = Client::builder().build();
/// assert!(matches!(no_endpoint, Err(Error::Config(ConfigError::NoEndpoint))));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The endpoint is not a `ws://` or `wss://` URL with a host and nothing else (no user info, path,
    /// query or fragment).
    #[error("endpoint {url:?} {problem}")]
    Endpoint {
        /// The endpoint as given.
        url: String,
        /// What is wrong with it, and what to give instead.
        problem: &'static str,
    },
    /// No endpoint was configured.
    #[error("no endpoint configured")]
    NoEndpoint,
    /// The TLS client for a `wss://` endpoint could not be built.
    #[error("TLS client: {0}")]
    Tls(rustls::Error),
    /// A plain `ws://` endpoint on a host that is not loopback: the upgrade (function id, bearer token)
    /// and the traffic's shape would cross the network in clear.
    #[error("endpoint {0:?} is plain ws:// to a non-loopback host; use wss://")]
    PlaintextTransport(String),
    /// Cape mode over `wss://` without [`tls_webpki_root`](crate::ClientBuilder::tls_webpki_root): Cape
    /// documents bind no TLS key and Cape results return under TLS alone, so a TLS certificate that
    /// nothing but the attestation vouches for would let a proxy read every result.
    #[error("Cape mode over wss:// needs a WebPKI root (ClientBuilder::tls_webpki_root): Cape results are protected by TLS alone")]
    CapeNeedsWebPki,
    /// No policy was configured.
    #[error("no policy configured")]
    NoPolicy,
    /// A function id that does not follow the rule of [`crate::FunctionId`].
    #[error("function id: {0}")]
    FunctionId(MeasurementError),
    /// The bearer token cannot travel in an HTTP header (it must be visible ASCII). The token itself
    /// is not shown: it is a secret.
    #[error("the bearer token is not a valid HTTP header value (visible ASCII only)")]
    Token,
    /// A required environment variable is not set (or is empty).
    #[error("environment variable {name} is not set")]
    EnvMissing {
        /// The variable.
        name: &'static str,
    },
    /// Two environment variables that exclude each other are both set.
    #[error("environment variables {name} and {also} are both set; use one or the other")]
    EnvConflict {
        /// The variable that excludes the other.
        name: &'static str,
        /// The other.
        also: &'static str,
    },
    /// The policy file named by `ENCLAVE_POLICY` is unusable.
    #[error("environment variable ENCLAVE_POLICY: {0}")]
    EnvPolicyFile(PolicyFileError),
    /// The trust root named by `ENCLAVE_ROOT_PEM` cannot be read.
    #[error("environment variable ENCLAVE_ROOT_PEM: cannot read {path:?}: {kind}")]
    EnvRootUnreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error kind.
        kind: std::io::ErrorKind,
    },
    /// The trust root named by `ENCLAVE_ROOT_PEM` is not a usable root certificate.
    #[error("environment variable ENCLAVE_ROOT_PEM: {source}")]
    EnvRoot {
        /// Why the certificate was refused.
        source: AttestationError,
    },
    /// A yes-or-no variable (`ENCLAVE_ALLOW_DEBUG`) holds neither: a value read as "no" would silently
    /// undo what its writer meant.
    #[error("environment variable {name} is {value:?}; set it to 1, true or yes (any case) to allow, or 0, false, no or unset to refuse")]
    EnvBool {
        /// The variable.
        name: &'static str,
        /// Its value (configuration, not a secret).
        value: String,
    },
    /// The blocking API was called from inside an async runtime, where it cannot block.
    #[error("enclave_sdk::blocking was called inside an async runtime, where it cannot block; use the async API (enclave_sdk::Client, enclave_sdk::connect_and_invoke) there")]
    BlockingInRuntime,
    /// A pin variable (`ENCLAVE_PCRS`, `ENCLAVE_FUNCTION_CHECKSUM`) does not parse.
    #[error("environment variable {name}: {source}")]
    EnvValue {
        /// The variable.
        name: &'static str,
        /// What is wrong with its value.
        source: MeasurementError,
    },
    /// The pins the environment gives do not identify the enclave image.
    #[error(
        "{source}; set ENCLAVE_PCRS to the enclave's measurements (IDX=HEX,... pinning PCR0, PCR2 or PCR8; several \
         releases separated by ;), or ENCLAVE_POLICY to a policy file"
    )]
    EnvImageNotPinned {
        /// The builder's reason.
        source: PolicyError,
    },
    /// The policy could not be built.
    #[error("policy: {0}")]
    Policy(#[from] PolicyError),
    /// A certificate given to [`tls_webpki_root`](crate::ClientBuilder::tls_webpki_root) is unusable.
    #[error("TLS WebPKI root: {0}")]
    WebPkiRoot(rustls::Error),
}

impl From<HandshakeError> for SessionError {
    fn from(e: HandshakeError) -> Self {
        match e {
            HandshakeError::Wire(e) => Self::Wire(e),
            HandshakeError::UnexpectedFrame { expected, found } => Self::UnexpectedFrame { expected, found },
            HandshakeError::Record(e) => Self::Record(e),
            other => Self::Handshake(other),
        }
    }
}

impl Error {
    /// Whether retrying on a new connection may help (network failures and timeouts; not attestation).
    ///
    /// # Examples
    ///
    /// ```
    /// use enclave_sdk::error::LimitError;
    /// let e = enclave_sdk::Error::from(LimitError::IdleTimeout(std::time::Duration::from_secs(60)));
    /// assert!(e.is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Connect(ConnectError::Io { .. })
                | Error::Session(SessionError::Truncated { .. } | SessionError::WebSocket(_))
                | Error::Limit(
                    LimitError::Timeout { .. }
                        | LimitError::IdleTimeout(_)
                        | LimitError::Evicted { .. }
                        | LimitError::EnclaveMemoryBudget { .. }
                )
        )
    }
}
