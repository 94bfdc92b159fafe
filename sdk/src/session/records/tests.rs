//! RFC 9180 known-answer tests through the same hpke calls the session uses, and the record rules.

use super::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Vector {
    mode: u8,
    info: String,
    #[serde(rename = "ikmE")]
    ikm_e: String,
    #[serde(rename = "skRm")]
    sk_rm: String,
    #[serde(rename = "pkRm")]
    pk_rm: String,
    enc: String,
    encryptions: Vec<Encryption>,
    exports: Vec<Export>,
}

#[derive(Deserialize)]
struct Encryption {
    aad: String,
    ct: String,
    pt: String,
}

#[derive(Deserialize)]
struct Export {
    exporter_context: String,
    #[serde(rename = "L")]
    len: usize,
    exported_value: String,
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// Replays fixed bytes: hpke draws the ephemeral key's ikm from the RNG (RFC 9180 section 7.1.3
/// DeriveKeyPair(ikmE)), so returning ikmE reproduces the vector's ephemeral key exactly.
struct FixedRng(Vec<u8>);
impl RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        unimplemented!()
    }
    fn next_u64(&mut self) -> u64 {
        unimplemented!()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert_eq!(dest.len(), self.0.len(), "hpke asked for an unexpected amount of randomness");
        dest.copy_from_slice(&self.0);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for FixedRng {}

fn vectors() -> Vec<Vector> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/hpke/rfc9180-x25519-sha256-chacha20poly1305.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn rfc9180_base_mode_vectors() {
    let base: Vec<Vector> = vectors().into_iter().filter(|v| v.mode == 0).collect();
    assert!(!base.is_empty(), "fixture holds no base-mode vector");
    for v in base {
        let pk: [u8; 32] = h(&v.pk_rm).try_into().unwrap();
        let (enc, mut sealer, _) = client_setup(&pk, &h(&v.info), &mut FixedRng(h(&v.ikm_e))).unwrap();
        assert_eq!(enc.to_vec(), h(&v.enc));

        let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&h(&v.sk_rm)).unwrap();
        let key = EnclaveKey { sk, pk };
        let (mut opener, _) = key.accept(&enc, &h(&v.info)).unwrap();
        assert!(v.encryptions.len() >= 2);
        for e in &v.encryptions {
            let ct = sealer.seal_with_aad(&h(&e.pt), &h(&e.aad)).unwrap();
            assert_eq!(hex::encode(&ct), e.ct);
            assert_eq!(&opener.open_with_aad(&ct, &h(&e.aad)).unwrap()[..], &h(&e.pt)[..]);
        }
        assert!(!v.exports.is_empty());
        for x in &v.exports {
            let mut out = vec![0u8; x.len];
            sealer.export(&h(&x.exporter_context), &mut out);
            assert_eq!(hex::encode(out), x.exported_value);
        }
    }
}

fn pair() -> (RequestSealer, ResponseOpener, RequestOpener, ResponseSealer) {
    let mut rng = rand_core::OsRng;
    let key = EnclaveKey::generate(&mut rng);
    let (enc, rs, ro) = client_setup(&key.public_key(), b"transcript", &mut rng).unwrap();
    let (qo, qs) = key.accept(&enc, b"transcript").unwrap();
    (rs, ro, qo, qs)
}

#[test]
fn records_flow_both_ways() {
    let (mut rs, mut ro, mut qo, mut qs) = pair();
    for i in 0..5u8 {
        assert_eq!(&qo.open(&rs.seal(&[i]).unwrap()).unwrap()[..], &[i]);
        assert_eq!(&ro.open(&qs.seal(&[i, i]).unwrap()).unwrap()[..], &[i, i]);
    }
}

#[test]
fn other_transcript_cannot_open() {
    let mut rng = rand_core::OsRng;
    let key = EnclaveKey::generate(&mut rng);
    let (enc, mut rs, _) = client_setup(&key.public_key(), b"transcript A", &mut rng).unwrap();
    let (mut qo, _) = key.accept(&enc, b"transcript B").unwrap();
    assert_eq!(qo.open(&rs.seal(b"x").unwrap()), Err(RecordError::Open { direction: "client to enclave", seq: 0 }));
}

#[test]
fn replay_reorder_drop_and_reflection_are_refused() {
    let (mut rs, mut ro, mut qo, mut qs) = pair();
    let r0 = rs.seal(b"0").unwrap();
    let r1 = rs.seal(b"1").unwrap();
    // Reordered: record 1 in position 0.
    assert_eq!(qo.open(&r1), Err(RecordError::Open { direction: "client to enclave", seq: 0 }));
    // After a failure the opener stays closed, even for the genuine record.
    assert_eq!(qo.open(&r0), Err(RecordError::Open { direction: "client to enclave", seq: 0 }));

    let s0 = qs.seal(b"a").unwrap();
    let s1 = qs.seal(b"b").unwrap();
    assert_eq!(&ro.open(&s0).unwrap()[..], b"a");
    // Replayed: record 0 again in position 1.
    assert_eq!(ro.open(&s0), Err(RecordError::Open { direction: "enclave to client", seq: 1 }));
    drop(s1);

    // Dropped: position 0 skipped.
    let (mut rs, _, mut qo, _) = pair();
    let _lost = rs.seal(b"0").unwrap();
    assert!(qo.open(&rs.seal(b"1").unwrap()).is_err());

    // Reflected: a client record fed to the client's response opener.
    let (mut rs, mut ro, _, _) = pair();
    assert!(ro.open(&rs.seal(b"0").unwrap()).is_err());
}

#[test]
fn bad_public_key_bytes() {
    // X25519 accepts every 32-byte string as a point, but the all-zero key gives an all-zero secret.
    let r = client_setup(&[0u8; 32], b"t", &mut rand_core::OsRng);
    assert_eq!(r.err(), Some(RecordError::KeyAgreement));
}
