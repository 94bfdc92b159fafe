//! Run one function inside an AWS Nitro enclave, trusting only code whose measurements you pinned.
//!
//! (Crate-level guide: threat model, what is verified and in which order, logging, feature flags.
//! Filled in as the layers land.)

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
#![deny(unused_must_use)]
#![doc(test(attr(deny(warnings))))]

pub mod attestation;
pub mod checksum;
pub mod kms;
pub mod session;
