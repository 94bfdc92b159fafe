//! Where attestation documents come from: the [`Attester`] trait and its backends.
//!
//! Input: what the session layer wants attested (the client's nonce, the enclave's ephemeral public key,
//! user data such as the function checksum). Output: the raw bytes of a signed attestation document,
//! exactly as the Nitro Secure Module would return them. An attester decides nothing about sessions.

use std::fmt;

/// What to put into one attestation document. Each field is bounded by the NSM's own limits
/// ([`MAX_FIELD_LEN`] bytes); a backend refuses larger values with [`AttesterError::FieldTooLong`].
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttestationRequest {
    /// The client's nonce, echoed so the client can tell the document is fresh.
    pub nonce: Option<Vec<u8>>,
    /// The enclave's ephemeral public key for this connection.
    pub public_key: Option<Vec<u8>>,
    /// Application data: in the native protocol a CBOR map with the function id and checksum.
    pub user_data: Option<Vec<u8>>,
}

impl AttestationRequest {
    /// A request carrying all three optional fields.
    pub fn new(nonce: Option<Vec<u8>>, public_key: Option<Vec<u8>>, user_data: Option<Vec<u8>>) -> Self {
        Self { nonce, public_key, user_data }
    }
}

impl fmt::Debug for AttestationRequest {
    // Lengths only: user data may be sensitive to the deployment, and logs must not carry it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttestationRequest")
            .field("nonce_len", &self.nonce.as_ref().map(Vec::len))
            .field("public_key_len", &self.public_key.as_ref().map(Vec::len))
            .field("user_data_len", &self.user_data.as_ref().map(Vec::len))
            .finish()
    }
}

/// The NSM accepts at most this many bytes in each of nonce, public key and user data
/// (AWS NSM API CDDL: `bstr .size (0..1024)`).
pub const MAX_FIELD_LEN: usize = 1024;

/// Why a document could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttesterError {
    /// A request field exceeds the NSM's limit.
    #[error("attestation request field {field} is {len} bytes; the NSM accepts at most {max}")]
    FieldTooLong {
        /// `nonce`, `public_key` or `user_data`.
        field: &'static str,
        /// Length requested.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The backend failed (signing, key storage, or the NSM device).
    #[error("attestation backend failed: {0}")]
    Backend(String),
    /// The clock is outside the software root certificate's validity, so no chain can be issued.
    #[error("clock reads {now_s} s, outside the mock root's validity [{not_before_s}, {not_after_s}]")]
    OutsideRootValidity {
        /// The injected or system time, Unix seconds.
        now_s: u64,
        /// Root validity start, Unix seconds.
        not_before_s: u64,
        /// Root validity end, Unix seconds.
        not_after_s: u64,
    },
    /// Reading or writing the state directory failed.
    #[error("state file {path}: {kind}")]
    StateIo {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The I/O error kind.
        kind: std::io::ErrorKind,
    },
    /// A state file exists but is not what the software NSM wrote.
    #[error("state file {path}: {problem}")]
    StateCorrupt {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// A source of signed attestation documents: the software NSM in tests and demos, `/dev/nsm` in a
/// real enclave.
pub trait Attester: Send + Sync + fmt::Debug {
    /// Produces a signed attestation document (COSE_Sign1 bytes) over `request`.
    ///
    /// # Errors
    /// [`AttesterError::FieldTooLong`] for a field over [`MAX_FIELD_LEN`]; [`AttesterError::Backend`]
    /// when the backend cannot sign.
    fn attest(&self, request: &AttestationRequest) -> Result<Vec<u8>, AttesterError>;
}

impl AttestationRequest {
    /// Checks every field against [`MAX_FIELD_LEN`], as the NSM does before attesting.
    ///
    /// # Errors
    /// [`AttesterError::FieldTooLong`] naming the first field over the limit.
    pub fn check_limits(&self) -> Result<(), AttesterError> {
        for (field, value) in [("nonce", &self.nonce), ("public_key", &self.public_key), ("user_data", &self.user_data)]
        {
            if let Some(len) = value.as_ref().map(Vec::len).filter(|len| *len > MAX_FIELD_LEN) {
                return Err(AttesterError::FieldTooLong { field, len, max: MAX_FIELD_LEN });
            }
        }
        Ok(())
    }
}

#[cfg(feature = "nsm")]
pub mod nsm;
pub mod software;

#[cfg(feature = "nsm")]
pub use nsm::NitroNsm;
pub use software::SoftwareNsm;
