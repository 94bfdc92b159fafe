//! PCRs and measurement sets: what an enclave's attestation document measures, and what a caller
//! allows.
//!
//! A Nitro document reports platform configuration registers (PCRs) by index. A caller pins them as
//! [`MeasurementSet`]s: one set is one release of an enclave image, with one value per pinned PCR. A
//! document matches a set when it carries every PCR of the set with exactly that value; a policy
//! allowing several sets (a rolling deploy of release N and N+1) accepts a document that matches one of
//! them, never a mixture of one set's PCR0 with another's PCR2.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use subtle::{Choice, ConstantTimeEq};

use crate::error::{echo, HexField, MeasurementError};
use crate::hex_text;
pub use crate::pcr_index::PcrIndex;

impl FromStr for PcrIndex {
    type Err = MeasurementError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refused = || MeasurementError::PcrIndex { found: echo(s) };
        // Canonical decimal only: "08" or "+8" would be a second spelling of the same register.
        let canonical = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
        if !canonical {
            return Err(refused());
        }
        s.parse::<u8>().ok().and_then(Self::new).ok_or_else(refused)
    }
}

impl TryFrom<u8> for PcrIndex {
    type Error = MeasurementError;

    fn try_from(n: u8) -> Result<Self, Self::Error> {
        Self::new(n).ok_or_else(|| MeasurementError::PcrIndex { found: n.to_string() })
    }
}

/// A PCR value: 32, 48 or 64 bytes (the SHA-256, SHA-384 and SHA-512 sizes the NSM's CDDL allows;
/// every Nitro document uses 48).
///
/// Equality is constant time. The text form is hex (either case, surrounding whitespace ignored);
/// `Display` is lowercase hex.
///
/// # Examples
///
/// ```
/// use enclave_protocol::{MeasurementError, PcrValue};
/// let v: PcrValue = "ab".repeat(48).parse()?;
/// assert_eq!(v.as_bytes(), &[0xab; 48]);
/// assert_eq!(
///     "ab".repeat(47).parse::<PcrValue>().unwrap_err().to_string(),
///     "PCR values are 48 bytes (96 hex digits; 32 or 64 for other banks); this is 47 bytes"
/// );
/// # Ok::<(), MeasurementError>(())
/// ```
// On the heap, so that errors carrying two values stay small enough to return by value.
#[derive(Clone)]
pub struct PcrValue(Box<[u8]>);

impl PcrValue {
    /// The length of every PCR in a Nitro document (SHA-384).
    pub const NITRO_LEN: usize = 48;

    /// A value of `bytes`.
    ///
    /// # Errors
    /// [`MeasurementError::PcrLength`] unless `bytes` is 32, 48 or 64 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MeasurementError> {
        if !matches!(bytes.len(), 32 | 48 | 64) {
            return Err(MeasurementError::PcrLength { len: bytes.len() });
        }
        Ok(Self(bytes.into()))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether every byte is zero (what a debug-mode enclave reports for PCR0..2, and an unused
    /// register's value). Constant time.
    pub fn is_zero(&self) -> bool {
        bool::from(self.0.iter().fold(Choice::from(1), |acc, b| acc & b.ct_eq(&0)))
    }
}

impl ConstantTimeEq for PcrValue {
    fn ct_eq(&self, other: &Self) -> Choice {
        // Lengths are public (32, 48 or 64); `subtle` compares slices of different lengths as unequal.
        self.as_bytes().ct_eq(other.as_bytes())
    }
}

impl PartialEq for PcrValue {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.ct_eq(other))
    }
}

impl Eq for PcrValue {}

impl std::hash::Hash for PcrValue {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl AsRef<[u8]> for PcrValue {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl TryFrom<&[u8]> for PcrValue {
    type Error = MeasurementError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        Self::from_bytes(bytes)
    }
}

impl From<[u8; 48]> for PcrValue {
    fn from(bytes: [u8; 48]) -> Self {
        Self(bytes.into())
    }
}

impl fmt::Display for PcrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.as_bytes()))
    }
}

impl fmt::Debug for PcrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PcrValue({self})")
    }
}

impl FromStr for PcrValue {
    type Err = MeasurementError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_bytes(&hex_text::decode(HexField::PcrValue, s)?)
    }
}

/// One PCR: an index and its value. Text form `IDX=HEX`, e.g. `0=<96 hex digits>`.
///
/// # Examples
///
/// ```
/// use enclave_protocol::{MeasurementError, Pcr, PcrIndex};
/// let pcr: Pcr = format!("2={}", "cd".repeat(48)).parse()?;
/// assert_eq!(pcr.index(), PcrIndex::APPLICATION);
/// let err = "2=zz".parse::<Pcr>().unwrap_err();
/// assert_eq!(err.to_string(), "PCR2: PCR value: character 'z' at position 1 is not a hex digit");
/// # Ok::<(), MeasurementError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pcr {
    index: PcrIndex,
    value: PcrValue,
}

impl Pcr {
    /// PCR `index` with `value`.
    pub fn new(index: PcrIndex, value: PcrValue) -> Self {
        Self { index, value }
    }
    /// The index.
    pub fn index(&self) -> PcrIndex {
        self.index
    }
    /// The value.
    pub fn value(&self) -> &PcrValue {
        &self.value
    }
}

impl fmt::Display for Pcr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.index.get(), self.value)
    }
}

impl FromStr for Pcr {
    type Err = MeasurementError;

    /// `IDX=HEX`; whitespace around either part is ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (index, value) = s.split_once('=').ok_or_else(|| MeasurementError::NotIndexEqualsHex { found: echo(s) })?;
        let index: PcrIndex = index.trim().parse()?;
        let value = value.parse().map_err(|e| MeasurementError::Value { index, source: Box::new(e) })?;
        Ok(Self { index, value })
    }
}

/// One allowed release: a non-empty map from PCR index to the one value that release has.
///
/// Text form: `IDX=HEX[,IDX=HEX...]` (whitespace around items ignored); an index given twice is
/// refused, since one release has one value per register. Several sets are separated by `;`
/// ([`MeasurementSet::parse_list`]).
///
/// # Examples
///
/// ```
/// use enclave_protocol::{MeasurementSet, PcrIndex, SetMismatch};
/// let release: MeasurementSet = format!("0={},2={}", "aa".repeat(48), "bb".repeat(48)).parse()?;
/// assert!(release.pins(PcrIndex::IMAGE) && !release.pins(PcrIndex::KERNEL));
///
/// // A document with PCR0 of this release and PCR2 of another does not match it.
/// let document = format!("0={},1={},2={}", "aa".repeat(48), "11".repeat(48), "cc".repeat(48))
///     .parse::<MeasurementSet>()?
///     .into_map();
/// match release.matches(&document) {
///     Err(SetMismatch::Differs { index, .. }) => assert_eq!(index, PcrIndex::APPLICATION),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), enclave_protocol::MeasurementError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MeasurementSet(BTreeMap<PcrIndex, PcrValue>);

impl MeasurementSet {
    /// A set of `pcrs`.
    ///
    /// # Errors
    /// [`MeasurementError::EmptySet`] for no PCR, [`MeasurementError::DuplicateIndex`] for an index
    /// given twice.
    pub fn new(pcrs: impl IntoIterator<Item = Pcr>) -> Result<Self, MeasurementError> {
        let mut map = BTreeMap::new();
        for Pcr { index, value } in pcrs {
            if map.insert(index, value).is_some() {
                return Err(MeasurementError::DuplicateIndex { index });
            }
        }
        if map.is_empty() {
            return Err(MeasurementError::EmptySet);
        }
        Ok(Self(map))
    }

    /// A set pinning one PCR.
    pub fn single(pcr: Pcr) -> Self {
        Self(BTreeMap::from([(pcr.index, pcr.value)]))
    }

    /// Parses `;`-separated sets, e.g. `0=HEX,1=HEX;0=HEX,1=HEX` for two releases.
    ///
    /// # Errors
    /// The first malformed set's error; with more than one set, wrapped in
    /// [`MeasurementError::InSet`] naming which.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, MeasurementError> {
        let parts: Vec<&str> = text.split(';').collect();
        let several = parts.len() > 1;
        parts
            .into_iter()
            .enumerate()
            .map(|(i, part)| {
                part.parse().map_err(|e| {
                    if several {
                        MeasurementError::InSet { number: i.saturating_add(1), source: Box::new(e) }
                    } else {
                        e
                    }
                })
            })
            .collect()
    }

    /// The value pinned for `index`, if the set pins it.
    pub fn get(&self, index: PcrIndex) -> Option<&PcrValue> {
        self.0.get(&index)
    }

    /// Whether the set pins `index`.
    pub fn pins(&self, index: PcrIndex) -> bool {
        self.0.contains_key(&index)
    }

    /// The pinned PCRs, by index.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (PcrIndex, &PcrValue)> {
        self.0.iter().map(|(i, v)| (*i, v))
    }

    /// The pinned indices, in order.
    pub fn indices(&self) -> impl ExactSizeIterator<Item = PcrIndex> + '_ {
        self.0.keys().copied()
    }

    /// The set as a map, e.g. to compare one document's PCRs against another set.
    pub fn into_map(self) -> BTreeMap<PcrIndex, PcrValue> {
        self.0
    }

    /// Whether `document` (a document's PCRs) carries every PCR of this set with this set's value.
    ///
    /// Every pinned index is compared, in constant time and with no early exit; the result names the
    /// first index (in index order) that differed or was absent.
    ///
    /// # Errors
    /// [`SetMismatch`] naming that index and the values.
    pub fn matches(&self, document: &BTreeMap<PcrIndex, PcrValue>) -> Result<(), SetMismatch> {
        let mut first: Option<SetMismatch> = None;
        for (index, expected) in &self.0 {
            let mismatch = match document.get(index) {
                Some(found) if bool::from(found.ct_eq(expected)) => None,
                Some(found) => {
                    Some(SetMismatch::Differs { index: *index, found: found.clone(), expected: expected.clone() })
                }
                None => Some(SetMismatch::Missing { index: *index }),
            };
            // Keep comparing after a mismatch: every pinned index is looked at whatever the values.
            if first.is_none() {
                first = mismatch;
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl fmt::Display for MeasurementSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, (index, value)) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}={value}", index.get())?;
        }
        Ok(())
    }
}

impl fmt::Debug for MeasurementSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MeasurementSet({self})")
    }
}

impl FromStr for MeasurementSet {
    type Err = MeasurementError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Err(MeasurementError::EmptySet);
        }
        let pcrs = s
            .split(',')
            .map(|item| match item.trim() {
                "" => Err(MeasurementError::EmptyItem),
                item => item.parse::<Pcr>(),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(pcrs)
    }
}

/// How a document failed to match one [`MeasurementSet`]: the first pinned index that differed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetMismatch {
    /// The document's value for a pinned PCR is another one.
    #[error("{index} is {found}; the set has {expected}")]
    Differs {
        /// The PCR.
        index: PcrIndex,
        /// The document's value.
        found: PcrValue,
        /// The set's value.
        expected: PcrValue,
    },
    /// The document does not carry a pinned PCR.
    #[error("{index} is pinned but absent from the document")]
    Missing {
        /// The PCR.
        index: PcrIndex,
    },
}

impl SetMismatch {
    /// The PCR that did not match.
    pub fn index(&self) -> PcrIndex {
        match self {
            Self::Differs { index, .. } | Self::Missing { index } => *index,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(byte: u8) -> PcrValue {
        PcrValue::from([byte; 48])
    }

    fn idx(n: u8) -> PcrIndex {
        PcrIndex::new(n).unwrap()
    }

    fn set(pcrs: &[(u8, u8)]) -> MeasurementSet {
        MeasurementSet::new(pcrs.iter().map(|(i, b)| Pcr::new(idx(*i), v(*b)))).unwrap()
    }

    #[test]
    fn indices_are_canonical_decimals_below_32() {
        assert_eq!("0".parse::<PcrIndex>(), Ok(PcrIndex::IMAGE));
        assert_eq!("31".parse::<PcrIndex>().map(PcrIndex::get), Ok(31));
        for bad in ["", "32", "255", "256", "-1", "+1", "01", " 1", "1 ", "x", "1e1"] {
            assert_eq!(bad.parse::<PcrIndex>(), Err(MeasurementError::PcrIndex { found: bad.into() }), "{bad:?}");
        }
        assert_eq!(PcrIndex::try_from(32), Err(MeasurementError::PcrIndex { found: "32".into() }));
        assert_eq!(PcrIndex::all().count(), 32);
        let long = "9".repeat(100);
        assert_eq!(long.parse::<PcrIndex>(), Err(MeasurementError::PcrIndex { found: "9".repeat(64) }));
    }

    #[test]
    fn values_have_a_bank_length() {
        for len in [32, 48, 64] {
            assert_eq!(PcrValue::from_bytes(&vec![7; len]).unwrap().as_bytes(), vec![7; len].as_slice());
        }
        for len in [0, 31, 47, 49, 65] {
            assert_eq!(PcrValue::from_bytes(&vec![7; len]), Err(MeasurementError::PcrLength { len }));
        }
        assert_eq!("AB".repeat(48).parse::<PcrValue>(), Ok(v(0xab)));
        assert_eq!(
            "ab".repeat(47).parse::<PcrValue>(),
            Err(MeasurementError::PcrLength { len: 47 }),
            "both numbers are in the message"
        );
        assert_eq!(
            format!("{}a", "ab".repeat(47)).parse::<PcrValue>(),
            Err(MeasurementError::OddLength { field: HexField::PcrValue, digits: 95 })
        );
        assert_eq!(
            MeasurementError::OddLength { field: HexField::PcrValue, digits: 95 }.to_string(),
            "PCR value: 95 hex digits is an odd number; two digits make one byte"
        );
    }

    #[test]
    fn zero_and_equality() {
        assert!(PcrValue::from([0; 48]).is_zero());
        assert!(!v(1).is_zero());
        assert_ne!(PcrValue::from_bytes(&[0; 32]).unwrap(), PcrValue::from_bytes(&[0; 48]).unwrap());
        assert_eq!(v(3), v(3));
        assert_eq!(v(3).to_string(), "03".repeat(48));
    }

    #[test]
    fn pcr_text_form() {
        let text = format!("8={}", "0c".repeat(48));
        let pcr: Pcr = text.parse().unwrap();
        assert_eq!((pcr.index(), pcr.value()), (PcrIndex::SIGNING_CERTIFICATE, &v(12)));
        assert_eq!(pcr.to_string(), text);
        assert_eq!(format!(" 8 = {} ", "0c".repeat(48)).parse::<Pcr>(), Ok(pcr));
        assert_eq!("abc".parse::<Pcr>(), Err(MeasurementError::NotIndexEqualsHex { found: "abc".into() }));
        assert_eq!(
            format!("40={}", "0c".repeat(48)).parse::<Pcr>(),
            Err(MeasurementError::PcrIndex { found: "40".into() })
        );
        assert_eq!(
            "3=0c".parse::<Pcr>(),
            Err(MeasurementError::Value {
                index: PcrIndex::PARENT_ROLE,
                source: Box::new(MeasurementError::PcrLength { len: 1 })
            })
        );
    }

    #[test]
    fn user_text_is_escaped_in_messages() {
        let err = "\u{1b}[2Jx".parse::<Pcr>().unwrap_err();
        assert_eq!(err.to_string(), r#""\u{1b}[2Jx" is not IDX=HEX (for example 0=<96 hex digits>)"#);
        let err = "1\u{7}=ab".parse::<Pcr>().unwrap_err();
        assert_eq!(err.to_string(), r#"PCR index "1\u{7}" is not a number from 0 to 31"#);
    }

    #[test]
    fn set_text_form_and_rules() {
        let text = format!("0={},2={}", "01".repeat(48), "02".repeat(48));
        let s: MeasurementSet = text.parse().unwrap();
        assert_eq!(s, set(&[(0, 1), (2, 2)]));
        assert_eq!(s.to_string(), text);
        assert_eq!(s.indices().collect::<Vec<_>>(), vec![PcrIndex::IMAGE, PcrIndex::APPLICATION]);
        assert_eq!(format!("{text},").parse::<MeasurementSet>(), Err(MeasurementError::EmptyItem));
        assert_eq!("".parse::<MeasurementSet>(), Err(MeasurementError::EmptySet));
        assert_eq!(MeasurementSet::new([]), Err(MeasurementError::EmptySet));
        assert_eq!(
            format!("0={},0={}", "01".repeat(48), "02".repeat(48)).parse::<MeasurementSet>(),
            Err(MeasurementError::DuplicateIndex { index: PcrIndex::IMAGE })
        );
    }

    #[test]
    fn set_lists_name_the_bad_set() {
        let a = format!("0={}", "01".repeat(48));
        let b = format!("0={}", "02".repeat(48));
        assert_eq!(MeasurementSet::parse_list(&a).unwrap().len(), 1);
        assert_eq!(MeasurementSet::parse_list(&format!("{a}; {b}")).unwrap(), vec![set(&[(0, 1)]), set(&[(0, 2)])]);
        assert_eq!(
            MeasurementSet::parse_list(&format!("{a};")),
            Err(MeasurementError::InSet { number: 2, source: Box::new(MeasurementError::EmptySet) })
        );
        assert_eq!(
            MeasurementSet::parse_list(&format!("{a};0=zz")).unwrap_err().to_string(),
            "set 2: PCR0: PCR value: character 'z' at position 1 is not a hex digit"
        );
    }

    #[test]
    fn matching_names_the_first_index_that_differs() {
        let release = set(&[(0, 1), (2, 2), (8, 8)]);
        let doc = |pcrs: &[(u8, u8)]| set(pcrs).into_map();
        assert_eq!(release.matches(&doc(&[(0, 1), (1, 9), (2, 2), (8, 8)])), Ok(()));
        assert_eq!(
            release.matches(&doc(&[(0, 1), (2, 3), (8, 9)])),
            Err(SetMismatch::Differs { index: PcrIndex::APPLICATION, found: v(3), expected: v(2) })
        );
        assert_eq!(
            release.matches(&doc(&[(0, 1), (2, 2)])),
            Err(SetMismatch::Missing { index: PcrIndex::SIGNING_CERTIFICATE })
        );
        assert_eq!(release.matches(&doc(&[(2, 2)])).map_err(|m| m.index()), Err(PcrIndex::IMAGE));
    }
}
