//! The one step that binds a verified document to this connection, for every way the client connects.
//!
//! Input: the document as received (untrusted), what this connection sent and asked for (the nonce
//! and the function), the key the TLS handshake used (on `wss://`), and what the connection is for.
//! Output: an [`AttestedEnclave`], the only value the client opens a session or a Cape session with,
//! or (for a fetch, which sends nothing) the verified document; or the error that names the first
//! check that failed. The checks, in order:
//! [`Verifier::verify`] (signature, chain, the policy's pins, and the connection's nonce, function
//! claim and X25519 key, `attestation`'s business); then what only a connection knows: that a native
//! session's document claims the function asked for, and that the TLS key is the one the document
//! binds. Nothing else in the client checks a document.

use enclave_protocol::{FunctionId, KEY_LEN};

use super::tls;
use crate::attestation::{AttestationError, AttestedDocument, Expected, UnixTime, UserDataForm, Verifier};
use crate::error::{Error, SessionError};

/// What the attested connection is for: each needs its own claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// An `enclave-session.v3` session: the document must claim the function in this protocol's form.
    Session,
    /// Fetching the document only (no input is ever sent): any claim or none, and any public key or
    /// none, as other enclave frameworks make them; a claimed function must still be the one asked for.
    Fetch,
    /// A Cape session: Cape's JSON claim, which names no function. Cape binds no TLS key.
    Cape,
}

/// An enclave this connection may send input to: its verified document, and the X25519 key that
/// document attests.
#[derive(Debug, Clone)]
pub(crate) struct AttestedEnclave {
    document: AttestedDocument,
    key: [u8; KEY_LEN],
}

impl AttestedEnclave {
    /// The verified document.
    pub(crate) fn document(&self) -> &AttestedDocument {
        &self.document
    }

    /// The enclave's attested X25519 key, for this connection only.
    pub(crate) fn key(&self) -> &[u8; KEY_LEN] {
        &self.key
    }

    /// The document and the key, for the session that takes both over.
    pub(crate) fn into_parts(self) -> (AttestedDocument, [u8; KEY_LEN]) {
        (self.document, self.key)
    }
}

/// What the connection sent and observed, against which the document is checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Connection<'a> {
    pub(crate) nonce: &'a [u8],
    pub(crate) function_id: &'a FunctionId,
    /// On `wss://`: the DER SubjectPublicKeyInfo of the key the TLS handshake used.
    pub(crate) tls_spki: Option<&'a [u8]>,
    pub(crate) purpose: Purpose,
}

/// Verifies `document` and binds it to `connection` (a session or a Cape session), at `now`.
pub(crate) fn attest(
    verifier: &Verifier,
    document: &[u8],
    connection: &Connection<'_>,
    now: UnixTime,
) -> Result<AttestedEnclave, Error> {
    let document = check(verifier, document, connection, now)?;
    // Always there: `check` had the verifier require a 32-byte key for every purpose but a fetch.
    let key = document.x25519_public_key().ok_or(AttestationError::PublicKeyMissing)?;
    Ok(AttestedEnclave { document, key })
}

/// Verifies `document` and binds it to `connection` (a fetch), at `now`.
pub(crate) fn attest_fetched(
    verifier: &Verifier,
    document: &[u8],
    connection: &Connection<'_>,
    now: UnixTime,
) -> Result<AttestedDocument, Error> {
    check(verifier, document, connection, now)
}

fn check(
    verifier: &Verifier,
    document: &[u8],
    connection: &Connection<'_>,
    now: UnixTime,
) -> Result<AttestedDocument, Error> {
    let form = match connection.purpose {
        Purpose::Cape => UserDataForm::Cape,
        Purpose::Session | Purpose::Fetch => UserDataForm::Native,
    };
    let mut expected = Expected::none()
        .with_nonce(connection.nonce)
        .with_function_id(connection.function_id)
        .with_user_data_form(form);
    if connection.purpose != Purpose::Fetch {
        expected = expected.requiring_x25519_key();
    }
    let document = verifier.verify(document, &expected, now)?;
    // The verifier compares a claimed function with the request; a session also needs the claim, or an
    // enclave that claims nothing could serve any function.
    let claim = document.claimed_function();
    if connection.purpose == Purpose::Session {
        let found = claim.map(|c| c.function_id().clone());
        if found.as_ref() != Some(connection.function_id) {
            return Err(SessionError::FunctionNotAttested { expected: connection.function_id.clone(), found }.into());
        }
    }
    if let (Some(observed), Purpose::Session | Purpose::Fetch) = (connection.tls_spki, connection.purpose) {
        // Attested TLS (PROTOCOL.md section 2.1): this protocol's claim binds the key's SHA-256. A
        // fetched document without that claim may bind the key itself as its whole user data, as
        // Evervault's enclaves do; a session's claim is required above, so only the hash serves it.
        let attested_spki =
            if claim.is_none() && connection.purpose == Purpose::Fetch { document.user_data() } else { None };
        tls::check_binding(observed, claim.and_then(|c| c.tls_spki_sha256()), attested_spki)?;
    }
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attestation::Policy;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/testdata/nitro/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// Evervault's GA document, its TLS certificate, its nonce, and the time it was valid at.
    fn evervault() -> (Vec<u8>, Vec<u8>, Vec<u8>, UnixTime) {
        let doc = fixture("evervault-ga.cbor");
        let spki = tls::certificate_spki(&fixture("evervault-ga-tls-certificate.der")).unwrap();
        let at = UnixTime::from_secs(1_695_049_440);
        let any =
            Verifier::new(Policy::builder().dangerous_accept_any_enclave().dangerous_allow_debug().build().unwrap());
        let nonce = any.verify(&doc, &Expected::none(), at).unwrap().nonce().unwrap_or_default().to_vec();
        (doc, spki, nonce, at)
    }

    fn any_enclave() -> Verifier {
        Verifier::new(Policy::builder().dangerous_accept_any_enclave().dangerous_allow_debug().build().unwrap())
    }

    /// A real document of another framework: fetched over TLS, it binds its TLS key as its whole user
    /// data, and that binding is checked; a session to it is refused, having sent nothing, because it
    /// claims no function; and another TLS key is refused for either.
    #[test]
    fn a_fetch_accepts_evervaults_binding_and_a_session_does_not() {
        let (doc, spki, nonce, at) = evervault();
        let id: FunctionId = "echo".parse().unwrap();
        let conn = |purpose, tls_spki| Connection { nonce: &nonce, function_id: &id, tls_spki, purpose };
        let fetched = attest_fetched(&any_enclave(), &doc, &conn(Purpose::Fetch, Some(&spki)), at).unwrap();
        assert_eq!(fetched.raw(), &doc[..]);

        let mut other = spki.clone();
        if let Some(last) = other.last_mut() {
            *last ^= 1;
        }
        assert_eq!(
            attest_fetched(&any_enclave(), &doc, &conn(Purpose::Fetch, Some(&other)), at).unwrap_err(),
            Error::Session(SessionError::TlsKeyNotAttested {
                observed_sha256: tls::spki_sha256(&other),
                attested_sha256: None
            })
        );
        // Evervault's document carries no public key, so a session is refused by the verifier first.
        assert_eq!(
            attest(&any_enclave(), &doc, &conn(Purpose::Session, Some(&spki)), at).unwrap_err(),
            Error::Attestation(AttestationError::PublicKeyMissing)
        );
    }

    /// Another nonce than the one this connection sent: a replayed document, refused by the verifier
    /// whatever the connection is for.
    #[test]
    fn a_replayed_document_is_refused_for_every_purpose() {
        let (doc, spki, _, at) = evervault();
        let id: FunctionId = "echo".parse().unwrap();
        let fresh = [7u8; 32];
        for purpose in [Purpose::Session, Purpose::Fetch, Purpose::Cape] {
            let conn = Connection { nonce: &fresh, function_id: &id, tls_spki: Some(&spki), purpose };
            let err = check(&any_enclave(), &doc, &conn, at).unwrap_err();
            assert!(matches!(err, Error::Attestation(AttestationError::NonceMismatch { .. })), "{purpose:?}: {err:?}");
        }
    }

    /// A genuine document, right image and nonce, from an enclave that claims no function, or only
    /// Cape's checksum: a policy that pins no checksum lets the verifier pass it, and the binding step
    /// refuses a session (nothing would say which function gets the input), while a fetch takes it.
    /// A claim of the right function whose TLS key is another is refused too, for a session and a
    /// fetch alike; Cape binds no TLS key, so Cape mode does not ask.
    #[test]
    fn a_session_needs_its_function_claimed_and_its_tls_key_bound() {
        use enclave_protocol::{cape_user_data, EnclaveUserData, FunctionChecksum, MeasurementSet, Pcr};
        use enclave_runtime::{AttestationRequest, Attester};
        use mock_enclave::attester::SoftwareNsm;
        use mock_enclave::measurements::Measurements;

        let measurements = Measurements::for_mock([]);
        let nsm = SoftwareNsm::ephemeral(measurements.clone()).unwrap();
        let set = MeasurementSet::new(measurements.pcrs().iter().map(|(i, v)| Pcr::new(*i, v.clone()))).unwrap();
        let root = crate::attestation::TrustRoot::from_pem(&nsm.root_pem()).unwrap();
        let verifier = Verifier::new(Policy::builder().trust_root(root).allow_measurements(set).build().unwrap());
        let (nonce, key, echo): ([u8; 32], [u8; 32], FunctionId) = ([9; 32], [5; 32], "echo".parse().unwrap());
        let document = |user_data: Option<Vec<u8>>| {
            nsm.attest(&AttestationRequest::new(Some(nonce.to_vec()), Some(key.to_vec()), user_data)).unwrap()
        };
        let conn = |purpose, tls_spki| Connection { nonce: &nonce, function_id: &echo, tls_spki, purpose };
        let now = UnixTime::now();
        let sum = FunctionChecksum::from_bytes([1; 32]);
        for user_data in [None, Some(cape_user_data(&sum))] {
            let doc = document(user_data);
            assert_eq!(
                attest(&verifier, &doc, &conn(Purpose::Session, None), now).unwrap_err(),
                Error::Session(SessionError::FunctionNotAttested { expected: echo.clone(), found: None })
            );
            assert_eq!(attest_fetched(&verifier, &doc, &conn(Purpose::Fetch, None), now).unwrap().raw(), &doc[..]);
        }

        let spki = b"the key the TLS handshake used".to_vec();
        let bound = EnclaveUserData::new(echo.clone(), sum).with_tls_spki_sha256(tls::spki_sha256(&spki));
        let doc = document(Some(bound.encode()));
        let enclave = attest(&verifier, &doc, &conn(Purpose::Session, Some(&spki)), now).unwrap();
        assert_eq!(enclave.key(), &key);
        let other = b"a terminating proxy's key".to_vec();
        let refused = Error::Session(SessionError::TlsKeyNotAttested {
            observed_sha256: tls::spki_sha256(&other),
            attested_sha256: Some(tls::spki_sha256(&spki)),
        });
        assert_eq!(attest(&verifier, &doc, &conn(Purpose::Session, Some(&other)), now).unwrap_err(), refused);
        assert_eq!(attest_fetched(&verifier, &doc, &conn(Purpose::Fetch, Some(&other)), now).unwrap_err(), refused);
    }
}
