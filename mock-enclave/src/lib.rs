//! A mock AWS Nitro enclave: a real server whose attestation comes from a software Nitro Secure Module.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod attester;
pub mod cape;
pub mod functions;
pub mod measurements;
pub mod protocol;
pub mod server;

pub use server::{MockEnclave, MockEnclaveBuilder, ServerLimits, ServerStats, StartError};
