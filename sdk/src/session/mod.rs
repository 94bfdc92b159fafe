//! The client's I/O for attested sessions: connecting, attested TLS, the pipelining session, Cape
//! mode, and the blocking wrapper.
//!
//! PROTOCOL.md at the repository root is the specification. The protocol itself (frames, messages,
//! the handshake's states, sealed records, limits, idle timing and the write pump) is the sans-IO
//! crate `enclave-protocol`, which the enclave side drives too; these modules move its bytes.

pub mod blocking;
pub mod cape;
pub mod client;
pub mod tls;
