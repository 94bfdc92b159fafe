//! `attestation::cbor`: untrusted CBOR (RFC 8949) read by ciborium, into values the callers can judge.
//!
//! In: untrusted bytes, already capped in size by the caller. Out: one value spanning all of the input
//! ([`decode`] for the payload's [`Item`] tree, [`decode_value`] for the envelope's
//! `ciborium::Value`), or a [`CborError`] with the offset where ciborium stopped. ciborium reads every
//! head, length, string chunk and UTF-8 text, definite or indefinite (AWS sends indefinite payload
//! maps), and bounds the nesting to [`MAX_DEPTH`]. Nothing here decides what an item means.
//!
//! Why the payload is an [`Item`] and not a `ciborium::Value`: `Value`'s own `Deserialize` turns a
//! bignum (tag 2 or 3 around at most 16 bytes) into a plain `Value::Integer`, so `c2 46 01 86 ..`
//! would read as the timestamp `uint` the CDDL requires (major type 0), and this verifier would accept
//! what a stricter reader refuses. [`Item`] is filled by ciborium's deserializer just as `Value` is,
//! but keeps a bignum a tagged item. Map entries stay in input order, duplicates included, for the
//! callers to refuse.
//!
//! Allocation is bounded by the input: ciborium grows strings, arrays and maps as their bytes arrive
//! and never reserves by a declared length (checked in ciborium 0.2.2: `Vec::new()` then `push`,
//! strings by chunks through a 4 KiB scratch buffer), so `5b 00 00 00 01 ..` costs what the input
//! holds, not 4 GiB.

use ciborium::Value;
use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess};
use std::fmt;

use super::error::{CborError, CborProblem};

/// Deepest nesting of arrays, maps and tags accepted. The deepest genuine structure (envelope >
/// payload > pcrs > value) has 4.
pub(crate) const MAX_DEPTH: usize = 16;

/// One CBOR data item of the payload, as ciborium reported it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    /// Major type 0.
    Unsigned(u64),
    /// Major type 1 (no field here takes a negative integer, so the value is not kept).
    Negative,
    /// Major type 2 (indefinite-length strings concatenated by ciborium).
    Bytes(Vec<u8>),
    /// Major type 3.
    Text(String),
    /// Major type 4.
    Array(Vec<Item>),
    /// Major type 5, in input order (duplicates preserved for the caller to reject).
    Map(Vec<(Item, Item)>),
    /// Major type 6: any tag, bignums included (their content is not kept).
    Tag,
    /// `false` or `true`.
    Bool,
    /// `null` or `undefined` (AWS never sends `undefined`, but it means the same).
    Null,
    /// A float of any width, which no field here accepts.
    Float,
}

impl Item {
    /// The item's type in words, for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Item::Unsigned(_) => "unsigned integer",
            Item::Negative => "negative integer",
            Item::Bytes(_) => "byte string",
            Item::Text(_) => "text string",
            Item::Array(_) => "array",
            Item::Map(_) => "map",
            Item::Tag => "tagged item",
            Item::Null => "null",
            Item::Bool => "boolean",
            Item::Float => "float",
        }
    }

    /// True for CBOR `null` and `undefined`.
    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Item::Null)
    }
}

/// Decodes exactly one payload item spanning all of `input`; trailing bytes are an error.
pub(crate) fn decode(input: &[u8]) -> Result<Item, CborError> {
    read_one(input)
}

/// Decodes exactly one `ciborium::Value` spanning all of `input` (for coset, which takes a `Value`).
pub(crate) fn decode_value(input: &[u8]) -> Result<Value, CborError> {
    read_one(input)
}

fn read_one<T: DeserializeOwned>(input: &[u8]) -> Result<T, CborError> {
    let mut rest = input;
    let read = ciborium::de::from_reader_with_recursion_limit::<T, _>(&mut rest, MAX_DEPTH);
    // The slice advances as ciborium reads it: where it stands is where reading stopped.
    let stopped = input.len().saturating_sub(rest.len());
    match read {
        Ok(_) if !rest.is_empty() => Err(CborError { offset: stopped, problem: CborProblem::TrailingBytes }),
        Ok(value) => Ok(value),
        Err(e) => Err(cbor_error(e, stopped)),
    }
}

/// ciborium's error as ours: its syntax errors carry the offset of the offending head, the others
/// are placed where reading stopped.
fn cbor_error<E>(e: ciborium::de::Error<E>, stopped: usize) -> CborError {
    use ciborium::de::Error;
    match e {
        Error::Io(_) => CborError { offset: stopped, problem: CborProblem::Truncated },
        Error::Syntax(offset) => CborError { offset, problem: CborProblem::Malformed },
        Error::Semantic(offset, _) => {
            CborError { offset: offset.unwrap_or(stopped), problem: CborProblem::UnsupportedSimple }
        }
        Error::RecursionLimitExceeded => CborError { offset: stopped, problem: CborProblem::TooDeep },
    }
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ItemVisitor)
    }
}

/// Records what ciborium's `deserialize_any` reports. ciborium visits every plain integer as `u64`
/// or `i64` (an `i128` only below `i64::MIN`), and a bignum of at most 16 bytes as `u128` or `i128`;
/// other tags arrive as an enum access, as for `ciborium::Value`.
struct ItemVisitor;

impl<'de> de::Visitor<'de> for ItemVisitor {
    type Value = Item;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CBOR data item")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Item, E> {
        Ok(Item::Bool)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Item, E> {
        Ok(Item::Unsigned(v))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Item, E> {
        Ok(Item::Negative)
    }

    /// A bignum (tag 3), or a major type 1 integer below `i64::MIN`: either way nothing reads it.
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Item, E> {
        Ok(Item::Negative)
    }

    /// Only a bignum (tag 2) arrives here: a tagged item, never an unsigned integer.
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Item, E> {
        Ok(Item::Tag)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Item, E> {
        Ok(Item::Float)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Item, E> {
        Ok(Item::Text(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Item, E> {
        Ok(Item::Text(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Item, E> {
        Ok(Item::Bytes(v.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Item, E> {
        Ok(Item::Bytes(v))
    }

    fn visit_none<E: de::Error>(self) -> Result<Item, E> {
        Ok(Item::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Item, E> {
        Ok(Item::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Item, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
        // Not with_capacity(size_hint): the hint is the declared count, which the input may not hold.
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Item>()? {
            items.push(item);
        }
        Ok(Item::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<Item, Item>()? {
            entries.push(entry);
        }
        Ok(Item::Map(entries))
    }

    /// A tag: ciborium presents it as a two-element variant, the tag number then the tagged item,
    /// which is read (so it must be well-formed) and dropped.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Item, A::Error> {
        struct Tagged;
        impl<'de> de::Visitor<'de> for Tagged {
            type Value = Item;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tag and its item")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
                let _tag: Option<u64> = seq.next_element()?;
                let _item: Option<Item> = seq.next_element()?;
                Ok(Item::Tag)
            }
        }
        let (de::IgnoredAny, variant) = data.variant()?;
        variant.tuple_variant(2, Tagged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(b: &[u8]) -> CborProblem {
        decode(b).unwrap_err().problem
    }

    #[test]
    fn reads_definite_and_indefinite() {
        assert_eq!(decode(&[0x18, 0x64]).unwrap(), Item::Unsigned(100));
        assert_eq!(decode(&[0x38, 0x22]).unwrap(), Item::Negative);
        assert_eq!(
            decode(&[0xbf, 0x61, b'a', 0x01, 0xff]).unwrap(),
            Item::Map(vec![(Item::Text("a".into()), Item::Unsigned(1))])
        );
        assert_eq!(decode(&[0x5f, 0x42, 1, 2, 0x41, 3, 0xff]).unwrap(), Item::Bytes(vec![1, 2, 3]));
        assert_eq!(decode(&[0xf6]).unwrap(), Item::Null);
        assert_eq!(decode(&[0xf7]).unwrap(), Item::Null);
        // Duplicates are kept for the caller to refuse.
        assert_eq!(
            decode(&[0xa2, 0x01, 0x02, 0x01, 0x03]).unwrap(),
            Item::Map(vec![(Item::Unsigned(1), Item::Unsigned(2)), (Item::Unsigned(1), Item::Unsigned(3))])
        );
    }

    /// The case `ciborium::Value` gets wrong for this verifier: a bignum is not an unsigned integer.
    #[test]
    fn bignums_stay_tagged() {
        assert_eq!(decode(&[0xc2, 0x41, 0x01]).unwrap(), Item::Tag);
        assert_eq!(decode(&[0xc3, 0x41, 0x01]).unwrap(), Item::Negative);
        assert_eq!(decode(&[0xc1, 0x1a, 0, 0, 0, 1]).unwrap(), Item::Tag);
        assert_eq!(decode_value(&[0xc2, 0x41, 0x01]).unwrap(), Value::Integer(1.into()), "what Value would say");
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(decode(&[0x01, 0x02]).unwrap_err(), CborError { offset: 1, problem: CborProblem::TrailingBytes });
        assert_eq!(problem(&[0x5a, 0xff, 0xff, 0xff, 0xff]), CborProblem::Truncated);
        assert_eq!(problem(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), CborProblem::Truncated);
        assert_eq!(problem(&[0x1c]), CborProblem::Malformed);
        assert_eq!(problem(&[0x1f]), CborProblem::Malformed);
        assert_eq!(problem(&[0x5f, 0x61, b'a', 0xff]), CborProblem::Malformed);
        assert_eq!(problem(&[0x62, 0xff, 0xfe]), CborProblem::Malformed);
        assert_eq!(problem(&[0xff]), CborProblem::UnsupportedSimple);
        assert_eq!(problem(&[0xf0]), CborProblem::UnsupportedSimple);
        assert_eq!(problem(&[0xbf, 0x01]), CborProblem::Truncated);
        assert_eq!(problem(&[0x81; 40]), CborProblem::TooDeep);
        // Sixteen levels are read; the seventeenth is refused.
        assert!(decode(&[[0x81; 15].as_slice(), &[0x80]].concat()).is_ok());
        assert_eq!(problem(&[[0x81; 16].as_slice(), &[0x80]].concat()), CborProblem::TooDeep);
    }
}
