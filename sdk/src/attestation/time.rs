//! `attestation::time`: the clock value every time-dependent check takes as a parameter.
//!
//! In: seconds since the Unix epoch, from the caller (tests pin it; [`UnixTime::now`] reads the system
//! clock at the edge). Out: a plain value. Decides nothing; `chain` and `policy` compare against it.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, in whole seconds since the Unix epoch (UTC).
///
/// Verification takes `now` as a value so that tests are deterministic and a caller can verify a
/// document "as of" a past moment (`enclave verify --at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(u64);

impl UnixTime {
    /// The time `secs` seconds after 1970-01-01T00:00:00Z.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// The system clock, now. A clock set before 1970 reads as the epoch itself, which every
    /// certificate validity check then rejects as "not yet valid" rather than panicking.
    pub fn now() -> Self {
        Self(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0))
    }

    /// Seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// The UTC calendar time, e.g. `2023-09-18T15:04:00Z` (RFC 3339).
    pub fn to_rfc3339(self) -> String {
        let (y, mo, d, h, mi, s) = civil_from_unix(self.0);
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
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

/// Seconds since the epoch for a proleptic Gregorian UTC date, or `None` before 1970 or on overflow.
/// Inputs are range-checked by the caller (the DER time parser).
pub(crate) fn unix_from_civil(year: u64, month: u64, day: u64, hour: u64, min: u64, sec: u64) -> Option<u64> {
    // Days from civil, after H. Hinnant's "chrono-Compatible Low-Level Date Algorithms": shift the year
    // to start in March so the leap day falls at its end.
    let (y, m) = if month <= 2 { (year.checked_sub(1)?, month + 9) } else { (year, month - 3) };
    let era = y / 400;
    let yoe = y % 400;
    let doy = (153 * m + 2) / 5 + day.checked_sub(1)?;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    days.checked_mul(86_400)?.checked_add(hour * 3600 + min * 60 + sec)
}

fn civil_from_unix(t: u64) -> (u64, u64, u64, u64, u64, u64) {
    let days = t / 86_400;
    let rem = t % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips() {
        for t in [0, 951_782_400, 1_695_049_440, 2_524_608_000, 4_102_444_800] {
            let (y, mo, d, h, mi, s) = civil_from_unix(t);
            assert_eq!(unix_from_civil(y, mo, d, h, mi, s), Some(t));
        }
        assert_eq!(unix_from_civil(2000, 2, 29, 0, 0, 0), Some(951_782_400));
        assert_eq!(UnixTime::from_secs(1_695_049_440).to_string(), "1695049440 (2023-09-18T15:04:00Z)");
    }
}
