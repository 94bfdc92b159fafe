//! The handshake's pure parts: the client nonce and the transcript that becomes HPKE's `info`
//! (PROTOCOL.md section 4).
//!
//! Input: the function id the client asked for, the nonce it sent, and the raw document bytes it
//! received (already verified by the caller; this module does not verify). Output: the 32-byte
//! transcript hash both ends feed to HPKE, so that every record is bound to exactly this attestation,
//! this function and this connection.

use enclave_protocol::FunctionId;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

use super::wire::NONCE_LEN;

/// The protocol label: the first item of the transcript and the WebSocket subprotocol name.
pub const PROTOCOL_LABEL: &str = "enclave-session.v1";

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_is_fixed_and_binds_every_part() {
        let nonce = Nonce::from_bytes([1; 32]);
        let id = |s: &str| FunctionId::new(s).unwrap();
        let t = transcript_hash(&id("echo"), &nonce, b"doc");
        // Computed independently: python3 -c "import hashlib,struct; ..."
        assert_eq!(hex::encode(t), include_str!("testdata/transcript_echo.hex").trim());
        assert_ne!(t, transcript_hash(&id("echo2"), &nonce, b"doc"));
        assert_ne!(t, transcript_hash(&id("echo"), &Nonce::from_bytes([2; 32]), b"doc"));
        assert_ne!(t, transcript_hash(&id("echo"), &nonce, b"doc!"));
        // Moving a byte between parts changes the hash: the length prefixes make the encoding injective.
        assert_ne!(transcript_hash(&id("ab"), &nonce, b"c"), transcript_hash(&id("a"), &nonce, b"bc"));
    }
}
