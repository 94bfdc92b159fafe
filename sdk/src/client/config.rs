//! What a [`Client`](crate::Client) was built with, checked once by its builder and read by every
//! connection: the endpoint, the verifier, the clock, the prepared upgrade headers and the limits.
//!
//! Input: nothing at run time (the builder fills it). Output: values only; this module does no I/O.

use std::sync::Arc;
use std::time::Duration;

use enclave_protocol::FrameLimits;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::endpoint::Endpoint;
use super::tls::ClientTls;
use crate::attestation::{UnixTime, Verifier};

/// Where "now" comes from when checking certificate validity and document age.
///
/// Leave it at the system clock (the default) in production; tests inject a fixed time.
///
/// # Examples
///
/// ```
/// use enclave_sdk::attestation::UnixTime;
/// use enclave_sdk::Clock;
///
/// /// A clock stopped at one instant, e.g. the time a recorded document was valid.
/// #[derive(Debug)]
/// struct Fixed(UnixTime);
///
/// impl Clock for Fixed {
///     fn now(&self) -> UnixTime {
///         self.0
///     }
/// }
///
/// let clock = Fixed(UnixTime::from_secs(1_676_033_041));
/// assert_eq!(clock.now().as_secs(), 1_676_033_041);
/// // enclave_sdk::Client::builder().clock(std::sync::Arc::new(clock))
/// ```
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> UnixTime;
}

/// The system's clock; the only [`Clock`] that reads `SystemTime`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        UnixTime::now()
    }
}

/// Default bound on the output [`Session::invoke`](crate::Session::invoke) collects in memory.
pub(crate) const DEFAULT_MAX_OUTPUT_LEN: usize = 64 * 1024 * 1024;

/// One client's configuration, shared by its connections.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) endpoint: Endpoint,
    /// On `wss://`, the TLS client of every connection (with the WebPKI validation to require besides
    /// the attestation binding, when configured); `None` on `ws://`.
    pub(crate) tls: Option<ClientTls>,
    pub(crate) verifier: Verifier,
    /// `Authorization: Bearer <token>`, marked sensitive, for the native protocol.
    pub(crate) bearer: Option<HeaderValue>,
    /// `Sec-WebSocket-Protocol: cape.runtime[, <token>]`, marked sensitive when it carries the token.
    pub(crate) cape_protocols: HeaderValue,
    pub(crate) handshake_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) max_output_len: usize,
    pub(crate) limits: FrameLimits,
    pub(crate) clock: Arc<dyn Clock>,
}
