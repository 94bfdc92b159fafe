//! The enclave's claim in its document's `user_data`: which function it serves, that function's
//! checksum, and (on `wss://`) its TLS key (PROTOCOL.md section 4 step 2), and Cape's JSON form of
//! the same claim (section 9.1).
//!
//! Input: a claim to encode (the enclave side), or `user_data` bytes to decode (the client side; from
//! a verified document, so the signature makes them the enclave's words, not the network's). Output:
//! [`EnclaveUserData`] or a Cape checksum, or a [`UserDataError`] naming the key at fault. Decides
//! nothing about whether the claim is the expected one: the client's policy compares it with its pins,
//! and only a Cape-mode connection asks for Cape's form.
//!
//! CBOR is read and written by `ciborium`, not by hand: a value tree with duplicate keys kept (so they
//! can be refused), at most [`MAX_DEPTH`] levels deep, and one item spanning all of the bytes.

use base64::Engine as _;
use ciborium::Value;

use crate::function::{FunctionChecksum, FunctionId};

/// Deepest CBOR nesting a claim may have; a genuine claim has 2 (a map of strings).
const MAX_DEPTH: usize = 16;

const FUNCTION_ID: &str = "function_id";
const FUNCTION_CHECKSUM: &str = "function_checksum";
const TLS_SPKI_SHA256: &str = "tls_spki_sha256";
const CAPE_FUNC_CHECKSUM: &str = "func_checksum";

/// Why `user_data` is not the function claim it should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserDataError {
    /// Neither the CBOR claim nor (in Cape mode) Cape's JSON form.
    #[error("not a CBOR function claim")]
    Unrecognised,
    /// A required key is missing.
    #[error("{key} is missing")]
    Missing {
        /// The key.
        key: &'static str,
    },
    /// A key has the wrong type or length.
    #[error("{key} has the wrong type or length")]
    Invalid {
        /// The key.
        key: &'static str,
    },
    /// A key appears twice.
    #[error("duplicate key {key}")]
    DuplicateKey {
        /// The key.
        key: &'static str,
    },
    /// Cape's JSON claim `{"func_checksum": ...}`, which names no function, where this protocol's
    /// CBOR claim is required: only a Cape-mode connection accepts it.
    #[error("Cape's JSON claim {{\"func_checksum\": ...}} names no function; only a Cape-mode connection accepts it")]
    CapeForm,
    /// In Cape mode, user data that is not Cape's `{"func_checksum": "<base64>"}`.
    #[error("not Cape's {{\"func_checksum\": base64}} JSON claim")]
    NotCapeForm,
}

/// What an enclave says it runs: a function id, the SHA-256 checksum of that function, and optionally
/// the SHA-256 of its TLS SubjectPublicKeyInfo (binding a TLS key to the attestation).
///
/// Wire form (CBOR map, text keys, in this order): `"function_id"` (tstr, a [`FunctionId`]),
/// `"function_checksum"` (bstr 32), and `"tls_spki_sha256"` (bstr 32) only when present. Unknown keys
/// are ignored, so a newer enclave may add some.
///
/// # Examples
///
/// ```
/// use enclave_protocol::{EnclaveUserData, FunctionChecksum, FunctionId};
/// let claim = EnclaveUserData::new("echo".parse::<FunctionId>()?, FunctionChecksum::from_bytes([7; 32]))
///     .with_tls_spki_sha256([9; 32]);
/// assert_eq!(EnclaveUserData::decode(&claim.encode())?, claim);
/// assert_eq!(claim.function_id().as_str(), "echo");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct EnclaveUserData {
    function_id: FunctionId,
    function_checksum: FunctionChecksum,
    tls_spki_sha256: Option<[u8; 32]>,
}

impl std::fmt::Debug for EnclaveUserData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnclaveUserData")
            .field("function_id", &self.function_id)
            .field("function_checksum", &self.function_checksum)
            .field("tls_spki_sha256", &self.tls_spki_sha256.map(hex::encode))
            .finish()
    }
}

impl EnclaveUserData {
    /// A claim to serve `function_id`, whose checksum is `function_checksum`, binding no TLS key.
    pub fn new(function_id: FunctionId, function_checksum: FunctionChecksum) -> Self {
        Self { function_id, function_checksum, tls_spki_sha256: None }
    }

    /// The same claim, binding the TLS key whose SubjectPublicKeyInfo has this SHA-256.
    #[must_use]
    pub fn with_tls_spki_sha256(mut self, spki_sha256: [u8; 32]) -> Self {
        self.tls_spki_sha256 = Some(spki_sha256);
        self
    }

    /// The function this enclave serves.
    pub fn function_id(&self) -> &FunctionId {
        &self.function_id
    }

    /// SHA-256 of the function, as `enclave checksum` computes it.
    pub fn function_checksum(&self) -> FunctionChecksum {
        self.function_checksum
    }

    /// SHA-256 of the enclave's TLS SubjectPublicKeyInfo (DER), when it binds one.
    pub fn tls_spki_sha256(&self) -> Option<[u8; 32]> {
        self.tls_spki_sha256
    }

    /// The CBOR encoding (definite-length map, shortest heads).
    pub fn encode(&self) -> Vec<u8> {
        // Written by hand rather than through ciborium: the layout is the contract (PROTOCOL.md
        // section 4 step 2), it has three fixed entries, and this way encoding cannot fail. Decoding,
        // where the bytes are the peer's, is ciborium's (and the tests check one against the other).
        let mut out = Vec::with_capacity(128);
        let entries = if self.tls_spki_sha256.is_some() { 3 } else { 2 };
        write_head(&mut out, MAJOR_MAP, entries);
        write_text(&mut out, FUNCTION_ID);
        write_text(&mut out, self.function_id.as_str());
        write_text(&mut out, FUNCTION_CHECKSUM);
        write_bytes(&mut out, self.function_checksum.as_bytes());
        if let Some(spki) = &self.tls_spki_sha256 {
            write_text(&mut out, TLS_SPKI_SHA256);
            write_bytes(&mut out, spki);
        }
        out
    }

    /// Decodes the CBOR claim.
    ///
    /// # Errors
    /// [`UserDataError::CapeForm`] for Cape's JSON claim, the key that is missing, duplicated or of the
    /// wrong type or length, or [`UserDataError::Unrecognised`] for anything else.
    pub fn decode(bytes: &[u8]) -> Result<Self, UserDataError> {
        if bytes.first() == Some(&b'{') {
            return Err(match cape_function_checksum(bytes) {
                Ok(_) => UserDataError::CapeForm,
                Err(_) => UserDataError::Unrecognised,
            });
        }
        let Some(Value::Map(entries)) = decode_one(bytes) else {
            return Err(UserDataError::Unrecognised);
        };
        let mut function_id = None;
        let mut checksum = None;
        let mut spki = None;
        let mut seen: Vec<&'static str> = Vec::with_capacity(3);
        for (k, v) in &entries {
            let Value::Text(k) = k else { return Err(UserDataError::Unrecognised) };
            let key = match k.as_str() {
                FUNCTION_ID => FUNCTION_ID,
                FUNCTION_CHECKSUM => FUNCTION_CHECKSUM,
                TLS_SPKI_SHA256 => TLS_SPKI_SHA256,
                // Forward compatible: a newer enclave may add keys.
                _ => continue,
            };
            if seen.contains(&key) {
                return Err(UserDataError::DuplicateKey { key });
            }
            seen.push(key);
            match (key, v) {
                (FUNCTION_ID, Value::Text(id)) => {
                    function_id = Some(FunctionId::new(id.as_str()).map_err(|_| UserDataError::Invalid { key })?);
                }
                (FUNCTION_ID, _) => return Err(UserDataError::Invalid { key }),
                (FUNCTION_CHECKSUM, _) => checksum = Some(FunctionChecksum::from_bytes(digest32(key, v)?)),
                _ => spki = Some(digest32(key, v)?),
            }
        }
        Ok(Self {
            function_id: function_id.ok_or(UserDataError::Missing { key: FUNCTION_ID })?,
            function_checksum: checksum.ok_or(UserDataError::Missing { key: FUNCTION_CHECKSUM })?,
            tls_spki_sha256: spki,
        })
    }
}

const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_MAP: u8 = 5;

/// RFC 8949 section 3: a head in its shortest form.
fn write_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let major = major << 5;
    match n {
        0..=23 => out.push(major | n as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, n as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

fn write_text(out: &mut Vec<u8>, s: &str) {
    write_head(out, MAJOR_TEXT, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_head(out, MAJOR_BYTES, b.len() as u64);
    out.extend_from_slice(b);
}

/// Exactly one CBOR item spanning all of `bytes`, or `None`.
fn decode_one(bytes: &[u8]) -> Option<Value> {
    let mut rest = bytes;
    let value = ciborium::de::from_reader_with_recursion_limit(&mut rest, MAX_DEPTH).ok()?;
    rest.is_empty().then_some(value)
}

fn digest32(key: &'static str, v: &Value) -> Result<[u8; 32], UserDataError> {
    match v {
        Value::Bytes(b) => b.as_slice().try_into().map_err(|_| UserDataError::Invalid { key }),
        _ => Err(UserDataError::Invalid { key }),
    }
}

/// Cape's claim, `{"func_checksum": "<standard base64 of the SHA-256>"}`: what a Cape-protocol
/// enclave puts in `user_data` (it names no function).
///
/// # Examples
///
/// ```
/// use enclave_protocol::{cape_function_checksum, cape_user_data, FunctionChecksum};
/// let sum = FunctionChecksum::from_bytes([5; 32]);
/// assert_eq!(cape_function_checksum(&cape_user_data(&sum)), Ok(sum));
/// ```
pub fn cape_user_data(checksum: &FunctionChecksum) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(checksum.as_bytes());
    serde_json::json!({ CAPE_FUNC_CHECKSUM: encoded }).to_string().into_bytes()
}

/// The checksum in Cape's JSON claim (see [`cape_user_data`]).
///
/// # Errors
/// [`UserDataError::NotCapeForm`] for anything but that JSON object, or [`UserDataError::Invalid`] for
/// a `func_checksum` that is not standard base64 of 32 bytes.
pub fn cape_function_checksum(user_data: &[u8]) -> Result<FunctionChecksum, UserDataError> {
    #[derive(serde::Deserialize)]
    struct Cape {
        func_checksum: String,
    }
    let cape: Cape = serde_json::from_slice(user_data).map_err(|_| UserDataError::NotCapeForm)?;
    let invalid = UserDataError::Invalid { key: CAPE_FUNC_CHECKSUM };
    let raw = base64::engine::general_purpose::STANDARD.decode(cape.func_checksum).map_err(|_| invalid)?;
    FunctionChecksum::try_from(raw.as_slice()).map_err(|_| invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> EnclaveUserData {
        EnclaveUserData::new(FunctionId::new("echo").unwrap(), FunctionChecksum::from_bytes([7; 32]))
            .with_tls_spki_sha256([9; 32])
    }

    fn cbor(v: Value) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(&v, &mut out).unwrap();
        out
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    /// The contract's bytes, written out by hand: map(3), then each key and value with its head.
    #[test]
    fn round_trips_and_has_the_contract_layout() {
        let c = claim();
        let enc = c.encode();
        let mut expected = vec![0xa3, 0x6b];
        expected.extend_from_slice(b"function_id");
        expected.extend_from_slice(&[0x64]);
        expected.extend_from_slice(b"echo");
        expected.extend_from_slice(&[0x71]);
        expected.extend_from_slice(b"function_checksum");
        expected.extend_from_slice(&[0x58, 32]);
        expected.extend_from_slice(&[7; 32]);
        expected.extend_from_slice(&[0x6f]);
        expected.extend_from_slice(b"tls_spki_sha256");
        expected.extend_from_slice(&[0x58, 32]);
        expected.extend_from_slice(&[9; 32]);
        assert_eq!(enc, expected);
        // ciborium writes the same bytes for the same map: the hand-written heads are the shortest.
        let map = Value::Map(vec![
            (text("function_id"), text("echo")),
            (text("function_checksum"), Value::Bytes(vec![7; 32])),
            (text("tls_spki_sha256"), Value::Bytes(vec![9; 32])),
        ]);
        assert_eq!(enc, cbor(map));
        assert_eq!(EnclaveUserData::decode(&enc), Ok(c.clone()));
        let without = EnclaveUserData { tls_spki_sha256: None, ..c };
        assert_eq!(without.encode()[0], 0xa2);
        assert_eq!(EnclaveUserData::decode(&without.encode()), Ok(without));
    }

    #[test]
    fn cape_claims_are_read_only_by_cape_readers() {
        let json = format!(r#"{{"func_checksum":"{}"}}"#, base64::engine::general_purpose::STANDARD.encode([5u8; 32]));
        let sum = FunctionChecksum::from_bytes([5; 32]);
        assert_eq!(cape_function_checksum(json.as_bytes()), Ok(sum));
        // What the enclave writes is the JSON pycape reads, byte for byte.
        assert_eq!(cape_user_data(&sum), json.as_bytes());
        // The native form refuses Cape's claim by name, and Cape's reader refuses the native claim.
        assert_eq!(EnclaveUserData::decode(json.as_bytes()), Err(UserDataError::CapeForm));
        assert_eq!(cape_function_checksum(&claim().encode()), Err(UserDataError::NotCapeForm));
        assert_eq!(
            cape_function_checksum(br#"{"func_checksum":"AAAA"}"#),
            Err(UserDataError::Invalid { key: "func_checksum" })
        );
        assert_eq!(EnclaveUserData::decode(br#"{"other":1}"#), Err(UserDataError::Unrecognised));
    }

    #[test]
    fn schema_violations_name_the_key() {
        let err = |b: &[u8]| EnclaveUserData::decode(b).unwrap_err();
        assert_eq!(err(b"hello"), UserDataError::Unrecognised);
        assert_eq!(err(b""), UserDataError::Unrecognised);
        let only_id = cbor(Value::Map(vec![(text("function_id"), text("f"))]));
        assert_eq!(err(&only_id), UserDataError::Missing { key: "function_checksum" });
        let mut dup = claim().encode();
        dup[0] = 0xa4;
        dup.extend_from_slice(&cbor(text("function_id")));
        dup.extend_from_slice(&cbor(text("g")));
        assert_eq!(err(&dup), UserDataError::DuplicateKey { key: "function_id" });
        let short = cbor(Value::Map(vec![
            (text("function_id"), text("f")),
            (text("function_checksum"), Value::Bytes(vec![0; 31])),
        ]));
        assert_eq!(err(&short), UserDataError::Invalid { key: "function_checksum" });
        // The function id follows the one FunctionId rule: too long, or outside the charset.
        for bad in ["x".repeat(129), "a/b".to_owned(), String::new()] {
            let enc = cbor(Value::Map(vec![
                (text("function_id"), text(&bad)),
                (text("function_checksum"), Value::Bytes(vec![0; 32])),
            ]));
            assert_eq!(err(&enc), UserDataError::Invalid { key: "function_id" }, "{bad:?}");
        }
        // A key that is not text, bytes after the map, and nesting past the bound.
        let int_key = cbor(Value::Map(vec![(Value::Integer(1.into()), text("f"))]));
        assert_eq!(err(&int_key), UserDataError::Unrecognised);
        let mut trailing = claim().encode();
        trailing.push(0);
        assert_eq!(err(&trailing), UserDataError::Unrecognised);
        let mut deep = text("x");
        for _ in 0..MAX_DEPTH {
            deep = Value::Array(vec![deep]);
        }
        let nested = cbor(Value::Map(vec![
            (text("function_id"), text("f")),
            (text("function_checksum"), Value::Bytes(vec![0; 32])),
            (text("future"), deep),
        ]));
        assert_eq!(err(&nested), UserDataError::Unrecognised);
        // Unknown keys are ignored when they are well-formed.
        let newer = cbor(Value::Map(vec![
            (text("function_id"), text("f")),
            (text("function_checksum"), Value::Bytes(vec![1; 32])),
            (text("future"), Value::Array(vec![text("x")])),
        ]));
        assert_eq!(
            EnclaveUserData::decode(&newer).map(|c| c.function_checksum()),
            Ok(FunctionChecksum::from_bytes([1; 32]))
        );
    }

    proptest::proptest! {
        #[test]
        fn the_decoder_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..128)) {
            let _ = EnclaveUserData::decode(&bytes);
            let _ = cape_function_checksum(&bytes);
        }
    }
}
