//! Sealed records: the one place the cipher suite is named (PROTOCOL.md section 4 and 5).
//!
//! Input: the enclave's attested X25519 public key and the transcript hash (client side), or the
//! enclave's per-connection secret key and the client's encapsulated key (enclave side); then record
//! plaintexts to seal and untrusted ciphertexts to open. Output: ciphertexts, or plaintexts that were
//! authenticated in exactly the expected position of the stream. Any failure to open is final: the
//! caller must end the session, because a record that does not open was forged, replayed, reordered,
//! or follows a dropped one. This module does not parse plaintexts (see `wire`) and keeps no state
//! beyond the two sequence numbers.
//!
//! Client to enclave: RFC 9180 base mode, `SetupBaseS(pkR, info = transcript)`, each record sealed with
//! the context's own sequence number (RFC 9180 section 5.2). Enclave to client: keys exported from the
//! same context (RFC 9180 section 9.8), as Oblivious HTTP does for its response (RFC 9458 section 4.4),
//! with a counter of their own.

#![warn(clippy::arithmetic_side_effects)]

use chacha20poly1305::aead::{Aead as _, KeyInit, Payload};
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

use super::wire::KEY_LEN;

/// The KEM: DHKEM(X25519, HKDF-SHA256), id 0x0020.
pub type Kem = hpke::kem::X25519HkdfSha256;
/// The KDF: HKDF-SHA256, id 0x0001.
pub type Kdf = hpke::kdf::HkdfSha256;
/// The AEAD: ChaCha20-Poly1305, id 0x0003.
pub type Aead = hpke::aead::ChaCha20Poly1305;

/// Additional data of every client-to-enclave record: binds the direction, so that no record can be
/// reflected back as the other direction's.
const AAD_REQUEST: &[u8] = b"enclave-session.v1 client to enclave";
/// Additional data of every enclave-to-client record.
const AAD_RESPONSE: &[u8] = b"enclave-session.v1 enclave to client";
/// RFC 9458 section 4.4 names its export "message/bhttp response"; ours names this protocol.
const RESPONSE_EXPORT_LABEL: &[u8] = b"enclave-session.v1 response";
const RESPONSE_KEY_LEN: usize = 32;
const RESPONSE_NONCE_LEN: usize = 12;

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
    /// The sequence number space is exhausted (2^64 records); the session must end.
    #[error("record sequence exhausted")]
    SequenceExhausted,
}

/// Client side: seals client-to-enclave records in the HPKE context's sequence.
pub struct RequestSealer {
    ctx: hpke::aead::AeadCtxS<Aead, Kdf, Kem>,
}

/// Enclave side: opens client-to-enclave records in sequence.
pub struct RequestOpener {
    ctx: hpke::aead::AeadCtxR<Aead, Kdf, Kem>,
    seq: u64,
    failed: bool,
}

/// Enclave side: seals enclave-to-client records under the exported response key.
pub struct ResponseSealer {
    keys: ResponseKeys,
}

/// Client side: opens enclave-to-client records in sequence.
pub struct ResponseOpener {
    keys: ResponseKeys,
}

/// Response key and base nonce, exported from the request context, and the next sequence number.
struct ResponseKeys {
    cipher: chacha20poly1305::ChaCha20Poly1305,
    base_nonce: Zeroizing<[u8; RESPONSE_NONCE_LEN]>,
    seq: u64,
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

/// Client side of the key setup: encapsulates to the enclave's attested key.
///
/// Returns the encapsulated key to send in the key share frame, the request sealer and the response
/// opener.
///
/// # Errors
/// [`RecordError::BadKey`] or [`RecordError::KeyAgreement`].
pub fn client_setup(
    enclave_public_key: &[u8; KEY_LEN],
    info: &[u8],
    rng: &mut (impl CryptoRng + RngCore),
) -> Result<([u8; KEY_LEN], RequestSealer, ResponseOpener), RecordError> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(enclave_public_key)
        .map_err(|_| RecordError::BadKey("enclave public key"))?;
    // RFC 9180 section 5.1.1: SetupBaseS(pkR, info).
    let (enc, ctx) = hpke::setup_sender::<Aead, Kdf, Kem, _>(&OpModeS::Base, &pk, info, &mut HpkeRng(rng))
        .map_err(|_| RecordError::KeyAgreement)?;
    let enc: [u8; KEY_LEN] = enc.to_bytes().into();
    let keys = ResponseKeys::export(|label, out| ctx.export(label, out), &enc)?;
    Ok((enc, RequestSealer { ctx }, ResponseOpener { keys }))
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
    /// [`RecordError::BadKey`] or [`RecordError::KeyAgreement`].
    pub fn accept(self, enc: &[u8; KEY_LEN], info: &[u8]) -> Result<(RequestOpener, ResponseSealer), RecordError> {
        let encapped = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc)
            .map_err(|_| RecordError::BadKey("encapsulated key"))?;
        // RFC 9180 section 5.1.1: SetupBaseR(enc, skR, info).
        let ctx = hpke::setup_receiver::<Aead, Kdf, Kem>(&OpModeR::Base, &self.sk, &encapped, info)
            .map_err(|_| RecordError::KeyAgreement)?;
        let keys = ResponseKeys::export(|label, out| ctx.export(label, out), enc)?;
        Ok((RequestOpener { ctx, seq: 0, failed: false }, ResponseSealer { keys }))
    }
}

impl EnclaveKey {
    /// Cape's protocol: opens one RFC 9180 single-shot base-mode message (section 6.1,
    /// `Open<mode>(enc, skR, info, aad, ct)`) with empty `info` and `aad`. Unlike
    /// [`EnclaveKey::accept`] the key is kept: Cape reuses one attested key for every invocation of a
    /// connection, which is exactly why that protocol has no replay protection (PROTOCOL.md section 9).
    ///
    /// # Errors
    /// [`RecordError::BadKey`] for an invalid `enc`, [`RecordError::Open`] when the message does not
    /// authenticate.
    pub fn open_single_shot(&self, enc: &[u8; KEY_LEN], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, RecordError> {
        let encapped = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc)
            .map_err(|_| RecordError::BadKey("encapsulated key"))?;
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
/// [`RecordError::BadKey`] or [`RecordError::KeyAgreement`].
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
    /// Seals the next client-to-enclave record.
    ///
    /// # Errors
    /// [`RecordError::SequenceExhausted`] after 2^64 - 1 records.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, RecordError> {
        self.seal_with_aad(plaintext, AAD_REQUEST)
    }

    // The same call the RFC 9180 vectors exercise, with their AAD.
    fn seal_with_aad(&mut self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, RecordError> {
        // RFC 9180 section 5.2: Seal(aad, pt) uses ComputeNonce(seq), then IncrementSeq.
        self.ctx.seal(plaintext, aad).map_err(|_| RecordError::SequenceExhausted)
    }

    #[cfg(test)]
    fn export(&self, label: &[u8], out: &mut [u8]) {
        self.ctx.export(label, out).unwrap();
    }
}

impl RequestOpener {
    /// Opens the next client-to-enclave record. Any error is final.
    ///
    /// # Errors
    /// [`RecordError::Open`] when the record does not authenticate at this position.
    pub fn open(&mut self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, RecordError> {
        self.open_with_aad(ciphertext, AAD_REQUEST)
    }

    fn open_with_aad(&mut self, ciphertext: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, RecordError> {
        let seq = self.seq;
        let refused = RecordError::Open { direction: "client to enclave", seq };
        // hpke advances its sequence only on success, so after a failure it would accept a different
        // record in the same position. A failure is final instead: the opener refuses everything after.
        if self.failed {
            return Err(refused);
        }
        let pt = self.ctx.open(ciphertext, aad).map_err(|_| {
            self.failed = true;
            refused
        })?;
        self.seq = seq.checked_add(1).ok_or(RecordError::SequenceExhausted)?;
        Ok(Zeroizing::new(pt))
    }
}

impl ResponseKeys {
    fn export(
        export: impl Fn(&[u8], &mut [u8]) -> Result<(), hpke::HpkeError>,
        enc: &[u8; KEY_LEN],
    ) -> Result<Self, RecordError> {
        // RFC 9458 section 4.4, adapted to a stream of responses:
        //   secret = context.Export(label, Nk)            (RFC 9180 section 9.8)
        //   prk    = Extract(salt = enc, secret)
        //   key    = Expand(prk, "key", Nk); nonce = Expand(prk, "nonce", Nn)
        // OHTTP adds a random response_nonce to the salt because each request has its own context; here
        // one context serves one connection and its responses are numbered, so enc alone is unique.
        let mut secret = Zeroizing::new([0u8; RESPONSE_KEY_LEN]);
        export(RESPONSE_EXPORT_LABEL, &mut secret[..]).map_err(|_| RecordError::KeyAgreement)?;
        let prk = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, enc).extract(&secret[..]);
        let mut key = Zeroizing::new([0u8; RESPONSE_KEY_LEN]);
        let mut base_nonce = Zeroizing::new([0u8; RESPONSE_NONCE_LEN]);
        expand(&prk, b"key", &mut key[..])?;
        expand(&prk, b"nonce", &mut base_nonce[..])?;
        let cipher = chacha20poly1305::ChaCha20Poly1305::new((&*key).into());
        Ok(Self { cipher, base_nonce, seq: 0 })
    }

    fn next_nonce(&mut self) -> Result<Zeroizing<[u8; RESPONSE_NONCE_LEN]>, RecordError> {
        // RFC 9180 section 5.2 ComputeNonce: base_nonce XOR I2OSP(seq, Nn).
        let seq = self.seq;
        self.seq = seq.checked_add(1).ok_or(RecordError::SequenceExhausted)?;
        let mut nonce = self.base_nonce.clone();
        for (n, s) in nonce.iter_mut().skip(RESPONSE_NONCE_LEN.saturating_sub(8)).zip(seq.to_be_bytes()) {
            *n ^= s;
        }
        Ok(nonce)
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

fn expand(prk: &aws_lc_rs::hkdf::Prk, info: &[u8], out: &mut [u8]) -> Result<(), RecordError> {
    struct Len(usize);
    impl aws_lc_rs::hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let info = [info];
    prk.expand(&info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| RecordError::KeyAgreement)
}

impl ResponseSealer {
    /// Seals the next enclave-to-client record.
    ///
    /// # Errors
    /// [`RecordError::SequenceExhausted`] after 2^64 records.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, RecordError> {
        let nonce = self.keys.next_nonce()?;
        self.keys
            .cipher
            .encrypt((&*nonce).into(), Payload { msg: plaintext, aad: AAD_RESPONSE })
            .map_err(|_| RecordError::SequenceExhausted)
    }
}

impl ResponseOpener {
    /// Opens the next enclave-to-client record. Any error is final.
    ///
    /// # Errors
    /// [`RecordError::Open`] when the record does not authenticate at this position.
    pub fn open(&mut self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, RecordError> {
        let seq = self.keys.seq;
        let nonce = self.keys.next_nonce()?;
        self.keys
            .cipher
            .decrypt((&*nonce).into(), Payload { msg: ciphertext, aad: AAD_RESPONSE })
            .map(Zeroizing::new)
            .map_err(|_| RecordError::Open { direction: "enclave to client", seq })
    }
}

impl Drop for ResponseKeys {
    fn drop(&mut self) {
        // The cipher zeroizes its own key; the base nonce is Zeroizing. Clear the counter too, so a
        // memory dump cannot tell how far the session went.
        self.seq.zeroize();
    }
}

#[cfg(test)]
mod tests;
