//! The protocol's sizes and default limits (PROTOCOL.md sections 3, 5.2 and 6), in one place for both
//! ends.
//!
//! Sizes are the wire format's and fixed; [`FrameLimits`] bounds what a receiver accepts before it reads
//! a frame; the `DEFAULT_*` durations and counts are what PROTOCOL.md's limit table documents, and each
//! end may configure its own. Nothing here enforces a limit: the frame decoder, the sessions and the
//! servers do.

use std::time::Duration;

/// Largest plaintext chunk of input or output one record carries. Senders split larger data.
pub const MAX_CHUNK_LEN: usize = 64 * 1024;
/// Largest message a function error may carry, in bytes of UTF-8.
pub const MAX_ERROR_MESSAGE_LEN: usize = 1024;
/// Length of a record message's header: kind (1) and id (8).
pub const MESSAGE_HEADER_LEN: usize = 1 + 8;
/// Length of the AEAD tag that ends every record.
pub const TAG_LEN: usize = 16;
/// Bytes a record adds to its chunk: the message header and the AEAD tag.
pub const RECORD_OVERHEAD: usize = MESSAGE_HEADER_LEN + TAG_LEN;
/// Default bound on an attestation document. Real AWS documents are 4 to 5 KiB; the payload's CDDL
/// allows at most 16 KiB, plus a few hundred bytes of COSE envelope.
pub const DEFAULT_MAX_DOCUMENT_LEN: usize = 20 * 1024;

/// Both ends' default bound on the handshake (enclave: upgrade to key share; client: connecting to the
/// verified document).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The client's default idle timeout: how long an invocation waits with no record in either direction.
pub const DEFAULT_CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The enclave's default idle timeout: how long it waits for the client's next record while it waits
/// on the client, and for a client that accepts no bytes of a record.
pub const DEFAULT_ENCLAVE_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// The client's default number of invocations in flight per session; more wait for a slot.
pub const DEFAULT_CLIENT_MAX_IN_FLIGHT: usize = 32;
/// The enclave's default number of invocations in flight per session; more end the session.
pub const DEFAULT_ENCLAVE_MAX_IN_FLIGHT: usize = 64;

/// Size bounds applied while decoding frames.
///
/// # Examples
///
/// ```
/// use enclave_protocol::FrameLimits;
/// let limits = FrameLimits::default().with_max_document_len(8 * 1024);
/// assert_eq!(limits.max_document_len(), 8 * 1024);
/// // What a WebSocket layer must accept as one message: the type byte and the larger body.
/// assert_eq!(limits.max_frame_len(), 1 + limits.max_record_len());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    max_document_len: usize,
    max_record_len: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        Self { max_document_len: DEFAULT_MAX_DOCUMENT_LEN, max_record_len: MAX_CHUNK_LEN + RECORD_OVERHEAD }
    }
}

impl FrameLimits {
    /// Largest attestation document accepted, in bytes.
    pub fn max_document_len(&self) -> usize {
        self.max_document_len
    }

    /// Largest record body (`ciphertext || tag`) accepted, in bytes.
    pub fn max_record_len(&self) -> usize {
        self.max_record_len
    }

    /// These limits with another bound on the attestation document.
    #[must_use]
    pub fn with_max_document_len(mut self, n: usize) -> Self {
        self.max_document_len = n;
        self
    }

    /// These limits with another bound on a record body. Below the default, records carrying a full
    /// chunk are refused.
    #[must_use]
    pub fn with_max_record_len(mut self, n: usize) -> Self {
        self.max_record_len = n;
        self
    }

    /// The largest WebSocket message either side needs to accept under these limits.
    pub fn max_frame_len(&self) -> usize {
        1usize.saturating_add(self.max_document_len.max(self.max_record_len))
    }
}
