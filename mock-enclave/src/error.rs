//! Why a mock enclave could not start.

use enclave_runtime::{AttesterError, TlsError};

use crate::attester::StateError;

/// Why a mock enclave could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The software NSM could not be created.
    #[error("attester: {0}")]
    Attester(#[from] AttesterError),
    /// The state directory could not be read or written, or holds damaged files.
    #[error("state directory: {0}")]
    State(#[from] StateError),
    /// The TLS identity could not be created or loaded.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// The runtime's server could not start (e.g. the address is taken).
    #[error("{0}")]
    Server(#[from] enclave_runtime::StartError),
}
