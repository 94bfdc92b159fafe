//! Attested TLS: accept the enclave's self-signed certificate provisionally, then require that the
//! verified attestation document binds exactly the key the TLS handshake used (PROTOCOL.md section 2.1).
//!
//! Input: the certificate the TLS server presented (untrusted) and, later, the verified document's
//! claim (trusted once verified). Output: a started TLS handshake, the key a finished one used, and
//! the binding check (which `attested` calls, in its one binding step). This module does not verify
//! documents; WebPKI (CA and host name) validation runs only when the caller configured roots.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, HandshakeKind, SignatureScheme};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::endpoint::Endpoint;
use crate::error::{ConfigError, ConnectError, Error, SessionError};

/// The TLS client of one [`Client`](crate::Client)'s `wss://` connections, built once: the provider,
/// the verifier and the config are the same for every connection, and building them per connection
/// cost each fresh call about 36 us before its ClientHello could leave.
#[derive(Debug)]
pub(crate) struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    webpki: bool,
}

impl ClientTls {
    /// The TLS client, accepting the enclave's certificate provisionally (and, with `webpki`, also
    /// requiring ordinary WebPKI validation).
    pub(crate) fn new(webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>) -> Result<Self, ConfigError> {
        let provider = Arc::new(provider());
        let checks_webpki = webpki.is_some();
        let verifier = AttestedTlsVerifier { algorithms: provider.signature_verification_algorithms, webpki };
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(ConfigError::Tls)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        // A resumed handshake proves no key: rustls then reports the certificate of the session it
        // resumed, which this connection's server never signed for. The client never stores a ticket
        // (this config would share them between connections), and `handshake_spki` refuses a resumed
        // handshake should one happen anyway.
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Self { config: Arc::new(config), webpki: checks_webpki })
    }

    /// Whether the enclave's certificate must also pass WebPKI validation.
    pub(crate) fn checks_webpki(&self) -> bool {
        self.webpki
    }

    /// Starts a handshake with the enclave at `endpoint` over `io`: the ClientHello, key shares
    /// included, is built here and now, so a caller can build it while `io` is still connecting.
    pub(crate) fn start<IO: AsyncRead + AsyncWrite + Unpin>(
        &self,
        endpoint: &Endpoint,
        io: IO,
    ) -> Result<tokio_rustls::Connect<IO>, Error> {
        let host = endpoint.host().to_owned();
        let name = ServerName::try_from(host.clone())
            .map_err(|_| ConfigError::Endpoint { url: host, problem: "names a host that is not a TLS server name" })?;
        Ok(tokio_rustls::TlsConnector::from(self.config.clone()).connect(name, io))
    }
}

/// What a failed handshake reports: rustls's own error, or the socket's (tokio-rustls carries the
/// former inside an I/O error).
pub(crate) fn handshake_error(e: &std::io::Error, addr: &str) -> ConnectError {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(tls) => ConnectError::Tls(tls.clone()),
        None => ConnectError::Io { addr: addr.to_owned(), kind: e.kind() },
    }
}

/// The DER SubjectPublicKeyInfo of the key a finished full handshake used: that of the end-entity
/// certificate the server presented, which rustls verified the server's handshake signature with.
///
/// # Errors
/// [`SessionError::TlsResumed`] for a resumed handshake (no key was proven on this connection: the
/// certificate rustls reports is the resumed session's), [`SessionError::TlsCertificate`] when no
/// certificate was presented or it does not parse.
pub(crate) fn handshake_spki(connection: &rustls::ClientConnection) -> Result<Vec<u8>, SessionError> {
    if connection.handshake_kind() != Some(HandshakeKind::Full) {
        return Err(SessionError::TlsResumed);
    }
    let end_entity = connection.peer_certificates().and_then(<[_]>::first).ok_or(SessionError::TlsCertificate)?;
    certificate_spki(end_entity.as_ref())
}

/// rustls's aws-lc-rs provider, offering the hybrid post-quantum key exchange first (a rustls server,
/// such as `enclave_runtime`'s, takes the client's first group it supports): rustls builds without
/// its `prefer-post-quantum` feature here, and would then offer X25519 alone, leaving a recorded
/// session open to a future quantum attacker on both layers (the session's own HPKE is X25519 too).
/// With X25519MLKEM768 first, rustls also sends its X25519 half as a share of its own, so a server
/// without ML-KEM costs no extra round trip.
///
/// TLS_CHACHA20_POLY1305_SHA256 is offered first, ahead of rustls's AES-256-GCM-SHA384 (the other
/// suites, TLS 1.2's included, follow in rustls's order). Both have 256-bit keys; the handshake's
/// hash and key schedule become SHA-256, 128-bit collision resistance, the level the enclave's P-256
/// certificate and the X25519 half already set. SHA-256 has hardware support on CPUs where SHA-384
/// has none (aws-lc uses its vector SHA-512 code on Intel only), and the key schedule is on a fresh
/// call's critical path at both ends: on the AMD development VM the server's TLS flight and the
/// client's `Finished` took 30-55 us less (timestamps, 200 calls per variant alternated call by call),
/// `fresh_call_rtts_wss` 0.009-0.018 RTT less (three alternated rounds of ten). The price is bulk
/// speed on `wss://` (not measured): AES-GCM is faster per byte where the CPU has AES instructions,
/// and servers other than ours (Go's, OpenSSL's) are likely to follow the client's first choice too.
/// A FIPS build of rustls offers no ChaCha20, and keeps its own order.
fn provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::aws_lc_rs::{cipher_suite, kx_group};
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.kx_groups = vec![kx_group::X25519MLKEM768, kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1];
    // A stable sort: only the first place changes.
    provider.cipher_suites.sort_by_key(|suite| *suite != cipher_suite::TLS13_CHACHA20_POLY1305_SHA256);
    provider
}

/// The DER SubjectPublicKeyInfo of a certificate.
pub(crate) fn certificate_spki(cert_der: &[u8]) -> Result<Vec<u8>, SessionError> {
    let der = CertificateDer::from(cert_der);
    let cert = webpki::EndEntityCert::try_from(&der).map_err(|_| SessionError::TlsCertificate)?;
    Ok(cert.subject_public_key_info().as_ref().to_vec())
}

/// SHA-256 of a DER SubjectPublicKeyInfo: what `EnclaveUserData::tls_spki_sha256` carries.
pub(crate) fn spki_sha256(spki_der: &[u8]) -> [u8; 32] {
    Sha256::digest(spki_der).into()
}

/// Requires that the key the TLS handshake used (`observed_spki`) is the one the verified document
/// binds: either its SHA-256 (`attested_sha256`, this protocol) or the SPKI itself as the whole
/// user data (`attested_spki`, as Evervault's enclaves do). Compared in constant time.
///
/// # Errors
/// [`SessionError::TlsKeyNotAttested`] when neither binding matches or none is present.
pub(crate) fn check_binding(
    observed_spki: &[u8],
    attested_sha256: Option<[u8; 32]>,
    attested_spki: Option<&[u8]>,
) -> Result<(), SessionError> {
    let observed = spki_sha256(observed_spki);
    let by_hash = attested_sha256.is_some_and(|h| bool::from(h.ct_eq(&observed)));
    let by_spki = attested_spki.is_some_and(|s| bool::from(s.ct_eq(observed_spki)));
    if by_hash || by_spki {
        Ok(())
    } else {
        Err(SessionError::TlsKeyNotAttested { observed_sha256: observed, attested_sha256 })
    }
}

/// A rustls verifier for enclaves: it accepts any well-formed end-entity certificate
/// *provisionally*; the session is refused later unless the attestation binds its key
/// ([`handshake_spki`], [`check_binding`]). TLS handshake signatures are verified normally, so the
/// server proved it holds that key.
///
/// With `webpki` set, the certificate must *also* pass ordinary WebPKI validation (chain to one of
/// the given roots, valid now, for the host name), for deployments whose enclave has such a certificate.
#[derive(Debug)]
struct AttestedTlsVerifier {
    algorithms: WebPkiSupportedAlgorithms,
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
}

impl ServerCertVerifier for AttestedTlsVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(webpki) = &self.webpki {
            webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        }
        // Provisional: the enclave's certificate is self-signed, and its trust comes from the
        // attestation checked after the handshake, before any input is sent. One whose key cannot be
        // read could never be bound: refused here.
        certificate_spki(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attestation::{Expected, Policy, UnixTime as Time, Verifier};

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/testdata/nitro/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// The real example: Evervault's GA document binds its TLS certificate's SPKI as its user data.
    #[test]
    fn evervault_document_binds_its_tls_certificate() {
        let policy = Policy::builder().dangerous_accept_any_enclave().dangerous_allow_debug().build().unwrap();
        let doc = Verifier::new(policy)
            .verify(&fixture("evervault-ga.cbor"), &Expected::none(), Time::from_secs(1_695_049_440))
            .unwrap();
        let spki = certificate_spki(&fixture("evervault-ga-tls-certificate.der")).unwrap();
        assert_eq!(check_binding(&spki, None, doc.user_data()), Ok(()));

        // Another key is refused, by either form of binding.
        let mut other = spki.clone();
        if let Some(last) = other.last_mut() {
            *last ^= 1;
        }
        assert_eq!(
            check_binding(&other, None, doc.user_data()),
            Err(SessionError::TlsKeyNotAttested { observed_sha256: spki_sha256(&other), attested_sha256: None })
        );
        let h = spki_sha256(&spki);
        assert_eq!(check_binding(&spki, Some(h), None), Ok(()));
        assert_eq!(
            check_binding(&other, Some(h), None),
            Err(SessionError::TlsKeyNotAttested { observed_sha256: spki_sha256(&other), attested_sha256: Some(h) })
        );
        assert!(check_binding(&spki, None, None).is_err());
    }

    /// The SDK and the enclave runtime agree on the hybrid post-quantum key exchange, and on the
    /// cipher suite the SDK offers first (a rustls server follows the client's order).
    #[tokio::test]
    async fn the_tls_handshake_with_the_runtime_is_post_quantum() {
        let mock = mock_enclave::MockEnclave::builder().tls(true).spawn().await.unwrap();
        let endpoint = super::super::endpoint::Endpoint::parse(&mock.url()).unwrap();
        let tcp = tokio::net::TcpStream::connect(endpoint.socket_addr()).await.unwrap();
        let tls = ClientTls::new(None).unwrap().start(&endpoint, tcp).unwrap().await.unwrap();
        let spki = handshake_spki(tls.get_ref().1).unwrap();
        assert_eq!(
            Some(spki_sha256(&spki)),
            mock.tls_certificate_der().map(|c| spki_sha256(&certificate_spki(c).unwrap()))
        );
        let group = tls.get_ref().1.negotiated_key_exchange_group().map(|g| g.name());
        assert_eq!(group, Some(rustls::NamedGroup::X25519MLKEM768));
        let suite = tls.get_ref().1.negotiated_cipher_suite().map(|s| s.suite());
        let first = if provider().fips() {
            rustls::CipherSuite::TLS13_AES_256_GCM_SHA384
        } else {
            rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
        };
        assert_eq!(suite, Some(first));
    }

    /// A TLS server that issues session tickets, as most servers do (the enclave runtime does not):
    /// every connection gets one byte after the handshake, so the client reads the tickets too.
    async fn ticket_issuing_server() -> std::net::SocketAddr {
        use tokio::io::AsyncWriteExt as _;
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.cert.der().clone()], key)
                .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(tcp).await {
                        let _ = tls.write_all(b"x").await;
                        let _ = tls.flush().await;
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    }
                });
            }
        });
        addr
    }

    /// Connects twice with `config` and returns, for each handshake, its kind and the key
    /// `handshake_spki` would have the attestation bind.
    async fn twice(
        config: Arc<rustls::ClientConfig>,
        addr: std::net::SocketAddr,
    ) -> Vec<(Option<HandshakeKind>, Result<Vec<u8>, SessionError>)> {
        use tokio::io::AsyncReadExt as _;
        let mut seen = Vec::new();
        for _ in 0..2 {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = ServerName::try_from("127.0.0.1").unwrap();
            let mut tls = tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp).await.unwrap();
            let mut byte = [0u8; 1];
            tls.read_exact(&mut byte).await.unwrap();
            let connection = tls.get_ref().1;
            seen.push((connection.handshake_kind(), handshake_spki(connection)));
        }
        seen
    }

    /// Against a server that would resume: the client's own TLS never does (a full handshake, its key
    /// proven, each time), and a handshake that did resume yields no key to bind. A resumed handshake
    /// reports the earlier session's certificate, which this connection's server never signed for.
    #[tokio::test]
    async fn a_resumed_handshake_yields_no_key_to_bind() {
        let addr = ticket_issuing_server().await;
        let shipped = ClientTls::new(None).unwrap();
        let kinds: Vec<_> =
            twice(shipped.config.clone(), addr).await.into_iter().map(|(k, s)| (k, s.is_ok())).collect();
        assert_eq!(kinds, [(Some(HandshakeKind::Full), true), (Some(HandshakeKind::Full), true)]);

        // The same client with resumption turned back on: the second handshake resumes, and is refused.
        let mut resuming = (*shipped.config).clone();
        resuming.resumption = rustls::client::Resumption::in_memory_sessions(8);
        let seen = twice(Arc::new(resuming), addr).await;
        assert_eq!(seen[0].0, Some(HandshakeKind::Full));
        assert!(seen[0].1.is_ok());
        assert_eq!(seen[1].0, Some(HandshakeKind::Resumed));
        assert_eq!(seen[1].1, Err(SessionError::TlsResumed));
    }

    #[test]
    fn garbage_certificate() {
        assert_eq!(certificate_spki(b"not a certificate"), Err(SessionError::TlsCertificate));
    }
}
