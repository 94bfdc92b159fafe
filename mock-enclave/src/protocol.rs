//! The enclave end of an `enclave-session.v1` connection, as a sequence of typed states
//! (PROTOCOL.md sections 4 and 5): `AwaitingNonce` -> `DocumentSent` -> `Serving`.
//!
//! Input: an upgraded WebSocket from an untrusted client, the function it asked for, the attester,
//! and the limits. Output: sealed outputs and function errors to that client, and [`SessionEnd`]
//! saying why the connection ended. Plaintext (inputs, outputs, function messages) is never logged.
//! This module does not decide who may connect (the server's upgrade callback does) nor how many.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use enclave_protocol::io::{write_pump, IdleTimer, Outgoing, PumpConfig, PumpEnd};
use enclave_protocol::{
    AwaitingKeyShare, ClientMessage, EnclaveHandshake, EnclaveUserData, Frame, PlaintextBuf, RequestId, RequestOpener,
    ResponseSealer, ServerMessage, SessionErrorCode, MAX_CHUNK_LEN,
};
use futures_util::stream::{FuturesUnordered, SplitSink, SplitStream};
use futures_util::{FutureExt as _, SinkExt, StreamExt};
use rand_core::OsRng;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use zeroize::Zeroize as _;

use crate::attester::{AttestationRequest, Attester};
use crate::functions::{Function, FunctionError};
use crate::server::{ServerLimits, Stats};

/// Input chunks buffered per invocation before the reader waits for the function.
const INPUT_CHUNKS_BUFFERED: usize = 4;
/// Record frames queued for the writer, across the session's invocations, at least (see `serve`).
const OUTGOING_QUEUED: usize = 32;

/// Why a session ended; logged by the server, never containing plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionEnd {
    /// The client closed with an authenticated close record.
    #[error("closed by the client")]
    ClientClosed,
    /// The connection ended without an authenticated close.
    #[error("connection ended")]
    Disconnected,
    /// The handshake did not complete in time.
    #[error("handshake timeout")]
    HandshakeTimeout,
    /// The client broke the protocol (bad frame, failed record, bad request id).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The enclave refused to go on (a limit, or a request id that did not increase), and told the
    /// client with an authenticated session error.
    #[error("refused: {0}")]
    Refused(SessionErrorCode),
    /// The attester could not produce a document.
    #[error("attestation failed: {0}")]
    Attester(String),
    /// The server is shutting down.
    #[error("server shutting down")]
    ShuttingDown,
    /// The client accepted no bytes of a record for this long: it stopped reading.
    #[error("client stopped reading: no bytes accepted for {0:?}")]
    WriteStalled(Duration),
    /// The enclave itself failed (e.g. sealing a record).
    #[error("internal failure: {0}")]
    Internal(String),
}

type Ws<S> = WebSocketStream<S>;

/// What a session needs from its server.
pub(crate) struct Context {
    pub(crate) function: Arc<Function>,
    pub(crate) attester: Arc<dyn Attester>,
    pub(crate) limits: ServerLimits,
    pub(crate) stats: Arc<Stats>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// SHA-256 of the TLS key's SubjectPublicKeyInfo when serving `wss://`: bound into every document.
    pub(crate) tls_spki_sha256: Option<[u8; 32]>,
}

/// Upgraded; waiting for the client's nonce.
pub(crate) struct AwaitingNonce<S> {
    ws: Ws<S>,
}

/// The document is out; waiting for the client's key share (sent only if the client accepted it).
pub(crate) struct DocumentSent<S> {
    ws: Ws<S>,
    handshake: AwaitingKeyShare,
}

/// Keys agreed; serving invocations.
pub(crate) struct Serving<S> {
    ws: Ws<S>,
    opener: RequestOpener,
    sealer: ResponseSealer,
}

/// One data message from the peer. Ping, pong and raw frames are handled below this and never surface.
pub(crate) enum Incoming {
    Text(tokio_tungstenite::tungstenite::Bytes),
    Binary(tokio_tungstenite::tungstenite::Bytes),
}

/// The next text or binary message, for both the native and the Cape protocol: the one place that
/// decides which WebSocket failures are a disconnect and which break the protocol.
pub(crate) async fn next_message(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Result<Incoming, SessionEnd> {
    loop {
        match ws.next().await {
            None | Some(Ok(Message::Close(_))) => return Err(SessionEnd::Disconnected),
            // A peer that goes away without a closing handshake (e.g. a client that refused the
            // document) has disconnected; it did not break the protocol.
            Some(Err(
                WsError::ConnectionClosed
                | WsError::AlreadyClosed
                | WsError::Io(_)
                | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
            )) => return Err(SessionEnd::Disconnected),
            Some(Err(e)) => return Err(SessionEnd::Protocol(format!("websocket: {e}"))),
            Some(Ok(Message::Binary(b))) => return Ok(Incoming::Binary(b)),
            Some(Ok(Message::Text(t))) => return Ok(Incoming::Text(t.into())),
            Some(Ok(_)) => continue,
        }
    }
}

/// The native protocol's next frame: every frame is a binary message (PROTOCOL.md section 3).
async fn next_frame(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Result<tokio_tungstenite::tungstenite::Bytes, SessionEnd> {
    match next_message(ws).await? {
        Incoming::Binary(b) => Ok(b),
        Incoming::Text(_) => Err(SessionEnd::Protocol("text message".into())),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AwaitingNonce<S> {
    pub(crate) fn new(ws: Ws<S>) -> Self {
        Self { ws }
    }

    /// Reads the nonce, attests a fresh key over it, and sends the document.
    pub(crate) async fn send_document(mut self, ctx: &Context) -> Result<DocumentSent<S>, SessionEnd> {
        let limits = ctx.limits.frame;
        let bytes = next_frame(&mut self.ws).await?;
        let function_id = ctx.function.id().clone();
        let handshake = EnclaveHandshake::receive_hello(&bytes, &limits, function_id.clone(), &mut OsRng)
            .map_err(|e| SessionEnd::Protocol(e.to_string()))?;
        let mut user_data = EnclaveUserData::new(function_id, ctx.function.checksum());
        if let Some(spki) = ctx.tls_spki_sha256 {
            user_data = user_data.with_tls_spki_sha256(spki);
        }
        let request = AttestationRequest::new(
            Some(handshake.nonce().as_bytes().to_vec()),
            Some(handshake.public_key().to_vec()),
            Some(user_data.encode()),
        );
        let document = ctx.attester.attest(&request).map_err(|e| SessionEnd::Attester(e.to_string()))?;
        ctx.stats.documents.fetch_add(1, Ordering::Relaxed);
        let (frame, handshake) = handshake.send_document(&document);
        self.ws.send(Message::binary(frame)).await.map_err(|_| SessionEnd::Disconnected)?;
        Ok(DocumentSent { ws: self.ws, handshake })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> DocumentSent<S> {
    /// Waits for the key share. A client that refused the document closes here, having sent nothing.
    pub(crate) async fn receive_key_share(mut self, ctx: &Context) -> Result<Serving<S>, SessionEnd> {
        let limits = ctx.limits.frame;
        let bytes = next_frame(&mut self.ws).await?;
        let (opener, sealer) =
            self.handshake.complete(&bytes, &limits).map_err(|e| SessionEnd::Protocol(e.to_string()))?;
        ctx.stats.key_shares.fetch_add(1, Ordering::Relaxed);
        Ok(Serving { ws: self.ws, opener, sealer })
    }
}

/// Seals and sends records in the order they are queued ([`write_pump`]: everything queued when the
/// writer wakes goes out with one flush).
///
/// Each write is bounded by `stall`: a peer that accepts no bytes for that long (it stopped reading)
/// is gone, and the writer ends, which closes the queue and so tells the read loop and every
/// invocation. Returns why it ended early, if it did.
async fn write_loop<S: AsyncRead + AsyncWrite + Unpin>(
    mut sink: SplitSink<Ws<S>, Message>,
    mut sealer: ResponseSealer,
    mut queue: mpsc::Receiver<Outgoing>,
    stall: Duration,
) -> Option<SessionEnd> {
    let config = PumpConfig { wrap: Message::binary, stall: Some(stall) };
    let end = write_pump(&mut queue, &mut sink, |r| sealer.seal(r), &config, std::future::pending(), || ()).await;
    let ended = match end {
        PumpEnd::Seal(e) => {
            tracing::warn!(error = %e, "sealing a record failed; ending the session");
            Some(SessionEnd::Internal(format!("sealing a record: {e}")))
        }
        PumpEnd::Stalled(limit) => Some(SessionEnd::WriteStalled(limit)),
        PumpEnd::Sink(e) => {
            tracing::debug!(error = %e, "sending a record failed");
            None
        }
        _ => None,
    };
    // Closing the queue now, not when this task ends: senders learn at once that nobody writes.
    drop(queue);
    if ended.is_none() {
        let _ = tokio::time::timeout(stall, sink.close()).await;
    }
    ended
}

struct Invocations {
    /// Invocations whose input has not ended yet: the input channel, the task to abort if it never
    /// does, and a share of the invocation's slot (see `run`).
    inputs: HashMap<RequestId, OpenInput>,
    /// Every invocation task not known to have finished.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    last_id: RequestId,
    slots: Arc<Semaphore>,
    max: usize,
}

struct OpenInput {
    tx: mpsc::Sender<Vec<u8>>,
    task: tokio::task::AbortHandle,
    _slot: Arc<OwnedSemaphorePermit>,
}

/// A chunk read from the client that its function has not taken yet (its input channel was full).
struct Stalled {
    id: RequestId,
    data: Vec<u8>,
    /// The chunk was the input's last (`InputLast`): the input closes once it is delivered.
    end_of_input: bool,
}

impl Drop for Stalled {
    /// A session that ends while a chunk waits drops it wiped.
    fn drop(&mut self) {
        discard(std::mem::take(&mut self.data));
    }
}

/// Room in the stalled chunk's input channel; never resolves when nothing is stalled. Err: the
/// function has finished and takes no more input.
async fn room_for(
    inv: &Invocations,
    stalled: &Option<Stalled>,
) -> Result<mpsc::OwnedPermit<Vec<u8>>, mpsc::error::SendError<()>> {
    match stalled.as_ref().and_then(|s| inv.inputs.get(&s.id)) {
        // An owned permit, so that the handler may take the stalled chunk out.
        Some(open) => open.tx.clone().reserve_owned().await,
        None => std::future::pending().await,
    }
}

/// Drops input the function will never read, wiped.
fn discard(data: Vec<u8>) {
    drop(PlaintextBuf::from(data));
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Serving<S> {
    /// Serves invocations until the client closes, breaks the protocol, idles out, stops reading, or
    /// the server drains.
    pub(crate) async fn serve(self, ctx: &Context) -> SessionEnd {
        let (sink, mut stream) = self.ws.split();
        // Room for one record per invocation in flight, so that a small invocation's answer never
        // waits for the writer (and the writer never wakes a waiting invocation per record).
        let (out, queue) = mpsc::channel(ctx.limits.max_in_flight.max(OUTGOING_QUEUED));
        let mut writer = tokio::spawn(write_loop(sink, self.sealer, queue, ctx.limits.idle_timeout));
        let mut opener = self.opener;
        let mut inv = Invocations {
            inputs: HashMap::new(),
            tasks: Vec::new(),
            last_id: 0,
            slots: Arc::new(Semaphore::new(ctx.limits.max_in_flight)),
            max: ctx.limits.max_in_flight,
        };
        let mut end = Self::run(ctx, &mut stream, &mut opener, &mut inv, &out).await;
        // An invocation whose input never ended must not run on a prefix of it: a truncated input is
        // not an input.
        for (_, open) in inv.inputs.drain() {
            // Abort before the sender drops: a closed channel would read as a complete input.
            open.task.abort();
            ctx.stats.abandoned.fetch_add(1, Ordering::Relaxed);
        }
        // The session is over: nobody will read further outputs. (A drain has already waited for
        // running invocations.)
        for task in &inv.tasks {
            task.abort();
        }
        let told = match &end {
            SessionEnd::Refused(code) => Some((*code, detail_of(*code, ctx))),
            SessionEnd::ShuttingDown => Some((SessionErrorCode::ShuttingDown, 0)),
            _ => None,
        };
        let finish = async {
            // PROTOCOL.md section 5.4: no record follows a SessionError. `abort` is asynchronous (a
            // task in the middle of a poll may still queue an output), so wait until each has stopped.
            for task in inv.tasks.drain(..) {
                let _ = task.await;
            }
            if let Some((code, detail)) = told {
                let _ = out.send(Outgoing::Record(ServerMessage::SessionError { code, detail }.to_record())).await;
            }
            drop(out);
            // Every queue sender is gone now; the writer sends what is queued and ends.
            (&mut writer).await
        };
        // Bounded: a client that stopped reading would otherwise hold the queue, the writer, the
        // session slot and a server drain (the writer's own per-write bound is the same period).
        match tokio::time::timeout(ctx.limits.idle_timeout, finish).await {
            Ok(Ok(Some(why))) if matches!(end, SessionEnd::Disconnected) => end = why,
            Ok(_) => {}
            Err(_) => {
                writer.abort();
                if matches!(end, SessionEnd::Disconnected) {
                    end = SessionEnd::WriteStalled(ctx.limits.idle_timeout);
                }
            }
        }
        end
    }

    async fn run(
        ctx: &Context,
        stream: &mut SplitStream<Ws<S>>,
        opener: &mut RequestOpener,
        inv: &mut Invocations,
        out: &mpsc::Sender<Outgoing>,
    ) -> SessionEnd {
        let limits = ctx.limits.frame;
        let mut shutdown = ctx.shutdown.clone();
        let mut draining = *shutdown.borrow();
        let mut timer = IdleTimer::new(ctx.limits.idle_timeout);
        let mut local = FuturesUnordered::new();
        // While a chunk waits for its function, no further record is read (that is the backpressure
        // on the client), but everything else here goes on: inline invocations, the writer's end,
        // shutdown.
        let mut stalled: Option<Stalled> = None;
        loop {
            let idle = inv.slots.available_permits() == inv.max;
            if draining && idle {
                return SessionEnd::ShuttingDown;
            }
            let bytes = tokio::select! {
                r = next_frame(stream), if stalled.is_none() => match r {
                    Ok(b) => b,
                    Err(end) => return end,
                },
                room = room_for(inv, &stalled) => {
                    let Some(mut s) = stalled.take() else { continue };
                    // Err: a function that finished early takes no more; the chunk drops wiped with `s`.
                    if let Ok(permit) = room {
                        permit.send(std::mem::take(&mut s.data));
                    }
                    if s.end_of_input {
                        inv.inputs.remove(&s.id);
                    }
                    continue;
                }
                // Idle: nothing from the client for the whole period while we wait on it (no
                // invocation running, or one still missing input). A function still computing on a
                // complete input, or one that has not yet taken the last chunk, keeps the session.
                () = timer.expired() => {
                    if stalled.is_none() && (!inv.inputs.is_empty() || inv.slots.available_permits() == inv.max) {
                        return SessionEnd::Refused(SessionErrorCode::IdleTimeout);
                    }
                    continue;
                }
                Some(()) = local.next(), if !local.is_empty() => continue,
                // The writer has ended (the client stopped reading, or the connection broke): no
                // answer can reach the client any more.
                () = out.closed() => return SessionEnd::Disconnected,
                changed = shutdown.changed(), if !draining => {
                    draining = changed.is_err() || *shutdown.borrow();
                    continue;
                }
                // Draining: wake as soon as the last running invocation has finished.
                _ = inv.slots.acquire_many(u32::try_from(inv.max).unwrap_or(u32::MAX)), if draining => {
                    return SessionEnd::ShuttingDown;
                }
            };
            timer.touch();
            let ct = match Frame::decode(&bytes, &limits) {
                Ok(Frame::Record(ct)) => ct,
                Ok(other) => return SessionEnd::Protocol(format!("expected record, got {}", other.name())),
                Err(e) => return SessionEnd::Protocol(e.to_string()),
            };
            let mut plaintext = match opener.open(ct) {
                Ok(p) => p,
                Err(e) => {
                    ctx.stats.records_rejected.fetch_add(1, Ordering::Relaxed);
                    return SessionEnd::Protocol(e.to_string());
                }
            };
            let msg = match ClientMessage::decode(&plaintext) {
                Ok(m) => m,
                Err(e) => {
                    // The record authenticated, so the client is the peer that holds the keys: tell it.
                    tracing::debug!(error = %e, "malformed message in an authentic record");
                    return SessionEnd::Refused(SessionErrorCode::ProtocolViolation);
                }
            };
            let (id, data_len, end_of_input) = match msg {
                ClientMessage::Close => return SessionEnd::ClientClosed,
                ClientMessage::Input { id, data } => (id, data.len(), false),
                ClientMessage::InputEnd { id } => (id, 0, true),
                ClientMessage::InputLast { id, data } => (id, data.len(), true),
            };
            // A chunk is the plaintext's tail: hand the function the opened buffer itself, without the
            // header, instead of a copy (the function owns it from here, as it owned a copy before).
            let mut data = {
                let mut buf = std::mem::take(&mut *plaintext);
                let header = buf.len().saturating_sub(data_len);
                buf.drain(..header);
                // The shift leaves the old tail (plaintext) in the spare capacity.
                buf.spare_capacity_mut().zeroize();
                buf
            };
            if id > inv.last_id {
                if draining {
                    return SessionEnd::ShuttingDown;
                }
                // An invocation is in flight until both its function has ended and its input has
                // ended (PROTOCOL.md section 6): the function's task and the open input each hold a
                // share of the slot. Otherwise inputs left open to a function that returned early
                // would pile up without bound.
                let Ok(permit) = inv.slots.clone().try_acquire_owned() else {
                    return SessionEnd::Refused(SessionErrorCode::TooManyInFlight);
                };
                let slot = Arc::new(permit);
                inv.last_id = id;
                let (tx, rx) = mpsc::channel(INPUT_CHUNKS_BUFFERED);
                // An invocation whose first record is also its last (InputLast) has its whole input
                // now: hand it over before the function starts, and keep no input state for it.
                let whole = end_of_input;
                if whole && !data.is_empty() {
                    // The channel is new and empty, so this cannot fail for want of room.
                    let _ = tx.try_send(std::mem::take(&mut data));
                }
                ctx.stats.invocations.fetch_add(1, Ordering::Relaxed);
                let function = ctx.function.clone();
                let out = out.clone();
                let stats = ctx.stats.clone();
                let task_slot = slot.clone();
                let invocation = async move {
                    run_invocation(function, id, rx, out, whole, task_slot).await;
                    stats.completed.fetch_add(1, Ordering::Relaxed);
                };
                if whole {
                    // Its input is all here, so it never waits on this loop: run it in this task
                    // rather than spawn one (a spawn and a cross-task wake per small invocation).
                    // It stops with the session, as a spawned one is aborted.
                    drop(slot);
                    local.push(invocation);
                    continue;
                }
                // A streamed input is fed by this loop, which may wait on the function: that one
                // needs a task of its own.
                let task = tokio::spawn(invocation);
                inv.tasks.retain(|t| !t.is_finished());
                let abort = task.abort_handle();
                inv.tasks.push(task);
                inv.inputs.insert(id, OpenInput { tx, task: abort, _slot: slot });
            }
            let Some(open) = inv.inputs.get(&id) else {
                // PROTOCOL.md section 5.2: an id at or below the highest seen, whose input has ended.
                return SessionEnd::Refused(SessionErrorCode::RequestIdNotIncreasing);
            };
            if !data.is_empty() {
                match open.tx.try_send(data) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(data)) => {
                        // Wait for the function in the select above, not here, where the idle timer,
                        // shutdown and inline invocations would stop. The input stays open (if this
                        // was its last chunk) until the chunk is delivered.
                        stalled = Some(Stalled { id, data, end_of_input });
                        continue;
                    }
                    // A function that finished early drops its receiver; the rest of its input is discarded.
                    Err(mpsc::error::TrySendError::Closed(data)) => discard(data),
                }
            }
            if end_of_input {
                // Dropping the sender closes the function's input: the end marker made it whole.
                inv.inputs.remove(&id);
            }
        }
    }
}

fn detail_of(code: SessionErrorCode, ctx: &Context) -> u64 {
    match code {
        SessionErrorCode::TooManyInFlight => ctx.limits.max_in_flight as u64,
        SessionErrorCode::IdleTimeout => ctx.limits.idle_timeout.as_secs(),
        SessionErrorCode::ChunkTooLarge => MAX_CHUNK_LEN as u64,
        _ => 0,
    }
}

/// Runs one invocation: feeds its input channel to the function and queues its output as records.
///
/// When the input came whole in one record (`whole`), the output's last chunk travels with the
/// invocation's end (`OutputLast`), so a small invocation is answered with one record. A chunk is
/// held back for that only when the function has already finished; a function still running gets
/// each chunk sent as it comes, so streaming output is not delayed. A streamed input gets a
/// streamed answer: `Output`s, then `OutputEnd` or `FunctionError`.
async fn run_invocation(
    function: Arc<Function>,
    id: RequestId,
    input: mpsc::Receiver<Vec<u8>>,
    out: mpsc::Sender<Outgoing>,
    whole: bool,
    slot: Arc<OwnedSemaphorePermit>,
) {
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(INPUT_CHUNKS_BUFFERED);
    let forward = async {
        let mut next = out_rx.recv().await;
        while let Some(chunk) = next {
            let chunk = PlaintextBuf::from(chunk);
            // What is there now, without waiting (and without `try_recv`, which parks the thread
            // while a send is half done): more output, the end (the function finished), or nothing yet.
            match out_rx.recv().now_or_never() {
                Some(None) if whole => return Ok(Some(chunk)),
                Some(more) => next = more,
                None => next = None,
            }
            send_output(&out, id, &chunk).await?;
            if next.is_none() {
                next = out_rx.recv().await;
            }
        }
        Ok::<_, ()>(None)
    };
    let (result, last) = tokio::join!(function.invoke(input, out_tx), forward);
    // Err: the session's writer is gone; nobody reads the rest.
    let Ok(last) = last else { return };
    let end = match result {
        Ok(()) => match last {
            Some(chunk) => {
                // All of the held chunk but its last piece, then that piece as the end.
                let cut = chunk.len().saturating_sub(1) / MAX_CHUNK_LEN * MAX_CHUNK_LEN;
                let (body, tail) = chunk.split_at_checked(cut).unwrap_or((&[], &chunk[..]));
                if send_output(&out, id, body).await.is_err() {
                    return;
                }
                ServerMessage::OutputLast { id, data: tail }.to_record()
            }
            None => ServerMessage::OutputEnd { id }.to_record(),
        },
        Err(e) => {
            if let Some(chunk) = last {
                if send_output(&out, id, &chunk).await.is_err() {
                    return;
                }
            }
            tracing::debug!(function_id = function.id().as_str(), id, "function returned an error");
            let message = e.to_string();
            ServerMessage::FunctionError { id, code: function_error_code(&e), message: &message }.to_record()
        }
    };
    let Ok(queued) = out.reserve().await else { return };
    // The slot (this task's share of it) frees as the invocation's last record is queued, with no await in between: a client
    // that has seen the end may start another invocation at once (the client's limit may equal
    // ours), and a drain that finds every slot free finds every end already queued.
    drop(slot);
    queued.send(Outgoing::Record(end));
}

/// Queues `chunk` as Output records of at most [`MAX_CHUNK_LEN`] bytes (none for an empty chunk).
async fn send_output(out: &mpsc::Sender<Outgoing>, id: RequestId, chunk: &[u8]) -> Result<(), ()> {
    for data in chunk.chunks(MAX_CHUNK_LEN) {
        out.send(Outgoing::Record(ServerMessage::Output { id, data }.to_record())).await.map_err(drop)?;
    }
    Ok(())
}

/// A session's handshake and service, under the handshake timeout.
pub(crate) async fn run_session<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    ws: Ws<S>,
    ctx: Context,
) -> SessionEnd {
    let handshake = async {
        let sent = AwaitingNonce::new(ws).send_document(&ctx).await?;
        sent.receive_key_share(&ctx).await
    };
    let serving = match tokio::time::timeout(ctx.limits.handshake_timeout, handshake).await {
        Err(_) => return SessionEnd::HandshakeTimeout,
        Ok(Err(end)) => return end,
        Ok(Ok(s)) => s,
    };
    serving.serve(&ctx).await
}

/// PROTOCOL.md section 5.3: the code a function error travels with.
fn function_error_code(e: &FunctionError) -> u16 {
    match e {
        FunctionError::Failed { .. } => 1,
        FunctionError::InvalidInput { .. } => 2,
        FunctionError::InputTooLarge { .. } => 3,
        FunctionError::OutputTooLarge { .. } => 4,
        FunctionError::TimedOut { .. } => 5,
        FunctionError::Exited { .. } => 6,
        _ => 100,
    }
}
