//! Hex text to bytes, with errors that say where the text went wrong.
//!
//! The `hex` crate decodes; this module only looks at the characters first, because `hex` reports a
//! bad character by byte offset and as a single byte (a multi-byte UTF-8 character would be shown as
//! its first byte), and reports an odd length before a stray `x` in `0x...`, which is the more useful
//! message of the two.

use crate::error::{HexField, MeasurementError};

/// Decodes `text` (surrounding ASCII whitespace ignored; either letter case) into bytes.
pub(crate) fn decode(field: HexField, text: &str) -> Result<Vec<u8>, MeasurementError> {
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if let Some((i, found)) = text.chars().enumerate().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(MeasurementError::NotHex { field, position: i.saturating_add(1), found });
    }
    // Every character is an ASCII hex digit here, so the byte length is the digit count.
    let digits = text.len();
    if digits % 2 != 0 {
        return Err(MeasurementError::OddLength { field, digits });
    }
    hex::decode(text).map_err(|_| MeasurementError::OddLength { field, digits })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_from_one() {
        assert_eq!(decode(HexField::PcrValue, " aB01\n"), Ok(vec![0xab, 0x01]));
        assert_eq!(
            decode(HexField::PcrValue, "0x12"),
            Err(MeasurementError::NotHex { field: HexField::PcrValue, position: 2, found: 'x' })
        );
        assert_eq!(
            decode(HexField::FunctionChecksum, "ab\u{e9}c"),
            Err(MeasurementError::NotHex { field: HexField::FunctionChecksum, position: 3, found: '\u{e9}' })
        );
        assert_eq!(
            decode(HexField::PcrValue, "abc"),
            Err(MeasurementError::OddLength { field: HexField::PcrValue, digits: 3 })
        );
        assert_eq!(decode(HexField::PcrValue, ""), Ok(vec![]));
    }
}
