//! A blocking wrapper for applications without an async runtime.
//!
//! Input and output as in [`crate::Client`]; each call runs on a private current-thread runtime owned
//! by the wrapper. Called from a thread inside an async runtime (a task, or `spawn_blocking`), where
//! tokio would panic rather than block, every function here returns
//! [`ConfigError::BlockingInRuntime`] instead: use the async API there.
//!
//! # Examples
//!
//! ```no_run
//! # fn main() -> Result<(), enclave_sdk::Error> {
//! // Configured from ENCLAVE_URL and ENCLAVE_PCRS (or ENCLAVE_POLICY), as `Client::from_env`.
//! let client = enclave_sdk::blocking::Client::from_env()?;
//! let session = client.connect("word-count")?;
//! let output = session.invoke(b"one two three")?;
//! session.close()?;
//! # let _ = output; Ok(()) }
//! ```

use std::sync::Arc;

use crate::client;
use crate::error::{ConfigError, Error};

/// A blocking [`crate::Client`].
///
/// # Examples
///
/// ```no_run
/// let client = enclave_sdk::blocking::Client::from_env()?;
/// let output = client.connect("echo")?.invoke(b"no runtime needed")?;
/// # let _ = output; Ok::<(), enclave_sdk::Error>(())
/// ```
#[derive(Debug)]
pub struct Client {
    inner: client::Client,
    runtime: Arc<tokio::runtime::Runtime>,
}

/// A blocking [`crate::Session`].
///
/// # Examples
///
/// ```no_run
/// let session = enclave_sdk::blocking::Client::from_env()?.connect("echo")?;
/// assert_eq!(session.invoke(b"hi")?, b"hi");
/// session.close()?;
/// # Ok::<(), enclave_sdk::Error>(())
/// ```
#[derive(Debug)]
pub struct Session {
    inner: client::Session,
    runtime: Arc<tokio::runtime::Runtime>,
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    outside_runtime()?;
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| Error::LocalIo { kind: e.kind() })
}

/// Refuses to block on a thread of an async runtime: tokio panics there ("Cannot start a runtime from
/// within a runtime"), and dropping our runtime there panics too.
fn outside_runtime() -> Result<(), Error> {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => Err(ConfigError::BlockingInRuntime.into()),
        Err(_) => Ok(()),
    }
}

impl Client {
    /// Wraps an async client.
    ///
    /// # Errors
    /// [`ConfigError::BlockingInRuntime`] inside an async runtime; [`Error::LocalIo`] if the runtime
    /// cannot start.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let policy = enclave_sdk::attestation::Policy::builder().dangerous_accept_any_enclave().build()?;
    /// let client = enclave_sdk::Client::builder().endpoint("ws://127.0.0.1:8443").policy(policy).build()?;
    /// let blocking = enclave_sdk::blocking::Client::new(client)?;
    /// # drop(blocking); Ok(()) }
    /// ```
    pub fn new(inner: client::Client) -> Result<Self, Error> {
        Ok(Self { inner, runtime: Arc::new(runtime()?) })
    }

    /// [`crate::Client::from_env`], blocking.
    ///
    /// # Errors
    /// As [`crate::Client::from_env`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = enclave_sdk::blocking::Client::from_env()?; // ENCLAVE_URL, ENCLAVE_PCRS, ...
    /// # let _ = client; Ok::<(), enclave_sdk::Error>(())
    /// ```
    pub fn from_env() -> Result<Self, Error> {
        Self::new(client::Client::from_env()?)
    }

    /// [`crate::Client::invoke`], blocking: a repeated call to the same function reuses this client's
    /// idle attested session (see [`crate::SessionReuse`]).
    ///
    /// # Errors
    /// As [`crate::Client::invoke`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = enclave_sdk::blocking::Client::from_env()?;
    /// let first = client.invoke("echo", b"attests")?;
    /// let second = client.invoke("echo", b"one round trip")?;
    /// # let _ = (first, second); Ok::<(), enclave_sdk::Error>(())
    /// ```
    pub fn invoke(&self, function_id: &str, input: &[u8]) -> Result<Vec<u8>, Error> {
        let _guard = self.runtime.enter();
        self.runtime.block_on(self.inner.invoke(function_id, input))
    }

    /// Connects, verifies and opens a session; see [`crate::Client::connect`].
    ///
    /// # Errors
    /// [`ConfigError::BlockingInRuntime`] inside an async runtime; otherwise as [`crate::Client::connect`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let client = enclave_sdk::blocking::Client::from_env()?;
    /// let session = client.connect("word-count")?;
    /// # let _ = session; Ok::<(), enclave_sdk::Error>(())
    /// ```
    pub fn connect(&self, function_id: &str) -> Result<Session, Error> {
        outside_runtime()?;
        let _guard = self.runtime.enter();
        let inner = self.runtime.block_on(self.inner.connect(function_id))?;
        Ok(Session { inner, runtime: self.runtime.clone() })
    }
}

impl Session {
    /// Invokes the function; see [`crate::Session::invoke`].
    ///
    /// # Errors
    /// As [`crate::Session::invoke`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let session = enclave_sdk::blocking::Client::from_env()?.connect("word-count")?;
    /// let count = session.invoke(b"one two three")?;
    /// # let _ = count; Ok::<(), enclave_sdk::Error>(())
    /// ```
    pub fn invoke(&self, input: &[u8]) -> Result<Vec<u8>, Error> {
        outside_runtime()?;
        self.runtime.block_on(self.inner.invoke(input))
    }

    /// The async session, e.g. for its attestation document.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let session = enclave_sdk::blocking::Client::from_env()?.connect("echo")?;
    /// let module = session.get_ref().attestation().module_id().to_owned();
    /// # let _ = module; Ok::<(), enclave_sdk::Error>(())
    /// ```
    pub fn get_ref(&self) -> &client::Session {
        &self.inner
    }

    /// Closes the session; see [`crate::Session::close`].
    ///
    /// # Errors
    /// As [`crate::Session::close`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let session = enclave_sdk::blocking::Client::from_env()?.connect("echo")?;
    /// session.close()?;
    /// # Ok::<(), enclave_sdk::Error>(())
    /// ```
    pub fn close(self) -> Result<(), Error> {
        outside_runtime()?;
        self.runtime.block_on(self.inner.close())
    }
}

/// [`crate::connect_and_invoke`], blocking, on one runtime for the process, so that a repeated call
/// reuses its attested session as the async one does.
///
/// # Errors
/// [`ConfigError::BlockingInRuntime`] inside an async runtime; otherwise as [`crate::connect_and_invoke`].
///
/// # Examples
///
/// ```no_run
/// let output = enclave_sdk::blocking::connect_and_invoke("word-count", b"one two three")?;
/// # let _ = output; Ok::<(), enclave_sdk::Error>(())
/// ```
pub fn connect_and_invoke(function_id: &str, input: &[u8]) -> Result<Vec<u8>, Error> {
    static SHARED: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    let runtime = match SHARED.get() {
        Some(runtime) => runtime,
        None => {
            let fresh = runtime()?;
            // Two first calls at once: one runtime wins, the other is dropped unused.
            SHARED.get_or_init(|| fresh)
        }
    };
    runtime.block_on(crate::connect_and_invoke(function_id, input))
}
