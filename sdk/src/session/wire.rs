//! Frame and message encoding for the `enclave-session.v1` protocol (PROTOCOL.md sections 3 and 5).
//!
//! Input: untrusted bytes, either a WebSocket binary message (a [`Frame`]) or the plaintext of a record
//! that has just been authenticated (a [`ClientMessage`] or [`ServerMessage`]). Output: borrowed, typed
//! views of those bytes, or a [`WireError`] naming what was malformed. Decoding is bounded by the
//! caller's [`FrameLimits`] and never panics. This module decides nothing about state: whether a frame
//! is acceptable *now* is the handshake's and the session's business.

#![warn(clippy::arithmetic_side_effects)]

use zeroize::Zeroizing;

/// Length of the client's nonce, in bytes.
pub const NONCE_LEN: usize = 32;
/// Length of an X25519 public key, and so of the HPKE encapsulated key.
pub const KEY_LEN: usize = 32;
/// Largest plaintext chunk of input or output one record carries. Senders split larger data.
pub const MAX_CHUNK_LEN: usize = 64 * 1024;
/// Length of the AEAD tag that ends every record.
pub const TAG_LEN: usize = 16;
/// Bytes a record adds to its plaintext: message header (1 + 8) and the AEAD tag (16).
pub const RECORD_OVERHEAD: usize = HEADER_LEN + TAG_LEN;
/// Bytes before the ciphertext in a record frame: the frame type.
pub const RECORD_FRAME_PREFIX_LEN: usize = 1;
/// Largest message a function error may carry, in bytes of UTF-8.
pub const MAX_ERROR_MESSAGE_LEN: usize = 1024;

/// Frame type bytes (PROTOCOL.md section 3).
mod frame_type {
    pub(super) const CLIENT_HELLO: u8 = 0x01;
    pub(super) const ATTESTATION: u8 = 0x02;
    pub(super) const KEY_SHARE: u8 = 0x03;
    pub(super) const RECORD: u8 = 0x04;
}

/// Message kind bytes inside a record (PROTOCOL.md section 5).
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

/// Size bounds applied while decoding frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FrameLimits {
    /// Largest attestation document accepted, in bytes.
    pub max_document_len: usize,
    /// Largest record ciphertext accepted, in bytes.
    pub max_record_len: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        Self { max_document_len: DEFAULT_MAX_DOCUMENT_LEN, max_record_len: MAX_CHUNK_LEN + RECORD_OVERHEAD }
    }
}

/// Default bound on an attestation document. Real AWS documents are 4 to 5 KiB; the payload's CDDL
/// allows at most 16 KiB, plus a few hundred bytes of COSE envelope.
pub const DEFAULT_MAX_DOCUMENT_LEN: usize = 20 * 1024;

impl FrameLimits {
    /// The largest WebSocket message either side needs to accept under these limits.
    pub fn max_frame_len(&self) -> usize {
        1usize.saturating_add(self.max_document_len.max(self.max_record_len))
    }
}

/// Which frame, or which message part, was malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The message was empty.
    #[error("empty frame")]
    Empty,
    /// The first byte names no frame type.
    #[error("unknown frame type 0x{0:02x}")]
    UnknownFrameType(u8),
    /// A fixed-size frame had another length.
    #[error("{frame} frame body is {len} bytes; expected {expected}")]
    BadLength {
        /// Which frame.
        frame: &'static str,
        /// Body length found.
        len: usize,
        /// Body length required.
        expected: usize,
    },
    /// A variable-size frame exceeded its limit.
    #[error("{frame} frame body is {len} bytes; the limit is {max}")]
    TooLong {
        /// Which frame.
        frame: &'static str,
        /// Body length found.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A record plaintext was shorter than its header.
    #[error("record plaintext is {len} bytes, shorter than its {min}-byte header")]
    ShortMessage {
        /// Length found.
        len: usize,
        /// Minimum length.
        min: usize,
    },
    /// The record's message kind is unknown, or not one this direction may send.
    #[error("unknown message kind 0x{0:02x}")]
    UnknownMessageKind(u8),
    /// A message that carries no body had one.
    #[error("message kind 0x{kind:02x} must be {expected} bytes long, is {len}")]
    TrailingBytes {
        /// The kind.
        kind: u8,
        /// Length found.
        len: usize,
        /// Length required.
        expected: usize,
    },
    /// A function error's message is not UTF-8.
    #[error("function error message is not UTF-8")]
    NotUtf8,
    /// A `Close` named an invocation; it ends the whole session, so its id must be 0.
    #[error("Close carries id {0}; a Close ends the session and its id must be 0")]
    CloseWithId(u64),
}

/// One WebSocket binary message, borrowed from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame<'a> {
    /// Client to enclave, first: the nonce the document must echo.
    ClientHello {
        /// 32 bytes from the client's CSPRNG.
        nonce: &'a [u8; NONCE_LEN],
    },
    /// Enclave to client, once: the raw attestation document.
    Attestation(&'a [u8]),
    /// Client to enclave, once, only after the document verified: the HPKE encapsulated key.
    KeyShare(&'a [u8; KEY_LEN]),
    /// Either direction, after the key share: one sealed record.
    Record(&'a [u8]),
}

impl<'a> Frame<'a> {
    /// Decodes one frame, bounding every variable-size body by `limits`.
    ///
    /// # Errors
    /// A [`WireError`] naming the frame and the length that was wrong.
    pub fn decode(bytes: &'a [u8], limits: &FrameLimits) -> Result<Self, WireError> {
        let (&ty, body) = bytes.split_first().ok_or(WireError::Empty)?;
        match ty {
            frame_type::CLIENT_HELLO => fixed(body, "client hello").map(|nonce| Frame::ClientHello { nonce }),
            frame_type::KEY_SHARE => fixed(body, "key share").map(Frame::KeyShare),
            frame_type::ATTESTATION => bounded(body, "attestation", limits.max_document_len).map(Frame::Attestation),
            frame_type::RECORD => bounded(body, "record", limits.max_record_len).map(Frame::Record),
            other => Err(WireError::UnknownFrameType(other)),
        }
    }

    /// Encodes this frame as one WebSocket binary message.
    pub fn encode(&self) -> Vec<u8> {
        let (ty, body): (u8, &[u8]) = match self {
            Frame::ClientHello { nonce } => (frame_type::CLIENT_HELLO, &nonce[..]),
            Frame::Attestation(doc) => (frame_type::ATTESTATION, doc),
            Frame::KeyShare(enc) => (frame_type::KEY_SHARE, &enc[..]),
            Frame::Record(ct) => (frame_type::RECORD, ct),
        };
        let mut out = Vec::with_capacity(body.len().saturating_add(1));
        out.push(ty);
        out.extend_from_slice(body);
        out
    }

    /// The frame's name, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Frame::ClientHello { .. } => "client hello",
            Frame::Attestation(_) => "attestation",
            Frame::KeyShare(_) => "key share",
            Frame::Record(_) => "record",
        }
    }
}

fn fixed<'a, const N: usize>(body: &'a [u8], frame: &'static str) -> Result<&'a [u8; N], WireError> {
    body.try_into().map_err(|_| WireError::BadLength { frame, len: body.len(), expected: N })
}

fn bounded<'a>(body: &'a [u8], frame: &'static str, max: usize) -> Result<&'a [u8], WireError> {
    if body.len() > max {
        return Err(WireError::TooLong { frame, len: body.len(), max });
    }
    Ok(body)
}

/// An invocation's id: chosen by the client, strictly increasing within a session, starting at 1.
pub type RequestId = u64;

/// A record's plaintext, client to enclave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
            Self::Unknown(n) => write!(f, "unknown session error code {n}"),
        }
    }
}

/// A record's plaintext, enclave to client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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

const HEADER_LEN: usize = 1 + 8;

fn header(bytes: &[u8]) -> Result<(u8, u64, &[u8]), WireError> {
    let short = || WireError::ShortMessage { len: bytes.len(), min: HEADER_LEN };
    let (&kind, rest) = bytes.split_first().ok_or_else(short)?;
    let (id, body) = rest.split_first_chunk::<8>().ok_or_else(short)?;
    Ok((kind, u64::from_be_bytes(*id), body))
}

fn with_header(kind: u8, id: u64, body_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN.saturating_add(body_len));
    out.push(kind);
    out.extend_from_slice(&id.to_be_bytes());
    out
}

/// A record frame holding a message in the clear: the frame type, then the message (`kind || id ||
/// body`), with capacity left for the tag, so that sealing in place makes the whole frame in this
/// one buffer (`records::RequestSealer::seal_frame`).
fn record_frame(kind: u8, id: u64, parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    record_frame_with_room(kind, id, parts, 0)
}

fn record_frame_with_room(kind: u8, id: u64, parts: &[&[u8]], room: usize) -> Zeroizing<Vec<u8>> {
    let body_len = parts.iter().fold(room, |n, p| n.saturating_add(p.len()));
    let capacity = RECORD_FRAME_PREFIX_LEN.saturating_add(HEADER_LEN).saturating_add(body_len).saturating_add(TAG_LEN);
    let mut out = Zeroizing::new(Vec::with_capacity(capacity));
    out.push(frame_type::RECORD);
    out.push(kind);
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
        Err(WireError::TrailingBytes { kind, len: body.len().saturating_add(HEADER_LEN), expected: HEADER_LEN })
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
        let mut out = with_header(kind, id, body.len());
        out.extend_from_slice(body);
        out
    }

    /// Lays this message out in a record frame, ready to be sealed in place
    /// (`records::RequestSealer::seal_frame`).
    pub fn encode_record_frame(&self) -> Zeroizing<Vec<u8>> {
        let (kind, id, body) = self.parts();
        record_frame(kind, id, &[body])
    }

    /// An `Input` record frame for `id` with no data yet and room for [`MAX_CHUNK_LEN`] bytes: the
    /// caller appends at most that many (read straight from its source, so the chunk is not copied
    /// again), then seals the frame. Appending more makes a record the enclave refuses.
    pub fn input_record_frame(id: RequestId) -> Zeroizing<Vec<u8>> {
        record_frame_with_room(kind::INPUT, id, &[], MAX_CHUNK_LEN)
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
                    .ok_or(WireError::ShortMessage { len: bytes.len(), min: HEADER_LEN.saturating_add(2) })?;
                let msg = bounded(msg, "function error message", MAX_ERROR_MESSAGE_LEN)?;
                let message = std::str::from_utf8(msg).map_err(|_| WireError::NotUtf8)?;
                Ok(Self::FunctionError { id, code: u16::from_be_bytes(*code), message })
            }
            kind::SESSION_ERROR => {
                let code: &[u8; 2] = body.try_into().map_err(|_| WireError::TrailingBytes {
                    kind: k,
                    len: bytes.len(),
                    expected: HEADER_LEN.saturating_add(2),
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
        let mut out = with_header(kind, id, parts.iter().fold(0usize, |n, p| n.saturating_add(p.len())));
        for p in parts {
            out.extend_from_slice(p);
        }
        out
    }

    /// Lays this message out in a record frame, ready to be sealed in place
    /// (`records::ResponseSealer::seal_frame`).
    pub fn encode_record_frame(&self) -> Zeroizing<Vec<u8>> {
        let mut prefix = [0u8; 2];
        let (kind, id, parts) = self.parts(&mut prefix);
        record_frame(kind, id, &parts)
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
    fn frames_round_trip() {
        let nonce = [7u8; 32];
        let limits = FrameLimits::default();
        for f in [
            Frame::ClientHello { nonce: &nonce },
            Frame::Attestation(b"doc"),
            Frame::KeyShare(&nonce),
            Frame::Record(b"ct"),
        ] {
            assert_eq!(Frame::decode(&f.encode(), &limits), Ok(f));
        }
    }

    #[test]
    fn frame_errors_name_the_problem() {
        let limits = FrameLimits { max_document_len: 4, max_record_len: 8 };
        assert_eq!(Frame::decode(&[], &limits), Err(WireError::Empty));
        assert_eq!(Frame::decode(&[0x99], &limits), Err(WireError::UnknownFrameType(0x99)));
        assert_eq!(
            Frame::decode(&[0x01; 32], &limits),
            Err(WireError::BadLength { frame: "client hello", len: 31, expected: 32 })
        );
        assert_eq!(Frame::decode(&[0x02, 1, 2, 3, 4], &limits), Ok(Frame::Attestation(&[1, 2, 3, 4])));
        assert_eq!(
            Frame::decode(&[0x02, 1, 2, 3, 4, 5], &limits),
            Err(WireError::TooLong { frame: "attestation", len: 5, max: 4 })
        );
        assert_eq!(Frame::decode(&[0x04; 10], &limits), Err(WireError::TooLong { frame: "record", len: 9, max: 8 }));
    }

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
        let mut bad = with_header(0x83, 1, 0);
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

    #[test]
    fn record_frames_lay_out_the_type_and_the_message_with_room_for_the_tag() {
        let msgs_c = [
            ClientMessage::Input { id: 3, data: b"abc" },
            ClientMessage::InputEnd { id: 3 },
            ClientMessage::InputLast { id: 4, data: b"" },
            ClientMessage::Close,
        ];
        for m in msgs_c {
            let f = m.encode_record_frame();
            assert_eq!((f[0], &f[1..]), (frame_type::RECORD, &m.encode()[..]));
            assert!(f.capacity() >= f.len() + TAG_LEN);
        }
        let msgs_s = [
            ServerMessage::Output { id: 3, data: b"abc" },
            ServerMessage::OutputEnd { id: 3 },
            ServerMessage::OutputLast { id: 3, data: b"z" },
            ServerMessage::FunctionError { id: 3, code: 6, message: "exit 1" },
            ServerMessage::SessionError { code: SessionErrorCode::ChunkTooLarge, detail: 65536 },
        ];
        for m in msgs_s {
            let f = m.encode_record_frame();
            assert_eq!((f[0], &f[1..]), (frame_type::RECORD, &m.encode()[..]));
            assert!(f.capacity() >= f.len() + TAG_LEN);
        }
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
            let _ = Frame::decode(&bytes, &FrameLimits::default());
            let _ = ClientMessage::decode(&bytes);
            let _ = ServerMessage::decode(&bytes);
        }
    }
}
