//! `enclave_sdk._native`: the enclave SDK for Python. The Python package `enclave_sdk` re-exports it;
//! `python/enclave_sdk/_native.pyi` documents it for type checkers.
//!
//! This crate binds `enclave-sdk`; it decides nothing about trust itself. Every check (what a policy
//! must pin, whether a document verifies, whether it binds this connection) is the SDK's, made in the
//! one place the SDK makes it; here are only conversions of Python values into the SDK's types, through
//! the SDK's own parsers, and of the SDK's errors into Python exceptions.

#![forbid(unsafe_code)]

mod client;
mod errors;
mod policy;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<policy::Policy>()?;
    m.add_class::<policy::VerifiedDocument>()?;
    m.add_class::<client::Client>()?;
    m.add_class::<client::Session>()?;
    m.add_class::<client::CapeSession>()?;
    m.add_function(wrap_pyfunction!(policy::verify, m)?)?;
    m.add_function(wrap_pyfunction!(client::connect_and_invoke, m)?)?;
    errors::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
