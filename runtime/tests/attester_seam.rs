//! The runtime serves with any attester, not only the mock's: a recording attester that is not a
//! software NSM hands out its own bytes, and a client driving the protocol core by hand completes a
//! session with the key the attester was asked to bind. What the runtime asks to have attested (the
//! client's nonce, the connection's key, the served function's claim, the TLS key) is checked here;
//! who may reach the attester at all (token, path, function, subprotocol) is checked with a client
//! that gets nothing: no document, and the attester is never called.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use enclave_protocol::{
    ClientHandshake, ClientMessage, DocumentReceived, EnclaveUserData, Frame, FrameLimits, FunctionChecksum,
    FunctionId, ServerMessage, KEY_LEN, NONCE_HEADER, PROTOCOL_LABEL,
};
use enclave_runtime::{
    AttestationRequest, Attester, AttesterError, Function, FunctionError, FunctionInput, FunctionOutput, Functions,
    Server, ServerLimits, TlsIdentity,
};
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

const DOCUMENT: &[u8] = b"a document from an attester that is not the software NSM";
const CHECKSUM: FunctionChecksum = FunctionChecksum::from_bytes([0x5a; 32]);

/// Records every request and answers with fixed bytes (or fails, when `fail` is set).
#[derive(Debug, Default)]
struct Recording {
    requests: Mutex<Vec<AttestationRequest>>,
    fail: Option<AttesterError>,
}

impl Attester for Recording {
    fn attest(&self, request: &AttestationRequest) -> Result<Vec<u8>, AttesterError> {
        request.check_limits()?;
        self.requests.lock().unwrap().push(request.clone());
        match &self.fail {
            Some(e) => Err(e.clone()),
            None => Ok(DOCUMENT.to_vec()),
        }
    }
}

impl Recording {
    fn requests(&self) -> Vec<AttestationRequest> {
        self.requests.lock().unwrap().clone()
    }
}

/// Reverses its input, so an answer cannot be an echo of what was sent.
#[derive(Debug)]
struct Reverse(FunctionId);

impl Function for Reverse {
    fn id(&self) -> &FunctionId {
        &self.0
    }

    fn checksum(&self) -> FunctionChecksum {
        CHECKSUM
    }

    fn invoke(&self, mut input: FunctionInput, output: FunctionOutput) -> BoxFuture<'_, Result<(), FunctionError>> {
        Box::pin(async move {
            let mut all = Vec::new();
            while let Some(chunk) = input.recv().await {
                all.extend_from_slice(&chunk);
            }
            all.reverse();
            output.send(all).await.map_err(|_| FunctionError::OutputClosed { function: self.0.clone() })
        })
    }
}

fn reverse_id() -> FunctionId {
    "reverse".parse().unwrap()
}

fn functions() -> Functions {
    let mut f = Functions::new();
    f.add(Arc::new(Reverse(reverse_id()))).unwrap();
    f
}

async fn serve(attester: Arc<Recording>) -> Server {
    Server::builder(attester).functions(functions()).spawn().await.unwrap()
}

fn request(url: &str, path: &str, protocols: &str) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut req = format!("{url}{path}").into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(protocols).unwrap());
    req
}

/// A native upgrade request to `reverse` carrying `handshake`'s nonce.
fn native(url: &str, handshake: &ClientHandshake) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    with_nonce(request(url, "/v1/run/reverse", PROTOCOL_LABEL), handshake)
}

fn with_nonce(
    mut req: tokio_tungstenite::tungstenite::handshake::client::Request,
    handshake: &ClientHandshake,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    req.headers_mut().insert(NONCE_HEADER, HeaderValue::from_str(&handshake.nonce().to_header_value()).unwrap());
    req
}

fn start() -> ClientHandshake {
    ClientHandshake::start(reverse_id(), &mut rand_core::OsRng)
}

/// Upgraded with the nonce, document in; the key share sealed to the key the attester was asked to
/// bind; one invocation. Returns the output.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    handshake: ClientHandshake,
    attester: &Recording,
    input: &[u8],
) -> Vec<u8> {
    let nonce = *handshake.nonce().as_bytes();
    let received = receive_document(ws, handshake).await;
    let asked = attester.requests().pop().unwrap();
    assert_eq!(asked.nonce(), Some(&nonce[..]), "the client's nonce is what gets attested");
    invoke_once(ws, received, &asked, input).await
}

/// The session's first frame: the attester's document, byte for byte (the runtime neither parses nor
/// rewraps it).
async fn receive_document<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    handshake: ClientHandshake,
) -> DocumentReceived {
    let Some(Ok(Message::Binary(frame))) = ws.next().await else { panic!("no document") };
    let received = handshake.receive_document(&frame, &FrameLimits::default()).unwrap();
    assert_eq!(received.document(), DOCUMENT);
    received
}

/// The key share, sealed to the key `asked` bound, and one invocation. Returns the output.
async fn invoke_once<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    received: DocumentReceived,
    asked: &AttestationRequest,
    input: &[u8],
) -> Vec<u8> {
    let limits = FrameLimits::default();
    let key: [u8; KEY_LEN] = asked.public_key().unwrap().try_into().unwrap();
    let (key_share, mut sealer, mut opener) = received.complete(&key, &mut rand_core::OsRng).unwrap();
    ws.send(Message::binary(key_share)).await.unwrap();
    let record = sealer.seal(ClientMessage::InputLast { id: 1, data: input }.to_record()).unwrap();
    ws.send(Message::binary(record)).await.unwrap();
    let mut output = Vec::new();
    loop {
        let Some(Ok(Message::Binary(frame))) = ws.next().await else { panic!("no answer") };
        let Ok(Frame::Record(ct)) = Frame::decode(&frame, &limits) else { panic!("not a record") };
        let plaintext = opener.open(ct).unwrap();
        match ServerMessage::decode(&plaintext).unwrap() {
            ServerMessage::Output { id: 1, data } => output.extend_from_slice(data),
            ServerMessage::OutputLast { id: 1, data } => {
                output.extend_from_slice(data);
                return output;
            }
            ServerMessage::OutputEnd { id: 1 } => return output,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_session_runs_with_an_attester_that_is_not_the_software_nsm() {
    let attester = Arc::new(Recording::default());
    let server = serve(attester.clone()).await;
    let handshake = start();
    let (mut ws, _) = tokio_tungstenite::connect_async(native(&server.url(), &handshake)).await.unwrap();
    assert_eq!(session(&mut ws, handshake, &attester, b"attested").await, b"detsetta");

    // What the runtime asked for: the connection's X25519 key, and the claim of the function the
    // upgrade named, with its checksum, and no TLS key (this is ws://).
    let asked = attester.requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].public_key().map(<[u8]>::len), Some(KEY_LEN));
    let claim = EnclaveUserData::decode(asked[0].user_data().unwrap()).unwrap();
    assert_eq!((claim.function_id(), claim.function_checksum()), (&reverse_id(), CHECKSUM));
    assert_eq!(claim.tls_spki_sha256(), None);
    let stats = server.stats();
    assert_eq!((stats.documents, stats.key_shares, stats.invocations), (1, 1, 1));
    server.shutdown().await;
}

#[tokio::test]
async fn over_tls_every_document_binds_the_served_tls_key() {
    let attester = Arc::new(Recording::default());
    let identity = TlsIdentity::generate().unwrap();
    let spki = identity.spki_sha256();
    let server = Server::builder(attester.clone()).functions(functions()).tls(identity).spawn().await.unwrap();
    assert!(server.url().starts_with("wss://"));
    // The client trusts the served certificate as the attestation would vouch for it.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server.tls_certificate_der().unwrap().to_vec().into()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(server.local_addr().as_tcp().unwrap()).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.unwrap();
    let url = server.url().replace("127.0.0.1", "localhost");
    let handshake = start();
    let (mut ws, _) = tokio_tungstenite::client_async(native(&url, &handshake), tls).await.unwrap();
    assert_eq!(session(&mut ws, handshake, &attester, b"tls").await, b"slt");
    let claim = EnclaveUserData::decode(attester.requests()[0].user_data().unwrap()).unwrap();
    assert_eq!(claim.tls_spki_sha256(), Some(spki));
    server.shutdown().await;
}

#[tokio::test]
async fn an_attester_that_fails_ends_the_session_before_any_document() {
    let attester = Arc::new(Recording {
        fail: Some(AttesterError::DeviceUnavailable { device: "/dev/nsm" }),
        ..Recording::default()
    });
    let server = serve(attester.clone()).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(native(&server.url(), &start())).await.unwrap();
    assert!(matches!(ws.next().await, None | Some(Ok(Message::Close(_))) | Some(Err(_))));
    assert_eq!(attester.requests().len(), 1);
    assert_eq!(server.stats().documents, 0);

    // A Cape client is told, without detail, and closed.
    let (mut ws, _) =
        tokio_tungstenite::connect_async(request(&server.url(), "/v1/run/reverse", "cape.runtime")).await.unwrap();
    ws.send(Message::text(r#"{"message":{"nonce":"MTIzNA=="}}"#)).await.unwrap();
    let Some(Ok(Message::Text(t))) = ws.next().await else { panic!("no error frame") };
    assert_eq!(t.as_str(), r#"{"error":"attestation failed"}"#);
    assert_eq!(server.stats().documents, 0);
    server.shutdown().await;
}

/// The upgrade decides who reaches the attester: a client with a wrong or missing token, an unknown
/// function, no subprotocol of ours, or no well-formed nonce is refused with its status, and no
/// document is made for it.
#[tokio::test]
async fn a_refused_upgrade_never_reaches_the_attester() {
    let attester = Arc::new(Recording::default());
    let server = Server::builder(attester.clone()).functions(functions()).token("s3cret").spawn().await.unwrap();
    let status = |r: Result<_, WsError>| match r {
        Err(WsError::Http(resp)) => resp.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("the upgrade was accepted"),
    };
    let url = server.url();
    let with_token = |path: &str, protocols: &str, token: &str| {
        let mut req = request(&url, path, protocols);
        req.headers_mut().insert("Authorization", HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
        req
    };
    assert_eq!(status(tokio_tungstenite::connect_async(request(&url, "/v1/run/reverse", PROTOCOL_LABEL)).await), 401);
    assert_eq!(
        status(tokio_tungstenite::connect_async(with_token("/v1/run/reverse", PROTOCOL_LABEL, "s3cre")).await),
        401
    );
    assert_eq!(
        status(tokio_tungstenite::connect_async(with_token("/v1/run/other", PROTOCOL_LABEL, "s3cret")).await),
        404
    );
    assert_eq!(status(tokio_tungstenite::connect_async(with_token("/v1/run/reverse", "chat", "s3cret")).await), 400);
    // The right token, but no nonce, two, or one padded: the native protocol has nothing to attest.
    let handshake = start();
    assert_eq!(
        status(tokio_tungstenite::connect_async(with_token("/v1/run/reverse", PROTOCOL_LABEL, "s3cret")).await),
        400
    );
    let mut twice = with_nonce(with_token("/v1/run/reverse", PROTOCOL_LABEL, "s3cret"), &handshake);
    twice.headers_mut().append(NONCE_HEADER, HeaderValue::from_str(&handshake.nonce().to_header_value()).unwrap());
    assert_eq!(status(tokio_tungstenite::connect_async(twice).await), 400);
    let mut padded = with_token("/v1/run/reverse", PROTOCOL_LABEL, "s3cret");
    let value = format!("{}=", handshake.nonce().to_header_value());
    padded.headers_mut().insert(NONCE_HEADER, HeaderValue::from_str(&value).unwrap());
    assert_eq!(status(tokio_tungstenite::connect_async(padded).await), 400);
    // A client of the previous version, with a well-formed nonce, is refused at the upgrade: its
    // records would be sealed with the other cipher under other labels.
    let previous = with_nonce(with_token("/v1/run/reverse", "enclave-session.v2", "s3cret"), &handshake);
    assert_eq!(status(tokio_tungstenite::connect_async(previous).await), 400);
    // A nonce does not stand in for the token.
    assert_eq!(status(tokio_tungstenite::connect_async(native(&url, &handshake)).await), 401);
    assert_eq!(server.stats().refused_upgrades, 9);
    assert!(attester.requests().is_empty(), "a refused client got a document made");

    // The right token and a nonce get a session.
    let (mut ws, _) = tokio_tungstenite::connect_async(with_nonce(
        with_token("/v1/run/reverse", PROTOCOL_LABEL, "s3cret"),
        &handshake,
    ))
    .await
    .unwrap();
    assert_eq!(session(&mut ws, handshake, &attester, b"ok").await, b"ko");
    server.shutdown().await;
}

/// The upgrade response leaves with the document (one write, not two with the client woken
/// between them): while the document is being made, the client has nothing, not even the 101.
///
/// The client is a blocking socket with its own read timeout, so the check does not rely on the
/// runtime's timers while the held attester holds a thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upgrade_response_waits_for_the_document_and_leaves_with_it() {
    use std::io::{Read as _, Write as _};
    let gate = Arc::new(BusyDevice::default());
    let server = Server::builder(gate.clone()).functions(functions()).spawn().await.unwrap();
    let mut tcp = std::net::TcpStream::connect(server.local_addr().as_tcp().unwrap()).unwrap();
    let nonce = start().nonce().to_header_value();
    let request = format!(
        "GET /v1/run/reverse HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: {PROTOCOL_LABEL}\r\n{NONCE_HEADER}: {nonce}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).unwrap();
    let mut got = vec![0u8; 4096];
    tcp.set_read_timeout(Some(std::time::Duration::from_millis(300))).unwrap();
    match tcp.read(&mut got) {
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
        Ok(n) => panic!("the client had {:?} before the document was made", String::from_utf8_lossy(&got[..n])),
        Err(e) => panic!("read failed: {e}"),
    }
    gate.open();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let mut all = Vec::new();
    while !all.windows(DOCUMENT.len()).any(|w| w == DOCUMENT) {
        let n = tcp.read(&mut got).unwrap();
        assert_ne!(n, 0, "closed before the document");
        all.extend_from_slice(&got[..n]);
    }
    assert!(all.starts_with(b"HTTP/1.1 101"), "{:?}", String::from_utf8_lossy(&all[..12.min(all.len())]));
    drop(tcp);
    server.shutdown().await;
}

/// Answers the first `free` requests at once and holds every later one until [`BusyDevice::open`], as a
/// device busy with a burst of handshakes would; says it blocks, as the NSM does.
#[derive(Debug, Default)]
struct BusyDevice {
    free: usize,
    recording: Recording,
    open: Mutex<bool>,
    opened: Condvar,
    /// Requests being held now.
    held: std::sync::atomic::AtomicUsize,
}

impl Attester for BusyDevice {
    fn attest(&self, request: &AttestationRequest) -> Result<Vec<u8>, AttesterError> {
        let free = self.recording.requests().len() < self.free;
        let document = self.recording.attest(request);
        if !free {
            self.held.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Bounded, so that a failing test ends rather than hangs on this thread.
            let open = self.open.lock().unwrap();
            let (open, _) = self.opened.wait_timeout_while(open, Duration::from_secs(10), |open| !*open).unwrap();
            self.held.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            if !*open {
                return Err(AttesterError::Failed { step: "the test never opened the device" });
            }
        }
        document
    }

    fn blocks(&self) -> bool {
        true
    }
}

impl BusyDevice {
    /// Busy from the second request on.
    fn after_one() -> Self {
        Self { free: 1, ..Self::default() }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }

    /// Waits (at most 5 s) until `n` requests are held.
    async fn until_held(&self, n: usize) {
        let wait = async {
            while self.held.load(std::sync::atomic::Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), wait).await.expect("the requests never reached the device");
    }
}

/// Connects a native session to `url` and waits for its document, in a task of its own.
fn attested_later(url: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let handshake = start();
        let (mut ws, _) = tokio_tungstenite::connect_async(native(&url, &handshake)).await.unwrap();
        receive_document(&mut ws, handshake).await;
    })
}

/// With one worker thread, an attester that blocks (the NSM's device, held by another handshake) must
/// not hold the worker: a session already attested is served while another session's document is
/// still in the device. Called on the worker, the held request would stall every session until the
/// device answered, and `first`'s answer would never come within the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_blocking_attester_leaves_the_workers_to_the_other_sessions() {
    let attester = Arc::new(BusyDevice::after_one());
    let server = Server::builder(attester.clone()).functions(functions()).spawn().await.unwrap();
    let handshake = start();
    let (mut first, _) = tokio_tungstenite::connect_async(native(&server.url(), &handshake)).await.unwrap();
    let received = receive_document(&mut first, handshake).await;
    let asked = attester.recording.requests().pop().unwrap();

    let second = attested_later(server.url());
    attester.until_held(1).await;

    let answer = tokio::time::timeout(Duration::from_secs(5), invoke_once(&mut first, received, &asked, b"served"))
        .await
        .expect("an attested session stalled while another session's document was in the device");
    assert_eq!(answer, b"devres");
    attester.open();
    tokio::time::timeout(Duration::from_secs(5), second).await.expect("the held document never came").unwrap();
    server.shutdown().await;
}

/// Every place at the device taken (two requests held: the runtime's two places per server): a third
/// session's upgrade is answered at once, and its document follows when the device frees, rather than
/// the 101 being held for all that time (a client would see a slow upgrade, not a slow document).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_waiting_for_a_busy_device_is_upgraded_first() {
    let attester = Arc::new(BusyDevice::after_one());
    let server = Server::builder(attester.clone()).functions(functions()).spawn().await.unwrap();
    let handshake = start();
    let (mut first, _) = tokio_tungstenite::connect_async(native(&server.url(), &handshake)).await.unwrap();
    receive_document(&mut first, handshake).await;
    let held = [attested_later(server.url()), attested_later(server.url())];
    attester.until_held(2).await;

    let handshake = start();
    let (mut third, _) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(native(&server.url(), &handshake)),
    )
    .await
    .expect("the upgrade was held while the device was busy")
    .unwrap();
    attester.open();
    tokio::time::timeout(Duration::from_secs(5), receive_document(&mut third, handshake))
        .await
        .expect("the document never followed the upgrade");
    for session in held {
        tokio::time::timeout(Duration::from_secs(5), session).await.expect("a held document never came").unwrap();
    }
    // Gone before the drain, which would otherwise wait out their handshakes.
    drop((first, third));
    server.shutdown().await;
}

/// A Cape session whose document is still in a busy device when a newcomer needs its slot (the only
/// one) is evicted, and says so at once: the wait at the device gives way to the server's stop, as
/// the waits before it do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cape_session_at_a_busy_device_is_evicted_and_told() {
    let attester = Arc::new(BusyDevice::default());
    let mut limits = ServerLimits::default();
    limits.max_sessions = 1;
    limits.eviction_grace = Duration::from_millis(100);
    let server = Server::builder(attester.clone()).functions(functions()).limits(limits).spawn().await.unwrap();
    let hello = || Message::text(r#"{"message":{"nonce":"MTIzNA=="}}"#);
    let cape = || tokio_tungstenite::connect_async(request(&server.url(), "/v1/run/reverse", "cape.runtime"));
    let (mut held, _) = cape().await.unwrap();
    held.send(hello()).await.unwrap();
    attester.until_held(1).await;
    // Past its grace, the held session is the one a newcomer evicts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (mut newcomer, _) = cape().await.unwrap();
    newcomer.send(hello()).await.unwrap();
    let told =
        tokio::time::timeout(Duration::from_secs(3), held.next()).await.expect("the evicted session was not told");
    let Some(Ok(Message::Text(text))) = told else { panic!("not an error frame: {told:?}") };
    assert!(text.as_str().starts_with(r#"{"error":"evicted: every session slot was taken"#), "{text}");
    attester.open();
    drop((held, newcomer));
    server.shutdown().await;
}
