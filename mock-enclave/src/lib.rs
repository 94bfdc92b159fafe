//! A mock AWS Nitro enclave: the `enclave-runtime` server, attesting with a software Nitro Secure
//! Module, serving built-in functions and user function directories.
//!
//! | part | module | public items |
//! |---|---|---|
//! | the running mock: the runtime with the software attester | `mock` | [`MockEnclave`], [`MockEnclaveBuilder`] |
//! | the software NSM, its CA chain and state directory | [`attester`] | [`attester::SoftwareNsm`], [`attester::StateError`] |
//! | the functions it serves | [`functions`] | [`functions::FunctionRegistry`], [`functions::MockFunction`] |
//! | the PCRs it reports | [`measurements`] | [`measurements::Measurements`] |
//! | its TLS identity in the state directory | `tls` | |
//! | what a client pins for it, as a policy file | [`pinning`] | [`pinning::policy_file`] |
//!
//! Each module uses only those below it in this table (`pinning`, beside `mock`, uses the attester,
//! the functions and the measurements). The sessions, the upgrade checks, limits and
//! drain are the runtime's ([`enclave_runtime`]): what a client meets here is what it meets in a real
//! enclave, where `enclave_runtime::NitroNsm` attests instead. The `mock-enclave` binary serves it
//! (`serve`), prints what to pin (`measurements`) and writes it as a policy file (`policy`).
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mock_enclave::StartError> {
//! let mock = mock_enclave::MockEnclave::builder().spawn().await?;
//! println!("pin this root:\n{}", mock.root_pem());
//! println!("and these PCRs: {:?}", mock.measurements().pcrs());
//! println!("then connect to {}/v1/run/echo", mock.url());
//! mock.shutdown().await;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod attester;
mod error;
pub mod functions;
pub mod measurements;
mod mock;
pub mod pinning;
mod tls;

pub use enclave_runtime::{ServerLimits, ServerStats};
pub use error::StartError;
pub use mock::{MockEnclave, MockEnclaveBuilder};
