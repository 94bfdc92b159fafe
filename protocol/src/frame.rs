//! Frames: the WebSocket binary messages of `enclave-session.v3` (PROTOCOL.md section 3).
//!
//! Input: one untrusted WebSocket binary message. Output: a borrowed, typed view of it ([`Frame`]), or a
//! [`WireError`] naming the frame and the length that was wrong. Decoding is bounded by the caller's
//! [`FrameLimits`] and never panics. This module decides nothing about order (whether a frame is
//! acceptable *now* is the handshake's and the session's business) and does not look inside a record's
//! ciphertext (the record layer, [`crate::record`], owns that body and the type byte in front of it).

#![warn(clippy::arithmetic_side_effects)]

use crate::limits::FrameLimits;

/// Length of the client's nonce, in bytes (it travels in the upgrade request, not in a frame).
pub const NONCE_LEN: usize = 32;
/// Length of an X25519 public key, and so of the HPKE encapsulated key.
pub const KEY_LEN: usize = 32;

/// Frame type bytes (PROTOCOL.md section 3). 0x01 was version 1's `ClientHello`; the nonce now travels
/// in the upgrade request, and 0x01 is an unknown type like any other.
pub(crate) mod frame_type {
    pub(crate) const ATTESTATION: u8 = 0x02;
    pub(crate) const KEY_SHARE: u8 = 0x03;
    pub(crate) const RECORD: u8 = 0x04;
}

/// Which frame, or which part of a record's message, was malformed.
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
///
/// # Examples
///
/// ```
/// use enclave_protocol::{Frame, FrameLimits, WireError};
/// let enc = [7u8; 32];
/// let bytes = Frame::KeyShare(&enc).encode();
/// assert_eq!(Frame::decode(&bytes, &FrameLimits::default()), Ok(Frame::KeyShare(&enc)));
/// assert_eq!(Frame::decode(&[0x99], &FrameLimits::default()), Err(WireError::UnknownFrameType(0x99)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Exhaustive on purpose: a new kind is a new protocol version, and every end must handle each one.
pub enum Frame<'a> {
    /// Enclave to client, first and once, right after the upgrade response: the raw attestation document.
    Attestation(&'a [u8]),
    /// Client to enclave, once, only after the document verified: the HPKE encapsulated key.
    KeyShare(&'a [u8; KEY_LEN]),
    /// Either direction, after the key share: one sealed record's `ciphertext || tag`.
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
            frame_type::KEY_SHARE => fixed(body, "key share").map(Frame::KeyShare),
            frame_type::ATTESTATION => bounded(body, "attestation", limits.max_document_len()).map(Frame::Attestation),
            frame_type::RECORD => bounded(body, "record", limits.max_record_len()).map(Frame::Record),
            other => Err(WireError::UnknownFrameType(other)),
        }
    }

    /// Encodes this frame as one WebSocket binary message. (Sessions send records sealed in their
    /// frame by the record layer, [`crate::RequestSealer::seal`], rather than through this.)
    pub fn encode(&self) -> Vec<u8> {
        let (ty, body): (u8, &[u8]) = match self {
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
            Frame::Attestation(_) => "attestation",
            Frame::KeyShare(_) => "key share",
            Frame::Record(_) => "record",
        }
    }
}

fn fixed<'a, const N: usize>(body: &'a [u8], frame: &'static str) -> Result<&'a [u8; N], WireError> {
    body.try_into().map_err(|_| WireError::BadLength { frame, len: body.len(), expected: N })
}

pub(crate) fn bounded<'a>(body: &'a [u8], frame: &'static str, max: usize) -> Result<&'a [u8], WireError> {
    if body.len() > max {
        return Err(WireError::TooLong { frame, len: body.len(), max });
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let nonce = [7u8; 32];
        let limits = FrameLimits::default();
        for f in [Frame::Attestation(b"doc"), Frame::KeyShare(&nonce), Frame::Record(b"ct")] {
            assert_eq!(Frame::decode(&f.encode(), &limits), Ok(f));
        }
    }

    #[test]
    fn frame_errors_name_the_problem() {
        let limits = FrameLimits::default().with_max_document_len(4).with_max_record_len(8);
        assert_eq!(Frame::decode(&[], &limits), Err(WireError::Empty));
        assert_eq!(Frame::decode(&[0x99], &limits), Err(WireError::UnknownFrameType(0x99)));
        assert_eq!(
            Frame::decode(&[0x03; 32], &limits),
            Err(WireError::BadLength { frame: "key share", len: 31, expected: 32 })
        );
        // Version 1's ClientHello.
        assert_eq!(Frame::decode(&[0x01; 33], &limits), Err(WireError::UnknownFrameType(0x01)));
        assert_eq!(Frame::decode(&[0x02, 1, 2, 3, 4], &limits), Ok(Frame::Attestation(&[1, 2, 3, 4])));
        assert_eq!(
            Frame::decode(&[0x02, 1, 2, 3, 4, 5], &limits),
            Err(WireError::TooLong { frame: "attestation", len: 5, max: 4 })
        );
        assert_eq!(Frame::decode(&[0x04; 10], &limits), Err(WireError::TooLong { frame: "record", len: 9, max: 8 }));
    }

    proptest::proptest! {
        #[test]
        fn the_decoder_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = Frame::decode(&bytes, &FrameLimits::default());
        }
    }
}
