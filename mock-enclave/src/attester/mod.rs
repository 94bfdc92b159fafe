//! The mock's attester: [`SoftwareNsm`], a software Nitro Secure Module with real P-384 keys and a CA
//! chain shaped like AWS's, kept in a state directory so a pinned root survives restarts.
//!
//! Input: what the runtime's sessions ask to have attested ([`enclave_runtime::AttestationRequest`]).
//! Output: documents shaped byte for byte like NSM's. It implements [`enclave_runtime::Attester`], the
//! seam a real enclave fills with `enclave_runtime::NitroNsm` (feature `nsm` of `enclave-runtime`).

pub mod software;
pub(crate) mod state;

pub use software::{Clock, SoftwareNsm};
pub use state::StateError;
