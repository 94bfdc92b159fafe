//! A hand-written client built from the SDK's protocol blocks, for tests that must send what the SDK
//! never would (replays, open inputs, records nobody reads).

#![allow(clippy::expect_used, clippy::panic)]

use std::time::Duration;

use enclave_protocol::{
    ClientHandshake, ClientMessage, Frame, FrameLimits, PlainRecord, RequestSealer, ResponseOpener, NONCE_HEADER,
    PROTOCOL_LABEL,
};
use enclave_sdk::attestation::{Expected, UnixTime, Verifier};
use futures_util::{SinkExt, StreamExt};
use mock_enclave::MockEnclave;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Raw {
    pub ws: Ws,
    sealer: RequestSealer,
    opener: ResponseOpener,
}

/// Performs the handshake exactly as PROTOCOL.md section 4 says, verifying the document.
pub async fn open(mock: &MockEnclave, function: &str) -> Raw {
    let id = super::fid(function);
    let handshake = ClientHandshake::start(id.clone(), &mut rand_core::OsRng);
    let mut req = format!("{}/v1/run/{function}", mock.url()).into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", PROTOCOL_LABEL.parse().unwrap());
    req.headers_mut().insert(NONCE_HEADER, handshake.nonce().to_header_value().parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let Some(Ok(Message::Binary(bytes))) = ws.next().await else { panic!("no document") };
    let received = handshake.receive_document(&bytes, &FrameLimits::default()).expect("not a document");
    let verified = Verifier::new(super::pinned(mock, function).build().unwrap())
        .verify(
            received.document(),
            &Expected::none().with_nonce(received.nonce().as_bytes()).with_function_id(&id).requiring_x25519_key(),
            UnixTime::now(),
        )
        .unwrap();
    let (key_share, sealer, opener) =
        received.complete(&verified.x25519_public_key().unwrap(), &mut rand_core::OsRng).unwrap();
    ws.send(Message::binary(key_share)).await.unwrap();
    Raw { ws, sealer, opener }
}

impl Raw {
    /// Seals and sends one message; returns the exact frame sent, for replaying.
    pub async fn send(&mut self, m: ClientMessage<'_>) -> Vec<u8> {
        self.send_plaintext(&m.encode()).await
    }

    /// Seals and sends any plaintext, even one no client may send; returns the exact frame sent.
    pub async fn send_plaintext(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let frame = self.sealer.seal(PlainRecord::new(plaintext)).unwrap();
        self.ws.send(Message::binary(frame.clone())).await.unwrap();
        frame
    }

    /// The next record's message, or None when the enclave closed.
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Binary(b))) => {
                    let Ok(Frame::Record(ct)) = Frame::decode(&b, &FrameLimits::default()) else {
                        panic!("not a record")
                    };
                    return Some(self.opener.open(ct).unwrap().to_vec());
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// As [`recv`](Self::recv), but taking longer than `limit` is a failure, not a hang.
    pub async fn recv_within(&mut self, limit: Duration) -> Option<Vec<u8>> {
        tokio::time::timeout(limit, self.recv()).await.expect("the enclave neither answered nor closed")
    }
}
