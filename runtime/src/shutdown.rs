//! The signals a server or relay process drains on (SIGINT, SIGTERM), shared by the runtime's
//! binary and the mock's.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// SIGINT and SIGTERM, caught from [`install`](Self::install) on: install them before the listener
/// is announced, so that a signal arriving as soon as the address is printed drains like any other
/// instead of killing the process outright.
#[derive(Debug)]
pub struct ShutdownSignals {
    int: Signal,
    term: Signal,
}

/// A signal handler could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("{signal} handler: {source}")]
pub struct SignalError {
    /// The signal's name.
    pub signal: &'static str,
    /// Why the handler could not be installed.
    #[source]
    pub source: std::io::Error,
}

impl ShutdownSignals {
    /// Starts catching SIGINT and SIGTERM. Must run inside a tokio runtime.
    ///
    /// # Errors
    /// [`SignalError`] naming the signal whose handler could not be installed.
    ///
    /// # Examples
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let signals = enclave_runtime::ShutdownSignals::install().unwrap();
    /// # drop(signals); }
    /// ```
    pub fn install() -> Result<Self, SignalError> {
        let handler = |kind, name| signal(kind).map_err(|source| SignalError { signal: name, source });
        Ok(Self {
            int: handler(SignalKind::interrupt(), "SIGINT")?,
            term: handler(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    /// Waits for the first of the two.
    pub async fn recv(mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}
