//! Run one function inside an AWS Nitro enclave, trusting only code whose measurements you pinned.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), enclave_sdk::Error> {
//! // ENCLAVE_URL says where; ENCLAVE_PCRS (which must pin PCR0, PCR2 or PCR8) and optionally
//! // ENCLAVE_FUNCTION_CHECKSUM say what to trust; or ENCLAVE_POLICY names a policy file.
//! let output = enclave_sdk::connect_and_invoke("word-count", b"input that only the enclave sees").await?;
//! # let _ = output; Ok(()) }
//! ```
//!
//! For more control build a [`Client`] with a [`Policy`](attestation::Policy), [`Client::connect`] to
//! get a [`Session`], and call [`Session::invoke`] (concurrently, pipelined over one connection) or
//! [`Session::invoke_stream`] (large data, bounded memory, progress). Applications without an async
//! runtime use [`blocking`]. [`Client::from_env`] documents the environment variables.
//!
//! # Threat model
//! Untrusted: the network and every proxy on it, the parent EC2 instance that relays the enclave's
//! traffic, the operator of that instance, and every byte from the server until it has been verified.
//! Trusted: the Nitro hypervisor and its Secure Module (NSM), the trust root your policy pins (AWS Nitro
//! Root-G1 by default), the code your policy pins by PCRs and function checksum, and your own machine
//! (including its clock, within the allowed skew).
//!
//! Defeated, each with a test (end to end over sockets unless noted): sending to an enclave running
//! other code (PCR pin), including through a policy that pins only what any enclave can match (a
//! function checksum, PCR1, PCR3 or PCR4: refused when the policy is built, [`attestation::Policy::IMAGE_PCRS`])
//! or a document mixing two allowed releases (measurement sets match whole), another function
//! (checksum pin), a debug-mode enclave, a document from another
//! root, an expired certificate or a stale document; a replayed document (fresh nonce); a substituted
//! enclave key (the key is inside the signed document); a TLS-terminating proxy on `wss://` (the TLS
//! key is bound into the document); a replayed record and a reused request id (enclave side);
//! records that are forged, reordered, dropped, reflected or moved to another transcript (record
//! layer unit tests: HPKE with the transcript as `info`, per-direction sequence numbers); truncated
//! inputs (never run on a prefix) and outputs (explicit end markers). Not defeated: traffic analysis (function id and sizes are
//! visible), denial of service, and anything the pinned code itself does with your data.
//!
//! # What is verified, in order
//! Nothing of your input is sent before all of these pass, for every connection:
//! 1. The WebSocket upgrade selects `enclave-session.v3`.
//! 2. The document's size is bounded; its COSE_Sign1 envelope and CBOR payload parse strictly.
//! 3. The ES384 signature verifies with the leaf certificate; the chain verifies to the pinned root at
//!    the [`Clock`]'s time, with the policy's skew.
//! 4. The policy: debug mode (refused unless allowed), every PCR of one allowed measurement set
//!    (a policy must pin PCR0, PCR2 or PCR8 in each set: [`attestation::Policy::IMAGE_PCRS`]), document age,
//!    the function checksum pin.
//! 5. The connection: the nonce is the one this client just drew; the public key is a 32-byte X25519
//!    key; the user data names the requested function.
//! 6. Only then: HPKE setup to that key with `info` = SHA-256 transcript of (protocol label, function
//!    id, nonce, document), and the first sealed record.
//!
//! The wire format is specified in `PROTOCOL.md` at the repository root.
//!
//! # Layout
//! [`attestation`] is the trust core: it decides whether a document may be believed, and does no
//! I/O. The client (private; its face is [`Client`], [`ClientBuilder`], [`Session`], [`CapeSession`]
//! and [`connect_and_invoke`]) is the only part that does I/O, over one transport for both protocols,
//! and binds every verified document to its connection in one step. [`blocking`] wraps it. [`checksum`]
//! serves the pinning tools; AWS KMS key policies are the `enclave-kms` crate's, which takes its pins
//! from a [`Policy`](attestation::Policy). The protocol itself (frames, messages, the handshake's
//! states, sealed records, limits) is the sans-IO crate `enclave-protocol`, which the enclave side
//! drives too; its measurement vocabulary is re-exported here.
//!
//! # Feature flags
//! None. `wss://` endpoints are supported as attested TLS: the enclave's self-signed certificate is
//! accepted provisionally, and the session is refused unless the verified document binds exactly the
//! key the TLS handshake used (PROTOCOL.md section 2.1). [`ClientBuilder::tls_webpki_root`] additionally
//! requires ordinary WebPKI validation (chain, time, host name) for deployments that have it.
//!
//! # Logging
//! The SDK logs with `tracing` at `debug` level: function ids, module ids, error `Display`s, counts and
//! sizes. Never input or output bytes, user data, keys, tokens, or a function's error message (which may
//! echo input). Every [`Error`]'s `Display` follows the same rule; [`Error::Function`]'s message is in a
//! field, not in `Display`.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
#![deny(unused_must_use)]
#![doc(test(attr(deny(warnings))))]

pub mod attestation;
pub mod blocking;
/// Function checksums (directory and built-in): the enclave side computes them with the same module.
pub use enclave_protocol::checksum;
mod client;
pub mod error;

pub use client::{connect_and_invoke, CapeSession, Client, ClientBuilder, Clock, Progress, Session, SessionReuse};
/// The measurement vocabulary the SDK, the enclave side, the policy file and the KMS module share (the
/// `enclave-protocol` crate): what an application needs to write a policy and name a function.
pub use enclave_protocol::{FunctionChecksum, FunctionId, MeasurementError, MeasurementSet, Pcr, PcrIndex, PcrValue};
pub use error::Error;

// README.md's Rust example is a doctest of this crate, so the example newcomers copy stays one that
// compiles and runs (against the mock, pinning its root, PCRs and checksum).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
