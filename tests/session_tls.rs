//! Attested TLS over real sockets: `wss://` works when the document binds the TLS key, and a
//! man in the middle that terminates TLS with its own certificate is refused before any input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use common::*;
use enclave_sdk::error::SessionError;
use enclave_sdk::Error;
use mock_enclave::MockEnclave;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

async fn tls_mock() -> MockEnclave {
    MockEnclave::builder().tls(true).spawn().await.unwrap()
}

#[tokio::test]
async fn wss_session_with_the_tls_key_attested() {
    let mock = tls_mock().await;
    assert!(mock.url().starts_with("wss://"));
    let session = pinned_client(&mock, "uppercase").connect("uppercase").await.unwrap();
    assert!(session.attestation().claimed_function().unwrap().tls_spki_sha256().is_some());
    assert_eq!(session.invoke(b"over tls").await.unwrap(), b"OVER TLS");
}

/// The proxy's upstream side accepts the enclave's certificate blindly: it is the attacker.
#[derive(Debug)]
struct AcceptAnything(rustls::crypto::WebPkiSupportedAlgorithms);
impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// A TLS-terminating proxy in front of `upstream`, presenting its own self-signed certificate, and
/// recording every plaintext byte it relays from the client.
async fn tls_mitm(upstream: std::net::SocketAddr) -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<u8>>>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().self_signed(&key).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider.signature_verification_algorithms)))
        .with_no_client_auth();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, connector, log) = (acceptor.clone(), connector.clone(), log.clone());
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let Ok(down) = acceptor.accept(tcp).await else { return };
                let up = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let up = connector.connect(ServerName::try_from("127.0.0.1").unwrap(), up).await.unwrap();
                let (mut dr, mut dw) = tokio::io::split(down);
                let (mut ur, mut uw) = tokio::io::split(up);
                let to_enclave = async {
                    let mut buf = vec![0u8; 16384];
                    while let Ok(n) = dr.read(&mut buf).await {
                        if n == 0 || uw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        log.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                };
                let to_client = async {
                    let _ = tokio::io::copy(&mut ur, &mut dw).await;
                };
                tokio::join!(to_enclave, to_client);
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn tls_terminating_mitm_is_refused_before_any_input() {
    let mock = tls_mock().await;
    let (proxy, seen) = tls_mitm(mock.local_addr()).await;
    let c = enclave_sdk::Client::builder()
        .endpoint(format!("wss://{proxy}"))
        .policy(pinned(&mock, "echo").build().unwrap())
        .build()
        .unwrap();
    let err = c.connect("echo").await.unwrap_err();
    assert!(matches!(err, Error::Session(SessionError::TlsKeyNotAttested { attested_sha256: Some(_), .. })), "{err:?}");
    let s = mock.stats();
    assert_eq!((s.documents, s.key_shares, s.invocations), (1, 0, 0));
    // The proxy saw the upgrade and the nonce, and nothing after them.
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    assert!(seen.len() < 1024, "the proxy saw {} bytes", seen.len());
}

#[tokio::test]
async fn faithful_tcp_relay_in_front_of_tls_works() {
    // A relay that does not terminate TLS (plain TCP forwarding) must keep working.
    let mock = tls_mock().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = mock.local_addr();
    tokio::spawn(async move {
        while let Ok((mut down, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut up = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
            });
        }
    });
    let c = enclave_sdk::Client::builder()
        .endpoint(format!("wss://{addr}"))
        .policy(pinned(&mock, "echo").build().unwrap())
        .build()
        .unwrap();
    let session = c.connect("echo").await.unwrap();
    assert_eq!(session.invoke(b"relayed").await.unwrap(), b"relayed");
}

#[tokio::test]
async fn webpki_validation_on_top_of_the_binding() {
    let mock = tls_mock().await;
    let with_root = |root: Vec<u8>| {
        enclave_sdk::Client::builder()
            .endpoint(mock.url())
            .policy(pinned(&mock, "echo").build().unwrap())
            .tls_webpki_root(root)
            .build()
            .unwrap()
    };
    // The enclave's certificate as the WebPKI root: chain, time and host name (127.0.0.1) all pass.
    let ok = with_root(mock.tls_certificate_der().unwrap().to_vec()).connect("echo").await.unwrap();
    assert_eq!(ok.invoke(b"webpki").await.unwrap(), b"webpki");
    // Another root: refused in the TLS handshake, before the document is even requested.
    let key = rcgen::KeyPair::generate().unwrap();
    let other = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().self_signed(&key).unwrap();
    let before = mock.stats().documents;
    let err = with_root(other.der().to_vec()).connect("echo").await.unwrap_err();
    assert!(matches!(err, Error::Connect(enclave_sdk::error::ConnectError::Tls(_))), "{err:?}");
    assert_eq!(mock.stats().documents, before);
}
