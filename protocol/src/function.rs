//! Function ids and function checksums: which function a client asks for, and what the enclave
//! reports it runs.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use subtle::{Choice, ConstantTimeEq};

use crate::error::{HexField, MeasurementError};
use crate::hex_text;

/// A function id: 1 to 128 bytes of `A-Z a-z 0-9 . _ -`, not starting with `.`.
///
/// One rule for every place an id appears: the request path `/v1/run/{id}`, the enclave's user data,
/// the mock's function directories and the policy file. Why this rule:
/// - the id is a URL path segment and a directory name, so it has no `/`, no `%` escapes, no spaces
///   and nothing a shell or a log would reinterpret;
/// - `.` and `..` are dot-segments that URL resolution removes (RFC 3986 section 5.2.4) and directory
///   names that point elsewhere, and `.name` is a hidden directory: none may name a function;
/// - 128 bytes bounds what the enclave puts into its user data (the NSM takes at most 1024 bytes).
///
/// # Examples
///
/// ```
/// use enclave_protocol::{FunctionId, MeasurementError};
/// let id: FunctionId = "word-count".parse()?;
/// assert_eq!(id.as_str(), "word-count");
/// assert_eq!("..".parse::<FunctionId>(), Err(MeasurementError::FunctionIdLeadingDot));
/// assert_eq!(
///     "a/b".parse::<FunctionId>(),
///     Err(MeasurementError::FunctionIdCharacter { position: 2, found: '/' })
/// );
/// # Ok::<(), MeasurementError>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FunctionId(String);

impl FunctionId {
    /// The longest id, in bytes.
    pub const MAX_LEN: usize = 128;

    /// `id`, when it follows the rule.
    ///
    /// # Errors
    /// [`MeasurementError::FunctionIdLength`], [`MeasurementError::FunctionIdLeadingDot`] or
    /// [`MeasurementError::FunctionIdCharacter`].
    pub fn new(id: impl Into<String>) -> Result<Self, MeasurementError> {
        let id = id.into();
        if id.is_empty() || id.len() > Self::MAX_LEN {
            return Err(MeasurementError::FunctionIdLength { len: id.len() });
        }
        if id.starts_with('.') {
            return Err(MeasurementError::FunctionIdLeadingDot);
        }
        if let Some((i, found)) =
            id.chars().enumerate().find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(MeasurementError::FunctionIdCharacter { position: i.saturating_add(1), found });
        }
        Ok(Self(id))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FunctionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The charset has nothing to escape.
        f.write_str(&self.0)
    }
}

impl fmt::Debug for FunctionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FunctionId({:?})", self.0)
    }
}

impl FromStr for FunctionId {
    type Err = MeasurementError;

    /// Exactly the given text: no trimming, since an id is compared byte for byte.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for FunctionId {
    type Error = MeasurementError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<&String> for FunctionId {
    type Error = MeasurementError;

    fn try_from(s: &String) -> Result<Self, Self::Error> {
        Self::new(s.as_str())
    }
}

impl TryFrom<String> for FunctionId {
    type Error = MeasurementError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

/// So that APIs taking `impl TryInto<FunctionId, Error = MeasurementError>` accept `&FunctionId` as well
/// as `&str`; an id that is already a `FunctionId` is valid, and this never fails.
impl TryFrom<&FunctionId> for FunctionId {
    type Error = MeasurementError;

    fn try_from(id: &FunctionId) -> Result<Self, Self::Error> {
        Ok(id.clone())
    }
}

impl AsRef<str> for FunctionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for FunctionId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for FunctionId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for FunctionId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// The SHA-256 checksum of a function, as the enclave reports it in its user data and
/// `enclave checksum` computes it. Text form: 64 hex digits (either case, surrounding whitespace
/// ignored). Equality is constant time.
///
/// A checksum is the enclave's own claim: its code writes it, so it identifies the function only
/// within an image that PCRs pin.
///
/// # Examples
///
/// ```
/// use enclave_protocol::{FunctionChecksum, MeasurementError};
/// let sum: FunctionChecksum = "11".repeat(32).parse()?;
/// assert_eq!(sum.as_bytes(), &[0x11; 32]);
/// assert_eq!(
///     "11".repeat(31).parse::<FunctionChecksum>(),
///     Err(MeasurementError::ChecksumLength { len: 31 })
/// );
/// # Ok::<(), MeasurementError>(())
/// ```
#[derive(Clone, Copy)]
pub struct FunctionChecksum([u8; 32]);

impl FunctionChecksum {
    /// The checksum with these bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The bytes, by value.
    pub const fn to_bytes(self) -> [u8; 32] {
        self.0
    }
}

impl From<[u8; 32]> for FunctionChecksum {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl TryFrom<&[u8]> for FunctionChecksum {
    type Error = MeasurementError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        <[u8; 32]>::try_from(bytes).map(Self).map_err(|_| MeasurementError::ChecksumLength { len: bytes.len() })
    }
}

impl ConstantTimeEq for FunctionChecksum {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for FunctionChecksum {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.ct_eq(other))
    }
}

impl Eq for FunctionChecksum {}

impl std::hash::Hash for FunctionChecksum {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl AsRef<[u8]> for FunctionChecksum {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for FunctionChecksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for FunctionChecksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FunctionChecksum({self})")
    }
}

impl FromStr for FunctionChecksum {
    type Err = MeasurementError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(hex_text::decode(HexField::FunctionChecksum, s)?.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_ids_follow_one_rule() {
        for ok in ["echo", "a", "fn_1.2-x", "A.", &"x".repeat(128)] {
            assert_eq!(FunctionId::new(ok).map(|id| id.to_string()), Ok(ok.to_owned()), "{ok}");
        }
        assert_eq!(FunctionId::new(""), Err(MeasurementError::FunctionIdLength { len: 0 }));
        assert_eq!(FunctionId::new("x".repeat(129)), Err(MeasurementError::FunctionIdLength { len: 129 }));
        for dot in [".", "..", ".hidden"] {
            assert_eq!(FunctionId::new(dot), Err(MeasurementError::FunctionIdLeadingDot), "{dot}");
        }
        for (bad, position, found) in
            [("a/b", 2, '/'), ("sp ace", 3, ' '), ("\u{e9}", 1, '\u{e9}'), ("a%2e", 2, '%'), ("f\n", 2, '\n')]
        {
            assert_eq!(FunctionId::new(bad), Err(MeasurementError::FunctionIdCharacter { position, found }), "{bad}");
        }
        assert_eq!(
            FunctionId::new("a\u{1b}").unwrap_err().to_string(),
            r"function id: character '\u{1b}' at position 2 is not one of A-Z a-z 0-9 . _ -"
        );
        let id = FunctionId::new("echo").unwrap();
        assert!(id == "echo");
        let map = std::collections::BTreeMap::from([(id, 1)]);
        assert_eq!(map.get("echo"), Some(&1));
    }

    #[test]
    fn checksums_are_32_bytes_of_hex() {
        let sum: FunctionChecksum = format!(" {}\n", "AB".repeat(32)).parse().unwrap();
        assert_eq!(sum, FunctionChecksum::from_bytes([0xab; 32]));
        assert_eq!(sum.to_string(), "ab".repeat(32));
        assert_eq!(
            "ab".repeat(33).parse::<FunctionChecksum>().unwrap_err().to_string(),
            "a function checksum is 32 bytes (64 hex digits, SHA-256); this is 33 bytes"
        );
        assert_eq!(
            "0g".parse::<FunctionChecksum>(),
            Err(MeasurementError::NotHex { field: HexField::FunctionChecksum, position: 2, found: 'g' })
        );
        assert_eq!(FunctionChecksum::try_from(&[0u8; 31][..]), Err(MeasurementError::ChecksumLength { len: 31 }));
        assert_ne!(FunctionChecksum::from_bytes([1; 32]), FunctionChecksum::from_bytes([2; 32]));
    }
}
