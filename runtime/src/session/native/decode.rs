//! One frame of a serving session, from bytes to the chunk of input it carries.
//!
//! Input: a frame from the untrusted client. Output: [`Inbound`] (the client's close, or a chunk of an
//! invocation's input with its id), or the [`SessionEnd`] a bad frame amounts to. The record layer
//! decides authenticity; this step only orders the checks: frame, record, message.

use enclave_protocol::{ClientMessage, Frame, FrameLimits, RequestId, RequestOpener, SessionErrorCode};
use zeroize::Zeroize as _;

use crate::budget::Charge;
use crate::session::end::{SessionEnd, Violation};
use crate::stats::{count, Stats};

/// What one authentic record asks for.
pub(super) enum Inbound {
    /// The client ends the session.
    Close,
    /// Input for invocation `id`.
    Chunk(Chunk),
}

/// A chunk of an invocation's input.
pub(super) struct Chunk {
    pub(super) id: RequestId,
    /// The plaintext chunk, owned: the opened record's own buffer without its header.
    pub(super) data: Vec<u8>,
    /// The input's end marker came with it (`InputEnd` or `InputLast`).
    pub(super) end_of_input: bool,
    /// The bytes of the memory budget the chunk holds (the service loop attaches them).
    pub(super) charge: Option<Charge>,
}

/// Decodes, opens and parses one frame. A frame that is not a record, or a record that does not open,
/// ends the session without a session error (PROTOCOL.md section 5.4: its sender is unknown); an
/// authentic record whose message does not parse is refused with one.
pub(super) fn decode(
    bytes: &[u8],
    limits: &FrameLimits,
    opener: &mut RequestOpener,
    stats: &Stats,
) -> Result<Inbound, SessionEnd> {
    let ct = match Frame::decode(bytes, limits) {
        Ok(Frame::Record(ct)) => ct,
        Ok(other) => return Err(Violation::NotARecord { got: other.name() }.into()),
        Err(e) => return Err(Violation::Frame(e).into()),
    };
    let mut plaintext = opener.open(ct).map_err(|e| {
        if e.is_peer_fault() {
            count(&stats.records_rejected);
            Violation::Record(e).into()
        } else {
            SessionEnd::RecordLayer(e)
        }
    })?;
    let (id, data_len, end_of_input) = match ClientMessage::decode(&plaintext) {
        Ok(ClientMessage::Close) => return Ok(Inbound::Close),
        Ok(ClientMessage::Input { id, data }) => (id, data.len(), false),
        Ok(ClientMessage::InputEnd { id }) => (id, 0, true),
        Ok(ClientMessage::InputLast { id, data }) => (id, data.len(), true),
        Err(e) => {
            // The record authenticated, so the client is the peer that holds the keys: tell it.
            tracing::debug!(error = %e, "malformed message in an authentic record");
            return Err(SessionEnd::Refused(SessionErrorCode::ProtocolViolation));
        }
    };
    // A chunk is the plaintext's tail: hand the function the opened buffer itself, without the header,
    // instead of a copy (the function owns it from here).
    let mut data = std::mem::take(&mut *plaintext);
    let header = data.len().saturating_sub(data_len);
    data.drain(..header);
    // The shift leaves the old tail (plaintext) in the spare capacity.
    data.spare_capacity_mut().zeroize();
    Ok(Inbound::Chunk(Chunk { id, data, end_of_input, charge: None }))
}
