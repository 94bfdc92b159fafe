//! The resource limits every invocation of a mock function runs under.
//!
//! Input: the operator's configuration (trusted). Output: values the built-ins and user functions
//! enforce.

use std::time::Duration;

/// Resource limits applied to every invocation.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mock_enclave::functions::Limits;
/// let limits = Limits::new(Duration::from_secs(5), 1 << 20, 1 << 20);
/// assert_eq!(limits.timeout, Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Wall-time limit of a user function, and the longest `sleep-ms` accepts.
    pub timeout: Duration,
    /// Most output bytes a user function may write.
    pub max_output: usize,
    /// Most input bytes a function that needs all of its input (`mean`, `sleep-ms`) buffers.
    pub max_buffered_input: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(30), max_output: 16 << 20, max_buffered_input: 16 << 20 }
    }
}

impl Limits {
    /// Limits with the given values.
    pub fn new(timeout: Duration, max_output: usize, max_buffered_input: usize) -> Self {
        Self { timeout, max_output, max_buffered_input }
    }
}
