//! `attestation::time`: the clock value every time-dependent check takes as a parameter.
//!
//! In: seconds since the Unix epoch, from the caller (tests pin it; [`UnixTime::now`] reads the system
//! clock at the edge). Out: a plain value. Decides nothing; `chain` and `policy` compare against it.
//! Calendar arithmetic is `der`'s (the same code that reads certificate validity), not ours.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use x509_cert::der::DateTime;

/// A point in time, in whole seconds since the Unix epoch (UTC).
///
/// Verification takes `now` as a value so that tests are deterministic and a caller can verify a
/// document "as of" a past moment (`enclave verify --at`).
///
/// # Examples
///
/// ```
/// use enclave_sdk::attestation::UnixTime;
/// let t = UnixTime::from_secs(1_676_033_041);
/// assert_eq!(t.to_rfc3339(), "2023-02-10T12:44:01Z");
/// assert!(UnixTime::now().as_secs() > t.as_secs());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(u64);

impl UnixTime {
    /// The time `secs` seconds after 1970-01-01T00:00:00Z.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = enclave_sdk::attestation::UnixTime::from_secs(0);
    /// assert_eq!(t.as_secs(), 0);
    /// ```
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// The system clock, now. A clock set before 1970 reads as the epoch itself, which every
    /// certificate validity check then rejects as "not yet valid" rather than panicking.
    ///
    /// # Examples
    ///
    /// ```
    /// let now = enclave_sdk::attestation::UnixTime::now(); // the system clock
    /// assert!(now.as_secs() > 1_700_000_000);
    /// ```
    pub fn now() -> Self {
        Self(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0))
    }

    /// Seconds since the epoch.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(enclave_sdk::attestation::UnixTime::from_secs(42).as_secs(), 42);
    /// ```
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// The UTC calendar time, e.g. `2023-09-18T15:04:00Z` (RFC 3339); past the year 9999, which no
    /// certificate can name, `+<seconds>s`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(enclave_sdk::attestation::UnixTime::from_secs(0).to_rfc3339(), "1970-01-01T00:00:00Z");
    /// ```
    pub fn to_rfc3339(self) -> String {
        match DateTime::from_unix_duration(Duration::from_secs(self.0)) {
            Ok(t) => t.to_string(),
            Err(_) => format!("+{}s", self.0),
        }
    }

    /// `self + d`, saturating at the end of time instead of wrapping.
    pub(crate) fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d.as_secs()))
    }

    /// `self - d`, saturating at the epoch instead of wrapping.
    pub(crate) fn saturating_sub(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(d.as_secs()))
    }
}

impl fmt::Display for UnixTime {
    /// Seconds and the UTC calendar date, e.g. `1695049440 (2023-09-18T15:04:00Z)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_text() {
        assert_eq!(UnixTime::from_secs(1_695_049_440).to_string(), "1695049440 (2023-09-18T15:04:00Z)");
        assert_eq!(UnixTime::from_secs(951_782_400).to_rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(UnixTime::from_secs(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(UnixTime::from_secs(u64::MAX).to_rfc3339(), format!("+{}s", u64::MAX));
    }
}
