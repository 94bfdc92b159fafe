//! The server's TLS identity for `wss://`: a key and certificate, and the SHA-256 of the key's
//! SubjectPublicKeyInfo that every native attestation document binds (PROTOCOL.md section 2.1), so the
//! attestation, not the certificate, vouches for the TLS key.
//!
//! Input: a key and certificate (trusted: the operator's, or generated here). Output: a rustls
//! acceptor and the key's fingerprint. This module decides nothing about clients.

use std::fmt;
use std::sync::Arc;

use rcgen::{CertificateParams, KeyPair, PublicKeyData};
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;
use zeroize::Zeroizing;

/// Why a TLS identity could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// Generating or parsing the key, or self-signing the certificate, failed.
    #[error("TLS key or certificate: {0}")]
    Key(rcgen::Error),
    /// rustls refused the key and certificate.
    #[error("TLS configuration: {0}")]
    Config(rustls::Error),
}

/// A key and certificate to serve `wss://` with.
///
/// # Examples
///
/// ```
/// let identity = enclave_runtime::TlsIdentity::generate()?;
/// assert!(!identity.certificate_der().is_empty());
/// # Ok::<(), enclave_runtime::TlsError>(())
/// ```
#[derive(Clone)]
pub struct TlsIdentity {
    acceptor: TlsAcceptor,
    spki_sha256: [u8; 32],
    certificate_der: Vec<u8>,
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity").field("spki_sha256", &self.spki_sha256).finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// A fresh P-256 key with a self-signed certificate for `localhost` and `127.0.0.1`, held in memory
    /// only. Clients accept it because the attestation binds the key, not because of its names.
    ///
    /// # Errors
    /// [`TlsError`] if generation fails.
    pub fn generate() -> Result<Self, TlsError> {
        let (key, certificate) = Self::self_signed_der()?;
        Self::from_pkcs8_der(&key, certificate)
    }

    /// The parts [`generate`](Self::generate) makes, as DER (the key PKCS#8), for a caller that keeps
    /// them (the mock enclave stores them in its state directory) and later passes them to
    /// [`from_pkcs8_der`](Self::from_pkcs8_der).
    ///
    /// # Errors
    /// [`TlsError::Key`] if generation fails.
    pub fn self_signed_der() -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), TlsError> {
        let key = KeyPair::generate().map_err(TlsError::Key)?;
        let params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).map_err(TlsError::Key)?;
        let certificate = params.self_signed(&key).map_err(TlsError::Key)?;
        Ok((Zeroizing::new(key.serialize_der()), certificate.der().to_vec()))
    }

    /// An identity from a PKCS#8 key and its certificate.
    ///
    /// # Errors
    /// [`TlsError::Key`] for a key that does not parse, [`TlsError::Config`] when rustls refuses the pair.
    pub fn from_pkcs8_der(key_der: &[u8], certificate_der: Vec<u8>) -> Result<Self, TlsError> {
        let key = KeyPair::try_from(key_der).map_err(TlsError::Key)?;
        let spki_sha256: [u8; 32] = Sha256::digest(key.subject_public_key_info()).into();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_single_cert(vec![certificate_der.clone().into()], private)
            .map_err(TlsError::Config)?;
        Ok(Self { acceptor: TlsAcceptor::from(Arc::new(config)), spki_sha256, certificate_der })
    }

    /// The certificate served, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// SHA-256 of the key's SubjectPublicKeyInfo: what every native document binds as
    /// `tls_spki_sha256`.
    pub fn spki_sha256(&self) -> [u8; 32] {
        self.spki_sha256
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}
