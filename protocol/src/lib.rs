//! The sans-IO core of `enclave-session.v3` that both ends drive: the client SDK, the enclave side,
//! and any other binding. It moves no bytes and reads no clock: callers hand it what arrived and send
//! what it returns, over whatever transport they have. `PROTOCOL.md` at the repository root is the
//! specification; each module names its section.
//!
//! | layer | module | types |
//! |---|---|---|
//! | sizes and default limits | `limits` | [`FrameLimits`], [`MAX_CHUNK_LEN`], `DEFAULT_*` |
//! | what is measured | `pcr_index`, `error`, `hex_text`, `measurement`, `function` | [`PcrIndex`], [`PcrValue`], [`Pcr`], [`MeasurementSet`], [`FunctionId`], [`FunctionChecksum`] |
//! | what the enclave claims in `user_data` | `claim` | [`EnclaveUserData`], [`cape_user_data`] |
//! | frames (one WebSocket message each) | `frame` | [`Frame`], [`WireError`] |
//! | sealed records, the cipher suite | `record` | [`PlainRecord`], [`RequestSealer`], [`ResponseOpener`], [`RequestOpener`], [`ResponseSealer`], [`EnclaveKey`] |
//! | messages inside records | `message` | [`ClientMessage`], [`ServerMessage`], [`SessionErrorCode`] |
//! | the handshake, as consuming states | `handshake` | [`Nonce`] and its upgrade header; [`ClientHandshake`] -> [`DocumentReceived`]; [`EnclaveHandshake`] -> [`AwaitingKeyShare`]; [`transcript_hash`] |
//! | idle timing | `idle` | [`Idle`] |
//! | tokio: the shared write pump and idle timer (feature `io`) | [`io`] | `write_pump`, `IdleTimer` |
//! | function checksums, directory and built-in (feature `fs`) | `checksum` | `directory_checksum`, `builtin_checksum` |
//!
//! Each layer uses only those above it in this table. The handshake is the one place a connection's
//! steps are ordered; the record layer is the one place the cipher suite is named and the one owner of
//! a record's frame (type byte in front, tag behind).
//!
//! The measurement vocabulary parses every textual form with one parser and one typed error
//! ([`MeasurementError`]) that names the rule and the values:
//!
//! | concept | type | text form |
//! |---|---|---|
//! | PCR index | [`PcrIndex`] | `0` to `31` |
//! | PCR value | [`PcrValue`] | hex, 48 bytes (32 or 64 for other banks) |
//! | one PCR | [`Pcr`] | `IDX=HEX` |
//! | one release | [`MeasurementSet`] | `IDX=HEX[,IDX=HEX...]` |
//! | several releases | `Vec<MeasurementSet>` ([`MeasurementSet::parse_list`]) | sets separated by `;` |
//! | function id | [`FunctionId`] | 1..=128 of `A-Z a-z 0-9 . _ -`, not starting with `.` |
//! | function checksum | [`FunctionChecksum`] | 64 hex digits (SHA-256) |
//!
//! Values compare in constant time (`subtle`).
//!
//! # Examples
//!
//! ```
//! use enclave_protocol::{FunctionId, MeasurementSet, PcrIndex};
//! // Release N and release N+1 of one image, as a rolling deploy allows them.
//! let sets = MeasurementSet::parse_list(&format!(
//!     "0={},2={};0={},2={}",
//!     "a0".repeat(48), "a2".repeat(48), "b0".repeat(48), "b2".repeat(48)
//! ))?;
//! assert_eq!(sets.len(), 2);
//! assert!(sets.iter().all(|s| s.pins(PcrIndex::IMAGE)));
//! let function: FunctionId = "echo".parse()?;
//! assert_eq!(function.as_str(), "echo");
//! # Ok::<(), enclave_protocol::MeasurementError>(())
//! ```
//!
//! # Feature flags
//! - `io`: [`io::write_pump`] and [`io::IdleTimer`] on tokio, shared by the SDK's client and the
//!   enclave side. Off by default: the core needs no async runtime.
//! - `fs`: `checksum`, the function checksum both sides compute (a directory walk: file reads only).

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]

mod claim;
mod error;
mod frame;
mod function;
mod handshake;
mod hex_text;
mod idle;
mod limits;
mod measurement;
mod message;
mod pcr_index;
mod record;

#[cfg(feature = "fs")]
pub mod checksum;
#[cfg(feature = "io")]
pub mod io;

pub use claim::{cape_function_checksum, cape_user_data, EnclaveUserData, UserDataError};
pub use error::{HexField, MeasurementError};
pub use frame::{Frame, WireError, KEY_LEN, NONCE_LEN};
pub use function::{FunctionChecksum, FunctionId};
pub use handshake::{
    transcript_hash, AwaitingKeyShare, ClientHandshake, DocumentReceived, EnclaveHandshake, HandshakeError, Nonce,
    NonceHeaderError, NONCE_HEADER, NONCE_HEADER_LEN, PROTOCOL_LABEL,
};
pub use idle::Idle;
pub use limits::{
    FrameLimits, DEFAULT_CLIENT_IDLE_TIMEOUT, DEFAULT_CLIENT_MAX_IN_FLIGHT, DEFAULT_ENCLAVE_IDLE_TIMEOUT,
    DEFAULT_ENCLAVE_MAX_IN_FLIGHT, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_DOCUMENT_LEN, MAX_CHUNK_LEN,
    MAX_ERROR_MESSAGE_LEN, MESSAGE_HEADER_LEN, RECORD_OVERHEAD, TAG_LEN,
};
pub use measurement::{MeasurementSet, Pcr, PcrIndex, PcrValue, SetMismatch};
pub use message::{ClientMessage, RequestId, ServerMessage, SessionErrorCode};
pub use record::{
    client_setup, seal_single_shot, Aead, EnclaveKey, Kdf, Kem, PlainRecord, PlaintextBuf, RecordError, RequestOpener,
    RequestSealer, ResponseOpener, ResponseSealer, KEY_UPDATE_INTERVAL,
};
