//! A blocking wrapper for applications without an async runtime.
//!
//! Input and output as in [`crate::Client`]; each call runs on a private current-thread runtime owned
//! by the wrapper. Do not call these from inside an async runtime (tokio refuses to block there).

use std::sync::Arc;

use crate::error::Error;
use crate::session::client;

/// A blocking [`client::Client`].
#[derive(Debug)]
pub struct Client {
    inner: client::Client,
    runtime: Arc<tokio::runtime::Runtime>,
}

/// A blocking [`client::Session`].
#[derive(Debug)]
pub struct Session {
    inner: client::Session,
    runtime: Arc<tokio::runtime::Runtime>,
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| Error::LocalIo { kind: e.kind() })
}

impl Client {
    /// Wraps an async client.
    ///
    /// # Errors
    /// [`Error::LocalIo`] if the runtime cannot start.
    pub fn new(inner: client::Client) -> Result<Self, Error> {
        Ok(Self { inner, runtime: Arc::new(runtime()?) })
    }

    /// [`client::Client::from_env`], blocking.
    ///
    /// # Errors
    /// As [`client::Client::from_env`].
    pub fn from_env() -> Result<Self, Error> {
        Self::new(client::Client::from_env()?)
    }

    /// Connects, verifies and opens a session; see [`client::Client::connect`].
    ///
    /// # Errors
    /// As [`client::Client::connect`].
    pub fn connect(&self, function_id: &str) -> Result<Session, Error> {
        let _guard = self.runtime.enter();
        let inner = self.runtime.block_on(self.inner.connect(function_id))?;
        Ok(Session { inner, runtime: self.runtime.clone() })
    }
}

impl Session {
    /// Invokes the function; see [`client::Session::invoke`].
    ///
    /// # Errors
    /// As [`client::Session::invoke`].
    pub fn invoke(&self, input: &[u8]) -> Result<Vec<u8>, Error> {
        self.runtime.block_on(self.inner.invoke(input))
    }

    /// The async session, e.g. for its attestation document.
    pub fn get_ref(&self) -> &client::Session {
        &self.inner
    }

    /// Closes the session; see [`client::Session::close`].
    ///
    /// # Errors
    /// As [`client::Session::close`].
    pub fn close(self) -> Result<(), Error> {
        self.runtime.block_on(self.inner.close())
    }
}

/// [`crate::connect_and_invoke`], blocking.
///
/// # Errors
/// As [`crate::connect_and_invoke`].
pub fn connect_and_invoke(function_id: &str, input: &[u8]) -> Result<Vec<u8>, Error> {
    runtime()?.block_on(crate::connect_and_invoke(function_id, input))
}
