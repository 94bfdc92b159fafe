//! The one transport under both protocols: TCP, TLS on `wss://`, the WebSocket upgrade, and the check
//! that the enclave selected the subprotocol offered.
//!
//! Input: a client's [`Config`] and a path (trusted), then the enclave's answers (untrusted). Output:
//! an upgraded WebSocket and, on `wss://`, the key the TLS handshake used (not yet trusted: the
//! attestation must bind it), or a typed [`ConnectError`]. Nothing here knows which protocol runs on
//! top, or what a document is. Also here: how WebSocket failures after the upgrade become errors, so
//! both protocols report a cut connection the same way.

use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use enclave_protocol::{FrameLimits, Nonce, NONCE_HEADER, PROTOCOL_LABEL};

use super::config::Config;
use super::tls;
use crate::error::{ConfigError, ConnectError, Error, LimitError, SessionError, Wait};

/// The subprotocol Cape clients offer and Cape enclaves select (PROTOCOL.md section 9).
pub(crate) const CAPE_SUBPROTOCOL: &str = "cape.runtime";

/// The WebSocket read buffer of a connection. tungstenite's default, 128 KiB, stays allocated for the
/// connection's life (a pooled session's too), is zeroed again before every read from the socket
/// (tungstenite 0.28 `FrameCodec::read_in`), and costs a new process 32 page faults on its first read,
/// about 0.1 ms of a one-shot `enclave run` here, for messages mostly under 1 KiB. A larger frame still
/// arrives whole: the buffer grows to the frame's length, taking at most this much per read (one TLS
/// record's worth; the runtime reads with the same size, runtime/src/server.rs).
/// `enclave-bench --only bulk` and `--only rates` showed no change against 128 KiB.
const READ_BUFFER: usize = 16 * 1024;

/// The byte stream under the WebSocket: TCP, or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub(crate) type Ws = WebSocketStream<Box<dyn Io>>;

/// Which protocol the upgrade asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol<'a> {
    /// `enclave-session.v2`, the token (if any) as `Authorization: Bearer`, and the nonce the document
    /// must echo in `Enclave-Nonce`, so the enclave's first message can be the document.
    Native(&'a Nonce),
    /// Cape's `cape.runtime`, the token (if any) as a second subprotocol entry, as Cape's clients send it.
    Cape,
}

impl Protocol<'_> {
    fn label(self) -> &'static str {
        match self {
            Self::Native(_) => PROTOCOL_LABEL,
            Self::Cape => CAPE_SUBPROTOCOL,
        }
    }
}

/// An upgraded connection.
pub(crate) struct Transport {
    pub(crate) ws: Ws,
    /// On `wss://`, the DER SubjectPublicKeyInfo of the key the TLS handshake used.
    pub(crate) tls_spki: Option<Vec<u8>>,
}

/// One deadline shared by several network waits (the handshake's steps), each named when it is the
/// one that runs out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Instant,
    after: Duration,
}

impl Deadline {
    /// A deadline `after` from now.
    pub(crate) fn after(after: Duration) -> Self {
        Self { at: Instant::now() + after, after }
    }

    /// Runs `wait` until the deadline; past it, [`LimitError::Timeout`] names `what`.
    pub(crate) async fn run<T>(&self, what: Wait, wait: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        tokio::time::timeout_at(self.at, wait)
            .await
            .map_err(|_| LimitError::Timeout { wait: what, after: self.after })?
    }
}

/// Runs one network wait bounded by `after` alone.
pub(crate) async fn bounded<T>(
    what: Wait,
    after: Duration,
    wait: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    Deadline::after(after).run(what, wait).await
}

/// Connects to `function`'s URL at the configured endpoint and upgrades to `protocol`, with the
/// WebSocket's message bound `max_message_len`, each step within `deadline`.
pub(crate) async fn connect(
    config: &Config,
    function: &str,
    protocol: Protocol<'_>,
    max_message_len: usize,
    deadline: &Deadline,
) -> Result<Transport, Error> {
    let endpoint = &config.endpoint;
    let addr = endpoint.socket_addr();
    let tcp = deadline
        .run(Wait::Connect, async {
            TcpStream::connect(&addr).await.map_err(|e| ConnectError::Io { addr: addr.clone(), kind: e.kind() }.into())
        })
        .await?;
    let _ = tcp.set_nodelay(true);
    let (stream, tls_spki): (Box<dyn Io>, _) = if endpoint.tls() {
        let (tls, spki) = deadline.run(Wait::Tls, tls::connect(endpoint, config.webpki.clone(), tcp)).await?;
        (Box::new(tls), Some(spki))
    } else {
        (Box::new(tcp), None)
    };
    let url = endpoint.function_url(function);
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|_| ConfigError::Endpoint { url: url.clone(), problem: "is not a WebSocket request URL" })?;
    let headers = request.headers_mut();
    match protocol {
        Protocol::Native(nonce) => {
            headers.insert("Sec-WebSocket-Protocol", tungstenite::http::HeaderValue::from_static(PROTOCOL_LABEL));
            let value = tungstenite::http::HeaderValue::try_from(nonce.to_header_value())
                .map_err(|_| ConfigError::Endpoint { url: url.clone(), problem: "is not a WebSocket request URL" })?;
            headers.insert(NONCE_HEADER, value);
            if let Some(bearer) = &config.bearer {
                headers.insert("Authorization", bearer.clone());
            }
        }
        Protocol::Cape => {
            headers.insert("Sec-WebSocket-Protocol", config.cape_protocols.clone());
        }
    }
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(max_message_len))
        .max_frame_size(Some(max_message_len));
    let expected = protocol.label();
    let (ws, response) = deadline
        .run(Wait::Upgrade, async {
            tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config))
                .await
                .map_err(|e| upgrade_error(e, &addr, expected).into())
        })
        .await?;
    let chosen = response.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok());
    if chosen != Some(expected) {
        return Err(ConnectError::Subprotocol { found: chosen.map(str::to_owned), expected }.into());
    }
    Ok(Transport { ws, tls_spki })
}

/// The largest WebSocket message a native session needs: one frame under `limits`.
pub(crate) fn native_message_len(limits: &FrameLimits) -> usize {
    limits.max_frame_len()
}

fn upgrade_error(e: tungstenite::Error, addr: &str, expected: &'static str) -> ConnectError {
    match e {
        tungstenite::Error::Http(r) => ConnectError::Http { status: r.status().as_u16() },
        // tungstenite refuses a subprotocol we did not offer before we can read it.
        tungstenite::Error::Protocol(ProtocolError::SecWebSocketSubProtocolError(_)) => {
            ConnectError::Subprotocol { found: None, expected }
        }
        tungstenite::Error::Protocol(p) => ConnectError::Upgrade(p),
        tungstenite::Error::Capacity(c) => ConnectError::UpgradeTooLarge(c),
        tungstenite::Error::Io(e) => ConnectError::Io { addr: addr.to_owned(), kind: e.kind() },
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            ConnectError::Io { addr: addr.to_owned(), kind: std::io::ErrorKind::UnexpectedEof }
        }
        // The rest (URL, TLS, HTTP-format, write-buffer and attack errors) belong to features and
        // roles this client does not use; if one appears, the upgrade did not complete.
        _ => ConnectError::Upgrade(ProtocolError::HandshakeIncomplete),
    }
}

/// A WebSocket failure after the upgrade, as the session reports it.
pub(crate) fn ws_error(e: tungstenite::Error) -> Error {
    match e {
        // The connection went away without an authenticated close: whatever was pending is truncated.
        tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Io(_)
        | tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            SessionError::Truncated { pending: 0 }.into()
        }
        tungstenite::Error::Capacity(CapacityError::MessageTooLong { max_size, .. }) => {
            LimitError::MessageTooLarge { max: max_size }.into()
        }
        tungstenite::Error::Protocol(p) => SessionError::WebSocket(p).into(),
        // A text message that is not even UTF-8: text is not this protocol's either way.
        tungstenite::Error::Utf8(_) => SessionError::TextMessage.into(),
        // The rest belong to the upgrade, or to features and roles this client does not use: the
        // connection cannot carry the session any further.
        _ => SessionError::Truncated { pending: 0 }.into(),
    }
}

/// The next binary message; pings and pongs are the WebSocket layer's, a text message or a close is
/// not this protocol's.
pub(crate) async fn next_binary(
    ws: &mut (impl StreamExt<Item = Result<Message, tungstenite::Error>> + Unpin),
) -> Result<tungstenite::Bytes, Error> {
    loop {
        match ws.next().await {
            None => return Err(SessionError::Truncated { pending: 0 }.into()),
            Some(Err(e)) => return Err(ws_error(e)),
            Some(Ok(Message::Binary(b))) => return Ok(b),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Text(_))) => return Err(SessionError::TextMessage.into()),
            Some(Ok(Message::Close(_))) => return Err(SessionError::Truncated { pending: 0 }.into()),
        }
    }
}

/// Sends one binary message.
pub(crate) async fn send_binary(
    sink: &mut (impl SinkExt<Message, Error = tungstenite::Error> + Unpin),
    frame: Vec<u8>,
) -> Result<(), Error> {
    sink.send(Message::binary(frame)).await.map_err(ws_error)
}
