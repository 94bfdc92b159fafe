//! The enclave side of `enclave-session.v3` (and of Cape's `cape.runtime`, for compatibility): a
//! server that attests each connection with an [`Attester`], runs the requested [`Function`] on the
//! client's sealed input, and seals the output back. It runs inside a real Nitro enclave (attester
//! `NitroNsm`, feature `nsm`) as well as in the mock enclave, which serves it with a software NSM.
//! `PROTOCOL.md` at the repository root is the specification; the protocol itself (frames, handshake,
//! records, the write pump) is `enclave-protocol`'s, which this crate drives. It does not depend on the
//! client SDK.
//!
//! # Layout
//!
//! Each module uses only those below it:
//!
//! | layer | module | public items |
//! |---|---|---|
//! | the parent instance's relay: TCP in, the enclave's vsock port out | `relay` | [`Relay`], [`RelayBuilder`], [`RelayLimits`], [`RelayStats`], [`Connector`], [`TcpConnector`], [`AddrConnector`], `VsockConnector` |
//! | the server: accept loop, TLS, upgrade, limits, counters, drain | `server` | [`Server`], [`ServerBuilder`], [`StartError`] |
//! | the upgrade's checks and the protocol choice | `upgrade` | |
//! | the sessions, native and Cape side by side | `session` | |
//! | what the sessions call | `attester`, `nsm`, `function` | [`Attester`], [`AttestationRequest`], [`AttesterError`], `NitroNsm`; [`Function`], [`FunctionInput`], [`FunctionOutput`], [`FunctionError`], [`Functions`] |
//! | the functions: an app's own handler, or a directory's sealed, confined processes | `handler`, `directory` | [`Handler`]; [`DirectoryFunction`], [`Confinement`], [`LoadError`] |
//! | values all levels share | `listener`, `function_limits`, `limits`, `stats`, `tls` | [`ListenAddr`], [`FunctionLimits`], [`ServerLimits`], [`ServerStats`], [`TlsIdentity`] |
//!
//! The `enclave-runtime` binary (`src/main.rs`) is this library's `serve` (inside the enclave: the
//! NSM, vsock, a functions directory) and `relay` (on the parent instance); the mock enclave is the
//! same library with a software NSM (`mock-enclave serve`).
//!
//! # Examples
//!
//! Serve one function with an attester of your choice:
//!
//! ```
//! use std::sync::Arc;
//! use enclave_protocol::{FunctionChecksum, FunctionId};
//! use enclave_runtime::{
//!     AttestationRequest, Attester, AttesterError, Function, FunctionError, FunctionInput, FunctionOutput,
//!     Functions, Server,
//! };
//! use futures_util::future::BoxFuture;
//!
//! #[derive(Debug)]
//! struct Echo(FunctionId);
//!
//! impl Function for Echo {
//!     fn id(&self) -> &FunctionId { &self.0 }
//!     fn checksum(&self) -> FunctionChecksum { FunctionChecksum::from_bytes([0x11; 32]) }
//!     fn invoke(&self, mut input: FunctionInput, output: FunctionOutput) -> BoxFuture<'_, Result<(), FunctionError>> {
//!         Box::pin(async move {
//!             while let Some(chunk) = input.recv().await {
//!                 output.send(chunk).await.map_err(|_| FunctionError::OutputClosed { function: self.0.clone() })?;
//!             }
//!             Ok(())
//!         })
//!     }
//! }
//!
//! # #[derive(Debug)] struct MyAttester;
//! # impl Attester for MyAttester {
//! #     fn attest(&self, _: &AttestationRequest) -> Result<Vec<u8>, AttesterError> { Ok(Vec::new()) }
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut functions = Functions::new();
//! functions.add(Arc::new(Echo("echo".parse()?)))?;
//! let server = Server::builder(Arc::new(MyAttester)).functions(functions).spawn().await?;
//! println!("listening on {}", server.url()); // clients connect to {url}/v1/run/echo
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Feature flags
//! - `nsm`: `NitroNsm`, attestation from `/dev/nsm` through `aws-nitro-enclaves-nsm-api`. It builds
//!   anywhere and works only inside a Nitro enclave.
//! - `vsock`: [`ListenAddr::Vsock`] for the server's listener and `VsockConnector` for the relay,
//!   through `tokio-vsock`. Without it a vsock address is refused when bound or connected. The code
//!   above the socket is the TCP path's, which is what the tests drive.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]

mod admission;
mod attester;
mod budget;
mod corked;
mod directory;
mod function;
mod function_limits;
mod handler;
mod limits;
mod listener;
#[cfg(feature = "nsm")]
mod nsm;
mod peek;
mod relay;
mod server;
mod session;
mod shutdown;
mod stats;
mod stop;
mod tls;
mod upgrade;

pub use attester::{AttestationRequest, Attester, AttesterError, MAX_FIELD_LEN};
pub use directory::{Confinement, DirectoryFunction, LoadError, ENTRY};
pub use function::{
    DuplicateFunction, Function, FunctionError, FunctionInput, FunctionOutput, Functions, GatheredInput, InputExceeds,
    OutputClosed,
};
pub use function_limits::FunctionLimits;
pub use handler::Handler;
pub use limits::{ServerLimits, DEFAULT_CAPE_MAX_INPUT, DEFAULT_MEMORY_BUDGET, DEFAULT_SESSION_MEMORY};
pub use listener::{AddrError, ListenAddr, VSOCK_CID_ANY};
#[cfg(feature = "nsm")]
pub use nsm::NitroNsm;
#[cfg(feature = "vsock")]
pub use relay::VsockConnector;
pub use relay::{AddrConnector, AddrStream, Connector, Relay, RelayBuilder, RelayLimits, RelayStats, TcpConnector};
pub use server::{Server, ServerBuilder, StartError};
pub use shutdown::{ShutdownSignals, SignalError};
pub use stats::ServerStats;
pub use tls::{TlsError, TlsIdentity};
