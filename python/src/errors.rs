//! The SDK's errors as Python exceptions: one class per layer of `enclave_sdk::Error`, the message its
//! `Display` (which the SDK keeps free of input, output, keys and tokens, with attacker text escaped),
//! and the values a caller branches on as attributes.
//!
//! Every exception carries `kind`: the snake_case name of the innermost typed variant (for example
//! `pcr_not_allowed`, `plaintext_transport`, `handshake_timeout`). It is read from the variant's
//! `Debug` name only (never from its fields, which may hold attacker-chosen text), so variants that
//! later SDK versions add are named without a change here.

use enclave_sdk::attestation::{
    AttestationError as RustAttestationError, PolicyError as RustPolicyError, PolicyFileError,
};
use enclave_sdk::error::ConfigError as RustConfigError;
use enclave_sdk::{Error, MeasurementError};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::BoundObject;

pyo3::create_exception!(
    enclave_sdk,
    EnclaveError,
    PyException,
    "Every error the SDK raises. `kind` names the check or condition (snake_case)."
);
pyo3::create_exception!(enclave_sdk, ConfigError, EnclaveError, "The SDK was configured with something unusable.");
pyo3::create_exception!(
    enclave_sdk,
    PolicyError,
    ConfigError,
    "The policy cannot be built: it does not pin the enclave image, a pin does not parse, or the policy file is \
     unusable."
);
pyo3::create_exception!(
    enclave_sdk,
    ConnectError,
    EnclaveError,
    "The enclave could not be reached, or refused the connection before attesting."
);
pyo3::create_exception!(
    enclave_sdk,
    AttestationError,
    EnclaveError,
    "The enclave's attestation document was refused: nothing of the input was sent. `check` names the failed \
     check, `values` holds what it compared."
);
pyo3::create_exception!(
    enclave_sdk,
    SessionError,
    EnclaveError,
    "The session broke (the connection or a record failed), or was closed."
);
pyo3::create_exception!(
    enclave_sdk,
    FunctionError,
    EnclaveError,
    "The function ran and reported an error (`function_id`, `code`, `message`); the session is still usable."
);
pyo3::create_exception!(enclave_sdk, LimitError, EnclaveError, "A limit, the client's or the enclave's, was exceeded.");
pyo3::create_exception!(
    enclave_sdk,
    StreamError,
    EnclaveError,
    "Reading the caller's source or writing the caller's sink failed during invoke_stream."
);

/// The snake_case names of the leading variants in a `Debug` rendering: `Chain(Expired { .. })` gives
/// `["chain", "expired"]`. Only identifiers at the start and right after `(` are read, so field
/// contents never reach the result.
pub(crate) fn variant_names(debug: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = debug;
    loop {
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let (ident, after) = rest.split_at(end);
        if ident.is_empty() || !ident.starts_with(|c: char| c.is_ascii_uppercase()) {
            break;
        }
        names.push(snake(ident));
        match after.strip_prefix('(') {
            Some(inner) => rest = inner,
            None => break,
        }
    }
    names
}

fn snake(ident: &str) -> String {
    let mut out = String::with_capacity(ident.len().saturating_add(4));
    for (i, c) in ident.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn kind_of(value: &impl std::fmt::Debug) -> String {
    variant_names(&format!("{value:?}")).into_iter().next().unwrap_or_default()
}

/// Builds the exception of class `E` with `message` and sets `attrs` on it.
fn raise<E: pyo3::PyTypeInfo>(py: Python<'_>, message: String, attrs: &[(&str, Py<PyAny>)]) -> PyErr {
    let err = PyErr::from_type(py.get_type::<E>(), (message,));
    let value = err.value(py);
    for (name, v) in attrs {
        // Setting an attribute on a fresh exception instance cannot fail short of memory exhaustion;
        // the exception is raised either way.
        let _ = value.setattr(*name, v.bind(py));
    }
    err
}

fn obj<'py, T: IntoPyObject<'py>>(py: Python<'py>, v: T) -> Py<PyAny> {
    match v.into_pyobject(py) {
        Ok(b) => b.into_any().unbind(),
        Err(_) => py.None(),
    }
}

/// The Python exception for an SDK error.
pub(crate) fn to_py(py: Python<'_>, error: Error) -> PyErr {
    let message = error.to_string();
    match &error {
        Error::Attestation(a) => attestation(py, message, a),
        Error::Config(c) => config(py, message, c),
        Error::Connect(c) => {
            let mut attrs = vec![("kind", obj(py, kind_of(c)))];
            if let enclave_sdk::error::ConnectError::Http { status } = c {
                attrs.push(("status", obj(py, *status)));
            }
            raise::<ConnectError>(py, message, &attrs)
        }
        Error::Session(s) => raise::<SessionError>(py, message, &[("kind", obj(py, kind_of(s)))]),
        Error::Limit(l) => raise::<LimitError>(py, message, &[("kind", obj(py, kind_of(l)))]),
        Error::Function { function_id, code, message: text } => raise::<FunctionError>(
            py,
            message,
            &[
                ("kind", obj(py, "function")),
                ("function_id", obj(py, function_id.as_str())),
                ("code", obj(py, *code)),
                // The function's own text: not in the message, since a function may echo its input.
                ("message", obj(py, text.as_str())),
            ],
        ),
        Error::LocalIo { kind } => raise::<StreamError>(
            py,
            message,
            &[("kind", obj(py, "local_io")), ("io_kind", obj(py, format!("{kind:?}")))],
        ),
        other => raise::<EnclaveError>(py, message, &[("kind", obj(py, kind_of(other)))]),
    }
}

fn config(py: Python<'_>, message: String, error: &RustConfigError) -> PyErr {
    match error {
        RustConfigError::Policy(p) | RustConfigError::EnvImageNotPinned { source: p } => policy_attrs(py, message, p),
        RustConfigError::EnvPolicyFile(f) => policy_file_attrs(py, message, f),
        other => raise::<ConfigError>(py, message, &[("kind", obj(py, kind_of(other)))]),
    }
}

/// A policy the builder refused, as `PolicyError` (kind `image_not_pinned`, with what was pinned).
pub(crate) fn policy(py: Python<'_>, error: &RustPolicyError) -> PyErr {
    policy_attrs(py, error.to_string(), error)
}

fn policy_attrs(py: Python<'_>, message: String, error: &RustPolicyError) -> PyErr {
    let mut attrs = vec![("kind", obj(py, kind_of(error)))];
    if let RustPolicyError::ImageNotPinned { set, pins, zeroed, checksum_pinned } = error {
        let ints = |l: &[enclave_sdk::PcrIndex]| l.iter().map(|i| u32::from(i.get())).collect::<Vec<u32>>();
        attrs.push(("set", obj(py, *set)));
        attrs.push(("pins", obj(py, ints(pins))));
        attrs.push(("zeroed", obj(py, ints(zeroed))));
        attrs.push(("checksum_pinned", obj(py, *checksum_pinned)));
    }
    raise::<PolicyError>(py, message, &attrs)
}

/// A policy file that cannot be used. A file whose pins the builder refused is the builder's error
/// (kind `image_not_pinned`), with the file named in the message.
pub(crate) fn policy_file(py: Python<'_>, error: &PolicyFileError) -> PyErr {
    policy_file_attrs(py, error.to_string(), error)
}

fn policy_file_attrs(py: Python<'_>, message: String, error: &PolicyFileError) -> PyErr {
    match error {
        PolicyFileError::Policy { source, .. } => policy_attrs(py, message, source),
        PolicyFileError::Invalid { line, column, key, .. } => raise::<PolicyError>(
            py,
            message,
            &[
                ("kind", obj(py, "invalid")),
                ("line", obj(py, *line)),
                ("column", obj(py, *column)),
                ("key", obj(py, key.clone())),
            ],
        ),
        other => raise::<PolicyError>(py, message, &[("kind", obj(py, kind_of(other)))]),
    }
}

/// A pin given from Python that does not parse (`what` says which argument).
pub(crate) fn measurement(py: Python<'_>, what: &str, error: &MeasurementError) -> PyErr {
    raise::<PolicyError>(py, format!("{what}: {error}"), &[("kind", obj(py, kind_of(error)))])
}

/// A certificate given as a trust root that is not usable.
pub(crate) fn root(py: Python<'_>, what: &str, error: &RustAttestationError) -> PyErr {
    raise::<PolicyError>(
        py,
        format!("{what}: {error}"),
        &[("kind", obj(py, "root")), ("check", obj(py, kind_of(error)))],
    )
}

/// A refusal of the document: `check` (the variant, e.g. `pcr_not_allowed`), `detail` (the inner
/// variant for chain, COSE, payload and user-data failures, else `None`) and `values`, a dict of what
/// the check compared, each value also an attribute of its own. Hex for PCRs, nonces and checksums,
/// as the CLI prints them.
fn attestation(py: Python<'_>, message: String, error: &RustAttestationError) -> PyErr {
    let names = variant_names(&format!("{error:?}"));
    let check = names.first().cloned().unwrap_or_default();
    let detail = names.get(1).cloned();
    let hex = |b: &[u8]| hex::encode(b);
    let values: Vec<(&str, Py<PyAny>)> = match error {
        RustAttestationError::PcrNotAllowed { index, found, expected } => vec![
            ("index", obj(py, index.get())),
            ("found", obj(py, found.to_string())),
            ("expected", obj(py, expected.to_string())),
        ],
        RustAttestationError::PcrMissing { index } => vec![("index", obj(py, index.get()))],
        RustAttestationError::MeasurementsNotAllowed { mismatches } => {
            vec![("mismatches", obj(py, mismatches.iter().map(ToString::to_string).collect::<Vec<_>>()))]
        }
        RustAttestationError::NonceMissing { expected } => vec![("expected", obj(py, hex(expected)))],
        RustAttestationError::NonceMismatch { expected, found } => {
            vec![("expected", obj(py, hex(expected))), ("found", obj(py, hex(found)))]
        }
        RustAttestationError::Stale { age_s, max_s, timestamp_ms, now } => vec![
            ("age_s", obj(py, *age_s)),
            ("max_s", obj(py, *max_s)),
            ("timestamp_ms", obj(py, *timestamp_ms)),
            ("now", obj(py, now.as_secs())),
        ],
        RustAttestationError::TimestampInFuture { timestamp_ms, now, skew_s } => vec![
            ("timestamp_ms", obj(py, *timestamp_ms)),
            ("now", obj(py, now.as_secs())),
            ("skew_s", obj(py, *skew_s)),
        ],
        RustAttestationError::FunctionIdMismatch { expected, found } => {
            vec![("expected", obj(py, expected.as_str())), ("found", obj(py, found.as_str()))]
        }
        RustAttestationError::NoChecksumForFunction { function_id } => {
            vec![("function_id", obj(py, function_id.as_ref().map(|f| f.as_str().to_owned())))]
        }
        RustAttestationError::ChecksumMismatch { expected, found } => {
            vec![("expected", obj(py, expected.to_string())), ("found", obj(py, found.to_string()))]
        }
        RustAttestationError::DocumentTooLarge { len, max } => vec![("len", obj(py, *len)), ("max", obj(py, *max))],
        RustAttestationError::PublicKeyLength { len } => vec![("len", obj(py, *len))],
        _ => Vec::new(),
    };
    let dict = PyDict::new(py);
    for (k, v) in &values {
        let _ = dict.set_item(*k, v.bind(py));
    }
    let mut attrs: Vec<(&str, Py<PyAny>)> = vec![
        ("kind", obj(py, check.clone())),
        ("check", obj(py, check)),
        ("detail", obj(py, detail)),
        ("values", dict.into_any().unbind()),
    ];
    attrs.extend(values);
    raise::<AttestationError>(py, message, &attrs)
}

/// Registers the exception classes on the module (under their Python names).
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("EnclaveError", py.get_type::<EnclaveError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("PolicyError", py.get_type::<PolicyError>())?;
    m.add("ConnectError", py.get_type::<ConnectError>())?;
    m.add("AttestationError", py.get_type::<AttestationError>())?;
    m.add("SessionError", py.get_type::<SessionError>())?;
    m.add("FunctionError", py.get_type::<FunctionError>())?;
    m.add("LimitError", py.get_type::<LimitError>())?;
    m.add("StreamError", py.get_type::<StreamError>())?;
    Ok(())
}
