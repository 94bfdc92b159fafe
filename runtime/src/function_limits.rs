//! The limits every invocation of a function runs under, whoever wrote it: a directory's process, an
//! application's own handler ([`crate::Handler`]), or the mock's built-ins.
//!
//! Input: the operator's configuration (trusted). Output: values the functions enforce; a function
//! that exceeds one ends with [`crate::FunctionError::TimedOut`], [`crate::FunctionError::OutputTooLarge`]
//! or [`crate::FunctionError::InputTooLarge`], and the session goes on.

use std::time::Duration;

/// Resource limits applied to every invocation of a function.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use enclave_runtime::FunctionLimits;
/// let limits = FunctionLimits::new(Duration::from_secs(5), 1 << 20, 1 << 20);
/// assert_eq!(limits.timeout, Duration::from_secs(5));
/// assert_eq!(FunctionLimits::default().max_output, 16 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FunctionLimits {
    /// Wall time of one invocation (and the longest the mock's `sleep-ms` accepts).
    pub timeout: Duration,
    /// Most output bytes one invocation may produce.
    pub max_output: usize,
    /// Most input bytes a function that needs all of its input before it answers buffers.
    pub max_buffered_input: usize,
}

impl Default for FunctionLimits {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(30), max_output: 16 << 20, max_buffered_input: 16 << 20 }
    }
}

impl FunctionLimits {
    /// Limits with the given values.
    pub fn new(timeout: Duration, max_output: usize, max_buffered_input: usize) -> Self {
        Self { timeout, max_output, max_buffered_input }
    }
}
