//! `Client`, `Session`, `CapeSession` and `connect_and_invoke` over the SDK's async client.
//!
//! One multi-thread tokio runtime per process (pyo3-async-runtimes' own, so asyncio futures and
//! blocking calls share it). A blocking call runs its future on the calling thread with the GIL
//! released, waking every 100 ms to let Python deliver signals (Ctrl-C drops the future, which closes
//! the connection). An `_async` method returns an asyncio future that the runtime completes; the event
//! loop never waits on the network.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use enclave_sdk::error::SessionError as RustSessionError;
use enclave_sdk::{CapeSession as RustCapeSession, Error, Session as RustSession};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyList};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::errors;
use crate::policy::{certificate_der, Policy, VerifiedDocument};

/// How often a blocking call lets Python run its signal handlers.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// Runs `fut` to completion on this thread with the GIL released.
fn wait<T: Send>(py: Python<'_>, fut: impl Future<Output = Result<T, Error>> + Send) -> PyResult<T> {
    // A Python callback the SDK runs (invoke_stream's source, sink or progress) that calls back into a
    // blocking method would start a runtime inside the runtime: refuse it by name instead.
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(errors::EnclaveError::new_err(
            "a blocking enclave_sdk call from inside an SDK callback; use the _async methods there",
        ));
    }
    let outcome: PyResult<Result<T, Error>> = py.detach(|| {
        runtime().block_on(async {
            tokio::pin!(fut);
            loop {
                tokio::select! {
                    r = &mut fut => return Ok(r),
                    () = tokio::time::sleep(SIGNAL_POLL) => Python::attach(|py| py.check_signals())?,
                }
            }
        })
    });
    outcome?.map_err(|e| errors::to_py(py, e))
}

fn bytes(py: Python<'_>, data: &[u8]) -> Py<PyBytes> {
    PyBytes::new(py, data).unbind()
}

/// Connects to enclaves, verifying each against a `Policy` before sending it anything.
#[pyclass(module = "enclave_sdk", frozen)]
pub(crate) struct Client {
    inner: enclave_sdk::Client,
}

#[pymethods]
impl Client {
    /// `url`: `ws://host:port` (loopback only, unless `allow_plaintext=True`) or `wss://host[:port]`.
    /// `tls_root`: a certificate (PEM text, DER or PEM bytes) or a list of them that the enclave's TLS
    /// certificate must chain to (WebPKI), besides being bound by the attestation. Timeouts in seconds.
    #[new]
    #[pyo3(signature = (url, policy, *, token = None, tls_root = None, allow_plaintext = false,
        handshake_timeout = None, idle_timeout = None, max_in_flight = None, max_output_len = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        url: String,
        policy: &Policy,
        token: Option<String>,
        tls_root: Option<Bound<'_, PyAny>>,
        allow_plaintext: bool,
        handshake_timeout: Option<f64>,
        idle_timeout: Option<f64>,
        max_in_flight: Option<usize>,
        max_output_len: Option<usize>,
    ) -> PyResult<Self> {
        let mut builder = enclave_sdk::Client::builder().endpoint(url).policy(policy.inner.clone());
        if let Some(token) = token {
            builder = builder.token(token);
        }
        if let Some(roots) = tls_root {
            let list: Vec<Bound<'_, PyAny>> = match roots.cast::<PyList>() {
                Ok(l) => l.iter().collect(),
                Err(_) => vec![roots],
            };
            for root in list {
                builder = builder.tls_webpki_root(certificate_der("tls_root", &root)?);
            }
        }
        if allow_plaintext {
            builder = builder.dangerous_allow_plaintext_transport();
        }
        let secs = |what: &str, v: f64| {
            Duration::try_from_secs_f64(v)
                .map_err(|_| pyo3::exceptions::PyValueError::new_err(format!("{what} must be seconds >= 0")))
        };
        if let Some(t) = handshake_timeout {
            builder = builder.handshake_timeout(secs("handshake_timeout", t)?);
        }
        if let Some(t) = idle_timeout {
            builder = builder.idle_timeout(secs("idle_timeout", t)?);
        }
        if let Some(n) = max_in_flight {
            builder = builder.max_in_flight(n);
        }
        if let Some(n) = max_output_len {
            builder = builder.max_output_len(n);
        }
        builder.build().map(|inner| Self { inner }).map_err(|e| errors::to_py(py, e))
    }

    /// A client configured from the environment (`ENCLAVE_URL`, `ENCLAVE_POLICY` or `ENCLAVE_PCRS`,
    /// ...), as the Rust SDK's `Client::from_env`.
    #[staticmethod]
    fn from_env(py: Python<'_>) -> PyResult<Self> {
        enclave_sdk::Client::from_env().map(|inner| Self { inner }).map_err(|e| errors::to_py(py, e))
    }

    /// The policy documents are verified against.
    #[getter]
    fn policy(&self) -> Policy {
        Policy { inner: self.inner.policy().clone() }
    }

    /// Connects to `function_id`, verifies the enclave's document, and opens an encrypted session.
    /// Nothing of any input is sent before the document verified.
    fn connect(&self, py: Python<'_>, function_id: String) -> PyResult<Session> {
        let client = self.inner.clone();
        let session = wait(py, async move { client.connect(function_id.as_str()).await })?;
        Ok(Session::new(session))
    }

    /// As `connect`, as an awaitable for asyncio.
    fn connect_async<'py>(&self, py: Python<'py>, function_id: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            match client.connect(function_id.as_str()).await {
                Ok(s) => Ok(Session::new(s)),
                Err(e) => Err(Python::attach(|py| errors::to_py(py, e))),
            }
        })
    }

    /// Connects with Cape's protocol (`name` or `user/name`) and verifies the enclave's document
    /// against this client's policy (the checksum pin looked up under `name`).
    fn connect_cape(&self, py: Python<'_>, function: String) -> PyResult<CapeSession> {
        let client = self.inner.clone();
        let session = wait(py, async move { client.connect_cape(&function).await })?;
        Ok(CapeSession { inner: Arc::new(tokio::sync::Mutex::new(Some(session))) })
    }

    /// Fetches the enclave's document over a fresh nonce and returns it verified; sends no input.
    fn fetch_attestation(&self, py: Python<'_>, function_id: String) -> PyResult<VerifiedDocument> {
        let client = self.inner.clone();
        wait(py, async move { client.fetch_attestation(function_id.as_str()).await }).map(VerifiedDocument::new)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        false
    }

    fn __repr__(&self) -> String {
        format!("Client(policy={} measurement sets)", self.inner.policy().measurement_sets().len())
    }
}

/// An attested, encrypted session with one function in one enclave. Invocations may overlap (from
/// threads, or many `invoke_async` at once): they pipeline over the one connection.
#[pyclass(module = "enclave_sdk", frozen)]
pub(crate) struct Session {
    // None once closed. An Arc, so an invocation in flight keeps the session while close waits for it.
    inner: Mutex<Option<Arc<RustSession>>>,
    document: enclave_sdk::attestation::AttestedDocument,
    function_id: String,
}

impl Session {
    fn new(session: RustSession) -> Self {
        Self {
            document: session.attestation().clone(),
            function_id: session.function_id().as_str().to_owned(),
            inner: Mutex::new(Some(Arc::new(session))),
        }
    }

    fn session(&self) -> Result<Arc<RustSession>, Error> {
        let guard = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.clone().ok_or(Error::Session(RustSessionError::Closed))
    }

    fn take(&self) -> Option<Arc<RustSession>> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }
}

/// Closes `session` once no invocation holds it any more (each is bounded by the idle timeout).
async fn close_when_idle(mut session: Arc<RustSession>) -> Result<(), Error> {
    loop {
        match Arc::try_unwrap(session) {
            Ok(s) => return s.close().await,
            Err(shared) => {
                session = shared;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

#[pymethods]
impl Session {
    /// Sends `data` to the function and returns its whole output.
    fn invoke(&self, py: Python<'_>, data: PyBackedBytes) -> PyResult<Py<PyBytes>> {
        let session = self.session().map_err(|e| errors::to_py(py, e))?;
        let out = wait(py, async move { session.invoke(&data).await })?;
        Ok(bytes(py, &out))
    }

    /// As `invoke`, as an awaitable for asyncio; many may be in flight on one session.
    fn invoke_async<'py>(&self, py: Python<'py>, data: PyBackedBytes) -> PyResult<Bound<'py, PyAny>> {
        let session = self.session();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let result = match session {
                Ok(s) => s.invoke(&data).await,
                Err(e) => Err(e),
            };
            Python::attach(|py| match result {
                Ok(out) => Ok(bytes(py, &out)),
                Err(e) => Err(errors::to_py(py, e)),
            })
        })
    }

    /// Streams `source` (a binary file object: `read(n)`) through the function into `sink` (`write(b)`)
    /// in bounded memory; returns the number of output bytes written. `progress(sent, received)` is
    /// called as data moves.
    #[pyo3(signature = (source, sink, progress = None))]
    fn invoke_stream(
        &self,
        py: Python<'_>,
        source: Py<PyAny>,
        sink: Py<PyAny>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<u64> {
        let session = self.session().map_err(|e| errors::to_py(py, e))?;
        let failure: Arc<Mutex<Option<PyErr>>> = Arc::new(Mutex::new(None));
        let reader = PyReader { source, failure: failure.clone() };
        let writer = PyWriter { sink, failure: failure.clone() };
        let report = failure.clone();
        let result = wait(py, async move {
            session
                .invoke_stream(reader, writer, move |p| {
                    if let Some(cb) = progress.as_ref() {
                        Python::attach(|py| {
                            if let Err(e) = cb.call1(py, (p.sent, p.received)) {
                                keep_first(&report, e);
                            }
                        });
                    }
                })
                .await
        });
        // A Python error in the source, sink or callback is what the caller needs to see, not the
        // SDK's LocalIo that it caused.
        if let Some(e) = failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            return Err(e);
        }
        result
    }

    /// Closes the session with an authenticated end (after invocations in flight finish).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        match self.take() {
            Some(s) => wait(py, close_when_idle(s)),
            None => Ok(()),
        }
    }

    /// As `close`, as an awaitable for asyncio.
    fn close_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let session = self.take();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let result = match session {
                Some(s) => close_when_idle(s).await,
                None => Ok(()),
            };
            result.map_err(|e| Python::attach(|py| errors::to_py(py, e)))
        })
    }

    /// The verified attestation document this session was opened on.
    #[getter]
    fn attestation(&self) -> VerifiedDocument {
        VerifiedDocument::new(self.document.clone())
    }

    /// The function this session invokes.
    #[getter]
    fn function_id(&self) -> &str {
        &self.function_id
    }

    /// Invocations started on this session so far.
    #[getter]
    fn invocations(&self) -> u64 {
        self.session().map(|s| s.invocations()).unwrap_or(0)
    }

    /// Whether `close` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_none()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let me = slf.into_any().unbind();
        pyo3_async_runtimes::tokio::future_into_py(py, async move { Ok(me) })
    }

    #[pyo3(signature = (*_exc))]
    fn __aexit__<'py>(&self, py: Python<'py>, _exc: &Bound<'py, pyo3::types::PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        let session = self.take();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            if let Some(s) = session {
                close_when_idle(s).await.map_err(|e| Python::attach(|py| errors::to_py(py, e)))?;
            }
            Ok(false)
        })
    }

    fn __repr__(&self) -> String {
        format!("Session(function_id={:?}, closed={})", self.function_id, self.closed())
    }
}

fn keep_first(slot: &Mutex<Option<PyErr>>, e: PyErr) {
    let mut guard = slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if guard.is_none() {
        *guard = Some(e);
    }
}

/// A Python binary file object as the SDK's input stream. Reads run on the blocking call's own thread
/// (never a runtime worker), holding the GIL only for the read itself.
struct PyReader {
    source: Py<PyAny>,
    failure: Arc<Mutex<Option<PyErr>>>,
}

impl AsyncRead for PyReader {
    fn poll_read(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let want = buf.remaining();
        let result = Python::attach(|py| -> PyResult<()> {
            let chunk = self.source.call_method1(py, "read", (want,))?;
            let chunk = chunk.bind(py);
            let data = chunk
                .cast::<PyBytes>()
                .map_err(|_| PyTypeError::new_err("invoke_stream: source.read() must return bytes"))?
                .as_bytes();
            if data.len() > want {
                return Err(PyTypeError::new_err(format!(
                    "invoke_stream: source.read({want}) returned {} bytes",
                    data.len()
                )));
            }
            buf.put_slice(data);
            Ok(())
        });
        Poll::Ready(result.map_err(|e| {
            keep_first(&self.failure, e);
            std::io::Error::other("source failed")
        }))
    }
}

/// A Python binary file object as the SDK's output stream.
struct PyWriter {
    sink: Py<PyAny>,
    failure: Arc<Mutex<Option<PyErr>>>,
}

impl AsyncWrite for PyWriter {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let result = Python::attach(|py| -> PyResult<()> {
            // A file object may write fewer bytes than given (raw I/O); loop until all are taken.
            let mut rest = data;
            while !rest.is_empty() {
                let n = self.sink.call_method1(py, "write", (PyBytes::new(py, rest),))?;
                let n: Option<usize> = n.extract(py)?;
                match n {
                    // Some file-likes return None from write: taken as having written everything.
                    None => break,
                    Some(0) => return Err(PyTypeError::new_err("invoke_stream: sink.write() wrote nothing")),
                    Some(n) => rest = rest.get(n..).unwrap_or_default(),
                }
            }
            Ok(())
        });
        Poll::Ready(result.map(|()| data.len()).map_err(|e| {
            keep_first(&self.failure, e);
            std::io::Error::other("sink failed")
        }))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let result = Python::attach(|py| -> PyResult<()> {
            if self.sink.bind(py).hasattr("flush")? {
                self.sink.call_method0(py, "flush")?;
            }
            Ok(())
        });
        Poll::Ready(result.map_err(|e| {
            keep_first(&self.failure, e);
            std::io::Error::other("sink flush failed")
        }))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// A session in Cape's protocol (`Client.connect_cape`): invocations run one at a time, and outputs
/// return under TLS alone (PROTOCOL.md section 9.3).
#[pyclass(module = "enclave_sdk", frozen)]
pub(crate) struct CapeSession {
    inner: Arc<tokio::sync::Mutex<Option<RustCapeSession>>>,
}

#[pymethods]
impl CapeSession {
    /// Seals `data` to the attested key, sends it, and returns the function's result.
    fn invoke(&self, py: Python<'_>, data: PyBackedBytes) -> PyResult<Py<PyBytes>> {
        let inner = self.inner.clone();
        let out = wait(py, async move {
            let mut guard = inner.lock().await;
            match guard.as_mut() {
                Some(s) => s.invoke(&data).await,
                None => Err(Error::Session(RustSessionError::Closed)),
            }
        })?;
        Ok(bytes(py, &out))
    }

    /// As `invoke`, as an awaitable for asyncio (invocations still run one at a time).
    fn invoke_async<'py>(&self, py: Python<'py>, data: PyBackedBytes) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let mut guard = inner.lock().await;
            let result = match guard.as_mut() {
                Some(s) => s.invoke(&data).await,
                None => Err(Error::Session(RustSessionError::Closed)),
            };
            Python::attach(|py| match result {
                Ok(out) => Ok(bytes(py, &out)),
                Err(e) => Err(errors::to_py(py, e)),
            })
        })
    }

    /// The verified attestation document (None once closed).
    #[getter]
    fn attestation(&self, py: Python<'_>) -> PyResult<Option<VerifiedDocument>> {
        let inner = self.inner.clone();
        let doc = wait(py, async move { Ok(inner.lock().await.as_ref().map(|s| s.attestation().clone())) })?;
        Ok(doc.map(VerifiedDocument::new))
    }

    /// Closes the connection.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let inner = self.inner.clone();
        wait(py, async move {
            match inner.lock().await.take() {
                Some(s) => s.close().await,
                None => Ok(()),
            }
        })
    }

    /// As `close`, as an awaitable for asyncio.
    fn close_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let taken = inner.lock().await.take();
            match taken {
                Some(s) => s.close().await.map_err(|e| Python::attach(|py| errors::to_py(py, e))),
                None => Ok(()),
            }
        })
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}

/// Connects to the enclave the environment names (see `Client.from_env`), invokes `function_id` on
/// `data`, closes, and returns the output.
#[pyfunction]
pub(crate) fn connect_and_invoke(py: Python<'_>, function_id: String, data: PyBackedBytes) -> PyResult<Py<PyBytes>> {
    let out = wait(py, async move { enclave_sdk::connect_and_invoke(function_id.as_str(), &data).await })?;
    Ok(bytes(py, &out))
}
