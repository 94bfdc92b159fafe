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
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_single_cert(vec![certificate_der.clone().into()], private)
            .map_err(TlsError::Config)?;
        // No resumption: a resumed handshake presents no certificate, so there is no key for a
        // document to bind (the SDK never resumes). rustls would otherwise keep 256 sessions and send
        // two tickets after every handshake, on the path between the client's Finished and its
        // upgrade request.
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::HandshakeKind;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::TlsIdentity;

    /// A client that keeps sessions and asks to resume still gets a full handshake, with the
    /// certificate whose key a document binds; the server sent it nothing to resume with.
    #[tokio::test]
    async fn a_client_that_asks_to_resume_gets_a_full_handshake() {
        let identity = TlsIdentity::generate().unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(identity.certificate_der().to_vec().into()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        // rustls's default: an in-memory session cache, resumption on.
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        for _ in 0..2 {
            let (near, far) = tokio::io::duplex(64 * 1024);
            let acceptor = identity.acceptor().clone();
            let server = tokio::spawn(async move {
                let mut tls = acceptor.accept(far).await.unwrap();
                // Anything the server sends after the handshake (tickets would come first).
                tls.write_all(b"x").await.unwrap();
                tls.flush().await.unwrap();
                let mut end = [0u8; 1];
                let _ = tls.read(&mut end).await;
            });
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut tls = connector.connect(name, near).await.unwrap();
            let mut byte = [0u8; 1];
            tls.read_exact(&mut byte).await.unwrap();
            assert_eq!(tls.get_ref().1.handshake_kind(), Some(HandshakeKind::Full));
            assert_eq!(tls.get_ref().1.tls13_tickets_received(), 0);
            assert!(tls.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty()));
            tls.shutdown().await.unwrap();
            server.await.unwrap();
        }
    }
}
