//! `Policy`, `VerifiedDocument` and `verify`: the SDK's trust core as Python sees it. Nothing here
//! decides anything: every rule is `enclave_sdk::attestation`'s (`PolicyBuilder::build` for what must
//! be pinned, `Verifier::verify` for documents). This file only turns Python values into the SDK's
//! typed pins, through the same parsers the CLI and the policy file use.

use std::collections::BTreeMap;
use std::time::Duration;

use enclave_sdk::attestation::{AttestedDocument, Expected, Policy as RustPolicy, TrustRoot, UnixTime, Verifier};
use enclave_sdk::{FunctionChecksum, FunctionId, MeasurementSet};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::errors;

/// What the caller trusts: trust root, allowed measurement sets (releases), function checksums,
/// freshness. Built from keyword arguments, a policy file, or the environment; every way goes through
/// the SDK's one rule: each allowed set pins PCR0, PCR2 or PCR8 to a non-zero value, unless
/// `accept_any_enclave=True`.
#[pyclass(module = "enclave_sdk", frozen)]
#[derive(Clone)]
pub(crate) struct Policy {
    pub(crate) inner: RustPolicy,
}

/// A PCR value from Python: hex text or raw bytes.
fn pcr_text(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = value.cast::<PyString>() {
        return s.extract::<String>();
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(hex::encode(b.as_bytes()));
    }
    Err(PyTypeError::new_err("a PCR value is hex text (str) or raw bytes"))
}

/// One allowed set from Python: `"IDX=HEX,IDX=HEX"` (the CLI's syntax) or a dict `{index: value}`.
/// Both become the text the SDK's own parser reads, so the rules and the errors are the CLI's.
pub(crate) fn measurement_set(py: Python<'_>, what: &str, value: &Bound<'_, PyAny>) -> PyResult<MeasurementSet> {
    let text = if let Ok(s) = value.cast::<PyString>() {
        s.extract::<String>()?
    } else if let Ok(d) = value.cast::<PyDict>() {
        let mut parts = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            let index: String = if let Ok(i) = k.extract::<u8>() {
                i.to_string()
            } else if let Ok(s) = k.cast::<PyString>() {
                s.extract::<String>()?
            } else {
                return Err(PyTypeError::new_err(format!("{what}: a PCR index is an int (or its decimal text)")));
            };
            parts.push(format!("{index}={}", pcr_text(&v)?));
        }
        parts.join(",")
    } else {
        return Err(PyTypeError::new_err(format!(
            "{what}: a measurement set is \"IDX=HEX,...\" or a dict {{index: hex or bytes}}"
        )));
    };
    text.parse::<MeasurementSet>().map_err(|e| errors::measurement(py, what, &e))
}

fn checksum(py: Python<'_>, what: &str, value: &Bound<'_, PyAny>) -> PyResult<FunctionChecksum> {
    pcr_text(value)?.parse::<FunctionChecksum>().map_err(|e| errors::measurement(py, what, &e))
}

fn seconds(what: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| PyValueError::new_err(format!("{what} must be a finite number of seconds >= 0")))
}

/// A certificate from Python: PEM text, or DER or PEM bytes.
pub(crate) fn certificate_der(what: &str, value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    use rustls_pki_types::pem::PemObject;
    let bytes: Vec<u8> = if let Ok(s) = value.cast::<PyString>() {
        s.extract::<String>()?.into_bytes()
    } else if let Ok(b) = value.cast::<PyBytes>() {
        b.as_bytes().to_vec()
    } else {
        return Err(PyTypeError::new_err(format!("{what}: a certificate is PEM text or DER/PEM bytes")));
    };
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        rustls_pki_types::CertificateDer::from_pem_slice(&bytes)
            .map(|c| c.as_ref().to_vec())
            .map_err(|e| PyValueError::new_err(format!("{what}: not a PEM certificate: {e}")))
    } else {
        Ok(bytes)
    }
}

#[pymethods]
impl Policy {
    /// Builds a policy.
    ///
    /// `measurements`: the allowed releases, each `"IDX=HEX,..."` or `{index: hex or bytes}`; a document
    /// must match every PCR of one. `root_pem`: the trust root (PEM text or bytes; default AWS Nitro
    /// Enclaves Root-G1). `function_checksum`: the checksum any attested function must report;
    /// `function_checksums`: per function id. `max_document_age` and `clock_skew` in seconds.
    #[new]
    #[pyo3(signature = (*, measurements = None, root_pem = None, function_checksum = None, function_checksums = None,
        max_document_age = None, clock_skew = None, allow_debug = false, accept_any_enclave = false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        measurements: Option<Vec<Bound<'_, PyAny>>>,
        root_pem: Option<Bound<'_, PyAny>>,
        function_checksum: Option<Bound<'_, PyAny>>,
        function_checksums: Option<Bound<'_, PyDict>>,
        max_document_age: Option<f64>,
        clock_skew: Option<f64>,
        allow_debug: bool,
        accept_any_enclave: bool,
    ) -> PyResult<Self> {
        let mut builder = RustPolicy::builder();
        if let Some(root) = root_pem {
            let der = certificate_der("root_pem", &root)?;
            builder = builder.trust_root(TrustRoot::from_der(der).map_err(|e| errors::root(py, "root_pem", &e))?);
        }
        for (i, set) in measurements.unwrap_or_default().iter().enumerate() {
            builder = builder.allow_measurements(measurement_set(py, &format!("measurements[{i}]"), set)?);
        }
        if let Some(c) = function_checksum {
            builder = builder.function_checksum(checksum(py, "function_checksum", &c)?);
        }
        if let Some(map) = function_checksums {
            for (k, v) in map.iter() {
                let id: String = k.extract()?;
                let what = format!("function_checksums[{id:?}]");
                let function = FunctionId::new(id).map_err(|e| errors::measurement(py, &what, &e))?;
                builder = builder.function_checksum_for(function, checksum(py, &what, &v)?);
            }
        }
        if let Some(age) = max_document_age {
            builder = builder.max_document_age(seconds("max_document_age", age)?);
        }
        if let Some(skew) = clock_skew {
            builder = builder.clock_skew(seconds("clock_skew", skew)?);
        }
        if allow_debug {
            builder = builder.dangerous_allow_debug();
        }
        if accept_any_enclave {
            builder = builder.dangerous_accept_any_enclave();
        }
        builder.build().map(|inner| Self { inner }).map_err(|e| errors::policy(py, &e))
    }

    /// Reads a policy file (TOML; `enclave policy check` validates one).
    #[staticmethod]
    fn from_file(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        RustPolicy::from_file(path).map(|inner| Self { inner }).map_err(|e| errors::policy_file(py, &e))
    }

    /// Parses a policy file's text (a relative `root_pem` is relative to the working directory).
    #[staticmethod]
    fn from_toml(py: Python<'_>, text: &str) -> PyResult<Self> {
        RustPolicy::from_toml_str(text).map(|inner| Self { inner }).map_err(|e| errors::policy_file(py, &e))
    }

    /// The policy the environment gives, read as `Client.from_env` reads it: `ENCLAVE_POLICY` (a
    /// file), or `ENCLAVE_PCRS` with `ENCLAVE_ROOT_PEM`, `ENCLAVE_FUNCTION_CHECKSUM` and
    /// `ENCLAVE_ALLOW_DEBUG`. `ENCLAVE_URL` is not needed.
    #[staticmethod]
    fn from_env(py: Python<'_>) -> PyResult<Self> {
        env_policy(py, |name| std::env::var(name).ok())
    }

    /// The allowed measurement sets, each a dict {index: value bytes}.
    #[getter]
    fn measurement_sets<'py>(&self, py: Python<'py>) -> Vec<BTreeMap<u8, Bound<'py, PyBytes>>> {
        self.inner
            .measurement_sets()
            .iter()
            .map(|set| set.iter().map(|(i, v)| (i.get(), PyBytes::new(py, v.as_bytes()))).collect())
            .collect()
    }

    /// The checksum every attested function must report, as hex (None if not pinned).
    #[getter]
    fn function_checksum(&self) -> Option<String> {
        self.inner.function_checksum().map(|c| c.to_string())
    }

    /// The per-function checksum pins, {function id: hex}.
    #[getter]
    fn function_checksums(&self) -> BTreeMap<String, String> {
        self.inner.function_checksums().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_string())).collect()
    }

    /// The SHA-256 of each trust root's DER, as hex.
    #[getter]
    fn trust_root_sha256(&self) -> Vec<String> {
        self.inner.trust_roots().iter().map(|r| hex::encode(r.sha256())).collect()
    }

    /// Maximum document age, seconds.
    #[getter]
    fn max_document_age(&self) -> f64 {
        self.inner.max_document_age().as_secs_f64()
    }

    /// Allowed clock skew, seconds.
    #[getter]
    fn clock_skew(&self) -> f64 {
        self.inner.clock_skew().as_secs_f64()
    }

    /// Whether debug-mode enclaves are accepted (insecure).
    #[getter]
    fn allows_debug(&self) -> bool {
        self.inner.allows_debug()
    }

    /// Whether the image rule was waived (`accept_any_enclave=True`).
    #[getter]
    fn accepts_any_enclave(&self) -> bool {
        self.inner.accepts_any_enclave()
    }

    fn __repr__(&self) -> String {
        format!(
            "Policy(measurement_sets={}, function_checksums={}, allows_debug={}, accepts_any_enclave={})",
            self.inner.measurement_sets().len(),
            self.inner.function_checksums().len() + usize::from(self.inner.function_checksum().is_some()),
            self.inner.allows_debug(),
            self.inner.accepts_any_enclave()
        )
    }
}

/// The environment's policy through the SDK's one environment reader (`Client::from_vars`): the URL
/// and token are not the policy's business, so a loopback placeholder stands in for the URL and no
/// token is read.
pub(crate) fn env_policy(py: Python<'_>, get: impl Fn(&str) -> Option<String>) -> PyResult<Policy> {
    let client = enclave_sdk::Client::from_vars(|name| match name {
        "ENCLAVE_URL" => Some("ws://127.0.0.1:1".to_owned()),
        "ENCLAVE_TOKEN" => None,
        other => get(other).filter(|v| !v.is_empty()),
    })
    .map_err(|e| errors::to_py(py, e))?;
    Ok(Policy { inner: client.policy().clone() })
}

/// A document that verified: what the enclave attested, every field checked.
#[pyclass(module = "enclave_sdk", frozen)]
pub(crate) struct VerifiedDocument {
    inner: AttestedDocument,
}

impl VerifiedDocument {
    pub(crate) fn new(inner: AttestedDocument) -> Self {
        Self { inner }
    }
}

fn opt_bytes<'py>(py: Python<'py>, b: Option<&[u8]>) -> Option<Bound<'py, PyBytes>> {
    b.map(|b| PyBytes::new(py, b))
}

#[pymethods]
impl VerifiedDocument {
    /// The NSM module id (instance and enclave id).
    #[getter]
    fn module_id(&self) -> &str {
        self.inner.module_id()
    }

    /// When the NSM signed, milliseconds since the Unix epoch.
    #[getter]
    fn timestamp_ms(&self) -> u64 {
        self.inner.timestamp_ms()
    }

    /// The digest algorithm of the PCRs (`SHA384`).
    #[getter]
    fn digest(&self) -> &str {
        self.inner.digest()
    }

    /// Every PCR the document carries, {index: value bytes}.
    #[getter]
    fn pcrs<'py>(&self, py: Python<'py>) -> BTreeMap<u8, Bound<'py, PyBytes>> {
        self.inner.pcrs().iter().map(|(i, v)| (i.get(), PyBytes::new(py, v.as_bytes()))).collect()
    }

    /// The document's public key, if any.
    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        opt_bytes(py, self.inner.public_key())
    }

    /// The document's user data, if any.
    #[getter]
    fn user_data<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        opt_bytes(py, self.inner.user_data())
    }

    /// The document's nonce, if any.
    #[getter]
    fn nonce<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        opt_bytes(py, self.inner.nonce())
    }

    /// The function checksum the user data claims (this protocol's claim, or Cape's), as hex.
    #[getter]
    fn claimed_checksum(&self) -> Option<String> {
        self.inner.claimed_checksum().map(|c| c.to_string())
    }

    /// The exact bytes that verified.
    #[getter]
    fn raw<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.raw())
    }

    fn __repr__(&self) -> String {
        format!(
            "VerifiedDocument(module_id={:?}, timestamp_ms={}, pcrs={})",
            self.inner.module_id(),
            self.inner.timestamp_ms(),
            self.inner.pcrs().len()
        )
    }
}

/// `at` as the SDK's time: None (now), seconds since the epoch (int or float), or a datetime.
fn time_of(at: Option<&Bound<'_, PyAny>>) -> PyResult<UnixTime> {
    let Some(at) = at else { return Ok(UnixTime::now()) };
    let secs: f64 = if at.hasattr("timestamp")? { at.call_method0("timestamp")?.extract()? } else { at.extract()? };
    if !secs.is_finite() || secs < 0.0 {
        return Err(PyValueError::new_err("`at` must be a time at or after the Unix epoch"));
    }
    // Whole seconds, as the CLI's --at; a float beyond u64 saturates, and such a time fails the chain.
    Ok(UnixTime::from_secs(secs as u64))
}

/// Verifies a document obtained elsewhere against `policy` at `at`.
#[pyfunction]
#[pyo3(signature = (document, policy, at = None, *, nonce = None, function_id = None))]
pub(crate) fn verify(
    py: Python<'_>,
    document: PyBackedBytes,
    policy: &Policy,
    at: Option<Bound<'_, PyAny>>,
    nonce: Option<PyBackedBytes>,
    function_id: Option<String>,
) -> PyResult<VerifiedDocument> {
    let now = time_of(at.as_ref())?;
    let function =
        function_id.map(|f| FunctionId::new(f).map_err(|e| errors::measurement(py, "function_id", &e))).transpose()?;
    let verifier = Verifier::new(policy.inner.clone());
    let result = py.detach(|| {
        let mut expected = Expected::none();
        if let Some(n) = nonce.as_deref() {
            expected = expected.with_nonce(n);
        }
        if let Some(f) = function.as_ref() {
            expected = expected.with_function_id(f);
        }
        verifier.verify(&document, &expected, now)
    });
    result.map(VerifiedDocument::new).map_err(|e| errors::to_py(py, e.into()))
}
