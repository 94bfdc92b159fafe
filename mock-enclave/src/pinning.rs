//! What a client pins for this mock, as a policy file: the mock's measurements as one allowed set,
//! every function's checksum, and the root of its state directory (`mock-enclave policy` writes it).
//!
//! Input: the mock's configuration (trusted: the operator's). Output: an `enclave_sdk` [`PolicyFile`]
//! built through the SDK's own types, so what the client reads is what the SDK writes. The rule for
//! what a policy must pin is the SDK's (`PolicyBuilder::build`), applied when the file is made
//! ([`PolicyFile::pinning`]) and again when it is loaded; this set pins PCR0 and PCR2, so it passes.

use std::path::Path;

use enclave_protocol::{MeasurementError, MeasurementSet, Pcr, PcrIndex};
use enclave_sdk::attestation::{PolicyFile, PolicyFileError};

use crate::attester::{SoftwareNsm, StateError};
use crate::functions::FunctionRegistry;
use crate::measurements::{Measurements, SETTABLE_PCRS};

/// Why the mock's policy could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// The state directory could not be read or created.
    #[error("{0}")]
    State(#[from] StateError),
    /// The measurements make no set (they always hold PCR0..2, so this is a broken invariant).
    #[error("no PCR to pin: {0}")]
    Measurements(MeasurementError),
    /// The SDK refused the pins (a debug-mode measurement, all zeros, identifies no image) or the root.
    #[error("{0}")]
    Policy(#[from] PolicyFileError),
}

/// The policy that pins this mock: PCR0, PCR1 and PCR2, and PCR3, PCR4 and PCR8 where they are set,
/// as one measurement set; every function in `functions` by id with its checksum; and, with a state
/// directory, its root (created on first use, exactly as `mock-enclave serve --state-dir` would), by
/// absolute path so the file works wherever it is saved. Without one the trust root stays AWS
/// Root-G1, which refuses every mock document.
///
/// # Examples
///
/// ```
/// use mock_enclave::functions::FunctionRegistry;
/// use mock_enclave::measurements::Measurements;
///
/// let functions = FunctionRegistry::builtins();
/// let image = Measurements::for_mock(functions.manifest());
/// let file = mock_enclave::pinning::policy_file(&image, &functions, None)?;
/// assert_eq!(file.measurement_sets().len(), 1);
/// assert_eq!(file.function_checksums().len(), mock_enclave::functions::BUILTINS.len());
/// # Ok::<(), mock_enclave::pinning::PinError>(())
/// ```
///
/// # Errors
/// [`PinError::State`] when the state directory cannot be read or created, [`PinError::Policy`] when the SDK
/// refuses the pins or the root.
pub fn policy_file(
    measurements: &Measurements,
    functions: &FunctionRegistry,
    state_dir: Option<&Path>,
) -> Result<PolicyFile, PinError> {
    let measured = [PcrIndex::IMAGE, PcrIndex::KERNEL, PcrIndex::APPLICATION];
    let pinned = measurements
        .pcrs()
        .iter()
        .filter(|(index, value)| measured.contains(index) || (SETTABLE_PCRS.contains(index) && !value.is_zero()));
    let set = MeasurementSet::new(pinned.map(|(index, value)| Pcr::new(*index, value.clone())))
        .map_err(PinError::Measurements)?;
    let mut file = functions
        .iter()
        .fold(PolicyFile::pinning([set])?, |file, f| file.with_function_checksum_for(f.id().clone(), f.checksum()));
    if let Some(dir) = state_dir {
        let nsm = SoftwareNsm::load_or_create(dir, measurements.clone())?;
        let dir = dir.canonicalize().map_err(|e| StateError::Io { path: dir.to_path_buf(), kind: e.kind() })?;
        file = file.with_root_pem(dir.join("root.pem"), nsm.root_pem())?;
    }
    Ok(file)
}
