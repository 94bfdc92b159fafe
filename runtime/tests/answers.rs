//! How the runtime answers an invocation whose input came whole, as records on the wire: a function
//! that finishes without waiting gets its last chunk in `OutputLast` (one record for a small answer),
//! and a function that waits has every chunk it already sent on the wire while it waits, never held
//! back for an end that has not come (PROTOCOL.md section 5.3). A client driving the protocol core by
//! hand reads the records.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::Duration;

use enclave_protocol::{
    ClientHandshake, ClientMessage, Frame, FrameLimits, FunctionChecksum, FunctionId, RequestSealer, ResponseOpener,
    ServerMessage, SessionErrorCode, KEY_LEN, NONCE_HEADER, PROTOCOL_LABEL,
};
use enclave_runtime::{
    AttestationRequest, Attester, AttesterError, Function, FunctionError, FunctionInput, FunctionOutput, Functions,
    Server,
};
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use std::sync::Mutex;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Answers with fixed bytes and remembers the key it was asked to bind.
#[derive(Debug, Default)]
struct Keys(Mutex<Option<[u8; KEY_LEN]>>);

impl Attester for Keys {
    fn attest(&self, request: &AttestationRequest) -> Result<Vec<u8>, AttesterError> {
        *self.0.lock().unwrap() = request.public_key().map(|k| k.try_into().unwrap());
        Ok(b"document".to_vec())
    }
}

/// Sends "first", waits until the test says so, then sends "second".
#[derive(Debug)]
struct Stepper {
    id: FunctionId,
    go: Arc<Notify>,
}

/// Sends "a" and "b" without waiting for anything.
#[derive(Debug)]
struct Quick(FunctionId);

fn closed(id: &FunctionId) -> FunctionError {
    FunctionError::OutputClosed { function: id.clone() }
}

impl Function for Stepper {
    fn id(&self) -> &FunctionId {
        &self.id
    }

    fn checksum(&self) -> FunctionChecksum {
        FunctionChecksum::from_bytes([1; 32])
    }

    fn invoke(&self, _: FunctionInput, output: FunctionOutput) -> BoxFuture<'_, Result<(), FunctionError>> {
        Box::pin(async move {
            output.send(b"first".to_vec()).await.map_err(|_| closed(&self.id))?;
            // Bounded, so that a runtime holding "first" back fails the test instead of hanging it.
            if tokio::time::timeout(Duration::from_secs(10), self.go.notified()).await.is_err() {
                return Err(FunctionError::Failed { function: self.id.clone(), message: "never told to go on" });
            }
            output.send(b"second".to_vec()).await.map_err(|_| closed(&self.id))
        })
    }
}

impl Function for Quick {
    fn id(&self) -> &FunctionId {
        &self.0
    }

    fn checksum(&self) -> FunctionChecksum {
        FunctionChecksum::from_bytes([2; 32])
    }

    fn invoke(&self, _: FunctionInput, output: FunctionOutput) -> BoxFuture<'_, Result<(), FunctionError>> {
        Box::pin(async move {
            output.send(b"a".to_vec()).await.map_err(|_| closed(&self.0))?;
            output.send(b"b".to_vec()).await.map_err(|_| closed(&self.0))
        })
    }
}

/// Streamed input: hands a clone of its output to a task that keeps sending, then waits for input.
#[derive(Debug)]
struct Leaker(FunctionId);

/// Hands a clone of its output to a task that keeps it for an hour without sending, and returns.
#[derive(Debug)]
struct Detach(FunctionId);

impl Function for Leaker {
    fn id(&self) -> &FunctionId {
        &self.0
    }
    fn checksum(&self) -> FunctionChecksum {
        FunctionChecksum::from_bytes([3; 32])
    }
    fn invoke(&self, mut input: FunctionInput, output: FunctionOutput) -> BoxFuture<'_, Result<(), FunctionError>> {
        Box::pin(async move {
            let kept = output.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if kept.send(b"late".to_vec()).await.is_err() {
                        break;
                    }
                }
            });
            while input.recv().await.is_some() {}
            Ok(())
        })
    }
}

impl Function for Detach {
    fn id(&self) -> &FunctionId {
        &self.0
    }
    fn checksum(&self) -> FunctionChecksum {
        FunctionChecksum::from_bytes([4; 32])
    }
    fn invoke(&self, _: FunctionInput, output: FunctionOutput) -> BoxFuture<'_, Result<(), FunctionError>> {
        Box::pin(async move {
            let kept = output.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                drop(kept);
            });
            Ok(())
        })
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An attested session to `function` with one invocation of input "x" sent; returns the socket and
/// the opener of the enclave's records.
async fn invoke(server: &Server, keys: &Keys, function: &str) -> (Ws, ResponseOpener) {
    let (mut ws, mut sealer, opener) = attested(server, keys, function).await;
    let record = sealer.seal(ClientMessage::InputLast { id: 1, data: b"x" }.to_record()).unwrap();
    ws.send(Message::binary(record)).await.unwrap();
    (ws, opener)
}

/// An attested session to `function`, its key share sent: the socket and the record keys.
async fn attested(server: &Server, keys: &Keys, function: &str) -> (Ws, RequestSealer, ResponseOpener) {
    let id = FunctionId::new(function).unwrap();
    let handshake = ClientHandshake::start(id, &mut rand_core::OsRng);
    let mut req = format!("{}/v1/run/{function}", server.url()).into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(PROTOCOL_LABEL));
    req.headers_mut().insert(NONCE_HEADER, HeaderValue::from_str(&handshake.nonce().to_header_value()).unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let Some(Ok(Message::Binary(frame))) = ws.next().await else { panic!("no document") };
    let received = handshake.receive_document(&frame, &FrameLimits::default()).unwrap();
    let key = keys.0.lock().unwrap().unwrap();
    let (key_share, sealer, opener) = received.complete(&key, &mut rand_core::OsRng).unwrap();
    ws.send(Message::binary(key_share)).await.unwrap();
    (ws, sealer, opener)
}

/// The next record, as (kind, data): "output", "last", "end" or "error".
async fn next(ws: &mut Ws, opener: &mut ResponseOpener) -> (&'static str, Vec<u8>) {
    let frame = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("no record within 5 s");
    let Some(Ok(Message::Binary(frame))) = frame else { panic!("connection ended") };
    let Ok(Frame::Record(ct)) = Frame::decode(&frame, &FrameLimits::default()) else { panic!("not a record") };
    let plaintext = opener.open(ct).unwrap();
    match ServerMessage::decode(&plaintext).unwrap() {
        ServerMessage::Output { id: 1, data } => ("output", data.to_vec()),
        ServerMessage::OutputLast { id: 1, data } => ("last", data.to_vec()),
        ServerMessage::OutputEnd { id: 1 } => ("end", Vec::new()),
        ServerMessage::FunctionError { id: 1, .. } => ("error", Vec::new()),
        other => panic!("unexpected {other:?}"),
    }
}

async fn serve(keys: Arc<Keys>, go: Arc<Notify>) -> Server {
    let mut functions = Functions::new();
    functions.add(Arc::new(Stepper { id: FunctionId::new("stepper").unwrap(), go })).unwrap();
    functions.add(Arc::new(Quick(FunctionId::new("quick").unwrap()))).unwrap();
    functions.add(Arc::new(Leaker(FunctionId::new("leaker").unwrap()))).unwrap();
    functions.add(Arc::new(Detach(FunctionId::new("detach").unwrap()))).unwrap();
    Server::builder(keys).functions(functions).spawn().await.unwrap()
}

#[tokio::test]
async fn a_function_that_waits_has_what_it_sent_on_the_wire_while_it_waits() {
    let (keys, go) = (Arc::new(Keys::default()), Arc::new(Notify::new()));
    let server = serve(keys.clone(), go.clone()).await;
    let (mut ws, mut opener) = invoke(&server, &keys, "stepper").await;
    // Only now may the function go on: had "first" been held for the end, this would time out.
    assert_eq!(next(&mut ws, &mut opener).await, ("output", b"first".to_vec()));
    go.notify_one();
    assert_eq!(next(&mut ws, &mut opener).await, ("output", b"second".to_vec()));
    assert_eq!(next(&mut ws, &mut opener).await, ("end", Vec::new()));
    server.shutdown().await;
}

#[tokio::test]
async fn a_function_that_finishes_without_waiting_ends_with_its_last_chunk() {
    let keys = Arc::new(Keys::default());
    let server = serve(keys.clone(), Arc::new(Notify::new())).await;
    let (mut ws, mut opener) = invoke(&server, &keys, "quick").await;
    assert_eq!(next(&mut ws, &mut opener).await, ("output", b"a".to_vec()));
    assert_eq!(next(&mut ws, &mut opener).await, ("last", b"b".to_vec()));
    server.shutdown().await;
}

/// The next message within `wait`, opened: `None` if nothing came, `Err(())` once the connection ended.
async fn message_within(ws: &mut Ws, opener: &mut ResponseOpener, wait: Duration) -> Option<Result<String, ()>> {
    let frame = tokio::time::timeout(wait, ws.next()).await.ok()?;
    let Some(Ok(Message::Binary(frame))) = frame else { return Some(Err(())) };
    let Ok(Frame::Record(ct)) = Frame::decode(&frame, &FrameLimits::default()) else { panic!("not a record") };
    let plaintext = opener.open(ct).unwrap();
    Some(Ok(format!("{:?}", ServerMessage::decode(&plaintext).unwrap())))
}

/// A function's task keeps sending through a clone of its output while the client breaks the
/// protocol: after the session's SessionError no record follows (PROTOCOL.md section 5.4), though the
/// clone outlives the aborted invocation.
#[tokio::test]
async fn no_record_follows_a_session_error_from_a_kept_output_clone() {
    let keys = Arc::new(Keys::default());
    let server = serve(keys.clone(), Arc::new(Notify::new())).await;
    let (mut ws, mut sealer, mut opener) = attested(&server, &keys, "leaker").await;
    let input = sealer.seal(ClientMessage::Input { id: 5, data: b"x" }.to_record()).unwrap();
    ws.send(Message::binary(input)).await.unwrap();
    let first = message_within(&mut ws, &mut opener, Duration::from_secs(5)).await;
    assert!(matches!(&first, Some(Ok(m)) if m.contains("Output")), "{first:?}");
    // An id below the highest one used: the enclave ends the session with a SessionError.
    let stale = sealer.seal(ClientMessage::InputLast { id: 2, data: b"x" }.to_record()).unwrap();
    ws.send(Message::binary(stale)).await.unwrap();
    let code = format!("{:?}", SessionErrorCode::RequestIdNotIncreasing);
    loop {
        match message_within(&mut ws, &mut opener, Duration::from_secs(5)).await {
            Some(Ok(m)) if m.contains("SessionError") => {
                assert!(m.contains(&code), "{m}");
                break;
            }
            Some(Ok(m)) => assert!(m.contains("Output"), "{m}"),
            other => panic!("no SessionError: {other:?}"),
        }
    }
    let after = message_within(&mut ws, &mut opener, Duration::from_secs(1)).await;
    assert!(matches!(after, None | Some(Err(()))), "a record after the SessionError: {after:?}");
    server.shutdown().await;
}

/// A clone of an invocation's output kept by a task after the invocation ended holds neither the
/// connection nor the session's slot: the client's Close ends both.
#[tokio::test]
async fn a_kept_output_clone_holds_neither_the_connection_nor_the_slot() {
    let keys = Arc::new(Keys::default());
    let server = serve(keys.clone(), Arc::new(Notify::new())).await;
    let (mut ws, mut sealer, mut opener) = attested(&server, &keys, "detach").await;
    let input = sealer.seal(ClientMessage::InputLast { id: 1, data: b"x" }.to_record()).unwrap();
    ws.send(Message::binary(input)).await.unwrap();
    let end = message_within(&mut ws, &mut opener, Duration::from_secs(5)).await;
    assert!(matches!(&end, Some(Ok(m)) if m.contains("OutputEnd")), "{end:?}");
    let close = sealer.seal(ClientMessage::Close.to_record()).unwrap();
    ws.send(Message::binary(close)).await.unwrap();
    let closed =
        tokio::time::timeout(Duration::from_secs(3), async { while let Some(Ok(_)) = ws.next().await {} }).await;
    assert!(closed.is_ok(), "the enclave kept the connection open");
    drop(ws);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.stats().open_sessions != 0 {
        assert!(tokio::time::Instant::now() < deadline, "the session's slot is still held");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.shutdown().await;
}
