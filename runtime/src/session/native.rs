//! The enclave end of an `enclave-session.v3` connection, as typed states over the protocol core
//! (PROTOCOL.md sections 4 and 5): [`Upgraded`] (the nonce came in the upgrade request) ->
//! [`DocumentSent`] -> [`Serving`].
//!
//! Input: an upgraded WebSocket from an untrusted client and the [`SessionContext`] its server chose.
//! Output: sealed outputs and function errors to that client, and the [`SessionEnd`] saying why the
//! connection ended. Plaintext (inputs, outputs, function messages) is never logged. Who may connect,
//! and how many, is the server's decision; what the document binds is made here, in
//! [`Upgraded::send_document`].
//!
//! The serving state is four parts a reader can take one at a time: [`decode`] (a frame to a chunk),
//! [`invocations`] (the table of invocations and open inputs), [`invocation`] (one invocation's
//! answer), [`service`] (the loop that schedules them), and [`writer`] (the write pump).

mod decode;
mod invocation;
mod invocations;
mod service;
mod writer;

use enclave_protocol::io::Outgoing;
use enclave_protocol::{
    AwaitingKeyShare, EnclaveHandshake, EnclaveUserData, Nonce, RequestOpener, ResponseSealer, ServerMessage,
    SessionErrorCode, MAX_CHUNK_LEN,
};
use futures_util::{FutureExt as _, SinkExt, StreamExt};
use rand_core::OsRng;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use self::invocations::Invocations;
use crate::attester::AttestationRequest;
use crate::corked::Cork;
use crate::session::context::SessionContext;
use crate::session::end::{SessionEnd, Violation};
use crate::session::message::next_frame;
use crate::stats::count;

/// Record frames queued for the writer, across the session's invocations, at least (see `serve`).
const OUTGOING_QUEUED: usize = 32;

/// Upgraded, with the client's nonce from its upgrade request; nothing sent yet: the upgrade
/// response is held back (`cork`) to leave with the document.
pub(crate) struct Upgraded<S> {
    ws: WebSocketStream<S>,
    nonce: Nonce,
    cork: Cork,
}

/// The document is out; waiting for the client's key share (sent only if the client accepted it).
pub(crate) struct DocumentSent<S> {
    ws: WebSocketStream<S>,
    handshake: AwaitingKeyShare,
}

/// Keys agreed; serving invocations.
pub(crate) struct Serving<S> {
    ws: WebSocketStream<S>,
    opener: RequestOpener,
    sealer: ResponseSealer,
}

/// A session's handshake (under the handshake timeout) and service. `started` is called once the
/// document is out (the server logs the session then).
pub(crate) async fn run_native_session<S>(
    ws: WebSocketStream<S>,
    nonce: Nonce,
    cork: Cork,
    ctx: SessionContext,
    started: impl FnOnce(),
) -> SessionEnd
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let deadline = tokio::time::Instant::now() + ctx.limits.handshake_timeout;
    let handshake = async {
        let sent = Upgraded::new(ws, nonce, cork).send_document(&ctx, deadline).await?;
        started();
        sent.receive_key_share(&ctx).await
    };
    let mut stopped = ctx.stopped.clone();
    // Before the keys there is no way to tell the client why: an evicted handshake just closes.
    let serving = tokio::select! {
        r = tokio::time::timeout_at(deadline, handshake) => match r {
            Err(_) => return SessionEnd::HandshakeTimeout,
            Ok(Err(end)) => return end,
            Ok(Ok(s)) => s,
        },
        reason = stopped.wait() => return SessionEnd::Stopped(reason),
    };
    serving.serve(&ctx).await
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Upgraded<S> {
    /// `cork` holds the upgrade response back until the document goes.
    pub(crate) fn new(ws: WebSocketStream<S>, nonce: Nonce, cork: Cork) -> Self {
        Self { ws, nonce, cork }
    }

    /// Attests a fresh key over the upgrade request's nonce and sends the document as the session's
    /// first message, without waiting for the client. The document binds the nonce, the connection's
    /// key, and the claim: this function's id and checksum, and the TLS key when serving `wss://`
    /// (PROTOCOL.md section 4 step 2).
    ///
    /// The document waits for its turn in the server's attestation schedule, within `deadline`.
    /// The upgrade response leaves with it in one write, or alone before that wait (or a wait for a
    /// busy attestation device) when there is one, and alone when no document can be made (the client
    /// then sees its session close).
    pub(crate) async fn send_document(
        self,
        ctx: &SessionContext,
        deadline: tokio::time::Instant,
    ) -> Result<DocumentSent<S>, SessionEnd> {
        let Self { mut ws, nonce, cork } = self;
        let function_id = ctx.function.id().clone();
        let handshake = EnclaveHandshake::start(function_id.clone(), nonce, &mut OsRng);
        let mut claim = EnclaveUserData::new(function_id, ctx.function.checksum());
        if let Some(spki) = ctx.tls_spki_sha256 {
            claim = claim.with_tls_spki_sha256(spki);
        }
        let request = AttestationRequest::new(
            Some(handshake.nonce().as_bytes().to_vec()),
            Some(handshake.public_key().to_vec()),
            Some(claim.encode()),
        );
        let turn = ctx.admission.attestation_turn(deadline);
        tokio::pin!(turn);
        // The turn is taken in its first poll; only a rate-limited one waits.
        let turn = match (&mut turn).now_or_never() {
            Some(turn) => turn,
            None => {
                release_upgrade(&mut ws, &cork).await?;
                turn.await
            }
        };
        let document = match turn {
            Ok(()) => {
                // Likewise a document that must first wait for a place at a busy device.
                let place = match ctx.attester.try_place() {
                    Some(place) => Ok(place),
                    None => {
                        release_upgrade(&mut ws, &cork).await?;
                        ctx.attester.place().await
                    }
                };
                match place {
                    Ok(place) => ctx.attester.attest(place, request).await.map_err(SessionEnd::Attester),
                    Err(e) => Err(SessionEnd::Attester(e)),
                }
            }
            Err(wait) => Err(SessionEnd::AttestationRate(wait)),
        };
        let document = match document {
            Ok(d) => d,
            Err(end) => {
                // As before the upgrade response was held: the client is upgraded, then closed.
                let _ = release_upgrade(&mut ws, &cork).await;
                return Err(end);
            }
        };
        count(&ctx.stats.documents);
        let (frame, handshake) = handshake.send_document(&document);
        // The held upgrade response and the document: one flush, one write.
        cork.release();
        ws.send(Message::binary(frame)).await.map_err(|_| SessionEnd::Disconnected)?;
        Ok(DocumentSent { ws, handshake })
    }
}

/// Sends the held upgrade response now, alone.
async fn release_upgrade<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    cork: &Cork,
) -> Result<(), SessionEnd> {
    cork.release();
    ws.flush().await.map_err(|_| SessionEnd::Disconnected)
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> DocumentSent<S> {
    /// Waits for the key share. A client that refused the document closes here, having sent nothing.
    pub(crate) async fn receive_key_share(mut self, ctx: &SessionContext) -> Result<Serving<S>, SessionEnd> {
        let bytes = next_frame(&mut self.ws).await?;
        let (opener, sealer) = self.handshake.complete(&bytes, &ctx.limits.frame).map_err(Violation::Handshake)?;
        count(&ctx.stats.key_shares);
        // The client accepted a document: it is using the enclave, and its slot is safe for a while.
        ctx.ticket.progress();
        Ok(Serving { ws: self.ws, opener, sealer })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Serving<S> {
    /// Serves invocations until the loop ends, then ends every invocation and tells the client why
    /// (a session error, when the enclave refused or drains), within the idle timeout.
    pub(crate) async fn serve(self, ctx: &SessionContext) -> SessionEnd {
        let (sink, mut stream) = self.ws.split();
        // Room for one record per invocation in flight, so that a small invocation's answer never
        // waits for the writer (and the writer never wakes a waiting invocation per record).
        let (out, queue) = mpsc::channel(ctx.limits.max_in_flight.max(OUTGOING_QUEUED));
        let mut writer = tokio::spawn(writer::write_loop(sink, self.sealer, queue, ctx.limits.idle_timeout));
        let mut opener = self.opener;
        let mut inv = Invocations::new(ctx.limits.max_in_flight);
        let mut end = service::serve_records(ctx, &mut stream, &mut opener, &mut inv, &out).await;
        let tasks = inv.end(ctx);
        let told = match &end {
            SessionEnd::Refused(code) => Some((*code, detail_of(*code, ctx))),
            SessionEnd::Stopped(reason) => Some((reason.code, reason.detail)),
            SessionEnd::ShuttingDown => Some((SessionErrorCode::ShuttingDown, 0)),
            _ => None,
        };
        let finish = async {
            // PROTOCOL.md section 5.4: no record follows a SessionError. `abort` is asynchronous (a
            // task in the middle of a poll may still queue an output), so wait until each has stopped.
            for task in tasks {
                let _ = task.await;
            }
            if let Some((code, detail)) = told {
                // Last: the writer sends nothing after it, whoever still holds a sender (an output
                // clone a function's task kept may be in the middle of a send).
                let _ = out.send(Outgoing::Last(ServerMessage::SessionError { code, detail }.to_record())).await;
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
}

/// The detail a session error carries (PROTOCOL.md section 5.4): the limit that was reached.
fn detail_of(code: SessionErrorCode, ctx: &SessionContext) -> u64 {
    match code {
        SessionErrorCode::TooManyInFlight => ctx.limits.max_in_flight as u64,
        SessionErrorCode::IdleTimeout => ctx.limits.idle_timeout.as_secs(),
        SessionErrorCode::ChunkTooLarge => MAX_CHUNK_LEN as u64,
        _ => 0,
    }
}
