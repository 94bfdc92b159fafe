//! The record layer: the one place the cipher suite is named, and the owner of a record's frame
//! (PROTOCOL.md sections 4.5, 4.6 and 5.1).
//!
//! Input: the enclave's attested X25519 public key and the transcript hash (client side), or the
//! enclave's per-connection secret key and the client's encapsulated key (enclave side); then
//! [`PlainRecord`]s to seal and untrusted record bodies to open. Output: whole record frames ready to
//! send, or plaintexts that were authenticated in exactly the expected position of the stream. Any
//! failure to open is final: the caller must end the session, because a record that does not open was
//! forged, replayed, reordered, or follows a dropped one.
//!
//! Like rustls's `MessageEncrypter`, this layer owns the record header: a [`PlainRecord`] is made only
//! here, with the frame's type byte in front of the plaintext and room for the tag behind it, so the
//! sealer knows where the plaintext starts because it put it there. Message encoding (`message`) only
//! appends the plaintext. This module does not parse plaintexts and keeps no state beyond one key and
//! sequence number per direction.
//!
//! Key setup is RFC 9180 base mode, `SetupBaseS(pkR, info = transcript)` / `SetupBaseR`. The context
//! then only exports (RFC 9180 section 5.3): each direction's record key and base nonce are one export
//! under that direction's label, and every record is AES-256-GCM (NIST SP 800-38D, via aws-lc-rs) with
//! the nonce `base_nonce XOR seq` of RFC 9180 section 5.2. Every [`KEY_UPDATE_INTERVAL`] records a
//! direction's key is replaced by one derived from an update secret exported beside it, so no key
//! processes more than AES-GCM's usage limits allow. The context's own AEAD (the suite's
//! ChaCha20-Poly1305) is never used: the records take the cipher that is fastest where enclaves run.
//!
//! Why AES-256-GCM rather than the suite's ChaCha20-Poly1305: on CPUs with AES and carry-less multiply
//! instructions (every x86 and Graviton host a Nitro enclave runs on) aws-lc seals 2.2-2.5 times as
//! fast (1 KiB and 64 KiB records on the AMD development VM), and the four AEAD passes of an
//! invocation were the largest cost in the session's profile. Both have 256-bit keys; without those
//! instructions aws-lc's AES-GCM stays constant-time, only slower.

#![warn(clippy::arithmetic_side_effects)]

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::hkdf;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

use crate::frame::{frame_type, KEY_LEN};
use crate::limits::TAG_LEN;

/// The KEM: DHKEM(X25519, HKDF-SHA256), id 0x0020.
pub type Kem = hpke::kem::X25519HkdfSha256;
/// The KDF: HKDF-SHA256, id 0x0001.
pub type Kdf = hpke::kdf::HkdfSha256;
/// The suite's AEAD: ChaCha20-Poly1305, id 0x0003. In a native session it only names the suite in
/// HPKE's key schedule (records are AES-256-GCM under exported keys); Cape's single-shot messages are
/// sealed with it.
pub type Aead = hpke::aead::ChaCha20Poly1305;

/// AES-256-GCM's key length: what each direction exports for its key (RFC 9180 `Nk` of AES-256-GCM).
const RECORD_KEY_LEN: usize = 32;
/// AES-256-GCM's nonce length (RFC 9180 `Nn`).
const RECORD_NONCE_LEN: usize = 12;

/// Records sealed under one key before the direction's key is updated (PROTOCOL.md section 5.1).
///
/// AES-GCM's confidentiality bound grows with the square of the blocks one key processes (the
/// CFRG's AEAD usage limits: advantage about `(blocks + records)^2 / 2^129`). The largest message
/// is 65,545 bytes (a 64 KiB chunk and its 9-byte header), 4,097 blocks, so a key processes at most
/// 2^16 * 4,098 < 2^28.1 blocks, an advantage under 2^-72 per key. Across keys the advantages add: linear in the
/// session's length (about 2^-89 per record) where one key would be quadratic. The update costs two
/// HKDF-Expand calls per 2^16 records.
pub const KEY_UPDATE_INTERVAL: u64 = 1 << 16;

/// HKDF-Expand `info` of the update secret's ratchet: `secret' = HKDF-Expand(secret, info, 32)`.
const SECRET_UPDATE_LABEL: &[u8] = b"enclave-session.v3 secret update";
/// HKDF-Expand `info` of an updated key: `key' = HKDF-Expand(secret', info, 32)`.
const UPDATED_KEY_LABEL: &[u8] = b"enclave-session.v3 key";
/// Each direction's export: `key || base_nonce || update secret`.
const EXPORT_LEN: usize = RECORD_KEY_LEN + RECORD_NONCE_LEN + UPDATE_SECRET_LEN;
/// The update secret's length (HKDF-SHA256's output length).
const UPDATE_SECRET_LEN: usize = 32;
/// What precedes the ciphertext in a record frame: the frame type, sent in the clear.
const FRAME_PREFIX_LEN: usize = 1;

/// One direction of the record layer: its export label, its additional data and its name in errors.
#[derive(Clone, Copy)]
struct Direction {
    /// RFC 9180 section 5.3 `exporter_context`; `Export(label, 76)` gives `key || base_nonce || secret`.
    export_label: &'static [u8],
    /// Additional data of every record in this direction: binds the direction, so that no record can
    /// be reflected back as the other direction's (the keys differ too; this is a second, cheap lock).
    aad: &'static [u8],
    name: &'static str,
}

const REQUEST: Direction = Direction {
    export_label: b"enclave-session.v3 request",
    aad: b"enclave-session.v3 client to enclave",
    name: "client to enclave",
};
const RESPONSE: Direction = Direction {
    export_label: b"enclave-session.v3 response",
    aad: b"enclave-session.v3 enclave to client",
    name: "enclave to client",
};

/// Why a record could not be sealed or opened. Every variant ends the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The peer's public key or encapsulated key is not a valid X25519 point encoding.
    #[error("invalid {0} (not an X25519 public key)")]
    BadKey(&'static str),
    /// HPKE setup failed (for X25519: the shared secret was all zeros).
    #[error("HPKE key agreement failed")]
    KeyAgreement,
    /// A record did not authenticate at its position: forged, replayed, reordered, or one was dropped.
    #[error("{direction} record {seq} failed authentication (forged, replayed, reordered, or one was dropped)")]
    Open {
        /// `client to enclave` or `enclave to client`.
        direction: &'static str,
        /// The sequence number the record should have had.
        seq: u64,
    },
    /// A record was shorter than its authentication tag, so it cannot be a record at all.
    #[error("{direction} record {seq} is {len} bytes, shorter than its 16-byte tag")]
    ShortRecord {
        /// `client to enclave` or `enclave to client`.
        direction: &'static str,
        /// The sequence number the record should have had.
        seq: u64,
        /// Its length.
        len: usize,
    },
    /// The sequence number space is exhausted (2^64 - 1 records); the session must end.
    #[error("{direction} record sequence exhausted after 2^64 - 1 records; the session must end")]
    SequenceExhausted {
        /// `client to enclave` or `enclave to client`.
        direction: &'static str,
    },
    /// Deriving a direction's record key and base nonce from the HPKE exporter failed.
    #[error("deriving the {direction} record key from the HPKE exporter failed")]
    KeyExport {
        /// `client to enclave` or `enclave to client`.
        direction: &'static str,
    },
    /// Deriving a direction's next record key failed (section 5.1's key update).
    #[error("updating the {direction} record key before record {seq} failed")]
    KeyUpdate {
        /// `client to enclave` or `enclave to client`.
        direction: &'static str,
        /// The sequence number of the first record under the new key.
        seq: u64,
    },
    /// The AEAD refused to seal a record (only possible past AES-GCM's 64 GiB per-nonce limit).
    #[error("sealing {direction} record {seq} of {len} bytes failed")]
    Seal {
        /// `client to enclave` or `enclave to client`.
        direction: &'static str,
        /// The record's sequence number.
        seq: u64,
        /// The plaintext's length.
        len: usize,
    },
}

impl RecordError {
    /// Whether the peer's bytes caused this: a record that did not authenticate or could not be one.
    /// The other variants are this end's own record layer giving out (its setup, counter, key update
    /// or AEAD), which a receiver must not count against the peer.
    ///
    /// # Examples
    ///
    /// ```
    /// use enclave_protocol::RecordError;
    /// assert!(RecordError::Open { direction: "client to enclave", seq: 3 }.is_peer_fault());
    /// assert!(!RecordError::SequenceExhausted { direction: "client to enclave" }.is_peer_fault());
    /// ```
    pub fn is_peer_fault(&self) -> bool {
        match self {
            Self::Open { .. } | Self::ShortRecord { .. } | Self::BadKey(_) | Self::KeyAgreement => true,
            Self::SequenceExhausted { .. } | Self::KeyExport { .. } | Self::KeyUpdate { .. } | Self::Seal { .. } => {
                false
            }
        }
    }
}

/// A record's plaintext laid out in its frame, not yet sealed: the record frame's type byte, then the
/// plaintext, with room behind it for the tag, so that sealing in place makes the whole frame in this
/// one buffer and leaves no copy of the plaintext behind. Zeroized when dropped unsealed.
///
/// Messages make their records ([`crate::ClientMessage::to_record`],
/// [`crate::ServerMessage::to_record`]); [`PlainRecord::new`] lays out any plaintext, for tests and
/// tools that must send what no session would.
///
/// # Examples
///
/// ```
/// use enclave_protocol::{ClientMessage, PlainRecord};
/// let record = ClientMessage::InputLast { id: 1, data: b"hi" }.to_record();
/// assert_eq!(record.plaintext(), PlainRecord::new(&[4, 0, 0, 0, 0, 0, 0, 0, 1, b'h', b'i']).plaintext());
/// ```
pub struct PlainRecord {
    /// Invariant: `frame[..FRAME_PREFIX_LEN]` is the record frame's type; the plaintext follows. Only
    /// this module constructs the buffer, and nothing shortens it below the prefix.
    frame: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PlainRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PlainRecord({} bytes)", self.plaintext().len())
    }
}

impl PlainRecord {
    /// A record holding `plaintext` (any bytes, even ones the peer will refuse).
    pub fn new(plaintext: &[u8]) -> Self {
        let mut r = Self::with_capacity(plaintext.len());
        r.extend_from_slice(plaintext);
        r
    }

    /// An empty record with room for `plaintext_capacity` bytes of plaintext and the tag.
    pub fn with_capacity(plaintext_capacity: usize) -> Self {
        let capacity = FRAME_PREFIX_LEN.saturating_add(plaintext_capacity).saturating_add(TAG_LEN);
        let mut frame = Zeroizing::new(Vec::with_capacity(capacity));
        frame.push(frame_type::RECORD);
        Self { frame }
    }

    /// Appends bytes to the plaintext.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.frame.extend_from_slice(bytes);
    }

    /// Appends `len` zero bytes to the plaintext and returns them, to read a chunk straight into the
    /// record; [`truncate_plaintext`](Self::truncate_plaintext) then drops what was not filled.
    pub fn append_zeroed(&mut self, len: usize) -> &mut [u8] {
        let start = self.frame.len();
        self.frame.resize(start.saturating_add(len), 0);
        self.frame.split_at_mut(start).1
    }

    /// Shortens the plaintext to `len` bytes (no effect if it is shorter). The frame's type byte
    /// stays: it is not part of the plaintext.
    pub fn truncate_plaintext(&mut self, len: usize) {
        self.frame.truncate(FRAME_PREFIX_LEN.saturating_add(len));
    }

    /// The plaintext laid out so far.
    pub fn plaintext(&self) -> &[u8] {
        self.frame.split_at(FRAME_PREFIX_LEN).1
    }
}

/// Client side: seals client-to-enclave records in sequence.
pub struct RequestSealer(RecordKey);

/// Enclave side: opens client-to-enclave records in sequence.
pub struct RequestOpener(RecordKey);

/// Enclave side: seals enclave-to-client records in sequence.
pub struct ResponseSealer(RecordKey);

/// Client side: opens enclave-to-client records in sequence.
pub struct ResponseOpener(RecordKey);

/// One direction's exported key and base nonce, and the next sequence number.
struct RecordKey {
    /// aws-lc-rs keeps the key bytes inside its context and clears them when it is freed.
    key: LessSafeKey,
    /// The update secret the next key is derived from (section 5.1), never itself a key: boxed so
    /// that moving the record key moves a pointer, not an unwiped copy of the secret.
    secret: Box<Zeroizing<[u8; UPDATE_SECRET_LEN]>>,
    /// The key update last made (0: the exported key), so that a position is never updated twice.
    epoch: u64,
    base_nonce: Zeroizing<[u8; RECORD_NONCE_LEN]>,
    seq: u64,
    /// Why an opener failed: it refuses everything after with the same error, which names the
    /// position and the cause.
    failed: Option<RecordError>,
    direction: Direction,
}

macro_rules! name_only_debug {
    ($($t:ty),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($t))
            }
        }
    )*};
}
name_only_debug!(RequestSealer, RequestOpener, ResponseSealer, ResponseOpener, EnclaveKey);

type SenderContext = hpke::aead::AeadCtxS<Aead, Kdf, Kem>;
type ReceiverContext = hpke::aead::AeadCtxR<Aead, Kdf, Kem>;

/// RFC 9180 section 5.1.1: `SetupBaseS(pkR, info)`. Returns `enc` and the sender context.
fn setup_sender(
    enclave_public_key: &[u8; KEY_LEN],
    info: &[u8],
    rng: &mut (impl CryptoRng + RngCore),
) -> Result<([u8; KEY_LEN], SenderContext), RecordError> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(enclave_public_key)
        .map_err(|_| RecordError::BadKey("enclave public key"))?;
    let (enc, ctx) = hpke::setup_sender::<Aead, Kdf, Kem, _>(&OpModeS::Base, &pk, info, &mut HpkeRng(rng))
        .map_err(|_| RecordError::KeyAgreement)?;
    Ok((enc.to_bytes().into(), ctx))
}

/// RFC 9180 section 5.1.1: `SetupBaseR(enc, skR, info)`.
fn setup_receiver(
    sk: &<Kem as hpke::Kem>::PrivateKey,
    enc: &[u8; KEY_LEN],
    info: &[u8],
) -> Result<ReceiverContext, RecordError> {
    let encapped =
        <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| RecordError::BadKey("encapsulated key"))?;
    hpke::setup_receiver::<Aead, Kdf, Kem>(&OpModeR::Base, sk, &encapped, info).map_err(|_| RecordError::KeyAgreement)
}

/// Client side of the key setup: encapsulates to the enclave's attested key.
///
/// Returns the encapsulated key to send in the key share frame, the request sealer and the response
/// opener. Sessions reach this through [`crate::ClientHandshake`], which supplies the transcript as
/// `info`; it is public for tests and tools that build a client by hand.
///
/// # Errors
/// [`RecordError::BadKey`], [`RecordError::KeyAgreement`] or [`RecordError::KeyExport`].
pub fn client_setup(
    enclave_public_key: &[u8; KEY_LEN],
    info: &[u8],
    rng: &mut (impl CryptoRng + RngCore),
) -> Result<([u8; KEY_LEN], RequestSealer, ResponseOpener), RecordError> {
    let (enc, ctx) = setup_sender(enclave_public_key, info, rng)?;
    let export = |label: &[u8], out: &mut [u8]| ctx.export(label, out);
    let request = RecordKey::export(export, REQUEST)?;
    let response = RecordKey::export(export, RESPONSE)?;
    // The context (and its exporter secret) is dropped here: nothing else is ever derived from it.
    Ok((enc, RequestSealer(request), ResponseOpener(response)))
}

/// The enclave's per-connection X25519 key pair. The secret half is zeroized on drop (hpke's
/// X25519 private key wraps a zeroizing scalar) and used exactly once, by [`EnclaveKey::accept`].
pub struct EnclaveKey {
    sk: <Kem as hpke::Kem>::PrivateKey,
    pk: [u8; KEY_LEN],
}

impl EnclaveKey {
    /// Generates a fresh key pair for one connection.
    pub fn generate(rng: &mut (impl CryptoRng + RngCore)) -> Self {
        let (sk, pk) = Kem::gen_keypair(&mut HpkeRng(rng));
        Self { sk, pk: pk.to_bytes().into() }
    }

    /// The public key, to be attested.
    pub fn public_key(&self) -> [u8; KEY_LEN] {
        self.pk
    }

    /// Enclave side of the key setup: decapsulates the client's key share. Consumes the key, so a
    /// connection's secret cannot serve a second setup.
    ///
    /// # Errors
    /// [`RecordError::BadKey`], [`RecordError::KeyAgreement`] or [`RecordError::KeyExport`].
    pub fn accept(self, enc: &[u8; KEY_LEN], info: &[u8]) -> Result<(RequestOpener, ResponseSealer), RecordError> {
        let ctx = setup_receiver(&self.sk, enc, info)?;
        let export = |label: &[u8], out: &mut [u8]| ctx.export(label, out);
        let request = RecordKey::export(export, REQUEST)?;
        let response = RecordKey::export(export, RESPONSE)?;
        Ok((RequestOpener(request), ResponseSealer(response)))
    }

    /// Cape's protocol: opens one RFC 9180 single-shot base-mode message (section 6.1,
    /// `Open<mode>(enc, skR, info, aad, ct)`) with empty `info` and `aad`. Unlike
    /// [`EnclaveKey::accept`] the key is kept: Cape reuses one attested key for every invocation of a
    /// connection, which is exactly why that protocol has no replay protection (PROTOCOL.md section 9).
    ///
    /// # Errors
    /// [`RecordError::BadKey`] for an invalid `enc`, [`RecordError::Open`] when the message does not
    /// authenticate.
    pub fn open_single_shot(&self, enc: &[u8; KEY_LEN], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, RecordError> {
        let encapped =
            <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| RecordError::BadKey("encapsulated key"))?;
        hpke::single_shot_open::<Aead, Kdf, Kem>(&OpModeR::Base, &self.sk, &encapped, &[], ciphertext, &[])
            .map(Zeroizing::new)
            .map_err(|_| RecordError::Open { direction: "client to enclave", seq: 0 })
    }
}

/// Cape's protocol: seals one RFC 9180 single-shot base-mode message (section 6.1,
/// `Seal<mode>(pkR, info, aad, pt)`) to the enclave's attested key, with empty `info` and `aad`.
/// Returns `enc` and the ciphertext; Cape sends them concatenated in one binary frame.
///
/// # Errors
/// [`RecordError::BadKey`], [`RecordError::KeyAgreement`] or [`RecordError::KeyExport`].
pub fn seal_single_shot(
    enclave_public_key: &[u8; KEY_LEN],
    plaintext: &[u8],
    rng: &mut (impl CryptoRng + RngCore),
) -> Result<([u8; KEY_LEN], Vec<u8>), RecordError> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(enclave_public_key)
        .map_err(|_| RecordError::BadKey("enclave public key"))?;
    let (enc, ct) =
        hpke::single_shot_seal::<Aead, Kdf, Kem, _>(&OpModeS::Base, &pk, &[], plaintext, &[], &mut HpkeRng(rng))
            .map_err(|_| RecordError::KeyAgreement)?;
    Ok((enc.to_bytes().into(), ct))
}

impl RequestSealer {
    /// Seals the next client-to-enclave record in place; returns the whole frame to send (type byte,
    /// ciphertext, tag). No copy of the plaintext is left behind.
    ///
    /// # Errors
    /// [`RecordError::SequenceExhausted`] after 2^64 - 1 records; [`RecordError::KeyUpdate`] or
    /// [`RecordError::Seal`] if aws-lc refuses to derive the next key or to seal.
    pub fn seal(&mut self, record: PlainRecord) -> Result<Vec<u8>, RecordError> {
        self.0.seal(record)
    }
}

impl ResponseSealer {
    /// Seals the next enclave-to-client record in place; returns the whole frame to send.
    ///
    /// # Errors
    /// [`RecordError::SequenceExhausted`] after 2^64 - 1 records; [`RecordError::KeyUpdate`] or
    /// [`RecordError::Seal`] if aws-lc refuses to derive the next key or to seal.
    pub fn seal(&mut self, record: PlainRecord) -> Result<Vec<u8>, RecordError> {
        self.0.seal(record)
    }
}

impl RequestOpener {
    /// Opens the next client-to-enclave record: the body of a `Record` frame (`ciphertext || tag`).
    /// Any error is final.
    ///
    /// # Errors
    /// [`RecordError::Open`] when the record does not authenticate at this position,
    /// [`RecordError::ShortRecord`] when it is shorter than a tag, [`RecordError::KeyUpdate`] if
    /// aws-lc refuses to derive the next key.
    pub fn open(&mut self, record: &[u8]) -> Result<Zeroizing<Vec<u8>>, RecordError> {
        self.0.open(record)
    }
}

impl ResponseOpener {
    /// Opens the next enclave-to-client record: the body of a `Record` frame (`ciphertext || tag`).
    /// Any error is final.
    ///
    /// # Errors
    /// [`RecordError::Open`] when the record does not authenticate at this position,
    /// [`RecordError::ShortRecord`] when it is shorter than a tag, [`RecordError::KeyUpdate`] if
    /// aws-lc refuses to derive the next key.
    pub fn open(&mut self, record: &[u8]) -> Result<Zeroizing<Vec<u8>>, RecordError> {
        self.0.open(record)
    }
}

impl RecordKey {
    /// RFC 9180 section 5.3: `key || base_nonce || secret = Export(direction label, 76)`.
    fn export(
        export: impl Fn(&[u8], &mut [u8]) -> Result<(), hpke::HpkeError>,
        direction: Direction,
    ) -> Result<Self, RecordError> {
        let mut okm = Zeroizing::new([0u8; EXPORT_LEN]);
        let failed = RecordError::KeyExport { direction: direction.name };
        export(direction.export_label, &mut okm[..]).map_err(|_| failed)?;
        let (key, rest) = okm.split_at(RECORD_KEY_LEN);
        let (nonce, update_secret) = rest.split_at(RECORD_NONCE_LEN);
        let mut secret = Box::new(Zeroizing::new([0u8; UPDATE_SECRET_LEN]));
        secret.copy_from_slice(update_secret);
        let key = UnboundKey::new(&AES_256_GCM, key).map_err(|_| failed)?;
        let mut base_nonce = Zeroizing::new([0u8; RECORD_NONCE_LEN]);
        base_nonce.copy_from_slice(nonce);
        Ok(Self { key: LessSafeKey::new(key), secret, epoch: 0, base_nonce, seq: 0, failed: None, direction })
    }

    /// Section 5.1's key update, before record `seq` (the first of key update `epoch`): the update
    /// secret ratchets, `secret' = HKDF-Expand(secret, "enclave-session.v3 secret update", 32)`, and
    /// the new key is `HKDF-Expand(secret', "enclave-session.v3 key", 32)`, as TLS 1.3 updates a
    /// traffic secret and derives its key from it; the AES key is never an HMAC key. The old secret's
    /// box is wiped as it drops and aws-lc clears the old key's context as it frees it. The base nonce
    /// and the numbering carry on, so nonces never repeat.
    fn update(&mut self, seq: u64, epoch: u64) -> Result<(), RecordError> {
        let failed = RecordError::KeyUpdate { direction: self.direction.name, seq };
        // A uniformly random 32-byte secret is a valid HKDF PRK as it is (RFC 5869 section 3.3).
        // aws-lc-rs wipes each `Prk` on drop.
        let expand = |prk: &[u8], info: &[u8], out: &mut [u8]| {
            hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, prk).expand(&[info], KeyLen).and_then(|okm| okm.fill(out))
        };
        let mut next = Box::new(Zeroizing::new([0u8; UPDATE_SECRET_LEN]));
        expand(&self.secret[..], SECRET_UPDATE_LABEL, &mut next[..]).map_err(|_| failed)?;
        let mut key = Zeroizing::new([0u8; RECORD_KEY_LEN]);
        expand(&next[..], UPDATED_KEY_LABEL, &mut key[..]).map_err(|_| failed)?;
        let key = UnboundKey::new(&AES_256_GCM, &key[..]).map_err(|_| failed)?;
        self.key = LessSafeKey::new(key);
        self.secret = next;
        self.epoch = epoch;
        Ok(())
    }

    /// The nonce for the current sequence number, which it then spends. RFC 9180 section 5.2
    /// ComputeNonce: `base_nonce XOR I2OSP(seq, Nn)`. A counter that reaches 2^64 - 1 ends the
    /// session instead of wrapping (RFC 9180 likewise refuses the last sequence number).
    fn next_nonce(&mut self) -> Result<Nonce, RecordError> {
        let seq = self.seq;
        let epoch = seq / KEY_UPDATE_INTERVAL;
        // A session's counter grows by one, so `epoch` is at most one past `self.epoch`. (Tests that
        // set the counter directly skip updates: after such a jump the key is one update on, not
        // `epoch` updates on.)
        if epoch > self.epoch {
            self.update(seq, epoch)?;
        }
        self.seq = seq.checked_add(1).ok_or(RecordError::SequenceExhausted { direction: self.direction.name })?;
        let mut nonce = *self.base_nonce;
        for (n, s) in nonce.iter_mut().skip(RECORD_NONCE_LEN.saturating_sub(8)).zip(seq.to_be_bytes()) {
            *n ^= s;
        }
        let nonce = Nonce::assume_unique_for_key(nonce);
        Ok(nonce)
    }

    fn seal(&mut self, record: PlainRecord) -> Result<Vec<u8>, RecordError> {
        let mut frame = record.frame;
        // The prefix is there: PlainRecord's invariant. It stays in the clear; the rest is sealed.
        let (_frame_type, plaintext) = frame.split_at_mut(FRAME_PREFIX_LEN);
        let seq = self.seq;
        let len = plaintext.len();
        let nonce = self.next_nonce()?;
        // Fails only past AES-GCM's 64 GiB per nonce, far beyond any record.
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(self.direction.aad), plaintext)
            .map_err(|_| RecordError::Seal { direction: self.direction.name, seq, len })?;
        frame.extend_from_slice(tag.as_ref());
        // Now ciphertext only: hand the buffer over without zeroizing it.
        Ok(std::mem::take(&mut *frame))
    }

    fn open(&mut self, record: &[u8]) -> Result<Zeroizing<Vec<u8>>, RecordError> {
        if let Some(failed) = self.failed {
            return Err(failed);
        }
        let seq = self.seq;
        let opened = self.open_at(record, RecordError::Open { direction: self.direction.name, seq });
        if let Err(e) = &opened {
            // Final: a later record, even the genuine one for this position, is refused too, and
            // every refusal names the position and the cause of the first failure.
            self.failed = Some(*e);
        }
        opened
    }

    fn open_at(&mut self, record: &[u8], refused: RecordError) -> Result<Zeroizing<Vec<u8>>, RecordError> {
        let short = RecordError::ShortRecord { direction: self.direction.name, seq: self.seq, len: record.len() };
        let split = record.len().checked_sub(TAG_LEN).ok_or(short)?;
        let (ciphertext, tag) = record.split_at_checked(split).ok_or(refused)?;
        let nonce = self.next_nonce()?;
        // Decrypt straight from the received frame into the plaintext's own (zeroizing) buffer.
        let mut plaintext = Zeroizing::new(vec![0u8; ciphertext.len()]);
        self.key
            .open_separate_gather(nonce, Aad::from(self.direction.aad), ciphertext, tag, &mut plaintext[..])
            .map_err(|_| refused)?;
        Ok(plaintext)
    }
}

/// The length of an update secret and of an updated key (both 32 bytes), as aws-lc-rs's HKDF takes it.
struct KeyLen;

impl hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        RECORD_KEY_LEN
    }
}

impl Drop for RecordKey {
    fn drop(&mut self) {
        // The key lives in aws-lc's context, which clears it when freed; the update secret and the
        // base nonce are Zeroizing.
        // Clear the counter and the epoch too, so a memory dump cannot tell how far the session went.
        self.seq.zeroize();
        self.epoch.zeroize();
    }
}

/// A plaintext buffer (an input or output chunk) that is zeroized when dropped, at memset speed.
///
/// `Zeroizing<Vec<u8>>` clears a vector's elements one volatile byte store at a time, which for a
/// 64 KiB chunk costs about a third of sealing it; this clears the vector's whole allocation through
/// `zeroize`'s bulk path for uninitialized memory (a fill followed by an optimization barrier) instead.
///
/// # Examples
///
/// ```
/// use enclave_protocol::PlaintextBuf;
/// let chunk = PlaintextBuf::from(b"secret input".to_vec());
/// assert_eq!(&chunk[..], b"secret input");
/// assert_eq!(format!("{chunk:?}"), "PlaintextBuf(12 bytes)"); // never the bytes
/// ```
#[derive(Default)]
pub struct PlaintextBuf(Vec<u8>);

impl From<Vec<u8>> for PlaintextBuf {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl std::ops::Deref for PlaintextBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for PlaintextBuf {
    fn drop(&mut self) {
        // u8 has no drop glue: clearing only resets the length, and then every byte of the
        // allocation is spare capacity.
        self.0.clear();
        self.0.spare_capacity_mut().zeroize();
    }
}

impl std::fmt::Debug for PlaintextBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PlaintextBuf({} bytes)", self.0.len())
    }
}

/// Lends a rand_core 0.6 generator (the workspace's, e.g. `OsRng`) to hpke, which takes rand_core 0.9.
struct HpkeRng<'a, R>(&'a mut R);

impl<R: RngCore> hpke::rand_core::RngCore for HpkeRng<'_, R> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest);
    }
}

// Sound because the wrapped generator is itself a CryptoRng (the bound on every caller).
impl<R: RngCore + CryptoRng> hpke::rand_core::CryptoRng for HpkeRng<'_, R> {}

#[cfg(test)]
mod tests;
