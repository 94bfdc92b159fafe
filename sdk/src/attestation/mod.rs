//! Decides whether an AWS Nitro attestation document may be believed.

mod policy_file;
pub use policy_file::{PolicyFile, PolicyFileError, RootSource};
