//! Why a measurement, a function id or a checksum was refused.
//!
//! One enum for the whole vocabulary, so that every front end (CLI flags, environment variables, the
//! policy file, the mock's configuration) reports the same fact in the same words. Text that came from
//! the user is stored truncated and printed escaped (`{:?}`), so a control character in a flag cannot
//! rewrite the terminal line that reports it.

use crate::pcr_index::PcrIndex;

/// How much of a rejected input an error keeps, in characters.
pub(crate) const MAX_ECHOED_CHARS: usize = 64;

/// What a hex string was meant to encode, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HexField {
    /// A PCR value.
    PcrValue,
    /// A function checksum.
    FunctionChecksum,
}

impl std::fmt::Display for HexField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::PcrValue => "PCR value",
            Self::FunctionChecksum => "function checksum",
        })
    }
}

/// A textual or byte form of a PCR, a measurement set, a function id or a function checksum that does
/// not follow its rule. Each variant names the rule and the values involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MeasurementError {
    /// A character that is not a hex digit.
    #[error("{field}: character {found:?} at position {position} is not a hex digit")]
    NotHex {
        /// What the hex encodes.
        field: HexField,
        /// 1-based position of the character, counted in characters.
        position: usize,
        /// The character.
        found: char,
    },
    /// An odd number of hex digits: two digits make one byte.
    #[error("{field}: {digits} hex digits is an odd number; two digits make one byte")]
    OddLength {
        /// What the hex encodes.
        field: HexField,
        /// How many digits were given.
        digits: usize,
    },
    /// A PCR value of a length no PCR bank has.
    #[error("PCR values are 48 bytes (96 hex digits; 32 or 64 for other banks); this is {len} bytes{}", hex_as_bytes(*.len, &[32, 48, 64]))]
    PcrLength {
        /// Bytes given.
        len: usize,
    },
    /// A function checksum that is not 32 bytes.
    #[error("a function checksum is 32 bytes (64 hex digits, SHA-256); this is {len} bytes{}", hex_as_bytes(*.len, &[32]))]
    ChecksumLength {
        /// Bytes given.
        len: usize,
    },
    /// A PCR index that is not a number from 0 to 31.
    #[error("PCR index {found:?} is not a number from 0 to 31")]
    PcrIndex {
        /// The text given (at most 64 characters of it).
        found: String,
    },
    /// A PCR pin without the `IDX=HEX` shape.
    #[error("{found:?} is not IDX=HEX (for example 0=<96 hex digits>)")]
    NotIndexEqualsHex {
        /// The text given (at most 64 characters of it).
        found: String,
    },
    /// The value of one PCR pin is malformed.
    #[error("{index}: {source}")]
    Value {
        /// The PCR the value was given for.
        index: PcrIndex,
        /// What is wrong with the value.
        source: Box<MeasurementError>,
    },
    /// A measurement set pins no PCR.
    #[error("a measurement set pins at least one PCR (IDX=HEX[,IDX=HEX...])")]
    EmptySet,
    /// An empty item in a comma-separated list of PCR pins.
    #[error("empty item in a list of PCR pins (a doubled or trailing comma)")]
    EmptyItem,
    /// The same PCR pinned twice in one set: a set is one release, with one value per PCR.
    #[error(
        "{index} is pinned twice in one set; a set has one value per PCR (allow another release with another set)"
    )]
    DuplicateIndex {
        /// The repeated index.
        index: PcrIndex,
    },
    /// One set of a `;`-separated list of sets is malformed.
    #[error("set {number}: {source}")]
    InSet {
        /// 1-based position of the set in the list.
        number: usize,
        /// What is wrong with it.
        source: Box<MeasurementError>,
    },
    /// A function id that is empty or longer than 128 bytes.
    #[error("a function id is 1 to 128 bytes; this is {len} bytes")]
    FunctionIdLength {
        /// Bytes given.
        len: usize,
    },
    /// A function id with a character outside its charset.
    #[error("function id: character {found:?} at position {position} is not one of A-Z a-z 0-9 . _ -")]
    FunctionIdCharacter {
        /// 1-based position of the character, counted in characters.
        position: usize,
        /// The character.
        found: char,
    },
    /// A function id starting with `.`.
    #[error("a function id does not start with '.' (\".\", \"..\" and hidden directories never name a function)")]
    FunctionIdLeadingDot,
}

/// At most [`MAX_ECHOED_CHARS`] characters of `text`, for an error to show.
pub(crate) fn echo(text: &str) -> String {
    text.chars().take(MAX_ECHOED_CHARS).collect()
}

/// Twice a valid length is most often hex text handed over as bytes (`"ab12…".as_bytes()`): say so.
fn hex_as_bytes(len: usize, valid: &[usize]) -> &'static str {
    if valid.iter().any(|v| v.checked_mul(2) == Some(len)) {
        " (twice a valid length: hex text given as bytes? parse the text with str::parse)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use crate::{FunctionChecksum, PcrValue};

    /// Issue 17: hex text passed where bytes go compiled and failed with a bare length.
    #[test]
    fn hex_text_given_as_bytes_is_named() {
        let text = "ab".repeat(48);
        let err = PcrValue::try_from(text.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "PCR values are 48 bytes (96 hex digits; 32 or 64 for other banks); this is 96 bytes (twice a valid \
             length: hex text given as bytes? parse the text with str::parse)"
        );
        assert_eq!(text.parse::<PcrValue>().unwrap(), PcrValue::from([0xab; 48]));
        let sum = "cd".repeat(32);
        assert!(FunctionChecksum::try_from(sum.as_bytes()).unwrap_err().to_string().ends_with("str::parse)"));
        let short = PcrValue::try_from(&[0u8; 47][..]).unwrap_err();
        assert!(short.to_string().ends_with("this is 47 bytes"), "{short}");
    }
}
