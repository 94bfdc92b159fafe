//! Hostile or broken servers before the document: each gives its specific error, never a hang or a
//! panic, and the client sends nothing but its nonce (in the upgrade request: no message at all).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::result_large_err)] // the upgrade callback's signature is tungstenite's

mod common;

use std::time::Duration;

use common::*;
use enclave_protocol::{Nonce, WireError, NONCE_HEADER};
use enclave_sdk::error::{ConnectError, SessionError};
use enclave_sdk::{Client, Error};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

/// Serves one connection: upgrades (selecting `subprotocol`, and checking the request carried one
/// well-formed nonce), answers with `reply`, and returns how many messages the client sent.
async fn hostile(subprotocol: &'static str, reply: Option<Message>) -> (Error, usize) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let callback = move |req: &Request, mut resp: Response| {
            let nonces = req.headers().get_all(NONCE_HEADER).iter().map(|v| v.as_bytes());
            assert!(Nonce::from_header_values(nonces).is_ok(), "{:?}", req.headers());
            resp.headers_mut().insert("Sec-WebSocket-Protocol", subprotocol.parse().unwrap());
            Ok(resp)
        };
        let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else { return 0 };
        match reply {
            Some(m) => {
                let _ = ws.send(m).await;
            }
            None => {
                let _ = ws.close(None).await;
            }
        }
        let mut further = 0;
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
            if matches!(m, Message::Binary(_)) {
                further += 1;
            }
        }
        further
    });
    let mock = mock().await;
    let c = Client::builder()
        .endpoint(format!("ws://{addr}"))
        .policy(pinned(&mock, "echo").build().unwrap())
        .handshake_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let err = c.connect("echo").await.unwrap_err();
    drop(c);
    (err, server.await.unwrap())
}

#[tokio::test]
async fn another_subprotocol_is_refused() {
    let (err, _) = hostile("enclave-session.v0", None).await;
    assert_eq!(err, Error::Connect(ConnectError::Subprotocol { found: None, expected: "enclave-session.v3" }));
}

#[tokio::test]
async fn a_text_message_instead_of_a_document() {
    let (err, further) = hostile("enclave-session.v3", Some(Message::text("hello"))).await;
    assert_eq!(err, Error::Session(SessionError::TextMessage));
    assert_eq!(further, 0);
}

#[tokio::test]
async fn a_key_share_frame_instead_of_a_document() {
    let mut frame = vec![0x03];
    frame.extend_from_slice(&[9; 32]);
    let (err, further) = hostile("enclave-session.v3", Some(Message::binary(frame))).await;
    assert_eq!(err, Error::Session(SessionError::UnexpectedFrame { expected: "attestation", found: "key share" }));
    assert_eq!(further, 0);
}

#[tokio::test]
async fn an_unknown_frame_type() {
    let (err, further) = hostile("enclave-session.v3", Some(Message::binary(vec![0x7f, 1, 2]))).await;
    assert_eq!(err, Error::Session(SessionError::Wire(WireError::UnknownFrameType(0x7f))));
    assert_eq!(further, 0);
}

#[tokio::test]
async fn a_garbage_document() {
    let (err, further) = hostile("enclave-session.v3", Some(Message::binary(vec![0x02, 0xa0, 0x01]))).await;
    assert!(matches!(err, Error::Attestation(_)), "{err:?}");
    assert_eq!(further, 0);
}

#[tokio::test]
async fn the_server_hangs_up_instead_of_attesting() {
    let (err, _) = hostile("enclave-session.v3", None).await;
    assert_eq!(err, Error::Session(SessionError::Truncated { pending: 0 }));
}

/// A genuine document from the mock, over a nonce of our choosing, as an eavesdropper would record it.
async fn recorded_document(mock: &mock_enclave::MockEnclave) -> Vec<u8> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("{}/v1/run/echo", mock.url()).into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "enclave-session.v3".parse().unwrap());
    req.headers_mut().insert(NONCE_HEADER, Nonce::from_bytes([0x42; 32]).to_header_value().parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let Some(Ok(Message::Binary(frame))) = ws.next().await else { unreachable!("no document") };
    frame.to_vec()
}

/// Like `hostile`, but the client pins the real mock, so the replayed document passes every check
/// except the one under test.
async fn replaying(mock: &mock_enclave::MockEnclave, frame: Vec<u8>) -> (Error, usize) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let callback = |_: &Request, mut resp: Response| {
            resp.headers_mut().insert("Sec-WebSocket-Protocol", "enclave-session.v3".parse().unwrap());
            Ok(resp)
        };
        let mut ws = tokio_tungstenite::accept_hdr_async(tcp, callback).await.unwrap();
        ws.send(Message::binary(frame)).await.unwrap();
        let mut further = 0;
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
            if matches!(m, Message::Binary(_)) {
                further += 1;
            }
        }
        further
    });
    let c = Client::builder()
        .endpoint(format!("ws://{addr}"))
        .policy(pinned(mock, "echo").build().unwrap())
        .build()
        .unwrap();
    let err = c.connect("echo").await.unwrap_err();
    drop(c);
    (err, server.await.unwrap())
}

#[tokio::test]
async fn a_replayed_genuine_document_is_refused() {
    use enclave_sdk::attestation::AttestationError;
    let mock = mock().await;
    let frame = recorded_document(&mock).await;
    let (err, further) = replaying(&mock, frame).await;
    assert!(matches!(err, Error::Attestation(AttestationError::NonceMismatch { .. })), "{err:?}");
    assert_eq!(further, 0);
}

#[tokio::test]
async fn a_substituted_enclave_key_is_refused() {
    use enclave_sdk::attestation::{AttestationError, CoseError};
    let mock = mock().await;
    let mut frame = recorded_document(&mock).await;
    // Replace the attested X25519 key (a CBOR bstr of 32 bytes after the "public_key" text key) with
    // the attacker's own: the signature no longer verifies.
    let label = b"public_keyX\x20";
    let at = frame.windows(label.len()).position(|w| w == label).expect("public_key field") + label.len();
    frame[at..at + 32].copy_from_slice(&[0x66; 32]);
    let (err, further) = replaying(&mock, frame).await;
    assert!(matches!(err, Error::Attestation(AttestationError::Cose(CoseError::BadSignature))), "{err:?}");
    assert_eq!(further, 0);
}
