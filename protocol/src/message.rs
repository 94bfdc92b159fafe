//! Message kinds: the plaintext inside a record (PROTOCOL.md section 5.2), `kind || id || body`.
//!
//! Input: the plaintext of a record that has just been authenticated (still the peer's words: the
//! peer holds the keys). Output: a borrowed, typed view ([`ClientMessage`], [`ServerMessage`]), or a
//! [`WireError`] naming what was malformed; or, the other way, a message laid out in a
//! [`PlainRecord`] for the record layer to seal. This module owns the message header; the record
//! layer owns the frame around it. It decides nothing about state (which ids are in flight).

#![warn(clippy::arithmetic_side_effects)]

use crate::frame::{bounded, WireError};
use crate::limits::{MAX_CHUNK_LEN, MAX_ERROR_MESSAGE_LEN, MESSAGE_HEADER_LEN};
use crate::record::PlainRecord;

/// Message kind bytes inside a record (PROTOCOL.md section 5.2).
mod kind {
    pub(super) const INPUT: u8 = 0x01;
    pub(super) const INPUT_END: u8 = 0x02;
    pub(super) const CLOSE: u8 = 0x03;
    pub(super) const INPUT_LAST: u8 = 0x04;
    pub(super) const OUTPUT: u8 = 0x81;
    pub(super) const OUTPUT_END: u8 = 0x82;
    pub(super) const FUNCTION_ERROR: u8 = 0x83;
    pub(super) const SESSION_ERROR: u8 = 0x84;
    pub(super) const OUTPUT_LAST: u8 = 0x85;
}

/// An invocation's id: chosen by the client, strictly increasing within a session, starting at 1.
pub type RequestId = u64;

/// A record's plaintext, client to enclave.
///
/// # Examples
///
/// ```
/// use enclave_protocol::{ClientMessage, WireError};
/// let input = ClientMessage::InputLast { id: 1, data: b"hello" };
/// assert_eq!(ClientMessage::decode(&input.encode()), Ok(input));
/// // A Close ends the session, so it names no invocation.
/// assert_eq!(ClientMessage::decode(&[3, 0, 0, 0, 0, 0, 0, 0, 7]), Err(WireError::CloseWithId(7)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Exhaustive on purpose: a new kind is a new protocol version, and every end must handle each one.
pub enum ClientMessage<'a> {
    /// A chunk of an invocation's input; the first message with a new id starts the invocation.
    Input {
        /// The invocation.
        id: RequestId,
        /// At most [`MAX_CHUNK_LEN`] bytes.
        data: &'a [u8],
    },
    /// The invocation's input is complete. Without it the enclave never treats input as whole.
    InputEnd {
        /// The invocation.
        id: RequestId,
    },
    /// The last chunk of an invocation's input: an `Input` and its `InputEnd` in one record, so that
    /// an input of one chunk (the common, small invocation) is one record.
    InputLast {
        /// The invocation.
        id: RequestId,
        /// At most [`MAX_CHUNK_LEN`] bytes.
        data: &'a [u8],
    },
    /// The client ends the session; no record follows.
    Close,
}

/// Why the enclave ended a session (the code inside a [`ServerMessage::SessionError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionErrorCode {
    /// A request id was not greater than every earlier one.
    RequestIdNotIncreasing,
    /// More invocations were in flight than the enclave allows; the detail is the limit.
    TooManyInFlight,
    /// A chunk exceeded [`MAX_CHUNK_LEN`]; the detail is the limit.
    ChunkTooLarge,
    /// No record arrived within the idle timeout; the detail is the timeout in seconds.
    IdleTimeout,
    /// The enclave is shutting down.
    ShuttingDown,
    /// The client sent a message the protocol does not allow here.
    ProtocolViolation,
    /// The session's share of the enclave's memory for buffered input is used up; the detail is the
    /// share in bytes.
    SessionMemory,
    /// The enclave's memory budget for buffered input is used up and this session held the most of
    /// it; the detail is the budget in bytes.
    MemoryBudget,
    /// Every session slot was taken and this session had made the least progress (completed
    /// invocations, output) for the longest; the detail is how long, in seconds.
    Evicted,
    /// An input stayed open with no chunk for the enclave's input timeout; the detail is the timeout
    /// in seconds.
    InputStalled,
    /// A code this implementation does not know (from a newer peer).
    Unknown(u16),
}

impl SessionErrorCode {
    /// The code's number on the wire.
    pub fn to_u16(self) -> u16 {
        match self {
            Self::RequestIdNotIncreasing => 1,
            Self::TooManyInFlight => 2,
            Self::ChunkTooLarge => 3,
            Self::IdleTimeout => 4,
            Self::ShuttingDown => 5,
            Self::ProtocolViolation => 6,
            Self::SessionMemory => 7,
            Self::MemoryBudget => 8,
            Self::Evicted => 9,
            Self::InputStalled => 10,
            Self::Unknown(n) => n,
        }
    }

    /// The code for a number on the wire.
    pub fn from_u16(n: u16) -> Self {
        match n {
            1 => Self::RequestIdNotIncreasing,
            2 => Self::TooManyInFlight,
            3 => Self::ChunkTooLarge,
            4 => Self::IdleTimeout,
            5 => Self::ShuttingDown,
            6 => Self::ProtocolViolation,
            7 => Self::SessionMemory,
            8 => Self::MemoryBudget,
            9 => Self::Evicted,
            10 => Self::InputStalled,
            n => Self::Unknown(n),
        }
    }
}

impl std::fmt::Display for SessionErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RequestIdNotIncreasing => f.write_str("request id not increasing"),
            Self::TooManyInFlight => f.write_str("too many invocations in flight"),
            Self::ChunkTooLarge => f.write_str("chunk too large"),
            Self::IdleTimeout => f.write_str("idle timeout"),
            Self::ShuttingDown => f.write_str("enclave shutting down"),
            Self::ProtocolViolation => f.write_str("protocol violation"),
            Self::SessionMemory => f.write_str("session's share of the input memory used up"),
            Self::MemoryBudget => f.write_str("enclave's input memory budget used up"),
            Self::Evicted => f.write_str("evicted to make room for another session"),
            Self::InputStalled => f.write_str("an input stalled"),
            Self::Unknown(n) => write!(f, "unknown session error code {n}"),
        }
    }
}

/// A record's plaintext, enclave to client.
///
/// # Examples
///
/// ```
/// use enclave_protocol::{ServerMessage, SessionErrorCode};
/// let end = ServerMessage::SessionError { code: SessionErrorCode::IdleTimeout, detail: 120 };
/// assert_eq!(ServerMessage::decode(&end.encode()), Ok(end));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Exhaustive on purpose: a new kind is a new protocol version, and every end must handle each one.
pub enum ServerMessage<'a> {
    /// A chunk of an invocation's output.
    Output {
        /// The invocation.
        id: RequestId,
        /// At most [`MAX_CHUNK_LEN`] bytes.
        data: &'a [u8],
    },
    /// The invocation finished successfully; its output is complete.
    OutputEnd {
        /// The invocation.
        id: RequestId,
    },
    /// The last chunk of a successful invocation's output: an `Output` and its `OutputEnd` in one
    /// record.
    OutputLast {
        /// The invocation.
        id: RequestId,
        /// At most [`MAX_CHUNK_LEN`] bytes.
        data: &'a [u8],
    },
    /// The invocation failed inside the function; the session goes on.
    FunctionError {
        /// The invocation.
        id: RequestId,
        /// The function's error code.
        code: u16,
        /// The function's message, at most [`MAX_ERROR_MESSAGE_LEN`] bytes of UTF-8.
        message: &'a str,
    },
    /// The enclave ends the session; no record follows.
    SessionError {
        /// Why.
        code: SessionErrorCode,
        /// A number qualifying the code (a limit, an id), or 0.
        detail: u64,
    },
}

fn header(bytes: &[u8]) -> Result<(u8, u64, &[u8]), WireError> {
    let short = || WireError::ShortMessage { len: bytes.len(), min: MESSAGE_HEADER_LEN };
    let (&kind, rest) = bytes.split_first().ok_or_else(short)?;
    let (id, body) = rest.split_first_chunk::<8>().ok_or_else(short)?;
    Ok((kind, u64::from_be_bytes(*id), body))
}

fn body_len(parts: &[&[u8]]) -> usize {
    parts.iter().fold(MESSAGE_HEADER_LEN, |n, p| n.saturating_add(p.len()))
}

fn encode(kind: u8, id: u64, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body_len(parts));
    out.push(kind);
    out.extend_from_slice(&id.to_be_bytes());
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

fn record(kind: u8, id: u64, parts: &[&[u8]]) -> PlainRecord {
    let mut out = PlainRecord::with_capacity(body_len(parts));
    out.extend_from_slice(&[kind]);
    out.extend_from_slice(&id.to_be_bytes());
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

fn empty_body(kind: u8, body: &[u8]) -> Result<(), WireError> {
    if body.is_empty() {
        Ok(())
    } else {
        Err(WireError::TrailingBytes {
            kind,
            len: body.len().saturating_add(MESSAGE_HEADER_LEN),
            expected: MESSAGE_HEADER_LEN,
        })
    }
}

fn chunk(body: &[u8]) -> Result<&[u8], WireError> {
    bounded(body, "chunk", MAX_CHUNK_LEN)
}

impl<'a> ClientMessage<'a> {
    /// Decodes an authenticated record plaintext sent by a client.
    ///
    /// # Errors
    /// A [`WireError`] for a short header, an unknown kind, an oversized chunk or trailing bytes.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, WireError> {
        let (k, id, body) = header(bytes)?;
        match k {
            kind::INPUT => Ok(Self::Input { id, data: chunk(body)? }),
            kind::INPUT_END => empty_body(k, body).map(|()| Self::InputEnd { id }),
            kind::INPUT_LAST => Ok(Self::InputLast { id, data: chunk(body)? }),
            // A Close ends the session, not an invocation: an id would be a second meaning an
            // implementation could read differently, so only 0 is one.
            kind::CLOSE if id != 0 => Err(WireError::CloseWithId(id)),
            kind::CLOSE => empty_body(k, body).map(|()| Self::Close),
            other => Err(WireError::UnknownMessageKind(other)),
        }
    }

    /// Encodes this message as a record plaintext.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, id, body) = self.parts();
        encode(kind, id, &[body])
    }

    /// Lays this message out in a record, ready for [`crate::RequestSealer::seal`].
    pub fn to_record(&self) -> PlainRecord {
        let (kind, id, body) = self.parts();
        record(kind, id, &[body])
    }

    /// An `Input` record for `id` with no data yet and room for [`MAX_CHUNK_LEN`] bytes: the caller
    /// reads at most that many straight into it ([`PlainRecord::append_zeroed`], then
    /// [`PlainRecord::truncate_plaintext`]), so the chunk is not copied again, then seals it. A record
    /// carrying more is refused by the enclave.
    pub fn input_record(id: RequestId) -> PlainRecord {
        let mut out = PlainRecord::with_capacity(MESSAGE_HEADER_LEN.saturating_add(MAX_CHUNK_LEN));
        out.extend_from_slice(&[kind::INPUT]);
        out.extend_from_slice(&id.to_be_bytes());
        out
    }

    fn parts(&self) -> (u8, u64, &'a [u8]) {
        match *self {
            Self::Input { id, data } => (kind::INPUT, id, data),
            Self::InputEnd { id } => (kind::INPUT_END, id, &[]),
            Self::InputLast { id, data } => (kind::INPUT_LAST, id, data),
            Self::Close => (kind::CLOSE, 0, &[]),
        }
    }
}

impl<'a> ServerMessage<'a> {
    /// Decodes an authenticated record plaintext sent by an enclave.
    ///
    /// # Errors
    /// A [`WireError`] for a short header, an unknown kind, an oversized chunk or message, bad UTF-8,
    /// or trailing bytes.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, WireError> {
        let (k, id, body) = header(bytes)?;
        match k {
            kind::OUTPUT => Ok(Self::Output { id, data: chunk(body)? }),
            kind::OUTPUT_END => empty_body(k, body).map(|()| Self::OutputEnd { id }),
            kind::OUTPUT_LAST => Ok(Self::OutputLast { id, data: chunk(body)? }),
            kind::FUNCTION_ERROR => {
                let (code, msg) = body
                    .split_first_chunk::<2>()
                    .ok_or(WireError::ShortMessage { len: bytes.len(), min: MESSAGE_HEADER_LEN.saturating_add(2) })?;
                let msg = bounded(msg, "function error message", MAX_ERROR_MESSAGE_LEN)?;
                let message = std::str::from_utf8(msg).map_err(|_| WireError::NotUtf8)?;
                Ok(Self::FunctionError { id, code: u16::from_be_bytes(*code), message })
            }
            kind::SESSION_ERROR => {
                let code: &[u8; 2] = body.try_into().map_err(|_| WireError::TrailingBytes {
                    kind: k,
                    len: bytes.len(),
                    expected: MESSAGE_HEADER_LEN.saturating_add(2),
                })?;
                Ok(Self::SessionError { code: SessionErrorCode::from_u16(u16::from_be_bytes(*code)), detail: id })
            }
            other => Err(WireError::UnknownMessageKind(other)),
        }
    }

    /// Encodes this message as a record plaintext. A function error message longer than
    /// [`MAX_ERROR_MESSAGE_LEN`] is cut at a character boundary.
    pub fn encode(&self) -> Vec<u8> {
        let mut prefix = [0u8; 2];
        let (kind, id, parts) = self.parts(&mut prefix);
        encode(kind, id, &parts)
    }

    /// Lays this message out in a record, ready for [`crate::ResponseSealer::seal`].
    pub fn to_record(&self) -> PlainRecord {
        let mut prefix = [0u8; 2];
        let (kind, id, parts) = self.parts(&mut prefix);
        record(kind, id, &parts)
    }

    /// Kind, id field, and the body in two parts (a fixed prefix written into `prefix`, then data).
    fn parts<'p>(&'p self, prefix: &'p mut [u8; 2]) -> (u8, u64, [&'p [u8]; 2]) {
        match *self {
            Self::Output { id, data } => (kind::OUTPUT, id, [&[], data]),
            Self::OutputEnd { id } => (kind::OUTPUT_END, id, [&[], &[]]),
            Self::OutputLast { id, data } => (kind::OUTPUT_LAST, id, [&[], data]),
            Self::FunctionError { id, code, message } => {
                *prefix = code.to_be_bytes();
                (kind::FUNCTION_ERROR, id, [&prefix[..], truncate_utf8(message, MAX_ERROR_MESSAGE_LEN).as_bytes()])
            }
            // The detail travels in the id field: a session error concerns no single invocation.
            Self::SessionError { code, detail } => {
                *prefix = code.to_u16().to_be_bytes();
                (kind::SESSION_ERROR, detail, [&prefix[..], &[]])
            }
        }
    }
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    s.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        for m in [
            ClientMessage::Input { id: 1, data: b"abc" },
            ClientMessage::InputEnd { id: u64::MAX },
            ClientMessage::Close,
        ] {
            assert_eq!(ClientMessage::decode(&m.encode()), Ok(m));
        }
        for m in [
            ServerMessage::Output { id: 3, data: b"" },
            ServerMessage::OutputEnd { id: 3 },
            ServerMessage::FunctionError { id: 4, code: 2, message: "bad input" },
            ServerMessage::SessionError { code: SessionErrorCode::TooManyInFlight, detail: 64 },
        ] {
            assert_eq!(ServerMessage::decode(&m.encode()), Ok(m));
        }
    }

    /// Each code has its own number (PROTOCOL.md section 5.4), both ways; unknown numbers stay unknown.
    #[test]
    fn session_error_codes_keep_their_numbers() {
        use SessionErrorCode as C;
        let codes = [
            (C::RequestIdNotIncreasing, 1),
            (C::TooManyInFlight, 2),
            (C::ChunkTooLarge, 3),
            (C::IdleTimeout, 4),
            (C::ShuttingDown, 5),
            (C::ProtocolViolation, 6),
            (C::SessionMemory, 7),
            (C::MemoryBudget, 8),
            (C::Evicted, 9),
            (C::InputStalled, 10),
            (C::Unknown(11), 11),
        ];
        for (code, n) in codes {
            assert_eq!((code.to_u16(), C::from_u16(n)), (n, code));
        }
    }

    #[test]
    fn message_errors() {
        assert_eq!(ClientMessage::decode(&[1, 0, 0]), Err(WireError::ShortMessage { len: 3, min: 9 }));
        assert_eq!(ClientMessage::decode(&[0x81; 9]), Err(WireError::UnknownMessageKind(0x81)));
        let mut end = ClientMessage::InputEnd { id: 1 }.encode();
        end.push(0);
        assert_eq!(ClientMessage::decode(&end), Err(WireError::TrailingBytes { kind: 2, len: 10, expected: 9 }));
        let big = vec![0u8; MAX_CHUNK_LEN + 1];
        assert_eq!(
            ClientMessage::decode(&ClientMessage::Input { id: 1, data: &big }.encode()),
            Err(WireError::TooLong { frame: "chunk", len: MAX_CHUNK_LEN + 1, max: MAX_CHUNK_LEN })
        );
        let mut bad = encode(0x83, 1, &[]);
        bad.extend_from_slice(&[0, 1, 0xff]);
        assert_eq!(ServerMessage::decode(&bad), Err(WireError::NotUtf8));
    }

    #[test]
    fn last_chunk_kinds_round_trip_with_their_bytes() {
        let input_last = ClientMessage::InputLast { id: 0x0102, data: b"in" };
        assert_eq!(input_last.encode(), [0x04, 0, 0, 0, 0, 0, 0, 0x01, 0x02, b'i', b'n']);
        let output_last = ServerMessage::OutputLast { id: 0x0102, data: b"out" };
        assert_eq!(output_last.encode(), [0x85, 0, 0, 0, 0, 0, 0, 0x01, 0x02, b'o', b'u', b't']);
        let full = vec![7u8; MAX_CHUNK_LEN];
        for m in
            [input_last, ClientMessage::InputLast { id: 1, data: b"" }, ClientMessage::InputLast { id: 1, data: &full }]
        {
            assert_eq!(ClientMessage::decode(&m.encode()), Ok(m));
        }
        for m in [
            output_last,
            ServerMessage::OutputLast { id: 1, data: b"" },
            ServerMessage::OutputLast { id: 1, data: &full },
        ] {
            assert_eq!(ServerMessage::decode(&m.encode()), Ok(m));
        }
    }

    #[test]
    fn malformed_last_chunk_kinds_are_refused() {
        let big = vec![0u8; MAX_CHUNK_LEN + 1];
        let too_long = WireError::TooLong { frame: "chunk", len: MAX_CHUNK_LEN + 1, max: MAX_CHUNK_LEN };
        assert_eq!(ClientMessage::decode(&ClientMessage::InputLast { id: 1, data: &big }.encode()), Err(too_long));
        assert_eq!(ServerMessage::decode(&ServerMessage::OutputLast { id: 1, data: &big }.encode()), Err(too_long));
        // Each kind belongs to one direction.
        let input_last = ClientMessage::InputLast { id: 1, data: b"x" }.encode();
        assert_eq!(ServerMessage::decode(&input_last), Err(WireError::UnknownMessageKind(0x04)));
        let output_last = ServerMessage::OutputLast { id: 1, data: b"x" }.encode();
        assert_eq!(ClientMessage::decode(&output_last), Err(WireError::UnknownMessageKind(0x85)));
        // A header cut short.
        assert_eq!(ClientMessage::decode(&[0x04, 0, 0, 0]), Err(WireError::ShortMessage { len: 4, min: 9 }));
        assert_eq!(ServerMessage::decode(&[0x85]), Err(WireError::ShortMessage { len: 1, min: 9 }));
    }

    /// A message laid out in a record is exactly its encoding, whichever way it was built.
    #[test]
    fn records_hold_exactly_the_message() {
        let msgs_c = [
            ClientMessage::Input { id: 3, data: b"abc" },
            ClientMessage::InputEnd { id: 3 },
            ClientMessage::InputLast { id: 4, data: b"" },
            ClientMessage::Close,
        ];
        for m in msgs_c {
            assert_eq!(m.to_record().plaintext(), &m.encode()[..]);
        }
        let msgs_s = [
            ServerMessage::Output { id: 3, data: b"abc" },
            ServerMessage::OutputEnd { id: 3 },
            ServerMessage::OutputLast { id: 3, data: b"z" },
            ServerMessage::FunctionError { id: 3, code: 6, message: "exit 1" },
            ServerMessage::SessionError { code: SessionErrorCode::ChunkTooLarge, detail: 65536 },
        ];
        for m in msgs_s {
            assert_eq!(m.to_record().plaintext(), &m.encode()[..]);
        }
        // An input read straight into its record: the header, then what was read.
        let mut r = ClientMessage::input_record(9);
        r.append_zeroed(MAX_CHUNK_LEN).get_mut(..3).unwrap().copy_from_slice(b"abc");
        r.truncate_plaintext(MESSAGE_HEADER_LEN + 3);
        assert_eq!(r.plaintext(), &ClientMessage::Input { id: 9, data: b"abc" }.encode()[..]);
    }

    #[test]
    fn long_error_messages_are_cut_on_a_char_boundary() {
        let long = "é".repeat(MAX_ERROR_MESSAGE_LEN);
        let enc = ServerMessage::FunctionError { id: 1, code: 1, message: &long }.encode();
        match ServerMessage::decode(&enc) {
            Ok(ServerMessage::FunctionError { message, .. }) => assert_eq!(message.len(), MAX_ERROR_MESSAGE_LEN),
            other => panic!("{other:?}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = ClientMessage::decode(&bytes);
            let _ = ServerMessage::decode(&bytes);
        }
    }
}
