//! The session's writer: the shared write pump ([`write_pump`], the same one the client runs) over
//! the WebSocket sink, with the enclave's bound on a client that stops reading.
//!
//! Input: records queued by the session and its invocations. Output: sealed frames on the socket,
//! and why the writer ended early, if it did.

use std::time::Duration;

use enclave_protocol::io::{write_pump, Outgoing, PumpConfig, PumpEnd};
use enclave_protocol::ResponseSealer;
use futures_util::{Sink, SinkExt as _};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::session::end::SessionEnd;

/// Seals and sends records in the order they are queued (everything queued when the writer wakes goes
/// out with one flush).
///
/// Each write is bounded by `stall`: a peer that accepts no bytes for that long (it stopped reading)
/// is gone, and the writer ends, which closes the queue and so tells the read loop and every
/// invocation. Returns why it ended early, if it did.
pub(super) async fn write_loop(
    mut sink: impl Sink<Message, Error = WsError> + Unpin,
    mut sealer: ResponseSealer,
    mut queue: mpsc::Receiver<Outgoing>,
    stall: Duration,
) -> Option<SessionEnd> {
    let config = PumpConfig { wrap: Message::binary, stall: Some(stall) };
    let end = write_pump(&mut queue, &mut sink, |r| sealer.seal(r), &config, std::future::pending(), || ()).await;
    let ended = match end {
        PumpEnd::Seal(e) => {
            tracing::warn!(error = %e, "sealing a record failed; ending the session");
            Some(SessionEnd::RecordLayer(e))
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
