//! `attestation::user_data`: the function claim an enclave makes in its document's `user_data`.
//!
//! In: `user_data` bytes from a verified document (the signature makes them the enclave's words, not
//! the network's), or a claim to encode on the enclave side. Out: [`EnclaveUserData`]. Decides nothing
//! about whether the claim is the expected one; `policy` compares it with the pins.

use std::fmt;

use base64::Engine as _;
use enclave_protocol::{FunctionChecksum, FunctionId};

use super::cbor::{self, Item};
use super::error::UserDataError;

/// Which form of function claim a caller expects in `user_data`.
///
/// Each form is accepted only where it is expected: a `Verifier` used for this protocol refuses
/// Cape's JSON claim (it names no function, so it cannot say which function the enclave serves), and
/// a Cape-mode connection accepts only Cape's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UserDataForm {
    /// This protocol's CBOR claim, [`EnclaveUserData`] (the default).
    #[default]
    Native,
    /// Cape Privacy's `{"func_checksum": "<standard base64>"}`, set by
    /// [`Client::connect_cape`](crate::Client::connect_cape).
    Cape,
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
/// use enclave_sdk::attestation::EnclaveUserData;
/// use enclave_sdk::{FunctionChecksum, FunctionId};
/// let claim = EnclaveUserData::new("echo".parse::<FunctionId>()?, FunctionChecksum::from_bytes([7; 32]));
/// assert_eq!(EnclaveUserData::decode(&claim.encode())?, claim);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnclaveUserData {
    /// The function this enclave serves.
    pub function_id: FunctionId,
    /// SHA-256 of the function, as `enclave checksum` computes it.
    pub function_checksum: FunctionChecksum,
    /// SHA-256 of the enclave's TLS SubjectPublicKeyInfo (DER), when it binds one.
    pub tls_spki_sha256: Option<[u8; 32]>,
}

impl fmt::Debug for EnclaveUserData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

    /// The CBOR encoding (definite-length map, shortest heads).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        let entries = if self.tls_spki_sha256.is_some() { 3 } else { 2 };
        cbor::write_head(&mut out, 5, entries);
        cbor::write_text(&mut out, "function_id");
        cbor::write_text(&mut out, self.function_id.as_str());
        cbor::write_text(&mut out, "function_checksum");
        cbor::write_bytes(&mut out, self.function_checksum.as_bytes());
        if let Some(spki) = &self.tls_spki_sha256 {
            cbor::write_text(&mut out, "tls_spki_sha256");
            cbor::write_bytes(&mut out, spki);
        }
        out
    }

    /// Decodes the CBOR claim.
    ///
    /// # Errors
    ///
    /// [`crate::attestation::AttestationError::UserData`]: [`UserDataError::CapeForm`] for Cape's JSON
    /// claim, or the key that is missing, duplicated or of the wrong type or length, or
    /// [`UserDataError::Unrecognised`] for anything else.
    pub fn decode(bytes: &[u8]) -> Result<Self, super::AttestationError> {
        Ok(Self::decode_inner(bytes)?)
    }

    fn decode_inner(bytes: &[u8]) -> Result<Self, UserDataError> {
        if bytes.first() == Some(&b'{') {
            return Err(match decode_cape_json(bytes) {
                Ok(_) => UserDataError::CapeForm,
                Err(_) => UserDataError::Unrecognised,
            });
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
                ("function_id", Item::Text(id)) => {
                    function_id = Some(FunctionId::new(id.as_ref()).map_err(|_| UserDataError::Invalid { key })?);
                }
                ("function_id", _) => return Err(UserDataError::Invalid { key }),
                ("function_checksum", _) => checksum = Some(FunctionChecksum::from_bytes(digest32(key, v)?)),
                _ => spki = Some(digest32(key, v)?),
            }
        }
        Ok(Self {
            function_id: function_id.ok_or(UserDataError::Missing { key: "function_id" })?,
            function_checksum: checksum.ok_or(UserDataError::Missing { key: "function_checksum" })?,
            tls_spki_sha256: spki,
        })
    }
}

/// A function claim as one [`UserDataForm`] reads it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Claim {
    /// This protocol's claim.
    Native(EnclaveUserData),
    /// Cape's claim: a checksum, no function id.
    Cape(FunctionChecksum),
}

impl Claim {
    /// Decodes `bytes` in the one form `form` expects.
    pub(crate) fn decode(form: UserDataForm, bytes: &[u8]) -> Result<Self, UserDataError> {
        match form {
            UserDataForm::Native => EnclaveUserData::decode_inner(bytes).map(Claim::Native),
            UserDataForm::Cape => decode_cape_json(bytes).map(Claim::Cape),
        }
    }

    pub(crate) fn function_id(&self) -> Option<&FunctionId> {
        match self {
            Self::Native(c) => Some(&c.function_id),
            Self::Cape(_) => None,
        }
    }

    pub(crate) fn checksum(&self) -> FunctionChecksum {
        match self {
            Self::Native(c) => c.function_checksum,
            Self::Cape(sum) => *sum,
        }
    }
}

/// The checksum in Cape's JSON claim `{"func_checksum": "<standard base64 of 32 bytes>"}`, for tools
/// that pin a Cape enclave's document (`enclave policy init`).
///
/// # Errors
///
/// [`crate::attestation::AttestationError::UserData`] with [`UserDataError::NotCapeForm`], or
/// [`UserDataError::Invalid`] for a `func_checksum` that is not base64 of 32 bytes.
pub fn cape_function_checksum(user_data: &[u8]) -> Result<FunctionChecksum, super::AttestationError> {
    Ok(decode_cape_json(user_data)?)
}

/// Cape's enclaves put `{"func_checksum": "<standard base64 of 32 bytes>"}` in user data.
fn decode_cape_json(bytes: &[u8]) -> Result<FunctionChecksum, UserDataError> {
    #[derive(serde::Deserialize)]
    struct Cape {
        func_checksum: String,
    }
    let cape: Cape = serde_json::from_slice(bytes).map_err(|_| UserDataError::NotCapeForm)?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(cape.func_checksum)
        .map_err(|_| UserDataError::Invalid { key: "func_checksum" })?;
    FunctionChecksum::try_from(raw.as_slice()).map_err(|_| UserDataError::Invalid { key: "func_checksum" })
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
        EnclaveUserData::new(FunctionId::new("echo").unwrap(), FunctionChecksum::from_bytes([7; 32]))
            .with_tls_spki_sha256([9; 32])
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
    fn each_form_is_read_only_where_it_is_expected() {
        let json = format!(r#"{{"func_checksum":"{}"}}"#, base64::engine::general_purpose::STANDARD.encode([5u8; 32]));
        let sum = FunctionChecksum::from_bytes([5; 32]);
        assert_eq!(Claim::decode(UserDataForm::Cape, json.as_bytes()), Ok(Claim::Cape(sum)));
        assert_eq!(cape_function_checksum(json.as_bytes()), Ok(sum));
        // The native form refuses Cape's claim by name, and Cape mode refuses the native claim.
        assert_eq!(EnclaveUserData::decode(json.as_bytes()), Err(AttestationError::UserData(UserDataError::CapeForm)));
        assert_eq!(Claim::decode(UserDataForm::Native, json.as_bytes()), Err(UserDataError::CapeForm));
        assert_eq!(Claim::decode(UserDataForm::Cape, &claim().encode()), Err(UserDataError::NotCapeForm));
        assert_eq!(
            Claim::decode(UserDataForm::Cape, br#"{"func_checksum":"AAAA"}"#),
            Err(UserDataError::Invalid { key: "func_checksum" })
        );
        assert_eq!(
            EnclaveUserData::decode(br#"{"other":1}"#),
            Err(AttestationError::UserData(UserDataError::Unrecognised))
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
        // The function id follows the one FunctionId rule: too long, or outside the charset.
        for bad in ["x".repeat(129), "a/b".to_owned(), String::new()] {
            let mut enc = vec![0xa2];
            cbor::write_text(&mut enc, "function_id");
            cbor::write_text(&mut enc, &bad);
            cbor::write_text(&mut enc, "function_checksum");
            cbor::write_bytes(&mut enc, &[0; 32]);
            assert_eq!(err(&enc), ud(UserDataError::Invalid { key: "function_id" }), "{bad:?}");
        }
    }
}
