//! Why a mock enclave could not start.

use enclave_runtime::{AttesterError, TlsError};

use crate::attester::StateError;
use crate::measurements::MeasurementsError;

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
    /// A PCR the mock cannot report (only PCR3, PCR4 and PCR8 are settable, 48 bytes each).
    #[error("measurements: {0}")]
    Measurements(#[from] MeasurementsError),
    /// The TLS identity could not be created or loaded.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// The runtime's server could not start (e.g. the address is taken).
    #[error("{0}")]
    Server(#[from] enclave_runtime::StartError),
}
