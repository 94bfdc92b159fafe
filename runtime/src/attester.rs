//! Where attestation documents come from: the [`Attester`] seam the sessions call.
//!
//! Input: what a session wants attested (the client's nonce, the connection's public key, the
//! enclave's claim in user data). Output: the raw bytes of a signed attestation document, exactly as
//! the Nitro Secure Module returns them. An attester decides nothing about sessions, and the runtime
//! never parses what it returns: the client verifies.
//!
//! The server takes any `Arc<dyn Attester>`: `NitroNsm` (feature `nsm`) inside a
//! real enclave, the mock enclave's software NSM in tests and demos.

use std::fmt;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The NSM accepts at most this many bytes in each of nonce, public key and user data
/// (AWS NSM API CDDL: `bstr .size (0..1024)`).
pub const MAX_FIELD_LEN: usize = 1024;

/// What to put into one attestation document. Each field is bounded by the NSM's own limits
/// ([`MAX_FIELD_LEN`] bytes); [`check_limits`](Self::check_limits) refuses larger values.
///
/// # Examples
///
/// ```
/// use enclave_runtime::{AttestationRequest, AttesterError};
///
/// let request = AttestationRequest::new(Some(vec![7; 32]), Some(vec![1; 32]), None);
/// assert_eq!(request.nonce(), Some(&[7u8; 32][..]));
/// assert_eq!(request.check_limits(), Ok(()));
///
/// let huge = AttestationRequest::new(None, None, Some(vec![0; 1025]));
/// assert!(matches!(huge.check_limits(), Err(AttesterError::FieldTooLong { field: "user_data", len: 1025, .. })));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AttestationRequest {
    nonce: Option<Vec<u8>>,
    public_key: Option<Vec<u8>>,
    user_data: Option<Vec<u8>>,
}

impl AttestationRequest {
    /// A request carrying these optional fields: the client's nonce (echoed so the client can tell the
    /// document is fresh), the enclave's public key for this connection, and application data (in the
    /// native protocol, the CBOR claim naming the function, its checksum and the TLS key).
    pub fn new(nonce: Option<Vec<u8>>, public_key: Option<Vec<u8>>, user_data: Option<Vec<u8>>) -> Self {
        Self { nonce, public_key, user_data }
    }

    /// The nonce to echo.
    pub fn nonce(&self) -> Option<&[u8]> {
        self.nonce.as_deref()
    }

    /// The public key to bind.
    pub fn public_key(&self) -> Option<&[u8]> {
        self.public_key.as_deref()
    }

    /// The user data to bind.
    pub fn user_data(&self) -> Option<&[u8]> {
        self.user_data.as_deref()
    }

    /// Checks every field against [`MAX_FIELD_LEN`], as the NSM does before attesting. Backends call
    /// it first, so every backend refuses an oversized field with the same typed error.
    ///
    /// # Errors
    /// [`AttesterError::FieldTooLong`] naming the first field over the limit.
    pub fn check_limits(&self) -> Result<(), AttesterError> {
        for (field, value) in [("nonce", &self.nonce), ("public_key", &self.public_key), ("user_data", &self.user_data)]
        {
            if let Some(len) = value.as_ref().map(Vec::len).filter(|len| *len > MAX_FIELD_LEN) {
                return Err(AttesterError::FieldTooLong { field, len, max: MAX_FIELD_LEN });
            }
        }
        Ok(())
    }
}

impl fmt::Debug for AttestationRequest {
    // Lengths only: user data may be sensitive to the deployment, and logs must not carry it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttestationRequest")
            .field("nonce_len", &self.nonce.as_ref().map(Vec::len))
            .field("public_key_len", &self.public_key.as_ref().map(Vec::len))
            .field("user_data_len", &self.user_data.as_ref().map(Vec::len))
            .finish()
    }
}

/// Why a document could not be produced. The session that asked ends; the client learns nothing
/// but a closed connection (or, in Cape mode, `{"error": "attestation failed"}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttesterError {
    /// A request field exceeds the NSM's limit.
    #[error("attestation request field {field} is {len} bytes; the NSM accepts at most {max}")]
    FieldTooLong {
        /// `nonce`, `public_key` or `user_data`.
        field: &'static str,
        /// Length requested.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The attestation device cannot be opened (the process is not inside a Nitro enclave).
    #[error("cannot open {device}: not running inside a Nitro enclave?")]
    DeviceUnavailable {
        /// The device path.
        device: &'static str,
    },
    /// The NSM refused the request.
    #[error("the NSM refused the attestation request: {status}")]
    DeviceRefused {
        /// The NSM's error code, by its name in the NSM API.
        status: &'static str,
    },
    /// The NSM answered an attestation request with another kind of response.
    #[error("the NSM answered an attestation request with another response type")]
    UnexpectedResponse,
    /// A software backend could not sign or encode the document.
    #[error("attestation backend failed: {step}")]
    Failed {
        /// The step that failed (e.g. `signing the document`).
        step: &'static str,
    },
    /// The clock is outside the backend's root certificate validity, so no chain can be issued.
    #[error("clock reads {now_s} s, outside the attester root's validity [{not_before_s}, {not_after_s}]")]
    OutsideRootValidity {
        /// The injected or system time, Unix seconds.
        now_s: u64,
        /// Root validity start, Unix seconds.
        not_before_s: u64,
        /// Root validity end, Unix seconds.
        not_after_s: u64,
    },
}

/// A source of signed attestation documents: `/dev/nsm` in a real enclave, a software NSM in tests.
///
/// # Examples
///
/// An attester that is not the NSM, e.g. one that counts the documents it hands out around another:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use enclave_runtime::{AttestationRequest, Attester, AttesterError};
///
/// #[derive(Debug)]
/// struct Counting<A> { inner: A, issued: AtomicU64 }
///
/// impl<A: Attester> Attester for Counting<A> {
///     fn attest(&self, request: &AttestationRequest) -> Result<Vec<u8>, AttesterError> {
///         let document = self.inner.attest(request)?;
///         self.issued.fetch_add(1, Ordering::Relaxed);
///         Ok(document)
///     }
///
///     // A wrapper blocks when what it wraps does (the NSM does).
///     fn blocks(&self) -> bool {
///         self.inner.blocks()
///     }
/// }
///
/// # #[derive(Debug)] struct Nsm;
/// # impl Attester for Nsm {
/// #     fn attest(&self, _: &AttestationRequest) -> Result<Vec<u8>, AttesterError> { Ok(vec![0x84]) }
/// # }
/// let counting = Counting { inner: Nsm, issued: AtomicU64::new(0) };
/// assert_eq!(counting.attest(&AttestationRequest::default()), Ok(vec![0x84]));
/// assert_eq!(counting.issued.load(Ordering::Relaxed), 1);
/// assert!(counting.blocks()); // the default: an attester not known to only compute
/// ```
pub trait Attester: Send + Sync + fmt::Debug {
    /// Produces a signed attestation document (COSE_Sign1 bytes) over `request`.
    ///
    /// # Errors
    /// [`AttesterError::FieldTooLong`] for a field over [`MAX_FIELD_LEN`]; another variant when the
    /// backend cannot produce a document.
    fn attest(&self, request: &AttestationRequest) -> Result<Vec<u8>, AttesterError>;

    /// Whether [`attest`](Self::attest) may hold its thread while it waits on a device. The NSM's
    /// driver serves one request at a time, so a burst of handshakes would queue on it; the server
    /// therefore calls a blocking attester on tokio's blocking pool, two calls at a time per server,
    /// never on a worker that also serves other sessions.
    ///
    /// The default is `true`, the safe answer for an attester the server knows nothing about. Return
    /// `false` from a backend that only computes (the mock's software NSM does: its signature, about
    /// 0.1 ms, costs less than the move to another thread), and forward the answer from a wrapper.
    fn blocks(&self) -> bool {
        true
    }
}

/// Blocking attestations running at once. The device serves one at a time; a second one ready
/// behind it keeps the device busy, and more would only be threads waiting on its lock.
const MAX_BLOCKING: usize = 2;

/// How sessions call the server's [`Attester`]: in place when it only computes, on the blocking pool
/// when it [`blocks`](Attester::blocks). One per server: the bound on blocking calls is the
/// server's, so two servers on one device (one `NitroNsm` behind two listeners) send it up to four.
#[derive(Clone, Debug)]
pub(crate) struct Attestations {
    attester: Arc<dyn Attester>,
    /// For a blocking attester: the permits of its blocking calls.
    blocking: Option<Arc<Semaphore>>,
}

impl Attestations {
    pub(crate) fn new(attester: Arc<dyn Attester>) -> Self {
        let blocking = attester.blocks().then(|| Arc::new(Semaphore::new(MAX_BLOCKING)));
        Self { attester, blocking }
    }

    /// A place to call the attester from, if one is free now (always, for one that only computes).
    /// `None` means every place at the device is taken: a session then sends what it holds back for
    /// the document before it waits with [`place`](Self::place).
    pub(crate) fn try_place(&self) -> Option<Place> {
        match &self.blocking {
            None => Some(Place(None)),
            Some(b) => b.clone().try_acquire_owned().ok().map(|p| Place(Some(p))),
        }
    }

    /// A place to call the attester from, waited for (asynchronously) while every one is taken;
    /// callers bound that wait with their handshake deadline.
    pub(crate) async fn place(&self) -> Result<Place, AttesterError> {
        match &self.blocking {
            None => Ok(Place(None)),
            Some(b) => b.clone().acquire_owned().await.map(|p| Place(Some(p))).map_err(|_| lost()),
        }
    }

    /// A document over `request`, made at `place`.
    ///
    /// # Errors
    /// The attester's own; [`AttesterError::Failed`] when its thread could not run or panicked.
    pub(crate) async fn attest(&self, place: Place, request: AttestationRequest) -> Result<Vec<u8>, AttesterError> {
        let Place(Some(permit)) = place else {
            return self.attester.attest(&request);
        };
        let attester = self.attester.clone();
        // The permit goes with the call, not with this future: a session that gives up while the
        // device still works on its request leaves the device's bound intact.
        tokio::task::spawn_blocking(move || {
            let document = attester.attest(&request);
            drop(permit);
            document
        })
        .await
        .map_err(|_| lost())?
    }
}

/// Where a session calls the attester from: in place, or one of the device's [`MAX_BLOCKING`] places,
/// taken by [`Attestations::try_place`] or [`Attestations::place`] and given back when the call ends.
pub(crate) struct Place(Option<OwnedSemaphorePermit>);

fn lost() -> AttesterError {
    AttesterError::Failed { step: "running the attester on its own thread" }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Condvar, Mutex};
    use std::thread::ThreadId;
    use std::time::Duration;

    use super::{AttestationRequest, Attestations, Attester, AttesterError, MAX_BLOCKING};

    /// Records where and how many at once it runs; when `blocking`, holds each call until opened.
    #[derive(Debug, Default)]
    struct Probe {
        blocking: bool,
        threads: Mutex<Vec<ThreadId>>,
        running: AtomicUsize,
        most: AtomicUsize,
        open: Mutex<bool>,
        opened: Condvar,
    }

    impl Attester for Probe {
        fn attest(&self, _: &AttestationRequest) -> Result<Vec<u8>, AttesterError> {
            self.threads.lock().unwrap().push(std::thread::current().id());
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            if self.blocking {
                let open = self.open.lock().unwrap();
                let _ = self.opened.wait_timeout_while(open, Duration::from_secs(5), |open| !*open).unwrap();
            }
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(vec![0x84])
        }

        fn blocks(&self) -> bool {
            self.blocking
        }
    }

    /// A place, then a document, as a session without anything to send first does.
    async fn attest(attestations: &Attestations) -> Result<Vec<u8>, AttesterError> {
        attestations.attest(attestations.place().await?, AttestationRequest::default()).await
    }

    /// The thread a spawned task runs on: with one worker, the worker.
    async fn worker() -> ThreadId {
        tokio::spawn(async { std::thread::current().id() }).await.unwrap()
    }

    impl Probe {
        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.opened.notify_all();
        }

        /// Waits (on the runtime's clock, at most 5 s) until `n` calls are inside the attester.
        async fn until_running(&self, n: usize) {
            let wait = async {
                while self.running.load(Ordering::SeqCst) < n {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(5), wait).await.expect("the calls never reached the attester");
        }
    }

    #[tokio::test]
    async fn an_attester_that_only_computes_runs_in_place() {
        let probe = Arc::new(Probe::default());
        let attestations = Attestations::new(probe.clone());
        let place = attestations.try_place().expect("one that only computes always has a place");
        assert_eq!(attestations.attest(place, AttestationRequest::default()).await, Ok(vec![0x84]));
        assert_eq!(*probe.threads.lock().unwrap(), [std::thread::current().id()]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_blocking_attester_runs_elsewhere_a_few_calls_at_a_time() {
        let probe = Arc::new(Probe { blocking: true, ..Probe::default() });
        let attestations = Attestations::new(probe.clone());
        let calls: Vec<_> = (0..MAX_BLOCKING + 3)
            .map(|_| {
                let attestations = attestations.clone();
                tokio::spawn(async move { attest(&attestations).await })
            })
            .collect();
        probe.until_running(MAX_BLOCKING).await;
        // The others wait for a permit, not on a thread: none of them is inside the attester.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(probe.running.load(Ordering::SeqCst), MAX_BLOCKING);
        probe.open();
        for call in calls {
            assert_eq!(call.await.unwrap(), Ok(vec![0x84]));
        }
        assert_eq!(probe.most.load(Ordering::SeqCst), MAX_BLOCKING);
        let worker = worker().await;
        assert!(!probe.threads.lock().unwrap().contains(&worker), "a blocking call ran on the worker");
    }

    /// A session that gives up while its request is in the device (its handshake timed out) must not
    /// free the device's place: the next call still waits until the device returns.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_call_given_up_keeps_its_place_until_the_device_returns() {
        let probe = Arc::new(Probe { blocking: true, ..Probe::default() });
        let attestations = Attestations::new(probe.clone());
        for _ in 0..MAX_BLOCKING {
            let given_up = attest(&attestations);
            assert!(tokio::time::timeout(Duration::from_millis(20), given_up).await.is_err());
        }
        probe.until_running(MAX_BLOCKING).await;
        assert!(attestations.try_place().is_none(), "a given-up call's place was free");
        let next = tokio::spawn({
            let attestations = attestations.clone();
            async move { attest(&attestations).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(probe.running.load(Ordering::SeqCst), MAX_BLOCKING, "a given-up call's place was taken");
        probe.open();
        assert_eq!(next.await.unwrap(), Ok(vec![0x84]));
        assert_eq!(probe.most.load(Ordering::SeqCst), MAX_BLOCKING);
    }
}
