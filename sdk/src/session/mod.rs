//! The attested session: wire protocol, handshake transcript, sealed records, client I/O.
//!
//! PROTOCOL.md at the repository root is the specification; these modules implement it. The
//! building blocks (`wire`, `handshake`, `records`, `idle`) are public because the mock enclave
//! implements the other end with them.

pub mod blocking;
pub mod cape;
pub mod client;
pub mod handshake;
pub mod idle;
pub mod records;
pub mod tls;
pub mod wire;
