//! `attestation::user_data`: which form of the enclave's function claim a connection reads.
//!
//! In: `user_data` bytes from a verified document (the signature makes them the enclave's words, not
//! the network's) and the form the connection expects. Out: the claim, decoded by the protocol core
//! (`enclave_protocol::EnclaveUserData` for this protocol's CBOR claim, Cape's JSON form for Cape mode),
//! or the [`UserDataError`] naming the key at fault. Decides nothing about whether the claim is the
//! expected one; `policy` compares it with the pins.

use enclave_protocol::{cape_function_checksum, EnclaveUserData, FunctionChecksum, FunctionId, UserDataError};

/// Which form of function claim a caller expects in `user_data`.
///
/// Each form is accepted only where it is expected: a `Verifier` used for this protocol refuses
/// Cape's JSON claim (it names no function, so it cannot say which function the enclave serves), and
/// a Cape-mode connection accepts only Cape's.
///
/// # Examples
///
/// ```
/// use enclave_sdk::attestation::{Expected, UserDataForm};
/// // What Client::connect_cape expects; every other connection expects the native claim.
/// let cape = Expected::none().with_user_data_form(UserDataForm::Cape);
/// assert_eq!(UserDataForm::default(), UserDataForm::Native);
/// # let _ = cape;
/// ```
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
            UserDataForm::Native => EnclaveUserData::decode(bytes).map(Claim::Native),
            UserDataForm::Cape => cape_function_checksum(bytes).map(Claim::Cape),
        }
    }

    pub(crate) fn function_id(&self) -> Option<&FunctionId> {
        match self {
            Self::Native(c) => Some(c.function_id()),
            Self::Cape(_) => None,
        }
    }

    pub(crate) fn checksum(&self) -> FunctionChecksum {
        match self {
            Self::Native(c) => c.function_checksum(),
            Self::Cape(sum) => *sum,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_form_is_read_only_where_it_is_expected() {
        let sum = FunctionChecksum::from_bytes([5; 32]);
        let cape = enclave_protocol::cape_user_data(&sum);
        let native = EnclaveUserData::new(FunctionId::new("echo").unwrap(), FunctionChecksum::from_bytes([7; 32]));
        assert_eq!(Claim::decode(UserDataForm::Cape, &cape), Ok(Claim::Cape(sum)));
        assert_eq!(Claim::decode(UserDataForm::Native, &native.encode()), Ok(Claim::Native(native.clone())));
        // The native form refuses Cape's claim by name, and Cape mode refuses the native claim.
        assert_eq!(Claim::decode(UserDataForm::Native, &cape), Err(UserDataError::CapeForm));
        assert_eq!(Claim::decode(UserDataForm::Cape, &native.encode()), Err(UserDataError::NotCapeForm));
        assert_eq!(
            Claim::decode(UserDataForm::Cape, br#"{"func_checksum":"AAAA"}"#),
            Err(UserDataError::Invalid { key: "func_checksum" })
        );
    }
}
