//! `attestation::cbor`: a small, strict CBOR (RFC 8949) reader and the few encoders this crate needs.
//!
//! In: untrusted bytes, already capped in size by the caller. Out: a tree of [`Item`]s borrowing from the
//! input, or a [`CborError`] with the offset. Accepts definite and indefinite lengths (AWS sends
//! indefinite payload maps), tags and simple values; does not decide what any item means, and does not
//! reject duplicate keys itself (callers do, because they know which keys matter).
//!
//! Allocation is bounded by the input: every declared length or element count is compared with the bytes
//! that remain before anything is reserved, and nesting is limited to [`MAX_DEPTH`].

#![warn(clippy::arithmetic_side_effects)]

use std::borrow::Cow;

use super::error::{CborError, CborProblem};

/// Deepest nesting accepted. The deepest genuine structure (envelope > payload > pcrs > value) has 4.
pub(crate) const MAX_DEPTH: usize = 16;

/// One decoded CBOR data item.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item<'a> {
    /// Major type 0.
    Unsigned(u64),
    /// Major type 1: the value is `-1 - n`.
    Negative(u64),
    /// Major type 2 (indefinite-length strings are concatenated).
    Bytes(Cow<'a, [u8]>),
    /// Major type 3.
    Text(Cow<'a, str>),
    /// Major type 4.
    Array(Vec<Item<'a>>),
    /// Major type 5, in input order (duplicates preserved for the caller to reject).
    Map(Vec<(Item<'a>, Item<'a>)>),
    /// Major type 6.
    Tag(u64, Box<Item<'a>>),
    /// Major type 7: false, true, null, undefined, other simple values, and floats (kept as raw bits).
    Simple(u8),
    /// Major type 7, a float (bits of the widest encoding), which no field here accepts.
    Float(u64),
}

impl Item<'_> {
    /// The item's type in words, for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Item::Unsigned(_) => "unsigned integer",
            Item::Negative(_) => "negative integer",
            Item::Bytes(_) => "byte string",
            Item::Text(_) => "text string",
            Item::Array(_) => "array",
            Item::Map(_) => "map",
            Item::Tag(..) => "tagged item",
            Item::Simple(SIMPLE_NULL) => "null",
            Item::Simple(20 | 21) => "boolean",
            Item::Simple(_) => "simple value",
            Item::Float(_) => "float",
        }
    }

    /// True for CBOR `null` (and `undefined`, which AWS never sends but means the same).
    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Item::Simple(SIMPLE_NULL | SIMPLE_UNDEFINED))
    }
}

const SIMPLE_NULL: u8 = 22;
const SIMPLE_UNDEFINED: u8 = 23;
const BREAK: u8 = 0xff;

/// Decodes exactly one item spanning all of `input`; trailing bytes are an error.
pub(crate) fn decode(input: &[u8]) -> Result<Item<'_>, CborError> {
    let mut r = Reader { input, pos: 0 };
    let item = r.item(0)?;
    if r.pos != input.len() {
        return Err(r.err(CborProblem::TrailingBytes));
    }
    Ok(item)
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

enum Len {
    Definite(u64),
    Indefinite,
}

impl<'a> Reader<'a> {
    fn err(&self, problem: CborProblem) -> CborError {
        CborError { offset: self.pos, problem }
    }

    fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.pos)
    }

    fn byte(&mut self) -> Result<u8, CborError> {
        let b = *self.input.get(self.pos).ok_or_else(|| self.err(CborProblem::Truncated))?;
        self.pos = self.pos.saturating_add(1);
        Ok(b)
    }

    fn peek(&self) -> Result<u8, CborError> {
        self.input.get(self.pos).copied().ok_or_else(|| self.err(CborProblem::Truncated))
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], CborError> {
        let n = usize::try_from(n).map_err(|_| self.err(CborProblem::LengthBeyondInput))?;
        if n > self.remaining() {
            return Err(self.err(CborProblem::LengthBeyondInput));
        }
        let end = self.pos.checked_add(n).ok_or_else(|| self.err(CborProblem::LengthBeyondInput))?;
        let s = self.input.get(self.pos..end).ok_or_else(|| self.err(CborProblem::Truncated))?;
        self.pos = end;
        Ok(s)
    }

    /// RFC 8949 section 3: the argument that follows the initial byte.
    fn argument(&mut self, info: u8) -> Result<Len, CborError> {
        let n = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.byte()?),
            25 => u64::from(u16::from_be_bytes(self.array::<2>()?)),
            26 => u64::from(u32::from_be_bytes(self.array::<4>()?)),
            27 => u64::from_be_bytes(self.array::<8>()?),
            28..=30 => return Err(self.err(CborProblem::ReservedAdditionalInfo)),
            _ => return Ok(Len::Indefinite),
        };
        Ok(Len::Definite(n))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CborError> {
        let s = self.take(N as u64).map_err(|_| self.err(CborProblem::Truncated))?;
        s.try_into().map_err(|_| self.err(CborProblem::Truncated))
    }

    fn definite(&mut self, info: u8) -> Result<u64, CborError> {
        match self.argument(info)? {
            Len::Definite(n) => Ok(n),
            Len::Indefinite => Err(self.err(CborProblem::IndefiniteNotAllowed)),
        }
    }

    /// A count of items, each at least one byte, so it cannot exceed what remains.
    fn count(&self, n: u64, per_item: u64) -> Result<usize, CborError> {
        let needed = n.checked_mul(per_item).ok_or_else(|| self.err(CborProblem::LengthBeyondInput))?;
        if needed > self.remaining() as u64 {
            return Err(self.err(CborProblem::LengthBeyondInput));
        }
        usize::try_from(n).map_err(|_| self.err(CborProblem::LengthBeyondInput))
    }

    fn item(&mut self, depth: usize) -> Result<Item<'a>, CborError> {
        if depth > MAX_DEPTH {
            return Err(self.err(CborProblem::TooDeep));
        }
        let start = self.pos;
        let initial = self.byte()?;
        let major = initial >> 5;
        let info = initial & 0x1f;
        match major {
            0 => Ok(Item::Unsigned(self.definite(info)?)),
            1 => Ok(Item::Negative(self.definite(info)?)),
            2 => match self.argument(info)? {
                Len::Definite(n) => Ok(Item::Bytes(Cow::Borrowed(self.take(n)?))),
                Len::Indefinite => Ok(Item::Bytes(Cow::Owned(self.chunks(2)?))),
            },
            3 => {
                let bytes = match self.argument(info)? {
                    Len::Definite(n) => Cow::Borrowed(self.take(n)?),
                    Len::Indefinite => Cow::Owned(self.chunks(3)?),
                };
                let text = match bytes {
                    Cow::Borrowed(b) => Cow::Borrowed(
                        std::str::from_utf8(b)
                            .map_err(|_| CborError { offset: start, problem: CborProblem::InvalidUtf8 })?,
                    ),
                    Cow::Owned(b) => Cow::Owned(
                        String::from_utf8(b)
                            .map_err(|_| CborError { offset: start, problem: CborProblem::InvalidUtf8 })?,
                    ),
                };
                Ok(Item::Text(text))
            }
            4 => match self.argument(info)? {
                Len::Definite(n) => {
                    let n = self.count(n, 1)?;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.item(depth.saturating_add(1))?);
                    }
                    Ok(Item::Array(items))
                }
                Len::Indefinite => {
                    let mut items = Vec::new();
                    while self.peek()? != BREAK {
                        items.push(self.item(depth.saturating_add(1))?);
                    }
                    self.pos = self.pos.saturating_add(1);
                    Ok(Item::Array(items))
                }
            },
            5 => match self.argument(info)? {
                Len::Definite(n) => {
                    let n = self.count(n, 2)?;
                    let mut entries = Vec::with_capacity(n);
                    for _ in 0..n {
                        let k = self.item(depth.saturating_add(1))?;
                        let v = self.item(depth.saturating_add(1))?;
                        entries.push((k, v));
                    }
                    Ok(Item::Map(entries))
                }
                Len::Indefinite => {
                    let mut entries = Vec::new();
                    while self.peek()? != BREAK {
                        let k = self.item(depth.saturating_add(1))?;
                        let v = self.item(depth.saturating_add(1))?;
                        entries.push((k, v));
                    }
                    self.pos = self.pos.saturating_add(1);
                    Ok(Item::Map(entries))
                }
            },
            6 => {
                let tag = self.definite(info)?;
                Ok(Item::Tag(tag, Box::new(self.item(depth.saturating_add(1))?)))
            }
            _ => match info {
                0..=23 => Ok(Item::Simple(info)),
                24 => {
                    let v = self.byte()?;
                    if v < 32 {
                        return Err(CborError { offset: start, problem: CborProblem::BadSimpleValue });
                    }
                    Ok(Item::Simple(v))
                }
                25 => Ok(Item::Float(u64::from(u16::from_be_bytes(self.array::<2>()?)))),
                26 => Ok(Item::Float(u64::from(u32::from_be_bytes(self.array::<4>()?)))),
                27 => Ok(Item::Float(u64::from_be_bytes(self.array::<8>()?))),
                28..=30 => Err(CborError { offset: start, problem: CborProblem::ReservedAdditionalInfo }),
                _ => Err(CborError { offset: start, problem: CborProblem::UnexpectedBreak }),
            },
        }
    }

    /// RFC 8949 section 3.2.3: an indefinite-length string is definite-length chunks of the same major
    /// type, ended by a break. The result is no larger than the input.
    fn chunks(&mut self, major: u8) -> Result<Vec<u8>, CborError> {
        let mut out = Vec::new();
        loop {
            let b = self.byte()?;
            if b == BREAK {
                return Ok(out);
            }
            if b >> 5 != major {
                return Err(CborError { offset: self.pos.saturating_sub(1), problem: CborProblem::BadStringChunk });
            }
            match self.argument(b & 0x1f)? {
                Len::Definite(n) => out.extend_from_slice(self.take(n)?),
                Len::Indefinite => {
                    return Err(CborError { offset: self.pos.saturating_sub(1), problem: CborProblem::BadStringChunk })
                }
            }
        }
    }
}

/// Appends the shortest head for `major` with argument `n` (RFC 8949 section 4.2.1, preferred encoding).
pub(crate) fn write_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

/// Appends a definite-length byte string.
pub(crate) fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_head(out, 2, b.len() as u64);
    out.extend_from_slice(b);
}

/// Appends a definite-length text string.
pub(crate) fn write_text(out: &mut Vec<u8>, s: &str) {
    write_head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    fn problem(b: &[u8]) -> CborProblem {
        decode(b).unwrap_err().problem
    }

    #[test]
    fn reads_definite_and_indefinite() {
        assert_eq!(decode(&[0x18, 0x64]).unwrap(), Item::Unsigned(100));
        assert_eq!(decode(&[0x38, 0x22]).unwrap(), Item::Negative(34));
        assert_eq!(
            decode(&[0xbf, 0x61, b'a', 0x01, 0xff]).unwrap(),
            Item::Map(vec![(Item::Text("a".into()), Item::Unsigned(1))])
        );
        assert_eq!(decode(&[0x5f, 0x42, 1, 2, 0x41, 3, 0xff]).unwrap(), Item::Bytes(Cow::Owned(vec![1, 2, 3])));
        assert_eq!(decode(&[0xf6]).unwrap(), Item::Simple(22));
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(problem(&[0x01, 0x02]), CborProblem::TrailingBytes);
        assert_eq!(problem(&[0x5a, 0xff, 0xff, 0xff, 0xff]), CborProblem::LengthBeyondInput);
        assert_eq!(problem(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), CborProblem::LengthBeyondInput);
        assert_eq!(problem(&[0x1c]), CborProblem::ReservedAdditionalInfo);
        assert_eq!(problem(&[0x1f]), CborProblem::IndefiniteNotAllowed);
        assert_eq!(problem(&[0xff]), CborProblem::UnexpectedBreak);
        assert_eq!(problem(&[0x5f, 0x61, b'a', 0xff]), CborProblem::BadStringChunk);
        assert_eq!(problem(&[0x62, 0xff, 0xfe]), CborProblem::InvalidUtf8);
        assert_eq!(problem(&[0xf8, 0x10]), CborProblem::BadSimpleValue);
        assert_eq!(problem(&[0xbf, 0x01]), CborProblem::Truncated);
        assert_eq!(problem(&[0x81; 40]), CborProblem::TooDeep);
    }

    #[test]
    fn heads_are_shortest() {
        for (n, len) in [(23u64, 1usize), (24, 2), (255, 2), (256, 3), (65_536, 5), (1 << 32, 9)] {
            let mut v = Vec::new();
            write_head(&mut v, 2, n);
            assert_eq!(v.len(), len, "{n}");
        }
    }
}
