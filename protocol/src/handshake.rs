//! The handshake as consuming state types, one set per end, and the transcript that becomes HPKE's
//! `info` (PROTOCOL.md section 4).
//!
//! Input: frames from the peer (untrusted) and, on the client, the key of a document the caller has
//! verified; on the enclave, the document its attester issued. Output: the frames to send, and at the
//! end the record layer's keys for one connection. Each step takes `self`, so a connection cannot go
//! back, skip a step, or run a step twice; a step that fails drops the state. This module moves no
//! bytes (the caller sends and receives them, over whatever transport) and verifies no document: the
//! client's caller must verify the document in [`DocumentReceived`] against its policy, this nonce and
//! this function before [`DocumentReceived::complete`], which is the first step whose output depends on
//! anything the caller will send.
//!
//! ```text
//! client                                        enclave
//! ClientHandshake::start        --ClientHello-->  EnclaveHandshake::receive_hello
//!                                                   (attester: nonce, public_key, user data)
//! ClientHandshake::receive_document <--Attestation-- EnclaveHandshake::send_document
//!   (caller verifies the document)
//! DocumentReceived::complete    --KeyShare----->  AwaitingKeyShare::complete
//! RequestSealer, ResponseOpener                   RequestOpener, ResponseSealer
//! ```
//!
//! # Examples
//!
//! Both ends in one process, with the verification left out (a real client verifies the document in
//! between; see the SDK):
//!
//! ```
//! use enclave_protocol::{ClientHandshake, ClientMessage, EnclaveHandshake, FrameLimits, Frame};
//! let (limits, mut rng) = (FrameLimits::default(), rand_core::OsRng);
//! let (client, hello) = ClientHandshake::start("echo".parse()?, &mut rng);
//! let enclave = EnclaveHandshake::receive_hello(&hello, &limits, "echo".parse()?, &mut rng)?;
//! // The attester signs a document over enclave.nonce() and enclave.public_key().
//! let document = [enclave.nonce().as_bytes().as_slice(), &enclave.public_key()].concat();
//! let (attestation, enclave) = enclave.send_document(&document);
//! let received = client.receive_document(&attestation, &limits)?;
//! let key: [u8; 32] = received.document()[32..].try_into()?; // from the *verified* document
//! let (key_share, mut sealer, _opener) = received.complete(&key, &mut rng)?;
//! let (mut opener, _sealer) = enclave.complete(&key_share, &limits)?;
//! let record = sealer.seal(ClientMessage::InputLast { id: 1, data: b"hi" }.to_record())?;
//! let Frame::Record(body) = Frame::decode(&record, &limits)? else { unreachable!() };
//! assert_eq!(ClientMessage::decode(&opener.open(body)?)?, ClientMessage::InputLast { id: 1, data: b"hi" });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

use crate::frame::{Frame, WireError, KEY_LEN, NONCE_LEN};
use crate::function::FunctionId;
use crate::limits::FrameLimits;
use crate::record::{
    client_setup, EnclaveKey, RecordError, RequestOpener, RequestSealer, ResponseOpener, ResponseSealer,
};

/// The protocol label: the first item of the transcript and the WebSocket subprotocol name.
pub const PROTOCOL_LABEL: &str = "enclave-session.v1";

/// Why a handshake step refused what the peer sent. The connection must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The frame is malformed.
    #[error("malformed frame: {0}")]
    Wire(#[from] WireError),
    /// A valid frame, but not the one this step expects (PROTOCOL.md section 3: frames occur in one order).
    #[error("unexpected {found} frame; expected {expected}")]
    UnexpectedFrame {
        /// The frame this step requires.
        expected: &'static str,
        /// The frame that arrived.
        found: &'static str,
    },
    /// Key agreement failed.
    #[error("key agreement: {0}")]
    Record(#[from] RecordError),
}

/// The client's per-connection nonce. Not secret, but unpredictable: it is what makes a document fresh.
#[derive(Clone, PartialEq, Eq)]
pub struct Nonce([u8; NONCE_LEN]);

impl Nonce {
    /// Draws a nonce from `rng` (the client passes `OsRng`; tests pass a seeded generator).
    pub fn random(rng: &mut (impl CryptoRng + RngCore)) -> Self {
        let mut n = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut n);
        Self(n)
    }

    /// Wraps bytes received on the wire (the enclave's side).
    pub fn from_bytes(bytes: [u8; NONCE_LEN]) -> Self {
        Self(bytes)
    }

    /// The nonce's bytes.
    pub fn as_bytes(&self) -> &[u8; NONCE_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for Nonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Nonce({})", hex::encode(self.0))
    }
}

/// SHA-256 over the handshake, used as HPKE `info`.
///
/// `transcript = SHA-256( lp(PROTOCOL_LABEL) || lp(function_id) || lp(nonce) || lp(document) )`, where
/// `lp(x)` is the length of `x` as a 4-byte big-endian integer followed by `x`. Length prefixes make the
/// encoding injective, so no two different handshakes share a transcript.
pub fn transcript_hash(function_id: &FunctionId, nonce: &Nonce, document: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [PROTOCOL_LABEL.as_bytes(), function_id.as_str().as_bytes(), nonce.as_bytes(), document] {
        // Parts are bounded far below 4 GiB by the frame limits and the 128-byte function id rule.
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        h.update(len.to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// The client's first state: its `ClientHello` is out, the document not yet in.
#[derive(Debug)]
pub struct ClientHandshake {
    function_id: FunctionId,
    nonce: Nonce,
}

impl ClientHandshake {
    /// Starts a handshake for `function_id`: draws the nonce and returns the `ClientHello` frame to send.
    pub fn start(function_id: FunctionId, rng: &mut (impl CryptoRng + RngCore)) -> (Self, Vec<u8>) {
        let nonce = Nonce::random(rng);
        let hello = Frame::ClientHello { nonce: nonce.as_bytes() }.encode();
        (Self { function_id, nonce }, hello)
    }

    /// The nonce the document must carry.
    pub fn nonce(&self) -> &Nonce {
        &self.nonce
    }

    /// Takes the enclave's answer, which must be its `Attestation` frame.
    ///
    /// # Errors
    /// [`HandshakeError::Wire`] for a malformed or oversized frame, [`HandshakeError::UnexpectedFrame`]
    /// for any other frame.
    pub fn receive_document(self, frame: &[u8], limits: &FrameLimits) -> Result<DocumentReceived, HandshakeError> {
        match Frame::decode(frame, limits)? {
            Frame::Attestation(document) => {
                Ok(DocumentReceived { function_id: self.function_id, nonce: self.nonce, document: document.to_vec() })
            }
            other => Err(HandshakeError::UnexpectedFrame { expected: "attestation", found: other.name() }),
        }
    }
}

/// The client's second state: the document is in, and unverified. Verify it, then
/// [`complete`](Self::complete) with the key it attests.
pub struct DocumentReceived {
    function_id: FunctionId,
    nonce: Nonce,
    document: Vec<u8>,
}

impl std::fmt::Debug for DocumentReceived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentReceived")
            .field("function_id", &self.function_id)
            .field("document_len", &self.document.len())
            .finish_non_exhaustive()
    }
}

impl DocumentReceived {
    /// The raw document, exactly as received: what the caller verifies and what the transcript binds.
    pub fn document(&self) -> &[u8] {
        &self.document
    }

    /// The nonce this client sent, which the document must carry.
    pub fn nonce(&self) -> &Nonce {
        &self.nonce
    }

    /// The function this client asked for, which the document must claim.
    pub fn function_id(&self) -> &FunctionId {
        &self.function_id
    }

    /// The document, given up without completing (a client that only fetches attestations).
    pub fn into_document(self) -> Vec<u8> {
        self.document
    }

    /// Sets up the record keys to `enclave_key`, the X25519 key of the document the caller has
    /// verified, with the transcript of this handshake as HPKE `info`; returns the `KeyShare` frame to
    /// send and the client's record keys.
    ///
    /// # Errors
    /// [`RecordError::BadKey`], [`RecordError::KeyAgreement`] or [`RecordError::KeyExport`].
    pub fn complete(
        self,
        enclave_key: &[u8; KEY_LEN],
        rng: &mut (impl CryptoRng + RngCore),
    ) -> Result<(Vec<u8>, RequestSealer, ResponseOpener), RecordError> {
        // PROTOCOL.md section 4 step 4: info = transcript hash over exactly the bytes received.
        let info = transcript_hash(&self.function_id, &self.nonce, &self.document);
        let (enc, sealer, opener) = client_setup(enclave_key, &info, rng)?;
        Ok((Frame::KeyShare(&enc).encode(), sealer, opener))
    }
}

/// The enclave's first state: the client's nonce is in and this connection's key is drawn; the
/// attester is to issue a document over [`nonce`](Self::nonce), [`public_key`](Self::public_key) and
/// the enclave's claim.
#[derive(Debug)]
pub struct EnclaveHandshake {
    function_id: FunctionId,
    nonce: Nonce,
    key: EnclaveKey,
}

impl EnclaveHandshake {
    /// Takes the client's first frame, which must be its `ClientHello`, for a connection to
    /// `function_id`, and draws the connection's X25519 key pair.
    ///
    /// # Errors
    /// [`HandshakeError::Wire`] for a malformed frame, [`HandshakeError::UnexpectedFrame`] for any other.
    pub fn receive_hello(
        frame: &[u8],
        limits: &FrameLimits,
        function_id: FunctionId,
        rng: &mut (impl CryptoRng + RngCore),
    ) -> Result<Self, HandshakeError> {
        match Frame::decode(frame, limits)? {
            Frame::ClientHello { nonce } => {
                Ok(Self { function_id, nonce: Nonce::from_bytes(*nonce), key: EnclaveKey::generate(rng) })
            }
            other => Err(HandshakeError::UnexpectedFrame { expected: "client hello", found: other.name() }),
        }
    }

    /// The client's nonce, for the attestation request.
    pub fn nonce(&self) -> &Nonce {
        &self.nonce
    }

    /// This connection's public key, for the attestation request.
    pub fn public_key(&self) -> [u8; KEY_LEN] {
        self.key.public_key()
    }

    /// Takes the document the attester issued; returns the `Attestation` frame to send and the state
    /// that waits for the key share (sent only by a client that accepted the document).
    pub fn send_document(self, document: &[u8]) -> (Vec<u8>, AwaitingKeyShare) {
        let info = transcript_hash(&self.function_id, &self.nonce, document);
        (Frame::Attestation(document).encode(), AwaitingKeyShare { key: self.key, info })
    }
}

/// The enclave's second state: the document is out; the key share is awaited.
#[derive(Debug)]
pub struct AwaitingKeyShare {
    key: EnclaveKey,
    info: [u8; 32],
}

impl AwaitingKeyShare {
    /// Takes the client's key share and sets up the record keys; the connection's secret key is used
    /// here once and dropped (zeroized).
    ///
    /// # Errors
    /// [`HandshakeError::Wire`] or [`HandshakeError::UnexpectedFrame`] for anything but a well-formed
    /// `KeyShare`, [`HandshakeError::Record`] when key agreement fails.
    pub fn complete(
        self,
        frame: &[u8],
        limits: &FrameLimits,
    ) -> Result<(RequestOpener, ResponseSealer), HandshakeError> {
        match Frame::decode(frame, limits)? {
            Frame::KeyShare(enc) => Ok(self.key.accept(enc, &self.info)?),
            other => Err(HandshakeError::UnexpectedFrame { expected: "key share", found: other.name() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_is_fixed_and_binds_every_part() {
        let nonce = Nonce::from_bytes([1; 32]);
        let id = |s: &str| FunctionId::new(s).unwrap();
        let t = transcript_hash(&id("echo"), &nonce, b"doc");
        // Computed independently: python3 -c "import hashlib,struct; ..."
        assert_eq!(hex::encode(t), include_str!("../testdata/transcript_echo.hex").trim());
        assert_ne!(t, transcript_hash(&id("echo2"), &nonce, b"doc"));
        assert_ne!(t, transcript_hash(&id("echo"), &Nonce::from_bytes([2; 32]), b"doc"));
        assert_ne!(t, transcript_hash(&id("echo"), &nonce, b"doc!"));
        // Moving a byte between parts changes the hash: the length prefixes make the encoding injective.
        assert_ne!(transcript_hash(&id("ab"), &nonce, b"c"), transcript_hash(&id("a"), &nonce, b"bc"));
    }

    fn id(s: &str) -> FunctionId {
        FunctionId::new(s).unwrap()
    }

    /// Each step takes only its own frame, and says which one it wanted.
    #[test]
    fn each_step_takes_only_its_frame() {
        let (limits, mut rng) = (FrameLimits::default(), rand_core::OsRng);
        let (client, hello) = ClientHandshake::start(id("echo"), &mut rng);
        assert_eq!(
            ClientHandshake::start(id("echo"), &mut rng).0.receive_document(&hello, &limits).unwrap_err(),
            HandshakeError::UnexpectedFrame { expected: "attestation", found: "client hello" }
        );
        let doc_frame = Frame::Attestation(b"doc").encode();
        assert_eq!(
            EnclaveHandshake::receive_hello(&doc_frame, &limits, id("echo"), &mut rng).unwrap_err(),
            HandshakeError::UnexpectedFrame { expected: "client hello", found: "attestation" }
        );
        assert_eq!(
            EnclaveHandshake::receive_hello(&[0x01; 5], &limits, id("echo"), &mut rng).unwrap_err(),
            HandshakeError::Wire(WireError::BadLength { frame: "client hello", len: 4, expected: 32 })
        );
        let enclave = EnclaveHandshake::receive_hello(&hello, &limits, id("echo"), &mut rng).unwrap();
        assert_eq!(enclave.nonce(), client.nonce());
        let (attestation, waiting) = enclave.send_document(b"doc");
        assert_eq!(attestation, doc_frame);
        assert_eq!(
            waiting.complete(&Frame::Record(b"early").encode(), &limits).unwrap_err(),
            HandshakeError::UnexpectedFrame { expected: "key share", found: "record" }
        );
        let received = client.receive_document(&attestation, &limits).unwrap();
        assert_eq!((received.document(), received.function_id().as_str()), (&b"doc"[..], "echo"));
        let too_long = FrameLimits::default().with_max_document_len(2);
        let (client, _) = ClientHandshake::start(id("echo"), &mut rng);
        assert_eq!(
            client.receive_document(&attestation, &too_long).unwrap_err(),
            HandshakeError::Wire(WireError::TooLong { frame: "attestation", len: 3, max: 2 })
        );
    }

    /// The keys agree only when both ends hashed the same transcript: another function id on the
    /// enclave's side (a document for another function) leaves the client's records unopenable.
    #[test]
    fn keys_agree_only_over_the_same_transcript() {
        let (limits, mut rng) = (FrameLimits::default(), rand_core::OsRng);
        for (client_fn, enclave_fn, agree) in [("echo", "echo", true), ("echo", "other", false)] {
            let (client, hello) = ClientHandshake::start(id(client_fn), &mut rng);
            let enclave = EnclaveHandshake::receive_hello(&hello, &limits, id(enclave_fn), &mut rng).unwrap();
            let key = enclave.public_key();
            let (attestation, waiting) = enclave.send_document(b"doc");
            let received = client.receive_document(&attestation, &limits).unwrap();
            let (share, mut sealer, _) = received.complete(&key, &mut rng).unwrap();
            let (mut opener, _) = waiting.complete(&share, &limits).unwrap();
            let frame = sealer.seal(crate::PlainRecord::new(b"x")).unwrap();
            let Ok(Frame::Record(body)) = Frame::decode(&frame, &limits) else { panic!("not a record") };
            let opened = opener.open(body);
            if agree {
                assert_eq!(opened.map(|p| p.to_vec()), Ok(b"x".to_vec()));
            } else {
                assert_eq!(opened, Err(RecordError::Open { direction: "client to enclave", seq: 0 }));
            }
        }
    }
}
