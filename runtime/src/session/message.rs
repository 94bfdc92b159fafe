//! Reading one data message from an upgraded WebSocket, for both the native and the Cape protocol:
//! the one place that decides which WebSocket failures are a disconnect and which break the protocol.
//!
//! Input: messages from an untrusted client. Output: the next text or binary message, or the
//! [`SessionEnd`] it amounts to. Ping, pong and raw frames are handled below this and never surface.

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message};

use crate::session::end::{SessionEnd, Violation, WebSocketViolation};

/// One data message from the peer.
pub(crate) enum Incoming {
    Text(Bytes),
    Binary(Bytes),
}

/// The next text or binary message.
pub(crate) async fn next_message(
    ws: &mut (impl StreamExt<Item = Result<Message, WsError>> + Unpin),
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
            Some(Err(e)) => return Err(Violation::WebSocket(classify(e)).into()),
            Some(Ok(Message::Binary(b))) => return Ok(Incoming::Binary(b)),
            Some(Ok(Message::Text(t))) => return Ok(Incoming::Text(t.into())),
            Some(Ok(_)) => continue,
        }
    }
}

/// The native protocol's next frame: every frame is a binary message (PROTOCOL.md section 3).
pub(crate) async fn next_frame(
    ws: &mut (impl StreamExt<Item = Result<Message, WsError>> + Unpin),
) -> Result<Bytes, SessionEnd> {
    match next_message(ws).await? {
        Incoming::Binary(b) => Ok(b),
        Incoming::Text(_) => Err(Violation::TextMessage.into()),
    }
}

fn classify(e: WsError) -> WebSocketViolation {
    match e {
        WsError::Capacity(c) => WebSocketViolation::Capacity(c),
        WsError::Protocol(p) => WebSocketViolation::Protocol(p),
        WsError::Utf8(_) => WebSocketViolation::Utf8,
        other => {
            tracing::debug!(error = %other, "websocket read failed");
            WebSocketViolation::Other
        }
    }
}
