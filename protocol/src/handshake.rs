//! The handshake as consuming state types, one set per end, and the transcript that becomes HPKE's
//! `info` (PROTOCOL.md section 4).
//!
//! Input: the client's nonce as its upgrade request carried it (untrusted, parsed strictly by
//! [`Nonce::from_header_values`]), frames from the peer (untrusted) and, on the client, the key of a
//! document the caller has verified; on the enclave, the document its attester issued. Output: the
//! nonce header and the frames to send, and at the end the record layer's keys for one connection.
//! Each step takes `self`, so a connection cannot go back, skip a step, or run a step twice; a step
//! that fails drops the state. This module moves no bytes (the caller sends and receives them, over
//! whatever transport) and verifies no document: the client's caller must verify the document in
//! [`DocumentReceived`] against its policy, this nonce and this function before
//! [`DocumentReceived::complete`], which is the first step whose output depends on anything the
//! caller will send.
//!
//! The nonce travels in the WebSocket upgrade request, so the enclave's first message (right after
//! its upgrade response) is the document: one round trip fewer than a nonce message of its own.
//!
//! ```text
//! client                                                  enclave
//! ClientHandshake::start
//!   upgrade request, Enclave-Nonce: <nonce>  ---------->  Nonce::from_header_values
//!                                                         EnclaveHandshake::start
//!                                                           (attester: nonce, public_key, user data)
//! ClientHandshake::receive_document <--101, Attestation--  EnclaveHandshake::send_document
//!   (caller verifies the document)
//! DocumentReceived::complete    --KeyShare------------->  AwaitingKeyShare::complete
//! RequestSealer, ResponseOpener                           RequestOpener, ResponseSealer
//! ```
//!
//! # Examples
//!
//! Both ends in one process, with the verification left out (a real client verifies the document in
//! between; see the SDK):
//!
//! ```
//! use enclave_protocol::{ClientHandshake, ClientMessage, EnclaveHandshake, Frame, FrameLimits, Nonce};
//! let (limits, mut rng) = (FrameLimits::default(), rand_core::OsRng);
//! let client = ClientHandshake::start("echo".parse()?, &mut rng);
//! let header = client.nonce().to_header_value(); // the upgrade request's Enclave-Nonce
//! let nonce = Nonce::from_header_values([header.as_bytes()])?;
//! let enclave = EnclaveHandshake::start("echo".parse()?, nonce, &mut rng);
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

use base64::Engine as _;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

use crate::frame::{Frame, WireError, KEY_LEN, NONCE_LEN};
use crate::function::FunctionId;
use crate::limits::FrameLimits;
use crate::record::{
    client_setup, EnclaveKey, RecordError, RequestOpener, RequestSealer, ResponseOpener, ResponseSealer,
};

/// The protocol label: the first item of the transcript and the WebSocket subprotocol name.
pub const PROTOCOL_LABEL: &str = "enclave-session.v3";

/// The upgrade request header that carries the client's nonce (PROTOCOL.md section 2).
pub const NONCE_HEADER: &str = "Enclave-Nonce";

/// Length of [`NONCE_HEADER`]'s value: a 32-byte nonce in unpadded base64url (RFC 4648 section 5).
pub const NONCE_HEADER_LEN: usize = 43;

/// The one encoding of the nonce header: base64url without padding. The engine refuses padding and
/// non-zero trailing bits, so each nonce has exactly one accepted spelling.
const NONCE_ENCODING: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

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

/// Why an upgrade request's nonce header was refused. The enclave answers `400` and opens no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NonceHeaderError {
    /// The request carried no `Enclave-Nonce` header.
    #[error("the upgrade request has no Enclave-Nonce header")]
    Missing,
    /// The request carried the header more than once.
    #[error("the upgrade request has {count} Enclave-Nonce headers; exactly one is allowed")]
    Repeated {
        /// How many there were.
        count: usize,
    },
    /// The value has the wrong length.
    #[error("the Enclave-Nonce header is {len} bytes; a nonce is {NONCE_HEADER_LEN} (32 bytes in unpadded base64url)")]
    Length {
        /// Length found.
        len: usize,
    },
    /// The value is not the canonical unpadded base64url of 32 bytes.
    #[error("the Enclave-Nonce header is not the unpadded base64url of 32 bytes")]
    Encoding,
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

    /// Wraps bytes received by other means (tests, other bindings).
    pub fn from_bytes(bytes: [u8; NONCE_LEN]) -> Self {
        Self(bytes)
    }

    /// The nonce's bytes.
    pub fn as_bytes(&self) -> &[u8; NONCE_LEN] {
        &self.0
    }

    /// The value of the upgrade request's [`NONCE_HEADER`]: [`NONCE_HEADER_LEN`] characters of
    /// unpadded base64url.
    pub fn to_header_value(&self) -> String {
        NONCE_ENCODING.encode(self.0)
    }

    /// Parses the values of every [`NONCE_HEADER`] an upgrade request carried (header names compare
    /// without case in HTTP; the caller collects them so). Strict: exactly one header, exactly
    /// [`NONCE_HEADER_LEN`] bytes, the canonical unpadded base64url of 32 bytes. The length is checked
    /// before anything is decoded.
    ///
    /// # Errors
    /// [`NonceHeaderError::Missing`], [`NonceHeaderError::Repeated`], [`NonceHeaderError::Length`] or
    /// [`NonceHeaderError::Encoding`].
    ///
    /// # Examples
    ///
    /// ```
    /// use enclave_protocol::{Nonce, NonceHeaderError};
    /// let nonce = Nonce::from_bytes([0xfb; 32]);
    /// let header = nonce.to_header_value();
    /// assert_eq!(header.len(), 43);
    /// assert_eq!(Nonce::from_header_values([header.as_bytes()]), Ok(nonce));
    /// assert_eq!(Nonce::from_header_values([format!("{header}=").as_bytes()]), Err(NonceHeaderError::Length { len: 44 }));
    /// assert_eq!(Nonce::from_header_values([header.as_bytes(); 2]), Err(NonceHeaderError::Repeated { count: 2 }));
    /// ```
    pub fn from_header_values<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Result<Self, NonceHeaderError> {
        let mut values = values.into_iter();
        let value = values.next().ok_or(NonceHeaderError::Missing)?;
        let more = values.count();
        if more > 0 {
            return Err(NonceHeaderError::Repeated { count: more.saturating_add(1) });
        }
        if value.len() != NONCE_HEADER_LEN {
            return Err(NonceHeaderError::Length { len: value.len() });
        }
        let bytes = NONCE_ENCODING.decode(value).map_err(|_| NonceHeaderError::Encoding)?;
        let bytes: [u8; NONCE_LEN] = bytes.try_into().map_err(|_| NonceHeaderError::Encoding)?;
        Ok(Self(bytes))
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

/// The client's first state: the nonce is drawn for the upgrade request, the document not yet in.
#[derive(Debug)]
pub struct ClientHandshake {
    function_id: FunctionId,
    nonce: Nonce,
}

impl ClientHandshake {
    /// Starts a handshake for `function_id`: draws the nonce, which the caller sends in its upgrade
    /// request's [`NONCE_HEADER`] ([`Nonce::to_header_value`]).
    pub fn start(function_id: FunctionId, rng: &mut (impl CryptoRng + RngCore)) -> Self {
        Self { function_id, nonce: Nonce::random(rng) }
    }

    /// The nonce the upgrade request carries and the document must echo.
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

/// The enclave's first state: the client's nonce is in (from its upgrade request) and this
/// connection's key is drawn; the attester is to issue a document over [`nonce`](Self::nonce),
/// [`public_key`](Self::public_key) and the enclave's claim.
#[derive(Debug)]
pub struct EnclaveHandshake {
    function_id: FunctionId,
    nonce: Nonce,
    key: EnclaveKey,
}

impl EnclaveHandshake {
    /// Starts the handshake of a connection to `function_id` whose upgrade request carried `nonce`
    /// (parsed by [`Nonce::from_header_values`]), and draws the connection's X25519 key pair.
    pub fn start(function_id: FunctionId, nonce: Nonce, rng: &mut (impl CryptoRng + RngCore)) -> Self {
        Self { function_id, nonce, key: EnclaveKey::generate(rng) }
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
        let client = ClientHandshake::start(id("echo"), &mut rng);
        let key_share = Frame::KeyShare(&[9; 32]).encode();
        assert_eq!(
            ClientHandshake::start(id("echo"), &mut rng).receive_document(&key_share, &limits).unwrap_err(),
            HandshakeError::UnexpectedFrame { expected: "attestation", found: "key share" }
        );
        // v1's ClientHello type byte names no frame in this version.
        assert_eq!(
            ClientHandshake::start(id("echo"), &mut rng).receive_document(&[0x01; 33], &limits).unwrap_err(),
            HandshakeError::Wire(WireError::UnknownFrameType(0x01))
        );
        let enclave = EnclaveHandshake::start(id("echo"), client.nonce().clone(), &mut rng);
        assert_eq!(enclave.nonce(), client.nonce());
        let doc_frame = Frame::Attestation(b"doc").encode();
        let (attestation, waiting) = enclave.send_document(b"doc");
        assert_eq!(attestation, doc_frame);
        assert_eq!(
            waiting.complete(&Frame::Record(b"early").encode(), &limits).unwrap_err(),
            HandshakeError::UnexpectedFrame { expected: "key share", found: "record" }
        );
        let received = client.receive_document(&attestation, &limits).unwrap();
        assert_eq!((received.document(), received.function_id().as_str()), (&b"doc"[..], "echo"));
        let too_long = FrameLimits::default().with_max_document_len(2);
        let client = ClientHandshake::start(id("echo"), &mut rng);
        assert_eq!(
            client.receive_document(&attestation, &too_long).unwrap_err(),
            HandshakeError::Wire(WireError::TooLong { frame: "attestation", len: 3, max: 2 })
        );
    }

    /// The nonce header has one spelling per nonce: exactly one header of exactly 43 characters of
    /// the base64url alphabet, no padding, no set trailing bits, checked before decoding.
    #[test]
    fn the_nonce_header_is_parsed_strictly() {
        let nonce = Nonce::from_bytes(core::array::from_fn(|i| (i as u8).wrapping_mul(37)));
        let header = nonce.to_header_value();
        assert_eq!(header.len(), NONCE_HEADER_LEN);
        // Computed independently: python3 -c "import base64; print(base64.urlsafe_b64encode(bytes((i*37)%256 for i in range(32))).rstrip(b'='))"
        assert_eq!(header, "ACVKb5S53gMoTXKXvOEGK1B1mr_kCS5TeJ3C5wwxVns");
        let parse = |v: &str| Nonce::from_header_values([v.as_bytes()]);
        assert_eq!(parse(&header), Ok(nonce.clone()));
        assert_eq!(Nonce::from_header_values(std::iter::empty()), Err(NonceHeaderError::Missing));
        assert_eq!(
            Nonce::from_header_values([header.as_bytes(), header.as_bytes(), b"x"]),
            Err(NonceHeaderError::Repeated { count: 3 })
        );
        for (value, err) in [
            ("", NonceHeaderError::Length { len: 0 }),
            (&header[..42], NonceHeaderError::Length { len: 42 }),
            (&format!("{header}="), NonceHeaderError::Length { len: 44 }),
            (&format!(" {}", &header[1..]), NonceHeaderError::Encoding),
            // Standard base64's alphabet is not this one.
            (&header.replace('_', "/"), NonceHeaderError::Encoding),
            // The last character's two unused bits must be zero: 's' ends this nonce, 't' sets one.
            (&format!("{}t", &header[..42]), NonceHeaderError::Encoding),
            (&"=".repeat(43), NonceHeaderError::Encoding),
            (&"\u{e9}".repeat(21), NonceHeaderError::Length { len: 42 }),
        ] {
            assert_eq!(parse(value), Err(err), "{value:?}");
        }
        // Every nonce round-trips.
        let mut rng = rand_core::OsRng;
        for _ in 0..64 {
            let n = Nonce::random(&mut rng);
            assert_eq!(parse(&n.to_header_value()), Ok(n));
        }
    }

    /// The keys agree only when both ends hashed the same transcript: another function id on the
    /// enclave's side (a document for another function) leaves the client's records unopenable.
    #[test]
    fn keys_agree_only_over_the_same_transcript() {
        let (limits, mut rng) = (FrameLimits::default(), rand_core::OsRng);
        for (client_fn, enclave_fn, agree) in [("echo", "echo", true), ("echo", "other", false)] {
            let client = ClientHandshake::start(id(client_fn), &mut rng);
            let enclave = EnclaveHandshake::start(id(enclave_fn), client.nonce().clone(), &mut rng);
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
