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
mod client;
pub mod error;
pub mod kms;
pub mod session;

pub use client::{
    connect_and_invoke, parse_checksum, parse_pcr, parse_pcrs, ENV_ALLOW_DEBUG, ENV_FUNCTION_CHECKSUM, ENV_PCRS, ENV_ROOT_PEM,
    ENV_TOKEN, ENV_URL,
};
pub use error::Error;
pub use session::blocking;
pub use session::client::{Client, ClientBuilder, Clock, Progress, Session, SystemClock};
