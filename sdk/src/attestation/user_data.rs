//! `attestation::user_data`: the function claim an enclave makes in its document's `user_data`.
//!
//! In: `user_data` bytes from a verified document (the signature makes them the enclave's words, not
//! the network's), or a claim to encode on the enclave side. Out: [`EnclaveUserData`]. Decides nothing
//! about whether the claim is the expected one; `policy` compares it with the pins.

use std::fmt;

use base64::Engine as _;

use super::cbor::{self, Item};
use super::error::UserDataError;

/// `function_id` is 1..=128 bytes of UTF-8.
pub const MAX_FUNCTION_ID_LEN: usize = 128;

/// What an enclave says it runs: a function id, the SHA-256 checksum of that function, and optionally
/// the SHA-256 of its TLS SubjectPublicKeyInfo (binding a TLS key to the attestation).
///
/// Wire form (CBOR map, text keys, in this order): `"function_id"` (tstr, 1..=128 bytes),
/// `"function_checksum"` (bstr 32), and `"tls_spki_sha256"` (bstr 32) only when present. Decoding also
/// accepts Cape's JSON `{"func_checksum": "<standard base64>"}`, with an empty function id.
#[derive(Clone, PartialEq, Eq)]
pub struct EnclaveUserData {
    /// The function this enclave serves (empty when decoded from Cape's JSON form).
    pub function_id: String,
    /// SHA-256 of the function, as `enclave checksum` computes it.
    pub function_checksum: [u8; 32],
    /// SHA-256 of the enclave's TLS SubjectPublicKeyInfo (DER), when it binds one.
    pub tls_spki_sha256: Option<[u8; 32]>,
}

impl fmt::Debug for EnclaveUserData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnclaveUserData")
            .field("function_id", &self.function_id)
            .field("function_checksum", &hex::encode(self.function_checksum))
            .field("tls_spki_sha256", &self.tls_spki_sha256.map(hex::encode))
            .finish()
    }
}

impl EnclaveUserData {
    /// The CBOR encoding (definite-length map, shortest heads).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        let entries = if self.tls_spki_sha256.is_some() { 3 } else { 2 };
        cbor::write_head(&mut out, 5, entries);
        cbor::write_text(&mut out, "function_id");
        cbor::write_text(&mut out, &self.function_id);
        cbor::write_text(&mut out, "function_checksum");
        cbor::write_bytes(&mut out, &self.function_checksum);
        if let Some(spki) = &self.tls_spki_sha256 {
            cbor::write_text(&mut out, "tls_spki_sha256");
            cbor::write_bytes(&mut out, spki);
        }
        out
    }

    /// Decodes the CBOR claim, or Cape's JSON form.
    ///
    /// # Errors
    ///
    /// [`crate::attestation::AttestationError::UserData`] naming the key that is missing, duplicated
    /// or of the wrong type or length, or [`UserDataError::Unrecognised`] for anything else.
    pub fn decode(bytes: &[u8]) -> Result<Self, super::AttestationError> {
        Ok(Self::decode_inner(bytes)?)
    }

    fn decode_inner(bytes: &[u8]) -> Result<Self, UserDataError> {
        if bytes.first() == Some(&b'{') {
            return Self::decode_cape_json(bytes);
        }
        let Ok(Item::Map(entries)) = cbor::decode(bytes) else {
            return Err(UserDataError::Unrecognised);
        };
        let mut function_id = None;
        let mut checksum = None;
        let mut spki = None;
        let mut seen: Vec<&'static str> = Vec::with_capacity(3);
        for (k, v) in &entries {
            let Item::Text(k) = k else { return Err(UserDataError::Unrecognised) };
            let key = match k.as_ref() {
                "function_id" => "function_id",
                "function_checksum" => "function_checksum",
                "tls_spki_sha256" => "tls_spki_sha256",
                // Forward compatible: a newer enclave may add keys.
                _ => continue,
            };
            if seen.contains(&key) {
                return Err(UserDataError::DuplicateKey { key });
            }
            seen.push(key);
            match (key, v) {
                ("function_id", Item::Text(id)) if !id.is_empty() && id.len() <= MAX_FUNCTION_ID_LEN => {
                    function_id = Some(id.to_string());
                }
                ("function_id", _) => return Err(UserDataError::Invalid { key }),
                ("function_checksum", _) => checksum = Some(digest32(key, v)?),
                _ => spki = Some(digest32(key, v)?),
            }
        }
        Ok(Self {
            function_id: function_id.ok_or(UserDataError::Missing { key: "function_id" })?,
            function_checksum: checksum.ok_or(UserDataError::Missing { key: "function_checksum" })?,
            tls_spki_sha256: spki,
        })
    }

    /// Cape's enclaves put `{"func_checksum": "<standard base64 of 32 bytes>"}` in user data.
    fn decode_cape_json(bytes: &[u8]) -> Result<Self, UserDataError> {
        #[derive(serde::Deserialize)]
        struct Cape {
            func_checksum: String,
        }
        let cape: Cape = serde_json::from_slice(bytes).map_err(|_| UserDataError::Unrecognised)?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(cape.func_checksum)
            .map_err(|_| UserDataError::Invalid { key: "func_checksum" })?;
        let function_checksum = raw.try_into().map_err(|_| UserDataError::Invalid { key: "func_checksum" })?;
        Ok(Self { function_id: String::new(), function_checksum, tls_spki_sha256: None })
    }
}

fn digest32(key: &'static str, v: &Item<'_>) -> Result<[u8; 32], UserDataError> {
    match v {
        Item::Bytes(b) => b.as_ref().try_into().map_err(|_| UserDataError::Invalid { key }),
        _ => Err(UserDataError::Invalid { key }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attestation::AttestationError;

    fn claim() -> EnclaveUserData {
        EnclaveUserData { function_id: "echo".into(), function_checksum: [7; 32], tls_spki_sha256: Some([9; 32]) }
    }

    #[test]
    fn round_trips_and_has_the_contract_layout() {
        let c = claim();
        let enc = c.encode();
        assert_eq!(EnclaveUserData::decode(&enc), Ok(c.clone()));
        // a3, "function_id", "echo", ...
        assert_eq!(&enc[..13], b"\xa3\x6bfunction_id");
        let without = EnclaveUserData { tls_spki_sha256: None, ..c };
        assert_eq!(without.encode()[0], 0xa2);
        assert_eq!(EnclaveUserData::decode(&without.encode()), Ok(without));
    }

    #[test]
    fn cape_json_form() {
        let json = format!(r#"{{"func_checksum":"{}"}}"#, base64::engine::general_purpose::STANDARD.encode([5u8; 32]));
        let d = EnclaveUserData::decode(json.as_bytes()).unwrap();
        assert_eq!(d.function_checksum, [5; 32]);
        assert_eq!(d.function_id, "");
        assert_eq!(
            EnclaveUserData::decode(br#"{"func_checksum":"AAAA"}"#),
            Err(AttestationError::UserData(UserDataError::Invalid { key: "func_checksum" }))
        );
    }

    #[test]
    fn schema_violations_name_the_key() {
        let err = |b: &[u8]| EnclaveUserData::decode(b).unwrap_err();
        let ud = |e: UserDataError| AttestationError::UserData(e);
        assert_eq!(err(b"hello"), ud(UserDataError::Unrecognised));
        let mut only_id = vec![0xa1];
        cbor::write_text(&mut only_id, "function_id");
        cbor::write_text(&mut only_id, "f");
        assert_eq!(err(&only_id), ud(UserDataError::Missing { key: "function_checksum" }));
        let mut dup = claim().encode();
        dup[0] = 0xa4;
        cbor::write_text(&mut dup, "function_id");
        cbor::write_text(&mut dup, "g");
        assert_eq!(err(&dup), ud(UserDataError::DuplicateKey { key: "function_id" }));
        let mut short = vec![0xa2];
        cbor::write_text(&mut short, "function_id");
        cbor::write_text(&mut short, "f");
        cbor::write_text(&mut short, "function_checksum");
        cbor::write_bytes(&mut short, &[0; 31]);
        assert_eq!(err(&short), ud(UserDataError::Invalid { key: "function_checksum" }));
        let long_id = EnclaveUserData { function_id: "x".repeat(129), ..claim() };
        assert_eq!(err(&long_id.encode()), ud(UserDataError::Invalid { key: "function_id" }));
    }
}
