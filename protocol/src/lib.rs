//! The vocabulary both ends of an enclave session share, with no I/O: PCR indices and values,
//! measurement sets, function ids and function checksums.
//!
//! Every front end that takes one of these from text (CLI flags, environment variables, the policy
//! file, the mock enclave's configuration) parses it here, with one parser per textual form and one
//! typed error ([`MeasurementError`]) that names the rule and the values:
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

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]

mod error;
mod function;
mod hex_text;
mod measurement;

pub use error::{HexField, MeasurementError};
pub use function::{FunctionChecksum, FunctionId};
pub use measurement::{MeasurementSet, Pcr, PcrIndex, PcrValue, SetMismatch};
