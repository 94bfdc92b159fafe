//! Fixtures (`eif/testdata`, built by AWS's EifBuilder; see its README) and one-edit helpers: every
//! hostile image in these tests is a good fixture with one change, its CRC fixed afterwards unless the
//! test is about the CRC, so that the error points at the change.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::PathBuf;

use ciborium::Value;

pub const HEADER_LEN: usize = 548;
const COUNT_AT: usize = 26;
const OFFSETS_AT: usize = 28;
const SIZES_AT: usize = 28 + 32 * 8;

pub fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name)
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(testdata(name)).unwrap()
}

pub fn manifest() -> serde_json::Value {
    serde_json::from_slice(&fixture("manifest.json")).unwrap()
}

/// The manifest's PCRs of `file`, as (index, hex).
pub fn manifest_pcrs(file: &str) -> Vec<(u8, String)> {
    let m = manifest();
    let image = m["images"].as_array().unwrap().iter().find(|i| i["file"] == file).unwrap().clone();
    image["pcrs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.trim_start_matches("PCR").parse().unwrap(), v.as_str().unwrap().to_owned()))
        .collect()
}

pub fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(b[at..at + 2].try_into().unwrap())
}

pub fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

pub fn set_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

pub fn set_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_be_bytes());
}

pub fn count(b: &[u8]) -> usize {
    usize::from(get_u16(b, COUNT_AT))
}

pub fn set_count(b: &mut [u8], n: u16) {
    set_u16(b, COUNT_AT, n);
}

pub fn offset(b: &[u8], i: usize) -> u64 {
    get_u64(b, OFFSETS_AT + 8 * i)
}

pub fn set_offset(b: &mut [u8], i: usize, v: u64) {
    set_u64(b, OFFSETS_AT + 8 * i, v);
}

pub fn size(b: &[u8], i: usize) -> u64 {
    get_u64(b, SIZES_AT + 8 * i)
}

pub fn set_table_size(b: &mut [u8], i: usize, v: u64) {
    set_u64(b, SIZES_AT + 8 * i, v);
}

/// Section `i`'s type, from its own header.
pub fn section_type(b: &[u8], i: usize) -> u16 {
    get_u16(b, offset(b, i) as usize)
}

pub fn set_section_type(b: &mut [u8], i: usize, t: u16) {
    let at = offset(b, i) as usize;
    set_u16(b, at, t);
}

pub fn set_section_header_size(b: &mut [u8], i: usize, v: u64) {
    let at = offset(b, i) as usize + 4;
    set_u64(b, at, v);
}

/// The index of the first section of type `t` (1 kernel, 2 cmdline, 3 ramdisk, 4 signature, 5 metadata).
pub fn find(b: &[u8], t: u16) -> usize {
    (0..count(b)).find(|&i| section_type(b, i) == t).unwrap()
}

pub fn data(b: &[u8], i: usize) -> &[u8] {
    let start = offset(b, i) as usize + 12;
    &b[start..start + size(b, i) as usize]
}

/// CRC-32 (ISO-HDLC) of every byte but the CRC field, written into the field.
pub fn fix_crc(b: &mut [u8]) {
    let mut h = crc32fast::Hasher::new();
    h.update(&b[..544]);
    h.update(&b[548..]);
    let crc = h.finalize();
    b[544..548].copy_from_slice(&crc.to_be_bytes());
}

/// Replaces the data of the last section (the signature, in the signed fixtures) and fixes the table,
/// the section header and the CRC.
pub fn replace_last_section(b: &mut Vec<u8>, new: &[u8]) {
    let i = count(b) - 1;
    let start = offset(b, i) as usize + 12;
    b.truncate(start);
    b.extend_from_slice(new);
    set_table_size(b, i, new.len() as u64);
    set_section_header_size(b, i, new.len() as u64);
    fix_crc(b);
}

/// The signature section's certificate (PEM) and COSE_Sign1 bytes.
pub fn signature_parts(section: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let v: Value = ciborium::from_reader(section).unwrap();
    let entry = v.as_array().unwrap()[0].as_map().unwrap().clone();
    let get = |key: &str| {
        let (_, v) = entry.iter().find(|(k, _)| k.as_text() == Some(key)).unwrap();
        v.as_array().unwrap().iter().map(|i| u8::try_from(i.as_integer().unwrap()).unwrap()).collect::<Vec<u8>>()
    };
    (get("signing_certificate"), get("signature"))
}

/// A byte string the way AWS's serde encoder writes it: an array of integers.
pub fn serde_bytes(b: &[u8]) -> Value {
    Value::Array(b.iter().map(|&x| Value::Integer(x.into())).collect())
}

pub fn cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    out
}

/// A signature section with the given certificate PEM and COSE bytes, encoded as AWS's signer does.
pub fn signature_section(cert_pem: &[u8], cose: &[u8]) -> Vec<u8> {
    cbor(&Value::Array(vec![Value::Map(vec![
        (Value::Text("signing_certificate".into()), serde_bytes(cert_pem)),
        (Value::Text("signature".into()), serde_bytes(cose)),
    ])]))
}

/// AWS's signed payload: `{register_index, register_value}`.
pub fn pcr_payload(index: i64, value: &[u8]) -> Vec<u8> {
    cbor(&Value::Map(vec![
        (Value::Text("register_index".into()), Value::Integer(index.into())),
        (Value::Text("register_value".into()), serde_bytes(value)),
    ]))
}

/// A P-384 key of our own and a self-signed certificate for it (the rogue signer of these tests).
pub struct Rogue {
    key: aws_lc_rs::signature::EcdsaKeyPair,
    pub cert_pem: String,
}

impl Rogue {
    pub fn new(cn: &str) -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let cert = params.self_signed(&key).unwrap();
        let ecdsa = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
            &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            &key.serialize_der(),
        )
        .unwrap();
        Self { key: ecdsa, cert_pem: cert.pem() }
    }

    /// An untagged COSE_Sign1 over `payload` with protected `{1: alg}`, signed by this key.
    pub fn cose(&self, alg: coset::iana::Algorithm, payload: &[u8]) -> Vec<u8> {
        use coset::CborSerializable as _;
        let protected = coset::HeaderBuilder::new().algorithm(alg).build();
        let rng = aws_lc_rs::rand::SystemRandom::new();
        coset::CoseSign1Builder::new()
            .protected(protected)
            .payload(payload.to_vec())
            .create_signature(b"", |data| self.key.sign(&rng, data).unwrap().as_ref().to_vec())
            .build()
            .to_vec()
            .unwrap()
    }
}
