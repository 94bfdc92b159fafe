//! The enclave end of Cape Privacy's `cape.runtime` protocol, as the published `pycape` 3.1.1 client
//! speaks it (PROTOCOL.md section 9), served beside `enclave-session.v3` for compatibility.
//!
//! Input: an upgraded WebSocket from an untrusted client that selected `cape.runtime`, and the
//! [`SessionContext`] its server chose. Output: one attestation document (JSON text frame), then one
//! JSON text frame per binary invocation frame, carrying the function's output or error in the clear
//! (Cape returns results under TLS only). Malformed frames get `{"error": ...}` and a close. Plaintext
//! is never logged. Who may connect is the server's decision.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use enclave_protocol::{cape_user_data, EnclaveKey, SessionErrorCode, KEY_LEN};
use futures_util::SinkExt;
use rand_core::OsRng;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::WebSocketStream;

use crate::attester::AttestationRequest;
use crate::function::{invoke_whole, ChargedChunk};
use crate::limits::CAPE_SEAL_OVERHEAD;
use crate::session::context::SessionContext;
use crate::session::end::{CapeViolation, SessionEnd, Violation, WebSocketViolation};
use crate::session::message::{next_message, Incoming};
use crate::stats::count;
use crate::stop::StopReason;

/// The subprotocol a Cape client offers (with its token as a second entry) and the enclave echoes.
pub(crate) const CAPE_SUBPROTOCOL: &str = "cape.runtime";

/// The NSM accepts at most 512 bytes of nonce; pycape sends 16.
const MAX_NONCE_LEN: usize = 512;

/// How long a refusal waits for the client to take its `{"error"}`: a client that is not reading
/// must not hold the session (and its slot) open.
const REFUSAL_SEND_LIMIT: Duration = Duration::from_secs(1);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NonceRequest {
    message: NonceMessage,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NonceMessage {
    nonce: String,
}

/// Runs one Cape connection to its end.
pub(crate) async fn run_cape_session<S>(mut ws: WebSocketStream<S>, ctx: SessionContext) -> SessionEnd
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let deadline = tokio::time::Instant::now() + ctx.limits.handshake_timeout;
    let mut stop = ctx.stopped.clone();
    // Any message may be as large as an invocation: charge that before reading the hello too.
    let mut reclaim = None;
    let charge = tokio::select! {
        c = tokio::time::timeout_at(deadline, ctx.memory.charge(ctx.limits.cape_message_len(), &mut reclaim)) => match c {
            Err(_) => return SessionEnd::HandshakeTimeout,
            Ok(Err(reason)) => return tell_stopped(&mut ws, reason).await,
            Ok(Ok(c)) => c,
        },
        reason = stop.wait() => return tell_stopped(&mut ws, reason).await,
    };
    let hello = tokio::select! {
        r = tokio::time::timeout_at(deadline, next_message(&mut ws)) => r,
        reason = stop.wait() => return tell_stopped(&mut ws, reason).await,
    };
    drop(charge);
    let hello = match hello {
        Err(_) => return SessionEnd::HandshakeTimeout,
        // A frame the WebSocket layer refused (e.g. over the size limit): Cape clients learn why only
        // from an `{"error"}`, so say it before closing.
        Ok(Err(SessionEnd::Violation(why))) => return refuse(&mut ws, too_large(why, &ctx)).await,
        Ok(Err(end)) => return end,
        Ok(Ok(Incoming::Binary(_))) => return refuse(&mut ws, Violation::Cape(CapeViolation::BinaryNonce)).await,
        Ok(Ok(Incoming::Text(t))) => t,
    };
    let nonce = match parse_nonce(&hello) {
        Ok(n) => n,
        Err(why) => return refuse(&mut ws, Violation::Cape(why)).await,
    };
    // One key per connection, attested once; every invocation on the connection is sealed to it.
    let key = EnclaveKey::generate(&mut OsRng);
    let request = AttestationRequest::new(
        Some(nonce),
        Some(key.public_key().to_vec()),
        Some(cape_user_data(&ctx.function.checksum())),
    );
    // The turn and, for a blocking attester, a place at the device: within the handshake's deadline,
    // and given up when the server stops the session.
    let attested = async {
        ctx.admission.attestation_turn(deadline).await.map_err(SessionEnd::AttestationRate)?;
        let made = async { ctx.attester.attest(ctx.attester.place().await?, request).await };
        match tokio::time::timeout_at(deadline, made).await {
            Ok(document) => document.map_err(SessionEnd::Attester),
            Err(_) => Err(SessionEnd::HandshakeTimeout),
        }
    };
    let document = tokio::select! {
        d = attested => d,
        reason = stop.wait() => return tell_stopped(&mut ws, reason).await,
    };
    let document = match document {
        Ok(d) => d,
        Err(end) => {
            let refusal = match end {
                SessionEnd::AttestationRate(_) => "attestation rate limit reached",
                _ => "attestation failed",
            };
            let _ = send_bounded(&mut ws, error_frame(refusal), REFUSAL_SEND_LIMIT).await;
            return end;
        }
    };
    count(&ctx.stats.documents);
    if let Err(end) = send_bounded(&mut ws, message_frame("attestation_doc", &document), ctx.limits.idle_timeout).await
    {
        return end;
    }
    serve_invocations(ws, &ctx, &key).await
}

/// Sequential invocations, each one binary frame in and one text frame out, until the client leaves,
/// breaks the protocol, idles out, or the server drains.
async fn serve_invocations<S>(mut ws: WebSocketStream<S>, ctx: &SessionContext, key: &EnclaveKey) -> SessionEnd
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut shutdown = ctx.shutdown.clone();
    let mut stop = ctx.stopped.clone();
    // Cape has no key share; the first request that opens is the client's acceptance of the document.
    let mut accepted = false;
    let mut reclaim = None;
    loop {
        if *shutdown.borrow() {
            let _ = ws.close(None).await;
            return SessionEnd::ShuttingDown;
        }
        // The largest invocation frame is charged to the memory budget before it is read.
        let ahead = tokio::select! {
            biased;
            reason = stop.wait() => return tell_stopped(&mut ws, reason).await,
            c = ctx.memory.charge(ctx.limits.cape_message_len(), &mut reclaim) => match c {
                Ok(c) => c,
                Err(reason) => return tell_stopped(&mut ws, reason).await,
            },
            _ = shutdown.changed() => continue,
        };
        let next = tokio::select! {
            biased;
            reason = stop.wait() => return tell_stopped(&mut ws, reason).await,
            r = tokio::time::timeout(ctx.limits.idle_timeout, next_message(&mut ws)) => r,
            _ = shutdown.changed() => continue,
        };
        let frame = match next {
            Err(_) => {
                let _ = tokio::time::timeout(REFUSAL_SEND_LIMIT, async {
                    let _ = ws.send(error_frame("idle timeout")).await;
                    let _ = ws.close(None).await;
                })
                .await;
                return SessionEnd::Refused(SessionErrorCode::IdleTimeout);
            }
            // E.g. an input above the frame limit: pycape would otherwise see only a closed socket.
            Ok(Err(SessionEnd::Violation(why))) => return refuse(&mut ws, too_large(why, ctx)).await,
            Ok(Err(end)) => return end,
            Ok(Ok(Incoming::Text(_))) => return refuse(&mut ws, CapeViolation::TextInvocation.into()).await,
            Ok(Ok(Incoming::Binary(b))) => b,
        };
        let opened = open_invocation(key, &frame);
        drop(frame);
        let input = match opened {
            Ok(input) => input,
            Err(why) => {
                if matches!(why, CapeViolation::Sealed(_)) {
                    count(&ctx.stats.records_rejected);
                }
                return refuse(&mut ws, why.into()).await;
            }
        };
        if !accepted {
            accepted = true;
            count(&ctx.stats.key_shares);
            ctx.ticket.progress();
        }
        count(&ctx.stats.invocations);
        // The plaintext takes over the frame's charge, down to its own size.
        let mut charge = ahead;
        let mut input = input;
        let data = std::mem::take(&mut *input);
        charge.shrink_to(data.capacity());
        let result = invoke_whole(ctx.function.as_ref(), ChargedChunk { data, _charge: Some(charge) }).await;
        count(&ctx.stats.completed);
        let reply = match &result {
            Ok(output) => message_frame("function_result", output),
            Err(e) => error_frame(&e.to_string()),
        };
        if let Err(end) = send_bounded(&mut ws, reply, ctx.limits.idle_timeout).await {
            return end;
        }
        ctx.ticket.progress();
    }
}

/// The server ended the session (evicted, or the memory budget): Cape's only way to say why is an
/// `{"error"}`, naming the limit.
async fn tell_stopped<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    reason: StopReason,
) -> SessionEnd {
    let text = match reason.code {
        SessionErrorCode::Evicted => format!(
            "evicted: every session slot was taken and this session had made no progress for {} s",
            reason.detail
        ),
        SessionErrorCode::MemoryBudget => {
            format!("the enclave's {}-byte memory budget for input is used up", reason.detail)
        }
        SessionErrorCode::SessionMemory => {
            format!("this session's {}-byte share of the enclave's input memory is used up", reason.detail)
        }
        code => code.to_string(),
    };
    let _ = tokio::time::timeout(REFUSAL_SEND_LIMIT, async {
        let _ = ws.send(error_frame(&text)).await;
        let _ = ws.close(None).await;
    })
    .await;
    SessionEnd::Stopped(reason)
}

/// `enc (32 bytes) || ciphertext`, opened single-shot under the attested key (PROTOCOL.md section 9.1).
fn open_invocation(key: &EnclaveKey, frame: &Bytes) -> Result<zeroize::Zeroizing<Vec<u8>>, CapeViolation> {
    let Some((enc, ct)) = frame.split_first_chunk::<KEY_LEN>() else {
        return Err(CapeViolation::ShortInvocation { len: frame.len() });
    };
    key.open_single_shot(enc, ct).map_err(CapeViolation::Sealed)
}

fn parse_nonce(text: &[u8]) -> Result<Vec<u8>, CapeViolation> {
    let req: NonceRequest =
        serde_json::from_slice(text).map_err(|e| CapeViolation::NonceRequest { line: e.line(), column: e.column() })?;
    let nonce = B64.decode(req.message.nonce.as_bytes()).map_err(CapeViolation::NonceBase64)?;
    if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN {
        return Err(CapeViolation::NonceLength { len: nonce.len(), max: MAX_NONCE_LEN });
    }
    Ok(nonce)
}

/// `{"message": {"type": T, "message": "<base64>"}}`.
fn message_frame(kind: &str, body: &[u8]) -> Message {
    let v = serde_json::json!({ "message": { "type": kind, "message": B64.encode(body) } });
    Message::text(v.to_string())
}

/// `{"error": "<text>"}`. The text is a `Display` that never carries plaintext.
fn error_frame(text: &str) -> Message {
    Message::text(serde_json::json!({ "error": text }).to_string())
}

/// A message over the bound is an invocation over Cape's input limit: say so in the input's terms,
/// both sizes (pycape shows the text).
fn too_large(why: Violation, ctx: &SessionContext) -> Violation {
    match why {
        Violation::WebSocket(WebSocketViolation::Capacity(CapacityError::MessageTooLong { size, .. })) => {
            CapeViolation::InputTooLarge {
                len: size.saturating_sub(CAPE_SEAL_OVERHEAD),
                max: ctx.limits.cape_max_input,
            }
            .into()
        }
        other => other,
    }
}

/// Tells the client why, closes, and returns the reason.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>, why: Violation) -> SessionEnd {
    let _ = tokio::time::timeout(REFUSAL_SEND_LIMIT, async {
        let _ = ws.send(error_frame(&why.to_string())).await;
        let _ = ws.close(None).await;
    })
    .await;
    SessionEnd::Violation(why)
}

/// Sends one message, bounded by `limit`: a client that accepts no bytes for that long has stopped
/// reading, and would otherwise hold its session slot for as long as it likes.
async fn send_bounded<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    message: Message,
    limit: Duration,
) -> Result<(), SessionEnd> {
    match tokio::time::timeout(limit, ws.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(SessionEnd::Disconnected),
        Err(_) => Err(SessionEnd::WriteStalled(limit)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_requests_are_parsed_strictly() {
        assert_eq!(parse_nonce(br#"{"message":{"nonce":"MTIz"}}"#), Ok(b"123".to_vec()));
        assert_eq!(parse_nonce(br#"{"message":{"nonce":""}}"#), Err(CapeViolation::NonceLength { len: 0, max: 512 }));
        assert!(matches!(parse_nonce(br#"{"message":{"nonce":"!!"}}"#), Err(CapeViolation::NonceBase64(_))));
        assert!(matches!(parse_nonce(br#"{"message":{}}"#), Err(CapeViolation::NonceRequest { line: 1, .. })));
        let long = B64.encode([0u8; 513]);
        assert_eq!(
            parse_nonce(format!(r#"{{"message":{{"nonce":"{long}"}}}}"#).as_bytes()),
            Err(CapeViolation::NonceLength { len: 513, max: 512 })
        );
    }

    #[test]
    fn an_invocation_shorter_than_enc_is_named_with_its_length() {
        let key = EnclaveKey::generate(&mut OsRng);
        assert_eq!(
            open_invocation(&key, &Bytes::from(vec![0u8; 31])).err(),
            Some(CapeViolation::ShortInvocation { len: 31 })
        );
    }
}
