//! RFC 9180 known-answer tests through the same hpke calls the session uses, and the record rules.

use super::*;
use crate::{ClientMessage, Frame, FrameLimits, ServerMessage, SessionErrorCode, MAX_CHUNK_LEN};
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

fn base_vectors() -> Vec<Vector> {
    let base: Vec<Vector> = vectors().into_iter().filter(|v| v.mode == 0).collect();
    assert!(!base.is_empty(), "fixture holds no base-mode vector");
    base
}

/// The setup the session runs (`setup_sender` / `setup_receiver`, as `client_setup` and
/// `EnclaveKey::accept` call them) against RFC 9180's vectors: `enc`, every encryption (which checks
/// the whole key schedule), and every export through both contexts (the one call the records' keys
/// come from).
#[test]
fn rfc9180_base_mode_vectors() {
    for v in base_vectors() {
        let pk: [u8; 32] = h(&v.pk_rm).try_into().unwrap();
        let (enc, mut sender) = setup_sender(&pk, &h(&v.info), &mut FixedRng(h(&v.ikm_e))).unwrap();
        assert_eq!(enc.to_vec(), h(&v.enc));
        let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&h(&v.sk_rm)).unwrap();
        let mut receiver = setup_receiver(&sk, &enc, &h(&v.info)).unwrap();
        assert!(v.encryptions.len() >= 2);
        for e in &v.encryptions {
            let ct = sender.seal(&h(&e.pt), &h(&e.aad)).unwrap();
            assert_eq!(hex::encode(&ct), e.ct);
            assert_eq!(receiver.open(&ct, &h(&e.aad)).unwrap(), h(&e.pt));
        }
        assert!(!v.exports.is_empty());
        for x in &v.exports {
            let (mut out_s, mut out_r) = (vec![0u8; x.len], vec![0u8; x.len]);
            sender.export(&h(&x.exporter_context), &mut out_s).unwrap();
            receiver.export(&h(&x.exporter_context), &mut out_r).unwrap();
            assert_eq!((hex::encode(out_s), hex::encode(out_r)), (x.exported_value.clone(), x.exported_value.clone()));
        }
    }
}

/// AES-256-GCM by the pure-Rust `aes-gcm` crate, as an independent second implementation, under
/// `key` and the nonce `base_nonce XOR seq`.
fn reference_seal(key: &[u8; 32], base_nonce: &[u8; 12], seq: u64, aad: &[u8], pt: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
    let cipher = aes_gcm::Aes256Gcm::new(key.into());
    let mut nonce = *base_nonce;
    for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
        *n ^= s;
    }
    cipher.encrypt(&nonce.into(), Payload { msg: pt, aad }).unwrap()
}

/// Section 5.1's key update by the pure-Rust `hkdf` crate: the next update secret, and the key
/// derived from it.
fn reference_update(secret: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let expand = |prk: &[u8; 32], info: &[u8]| {
        let mut out = [0u8; 32];
        ::hkdf::Hkdf::<sha2::Sha256>::from_prk(prk).unwrap().expand(info, &mut out).unwrap();
        out
    };
    let next = expand(secret, b"enclave-session.v3 secret update");
    (next, expand(&next, b"enclave-session.v3 key"))
}

/// A direction's first key, base nonce and update secret, split from its 76-byte export.
struct Exported {
    key: [u8; 32],
    base_nonce: [u8; 12],
    secret: [u8; 32],
}

/// The RFC 9180 base-mode vector's inputs through `client_setup` and `EnclaveKey::accept`, and each
/// direction's export computed separately from the sender context (PROTOCOL.md section 4 step 6).
fn vector_session() -> (RequestSealer, ResponseOpener, RequestOpener, ResponseSealer, Exported, Exported) {
    let v = &base_vectors()[0];
    let pk: [u8; 32] = h(&v.pk_rm).try_into().unwrap();
    let info = h(&v.info);
    let (_, ctx) = setup_sender(&pk, &info, &mut FixedRng(h(&v.ikm_e))).unwrap();
    let exported = |label: &[u8]| {
        let mut okm = [0u8; 76];
        ctx.export(label, &mut okm).unwrap();
        Exported {
            key: okm[..32].try_into().unwrap(),
            base_nonce: okm[32..44].try_into().unwrap(),
            secret: okm[44..].try_into().unwrap(),
        }
    };
    let (request, response) = (exported(b"enclave-session.v3 request"), exported(b"enclave-session.v3 response"));
    let (enc, rs, ro) = client_setup(&pk, &info, &mut FixedRng(h(&v.ikm_e))).unwrap();
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&h(&v.sk_rm)).unwrap();
    let (qo, qs) = EnclaveKey { sk, pk }.accept(&enc, &info).unwrap();
    (rs, ro, qo, qs, request, response)
}

const REQUEST_AAD: &[u8] = b"enclave-session.v3 client to enclave";
const RESPONSE_AAD: &[u8] = b"enclave-session.v3 enclave to client";

/// The records' keys are the exports PROTOCOL.md section 4 names, and each record is AES-256-GCM
/// under nonce `base_nonce XOR seq`: checked against the pure-Rust crate, with record 0 of each
/// direction pinned (PROTOCOL.md section 8).
#[test]
fn records_are_sealed_under_the_exported_keys() {
    let (mut rs, mut ro, mut qo, mut qs, request, response) = vector_session();
    let pt = b"enclave-session.v3 test record";
    let (mut first_request, mut first_response) = (String::new(), String::new());
    for seq in 0..4u64 {
        let ct = seal_c(&mut rs, pt).unwrap();
        assert_eq!(ct, reference_seal(&request.key, &request.base_nonce, seq, REQUEST_AAD, pt), "request {seq}");
        assert_eq!(&qo.open(&ct).unwrap()[..], pt);
        let ct2 = seal_e(&mut qs, pt).unwrap();
        assert_eq!(ct2, reference_seal(&response.key, &response.base_nonce, seq, RESPONSE_AAD, pt), "response {seq}");
        assert_eq!(&ro.open(&ct2).unwrap()[..], pt);
        if seq == 0 {
            (first_request, first_response) = (hex::encode(ct), hex::encode(ct2));
        }
    }
    assert_eq!(first_request, PINNED_REQUEST_0);
    assert_eq!(first_response, PINNED_RESPONSE_0);
}

const PINNED_REQUEST_0: &str =
    "ef4627b1321a1c21dbbaade7e42487018debb653bfc1d481889572ccb649502c7a01a978b69f8149b88b9db885ef";
const PINNED_RESPONSE_0: &str =
    "9c7e50f0c3b5c33dab314540e858b5c0c7873bde1b8a19da8a11baf96835a45ebd1fa94c9a3b3f8e488d074d08d6";

/// Every `KEY_UPDATE_INTERVAL` records a direction's update secret ratchets and its key is derived
/// from the new secret, checked against the pure-Rust crates at the first two updates of both directions, with the
/// first record under the updated request key pinned (PROTOCOL.md section 8). The sequence number
/// carries on: record 2^16 uses nonce `base_nonce XOR 2^16`.
#[test]
fn the_key_is_updated_every_interval_records() {
    let (mut rs, mut ro, mut qo, mut qs, request, response) = vector_session();
    let pt = b"enclave-session.v3 test record";
    let mut keys = (request.key, response.key);
    let mut secrets = (request.secret, response.secret);
    let mut first_updated = String::new();
    for update in 1..=2u64 {
        let boundary = update * KEY_UPDATE_INTERVAL;
        // Skip ahead within the current key: the update depends on the position alone.
        for seq in [&mut rs.0.seq, &mut ro.0.seq, &mut qo.0.seq, &mut qs.0.seq] {
            *seq = boundary - 1;
        }
        let last_c = seal_c(&mut rs, pt).unwrap();
        assert_eq!(last_c, reference_seal(&keys.0, &request.base_nonce, boundary - 1, REQUEST_AAD, pt));
        assert_eq!(&qo.open(&last_c).unwrap()[..], pt);
        let last_e = seal_e(&mut qs, pt).unwrap();
        assert_eq!(last_e, reference_seal(&keys.1, &response.base_nonce, boundary - 1, RESPONSE_AAD, pt));
        assert_eq!(&ro.open(&last_e).unwrap()[..], pt);

        let ((request_secret, request_key), (response_secret, response_key)) =
            (reference_update(&secrets.0), reference_update(&secrets.1));
        (keys, secrets) = ((request_key, response_key), (request_secret, response_secret));
        for seq in boundary..boundary + 2 {
            let c = seal_c(&mut rs, pt).unwrap();
            assert_eq!(c, reference_seal(&keys.0, &request.base_nonce, seq, REQUEST_AAD, pt), "request {seq}");
            assert_eq!(&qo.open(&c).unwrap()[..], pt);
            let e = seal_e(&mut qs, pt).unwrap();
            assert_eq!(e, reference_seal(&keys.1, &response.base_nonce, seq, RESPONSE_AAD, pt), "response {seq}");
            assert_eq!(&ro.open(&e).unwrap()[..], pt);
            if seq == KEY_UPDATE_INTERVAL {
                first_updated = hex::encode(c);
            }
        }
    }
    assert_eq!(first_updated, PINNED_REQUEST_FIRST_UPDATED);
}

const PINNED_REQUEST_FIRST_UPDATED: &str =
    "021741008a4c66352ee781550a56cbdd34fa24f39c7b267788de5b3a064de92aaa7f077762b0c4b4801bf10c8f19";

/// A rogue sender that keeps its old key past the update gets nothing opened: the record at the
/// boundary, sealed under the key before the update, fails at exactly that position, and the
/// opener then refuses the genuine record too, having updated its key exactly once.
#[test]
fn a_record_under_the_key_before_the_update_is_refused() {
    let (mut rs, _, mut qo, _, request, _) = vector_session();
    let pt = b"enclave-session.v3 test record";
    let boundary = KEY_UPDATE_INTERVAL;
    qo.0.seq = boundary - 1;
    rs.0.seq = boundary - 1;
    assert_eq!(&qo.open(&seal_c(&mut rs, pt).unwrap()).unwrap()[..], pt);
    let stale = reference_seal(&request.key, &request.base_nonce, boundary, REQUEST_AAD, pt);
    assert_eq!(qo.open(&stale), Err(RecordError::Open { direction: "client to enclave", seq: boundary }));
    let genuine = seal_c(&mut rs, pt).unwrap();
    assert_eq!(qo.open(&genuine), Err(RecordError::Open { direction: "client to enclave", seq: boundary }));
    assert_eq!((qo.0.epoch, **qo.0.secret), (1, reference_update(&request.secret).0));
}

/// Counted record by record rather than skipped to, both ends cross the first update in step.
#[test]
fn sessions_run_through_the_update_in_step() {
    let (mut rs, mut ro, mut qo, mut qs) = pair();
    for i in 0..KEY_UPDATE_INTERVAL + 2 {
        let byte = [i.to_le_bytes()[0]];
        assert_eq!(&qo.open(&seal_c(&mut rs, &byte).unwrap()).unwrap()[..], &byte, "request {i}");
        assert_eq!(&ro.open(&seal_e(&mut qs, &byte).unwrap()).unwrap()[..], &byte, "response {i}");
    }
}

/// A message laid out in its record and sealed is a record frame whose body opens back to the
/// message, and is exactly what sealing the message's encoding as a plain record gives at the same
/// key and position: the record layer alone decides where the plaintext starts.
#[test]
fn messages_sealed_in_their_records_open_back() {
    let (mut rs, mut ro, mut qo, mut qs) = pair();
    let data = vec![0xa5u8; MAX_CHUNK_LEN];
    for msg in [
        ClientMessage::InputLast { id: 7, data: &data },
        ClientMessage::Input { id: 8, data: b"" },
        ClientMessage::Close,
    ] {
        let frame = rs.seal(msg.to_record()).unwrap();
        assert_eq!(frame.len(), 1 + msg.encode().len() + TAG_LEN);
        let plaintext = qo.open(&body(&frame)).unwrap();
        assert_eq!(ClientMessage::decode(&plaintext), Ok(msg));
    }
    for msg in [
        ServerMessage::OutputLast { id: 7, data: &data },
        ServerMessage::FunctionError { id: 7, code: 2, message: "bad" },
        ServerMessage::SessionError { code: SessionErrorCode::IdleTimeout, detail: 120 },
    ] {
        let frame = qs.seal(msg.to_record()).unwrap();
        assert_eq!(frame.len(), 1 + msg.encode().len() + TAG_LEN);
        assert_eq!(ServerMessage::decode(&ro.open(&body(&frame)).unwrap()), Ok(msg));
    }
    // And the same bytes as sealing the encoding as a plain record, for the same key and position.
    let (mut a, _, _, _) = pair();
    let msg = ClientMessage::Input { id: 1, data: b"same" };
    let via_message = a.seal(msg.to_record()).unwrap();
    a.0.seq = 0;
    assert_eq!(via_message, a.seal(PlainRecord::new(&msg.encode())).unwrap());
    // An empty plaintext seals to a frame of the type byte and a tag alone, which opens to nothing.
    let (mut rs, _, mut qo, _) = pair();
    let empty = rs.seal(PlainRecord::new(b"")).unwrap();
    assert_eq!(empty.len(), 1 + TAG_LEN);
    assert_eq!(&qo.open(&body(&empty)).unwrap()[..], b"");
}

#[test]
fn the_sequence_ends_before_it_wraps() {
    let (mut rs, _, _, _) = pair();
    rs.0.seq = u64::MAX - 1;
    assert!(seal_c(&mut rs, b"x").is_ok());
    assert_eq!(seal_c(&mut rs, b"x"), Err(RecordError::SequenceExhausted { direction: "client to enclave" }));
    assert_eq!(seal_c(&mut rs, b"x"), Err(RecordError::SequenceExhausted { direction: "client to enclave" }));
}

/// What the peer sent is the peer's fault; this end's counter or key update giving out is not, so a
/// receiver does not count it as a forged record.
#[test]
fn only_the_peers_bytes_are_blamed_on_the_peer() {
    let (mut rs, _, mut qo, _) = pair();
    let forged = qo.open(&[0u8; TAG_LEN + 4]).unwrap_err();
    assert!(forged.is_peer_fault(), "{forged}");
    let (_, _, mut qo, _) = pair();
    assert!(qo.open(&[0u8; TAG_LEN - 1]).unwrap_err().is_peer_fault());
    rs.0.seq = u64::MAX;
    let exhausted = seal_c(&mut rs, b"x").unwrap_err();
    assert!(!exhausted.is_peer_fault(), "{exhausted}");
    assert!(!RecordError::KeyUpdate { direction: "client to enclave", seq: KEY_UPDATE_INTERVAL }.is_peer_fault());
}

#[test]
fn a_record_shorter_than_its_tag_is_refused_at_its_position() {
    let (_, _, mut qo, _) = pair();
    assert_eq!(
        qo.open(&[0u8; TAG_LEN - 1]),
        Err(RecordError::ShortRecord { direction: "client to enclave", seq: 0, len: TAG_LEN - 1 })
    );
}

/// Seals `plaintext` as the next record and returns its body (`ciphertext || tag`), the part a
/// `Record` frame carries after its type byte.
fn seal_c(s: &mut RequestSealer, plaintext: &[u8]) -> Result<Vec<u8>, RecordError> {
    s.seal(PlainRecord::new(plaintext)).map(|frame| body(&frame))
}

fn seal_e(s: &mut ResponseSealer, plaintext: &[u8]) -> Result<Vec<u8>, RecordError> {
    s.seal(PlainRecord::new(plaintext)).map(|frame| body(&frame))
}

fn body(frame: &[u8]) -> Vec<u8> {
    let Ok(Frame::Record(ct)) = Frame::decode(frame, &FrameLimits::default()) else { panic!("not a record frame") };
    ct.to_vec()
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
        assert_eq!(&qo.open(&seal_c(&mut rs, &[i]).unwrap()).unwrap()[..], &[i]);
        assert_eq!(&ro.open(&seal_e(&mut qs, &[i, i]).unwrap()).unwrap()[..], &[i, i]);
    }
}

#[test]
fn other_transcript_cannot_open() {
    let mut rng = rand_core::OsRng;
    let key = EnclaveKey::generate(&mut rng);
    let (enc, mut rs, _) = client_setup(&key.public_key(), b"transcript A", &mut rng).unwrap();
    let (mut qo, _) = key.accept(&enc, b"transcript B").unwrap();
    assert_eq!(
        qo.open(&seal_c(&mut rs, b"x").unwrap()),
        Err(RecordError::Open { direction: "client to enclave", seq: 0 })
    );
}

#[test]
fn replay_reorder_drop_and_reflection_are_refused() {
    let (mut rs, mut ro, mut qo, mut qs) = pair();
    let r0 = seal_c(&mut rs, b"0").unwrap();
    let r1 = seal_c(&mut rs, b"1").unwrap();
    // Reordered: record 1 in position 0.
    assert_eq!(qo.open(&r1), Err(RecordError::Open { direction: "client to enclave", seq: 0 }));
    // After a failure the opener stays closed, even for the genuine record.
    assert_eq!(qo.open(&r0), Err(RecordError::Open { direction: "client to enclave", seq: 0 }));

    let s0 = seal_e(&mut qs, b"a").unwrap();
    let s1 = seal_e(&mut qs, b"b").unwrap();
    assert_eq!(&ro.open(&s0).unwrap()[..], b"a");
    // Replayed: record 0 again in position 1.
    assert_eq!(ro.open(&s0), Err(RecordError::Open { direction: "enclave to client", seq: 1 }));
    drop(s1);

    // Dropped: position 0 skipped.
    let (mut rs, _, mut qo, _) = pair();
    let _lost = seal_c(&mut rs, b"0").unwrap();
    assert_eq!(
        qo.open(&seal_c(&mut rs, b"1").unwrap()),
        Err(RecordError::Open { direction: "client to enclave", seq: 0 })
    );

    // Reflected: a client record fed to the client's response opener.
    let (mut rs, mut ro, _, _) = pair();
    assert_eq!(
        ro.open(&seal_c(&mut rs, b"0").unwrap()),
        Err(RecordError::Open { direction: "enclave to client", seq: 0 })
    );
}

#[test]
fn bad_public_key_bytes() {
    // X25519 accepts every 32-byte string as a point, but the all-zero key gives an all-zero secret.
    let r = client_setup(&[0u8; 32], b"t", &mut rand_core::OsRng);
    assert_eq!(r.err(), Some(RecordError::KeyAgreement));
}

#[test]
fn plaintext_buffers_show_their_length_only() {
    let p = PlaintextBuf::from(b"secret input".to_vec());
    assert_eq!(&p[..], b"secret input");
    assert_eq!(format!("{p:?}"), "PlaintextBuf(12 bytes)");
}

/// The enclave's secret key and the DH results are x25519-dalek values inside hpke's types; they
/// are wiped on drop only with x25519-dalek's `zeroize` feature, which hpke leaves off (the workspace
/// turns it on; hpke's own intermediate copies are not covered). That one feature derives both `Zeroize` and the wiping `Drop` (`zeroize(drop)`), so
/// without it this does not compile.
#[test]
fn the_x25519_secrets_inside_hpke_are_zeroized_on_drop() {
    fn wiped<T: zeroize::Zeroize>() {}
    wiped::<x25519_dalek::StaticSecret>();
    wiped::<x25519_dalek::SharedSecret>();
}
