//! The one transport under both protocols: TCP, TLS on `wss://`, the WebSocket upgrade, and the check
//! that the enclave selected the subprotocol offered.
//!
//! Input: a client's [`Config`] and a path (trusted), then the enclave's answers (untrusted). Output:
//! an upgraded WebSocket and, on `wss://`, the key the TLS handshake used (not yet trusted: the
//! attestation must bind it), or a typed [`ConnectError`]. Nothing here knows which protocol runs on
//! top, or what a document is. Also here: how WebSocket failures after the upgrade become errors, so
//! both protocols report a cut connection the same way.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
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
    /// `enclave-session.v3`, the token (if any) as `Authorization: Bearer`, and the nonce the document
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

    /// Runs `wait`, a wait of several steps, until the deadline; past it, [`LimitError::Timeout`]
    /// names the step `step` finds `wait` in.
    pub(crate) async fn run_in<F: Future + Unpin>(
        &self,
        wait: &mut F,
        step: impl FnOnce(&F) -> Wait,
    ) -> Result<F::Output, Error> {
        match tokio::time::timeout_at(self.at, &mut *wait).await {
            Ok(output) => Ok(output),
            Err(_) => Err(LimitError::Timeout { wait: step(wait), after: self.after }.into()),
        }
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
///
/// TCP's handshake is a round trip on any real network, and nothing else needs the connection to be
/// built: the upgrade request and, on `wss://`, TLS's first flight (its key shares) are built while
/// it is in flight (see [`Dial`]).
pub(crate) async fn connect(
    config: &Config,
    function: &str,
    protocol: Protocol<'_>,
    max_message_len: usize,
    deadline: &Deadline,
) -> Result<Transport, Error> {
    let endpoint = &config.endpoint;
    let addr = endpoint.socket_addr();
    let dial = Dial::start(addr.clone()).await;
    let request = upgrade_request(config, function, protocol)?;
    let (stream, tls_spki): (Box<dyn Io>, _) = if endpoint.tls() {
        // Built with the client for every `wss://` endpoint; never plain TCP instead.
        let tls =
            config.tls.as_ref().ok_or_else(|| ConnectError::Tls(rustls::Error::General("no TLS client".into())))?;
        let mut handshake = tls.start(endpoint, dial)?;
        let tls = deadline.run_in(&mut handshake, tls_step).await?.map_err(|e| tls::handshake_error(&e, &addr))?;
        let spki = tls::handshake_spki(tls.get_ref().1)?;
        (Box::new(tls), Some(spki))
    } else {
        let tcp = deadline
            .run(Wait::Connect, async {
                dial.open().await.map_err(|e| ConnectError::Io { addr: addr.clone(), kind: e.kind() }.into())
            })
            .await?;
        (Box::new(tcp), None)
    };
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

/// Which wait a TLS handshake over a [`Dial`] is in: TCP's until the connection opened, then TLS's.
fn tls_step(handshake: &tokio_rustls::Connect<Dial>) -> Wait {
    if handshake.get_ref().is_some_and(Dial::is_open) {
        Wait::Tls
    } else {
        Wait::Connect
    }
}

/// The upgrade request for `function` in `protocol`, with its headers.
fn upgrade_request(config: &Config, function: &str, protocol: Protocol<'_>) -> Result<Request, Error> {
    let url = config.endpoint.function_url(function);
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|_| ConfigError::Endpoint { url: url.clone(), problem: "is not a WebSocket request URL" })?;
    let headers = request.headers_mut();
    match protocol {
        Protocol::Native(nonce) => {
            headers.insert("Sec-WebSocket-Protocol", HeaderValue::from_static(PROTOCOL_LABEL));
            let value = HeaderValue::try_from(nonce.to_header_value())
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
    Ok(request)
}

/// A TCP connection whose handshake has begun: [`Dial::start`] polls the connect once and returns.
/// For an IP address that poll sends the SYN; for a host name it starts the lookup (on tokio's
/// blocking pool), and the SYN leaves when the stream is next polled. Used as a stream (by TLS), it
/// waits for the connection on its first read or write, so the TLS client builds its first flight
/// (rustls makes the X25519MLKEM768 shares then, about 110 us here) while TCP's handshake or the
/// lookup is in flight, and sends it as soon as the connection opens. `enclave-bench` cannot show
/// the gain: its relay does not delay TCP's own handshake, which completes on loopback sooner than
/// the hello is built (commit 162864c has the timestamps).
pub(crate) struct Dial {
    state: DialState,
}

/// A TCP connect in progress.
type Connecting = Pin<Box<dyn Future<Output = std::io::Result<TcpStream>> + Send>>;

enum DialState {
    Connecting(Connecting),
    Open(TcpStream),
    /// The connect failed; every later use fails the same way.
    Failed(std::io::ErrorKind),
}

impl Dial {
    /// Begins connecting to `addr`.
    async fn start(addr: String) -> Self {
        let mut connecting: Connecting = Box::pin(TcpStream::connect(addr));
        // One poll, in this task's context: the connect's wake-up comes back to this task.
        let first = std::future::poll_fn(|cx| Poll::Ready(connecting.as_mut().poll(cx))).await;
        let state = match first {
            Poll::Ready(result) => DialState::opened(result),
            Poll::Pending => DialState::Connecting(connecting),
        };
        Self { state }
    }

    /// Whether the TCP connection is open (a timeout is then TLS's, not TCP's).
    fn is_open(&self) -> bool {
        matches!(self.state, DialState::Open(_))
    }

    /// Waits for the connection.
    async fn open(mut self) -> std::io::Result<TcpStream> {
        std::future::poll_fn(|cx| self.poll_open(cx).map_ok(|_| ())).await?;
        match self.state {
            DialState::Open(tcp) => Ok(tcp),
            DialState::Failed(kind) => Err(kind.into()),
            DialState::Connecting(_) => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }

    fn poll_open(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<&mut TcpStream>> {
        if let DialState::Connecting(connecting) = &mut self.state {
            let result = std::task::ready!(connecting.as_mut().poll(cx));
            self.state = DialState::opened(result);
        }
        match &mut self.state {
            DialState::Open(tcp) => Poll::Ready(Ok(tcp)),
            DialState::Failed(kind) => Poll::Ready(Err((*kind).into())),
            DialState::Connecting(_) => Poll::Pending,
        }
    }
}

impl DialState {
    fn opened(result: std::io::Result<TcpStream>) -> Self {
        match result {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                Self::Open(tcp)
            }
            Err(e) => Self::Failed(e.kind()),
        }
    }
}

impl AsyncRead for Dial {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let tcp = std::task::ready!(self.get_mut().poll_open(cx))?;
        Pin::new(tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Dial {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let tcp = std::task::ready!(self.get_mut().poll_open(cx))?;
        Pin::new(tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let tcp = std::task::ready!(self.get_mut().poll_open(cx))?;
        Pin::new(tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let tcp = std::task::ready!(self.get_mut().poll_open(cx))?;
        Pin::new(tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let tcp = std::task::ready!(self.get_mut().poll_open(cx))?;
        Pin::new(tcp).poll_shutdown(cx)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attestation::Policy;
    use crate::Client;

    fn client(url: String, handshake_timeout: Duration) -> Client {
        let policy = Policy::builder().dangerous_accept_any_enclave().build().unwrap();
        Client::builder().endpoint(url).policy(policy).handshake_timeout(handshake_timeout).build().unwrap()
    }

    /// A closed port, on both schemes: the connect's own failure, whether TLS's handshake drove the
    /// connection or the upgrade waited for it.
    #[tokio::test]
    async fn a_refused_connection_is_reported_as_the_sockets_on_both_schemes() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        for scheme in ["ws", "wss"] {
            let err = client(format!("{scheme}://127.0.0.1:{port}"), Duration::from_secs(10))
                .connect("echo")
                .await
                .unwrap_err();
            assert_eq!(
                err,
                Error::Connect(ConnectError::Io {
                    addr: format!("127.0.0.1:{port}"),
                    kind: std::io::ErrorKind::ConnectionRefused
                }),
                "{scheme}"
            );
        }
    }

    /// A server that accepts TCP and never answers the ClientHello: the timeout names TLS.
    #[tokio::test]
    async fn a_silent_tls_server_times_out_as_the_tls_handshake() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("wss://{}", listener.local_addr().unwrap());
        let held = tokio::spawn(async move { listener.accept().await.map(|(s, _)| s) });
        let after = Duration::from_millis(200);
        let err = client(url, after).connect("echo").await.unwrap_err();
        assert_eq!(err, Error::Limit(LimitError::Timeout { wait: Wait::Tls, after }));
        drop(held);
    }

    /// A listener whose accept queue is full drops the SYN, so TCP never connects: on both schemes the
    /// timeout names the connect and comes at the handshake deadline (the connect runs under it, also
    /// while TLS's first flight is being built).
    #[tokio::test]
    async fn a_connection_that_never_opens_times_out_as_the_connect_on_both_schemes() {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        // Connections the listener never accepts, until one no longer completes: the queue is full.
        let mut queued = Vec::new();
        for _ in 0..4 {
            if let Ok(Ok(tcp)) = tokio::time::timeout(Duration::from_millis(100), TcpStream::connect(addr)).await {
                queued.push(tcp);
            }
        }
        let after = Duration::from_millis(300);
        for scheme in ["ws", "wss"] {
            let client = client(format!("{scheme}://{addr}"), after);
            let bounded = tokio::time::timeout(Duration::from_secs(10), client.connect("echo")).await;
            let err = bounded.expect("the connect ran past its deadline").unwrap_err();
            assert_eq!(err, Error::Limit(LimitError::Timeout { wait: Wait::Connect, after }), "{scheme}");
        }
        drop((listener, queued));
    }

    /// A connection that never opens, under a started TLS handshake: the timeout names the connect.
    #[tokio::test]
    async fn a_tls_handshake_whose_connection_never_opens_times_out_as_the_connect() {
        let endpoint = super::super::endpoint::Endpoint::parse("wss://127.0.0.1:1").unwrap();
        let never = Dial { state: DialState::Connecting(Box::pin(std::future::pending())) };
        let mut handshake = tls::ClientTls::new(None).unwrap().start(&endpoint, never).unwrap();
        let after = Duration::from_millis(50);
        let err = Deadline::after(after).run_in(&mut handshake, tls_step).await.map(|_| ()).unwrap_err();
        assert_eq!(err, Error::Limit(LimitError::Timeout { wait: Wait::Connect, after }));
    }
}
