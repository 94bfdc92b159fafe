//! Why a session ended, as typed values: the vocabulary the sessions return and the server logs.
//!
//! Input: none (types only). Output: [`SessionEnd`] and the violations under it. None of them carries
//! plaintext, and none carries text the client chose: each names the check and the sizes or codes.

use std::time::Duration;

use enclave_protocol::{HandshakeError, RecordError, SessionErrorCode, WireError};
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};

use crate::attester::AttesterError;
use crate::stop::StopReason;

/// Why a session ended; logged by the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SessionEnd {
    /// The client closed with an authenticated close record.
    #[error("closed by the client")]
    ClientClosed,
    /// The connection ended without an authenticated close.
    #[error("connection ended")]
    Disconnected,
    /// The handshake did not complete in time.
    #[error("handshake timeout")]
    HandshakeTimeout,
    /// The client broke the protocol; the enclave closed without a session error (PROTOCOL.md 5.4).
    #[error("protocol violation: {0}")]
    Violation(#[from] Violation),
    /// The enclave refused to go on (a limit, or a request id that did not increase), and told the
    /// client with an authenticated session error.
    #[error("refused: {0}")]
    Refused(SessionErrorCode),
    /// The attester could not produce a document.
    #[error("attestation failed: {0}")]
    Attester(AttesterError),
    /// The server is shutting down.
    #[error("server shutting down")]
    ShuttingDown,
    /// The client accepted no bytes of a record for this long: it stopped reading.
    #[error("client stopped reading: no bytes accepted for {0:?}")]
    WriteStalled(Duration),
    /// The enclave's own record layer failed: sealing a record, or a sequence number exhausted or a
    /// key update refused on either direction.
    #[error("the enclave's record layer: {0}")]
    RecordLayer(RecordError),
    /// The server ended the session (evicted for a newcomer, the memory budget's largest holder, or
    /// past its own memory share, or an input that stalled) and told the client with this session
    /// error and detail.
    #[error("stopped: {} (detail {})", .0.code, .0.detail)]
    Stopped(StopReason),
    /// The attestation rate would have made the hello wait past the handshake timeout.
    #[error("attestation rate: the next document could be signed only in {0:?}")]
    AttestationRate(Duration),
}

/// What the client sent that breaks the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Violation {
    /// The WebSocket layer refused what arrived.
    #[error("websocket: {0}")]
    WebSocket(WebSocketViolation),
    /// A text message where the native protocol has only binary frames (PROTOCOL.md section 3).
    #[error("a text message where frames are binary")]
    TextMessage,
    /// The hello or the key share did not decode.
    #[error("{0}")]
    Handshake(HandshakeError),
    /// A frame after the handshake did not decode.
    #[error("{0}")]
    Frame(WireError),
    /// A frame that decoded but is not a record.
    #[error("expected record, got {got}")]
    NotARecord {
        /// The frame's kind.
        got: &'static str,
    },
    /// A record did not open: forged, replayed, reordered, or one was dropped.
    #[error("{0}")]
    Record(RecordError),
    /// A Cape-protocol message was malformed.
    #[error("{0}")]
    Cape(CapeViolation),
}

/// How the WebSocket layer refused a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WebSocketViolation {
    /// Over the frame limit.
    #[error("{0}")]
    Capacity(CapacityError),
    /// A WebSocket protocol violation (masking, opcodes, fragments, ...).
    #[error("{0}")]
    Protocol(ProtocolError),
    /// A text message that is not UTF-8.
    #[error("a text message that is not UTF-8")]
    Utf8,
    /// Another failure tungstenite reports while reading (logged where it is seen).
    #[error("read failed")]
    Other,
}

/// What was wrong with a Cape client's message (PROTOCOL.md section 9.1). The client reads this text
/// in its `{"error"}`, so it says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CapeViolation {
    /// The first message was binary.
    #[error("expected the nonce as a text frame")]
    BinaryNonce,
    /// The first message is not `{"message": {"nonce": ...}}`.
    #[error("expected {{\"message\":{{\"nonce\":\"<base64>\"}}}}: not that JSON (at line {line} column {column})")]
    NonceRequest {
        /// Where the JSON parser stopped.
        line: usize,
        /// Where the JSON parser stopped.
        column: usize,
    },
    /// The nonce is not standard base64.
    #[error("nonce is not base64: {0}")]
    NonceBase64(base64::DecodeError),
    /// The nonce is empty or longer than the NSM takes.
    #[error("nonce must be 1..={max} bytes, got {len}")]
    NonceLength {
        /// The nonce's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A text message where an invocation belongs.
    #[error("expected a binary invocation frame")]
    TextInvocation,
    /// An invocation shorter than its HPKE encapsulated key.
    #[error("invocation frame of {len} bytes is shorter than enc")]
    ShortInvocation {
        /// The frame's length.
        len: usize,
    },
    /// The invocation did not open under the attested key.
    #[error("invocation: {0}")]
    Sealed(RecordError),
    /// An invocation (one message) larger than the enclave takes.
    #[error("an input of {len} bytes exceeds the enclave's limit of {max} bytes for one Cape invocation")]
    InputTooLarge {
        /// The input's size (the message's, less `enc` and the tag).
        len: usize,
        /// [`ServerLimits::cape_max_input`](crate::ServerLimits).
        max: usize,
    },
}

impl From<CapeViolation> for Violation {
    fn from(v: CapeViolation) -> Self {
        Self::Cape(v)
    }
}
