//! Where attestation documents come from: the [`Attester`] seam the sessions call.
//!
//! Input: what a session wants attested (the client's nonce, the connection's public key, the
//! enclave's claim in user data). Output: the raw bytes of a signed attestation document, exactly as
//! the Nitro Secure Module returns them. An attester decides nothing about sessions, and the runtime
//! never parses what it returns: the client verifies.
//!
//! The server takes any `Arc<dyn Attester>`: `NitroNsm` (feature `nsm`) inside a
//! real enclave, the mock enclave's software NSM in tests and demos.

use std::fmt;

/// The NSM accepts at most this many bytes in each of nonce, public key and user data
/// (AWS NSM API CDDL: `bstr .size (0..1024)`).
pub const MAX_FIELD_LEN: usize = 1024;

/// What to put into one attestation document. Each field is bounded by the NSM's own limits
/// ([`MAX_FIELD_LEN`] bytes); [`check_limits`](Self::check_limits) refuses larger values.
///
/// # Examples
///
/// ```
/// use enclave_runtime::{AttestationRequest, AttesterError};
///
/// let request = AttestationRequest::new(Some(vec![7; 32]), Some(vec![1; 32]), None);
/// assert_eq!(request.nonce(), Some(&[7u8; 32][..]));
/// assert_eq!(request.check_limits(), Ok(()));
///
/// let huge = AttestationRequest::new(None, None, Some(vec![0; 1025]));
/// assert!(matches!(huge.check_limits(), Err(AttesterError::FieldTooLong { field: "user_data", len: 1025, .. })));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AttestationRequest {
    nonce: Option<Vec<u8>>,
    public_key: Option<Vec<u8>>,
    user_data: Option<Vec<u8>>,
}

impl AttestationRequest {
    /// A request carrying these optional fields: the client's nonce (echoed so the client can tell the
    /// document is fresh), the enclave's public key for this connection, and application data (in the
    /// native protocol, the CBOR claim naming the function, its checksum and the TLS key).
    pub fn new(nonce: Option<Vec<u8>>, public_key: Option<Vec<u8>>, user_data: Option<Vec<u8>>) -> Self {
        Self { nonce, public_key, user_data }
    }

    /// The nonce to echo.
    pub fn nonce(&self) -> Option<&[u8]> {
        self.nonce.as_deref()
    }

    /// The public key to bind.
    pub fn public_key(&self) -> Option<&[u8]> {
        self.public_key.as_deref()
    }

    /// The user data to bind.
    pub fn user_data(&self) -> Option<&[u8]> {
        self.user_data.as_deref()
    }

    /// Checks every field against [`MAX_FIELD_LEN`], as the NSM does before attesting. Backends call
    /// it first, so every backend refuses an oversized field with the same typed error.
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

/// Why a document could not be produced. The session that asked ends; the client learns nothing
/// but a closed connection (or, in Cape mode, `{"error": "attestation failed"}`).
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
    /// The attestation device cannot be opened (the process is not inside a Nitro enclave).
    #[error("cannot open {device}: not running inside a Nitro enclave?")]
    DeviceUnavailable {
        /// The device path.
        device: &'static str,
    },
    /// The NSM refused the request.
    #[error("the NSM refused the attestation request: {status}")]
    DeviceRefused {
        /// The NSM's error code, by its name in the NSM API.
        status: &'static str,
    },
    /// The NSM answered an attestation request with another kind of response.
    #[error("the NSM answered an attestation request with another response type")]
    UnexpectedResponse,
    /// A software backend could not sign or encode the document.
    #[error("attestation backend failed: {step}")]
    Failed {
        /// The step that failed (e.g. `signing the document`).
        step: &'static str,
    },
    /// The clock is outside the backend's root certificate validity, so no chain can be issued.
    #[error("clock reads {now_s} s, outside the attester root's validity [{not_before_s}, {not_after_s}]")]
    OutsideRootValidity {
        /// The injected or system time, Unix seconds.
        now_s: u64,
        /// Root validity start, Unix seconds.
        not_before_s: u64,
        /// Root validity end, Unix seconds.
        not_after_s: u64,
    },
}

/// A source of signed attestation documents: `/dev/nsm` in a real enclave, a software NSM in tests.
///
/// # Examples
///
/// An attester that is not the NSM, e.g. one that counts the documents it hands out around another:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use enclave_runtime::{AttestationRequest, Attester, AttesterError};
///
/// #[derive(Debug)]
/// struct Counting<A> { inner: A, issued: AtomicU64 }
///
/// impl<A: Attester> Attester for Counting<A> {
///     fn attest(&self, request: &AttestationRequest) -> Result<Vec<u8>, AttesterError> {
///         let document = self.inner.attest(request)?;
///         self.issued.fetch_add(1, Ordering::Relaxed);
///         Ok(document)
///     }
/// }
///
/// # #[derive(Debug)] struct Nsm;
/// # impl Attester for Nsm {
/// #     fn attest(&self, _: &AttestationRequest) -> Result<Vec<u8>, AttesterError> { Ok(vec![0x84]) }
/// # }
/// let counting = Counting { inner: Nsm, issued: AtomicU64::new(0) };
/// assert_eq!(counting.attest(&AttestationRequest::default()), Ok(vec![0x84]));
/// assert_eq!(counting.issued.load(Ordering::Relaxed), 1);
/// ```
pub trait Attester: Send + Sync + fmt::Debug {
    /// Produces a signed attestation document (COSE_Sign1 bytes) over `request`.
    ///
    /// # Errors
    /// [`AttesterError::FieldTooLong`] for a field over [`MAX_FIELD_LEN`]; another variant when the
    /// backend cannot produce a document.
    fn attest(&self, request: &AttestationRequest) -> Result<Vec<u8>, AttesterError>;
}
