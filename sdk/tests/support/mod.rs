//! Test-only helpers: the real AWS fixtures, edits to their CBOR, and a small test PKI that signs
//! documents shaped like AWS's (for policy checks, which need a document that still verifies).
//! Stream B's mock attester is the production-grade counterpart; this stays test-only.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};
use ciborium::Value;
use enclave_sdk::attestation::TrustRoot;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};

pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro");

/// One real AWS document and its manifest entry.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub file: String,
    pub bytes: Vec<u8>,
    pub verify_at: u64,
    pub window_start: u64,
    pub window_end: u64,
    pub timestamp_ms: u64,
    pub module_id: String,
    pub debug: bool,
    pub pcr: [Vec<u8>; 3],
    pub pcr_count: usize,
    pub public_key_len: Option<usize>,
    pub user_data_len: Option<usize>,
    pub nonce: Option<Vec<u8>>,
}

pub fn fixtures() -> Vec<Fixture> {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/manifest.json")).unwrap()).unwrap();
    manifest["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let file = d["file"].as_str().unwrap().to_owned();
            let h = |k: &str| hex::decode(d[k].as_str().unwrap()).unwrap();
            Fixture {
                bytes: std::fs::read(format!("{DIR}/{file}")).unwrap(),
                file,
                verify_at: d["verify_at"].as_u64().unwrap(),
                window_start: d["window_start"].as_u64().unwrap(),
                window_end: d["window_end"].as_u64().unwrap(),
                timestamp_ms: d["timestamp_ms"].as_u64().unwrap(),
                module_id: d["module_id"].as_str().unwrap().to_owned(),
                debug: d["debug_mode"].as_bool().unwrap(),
                pcr: [h("pcr0"), h("pcr1"), h("pcr2")],
                pcr_count: d["pcr_count"].as_u64().unwrap() as usize,
                public_key_len: d["public_key_len"].as_u64().map(|n| n as usize),
                user_data_len: d["user_data_len"].as_u64().map(|n| n as usize),
                nonce: d["nonce_hex"].as_str().map(|s| hex::decode(s).unwrap()),
            }
        })
        .collect()
}

pub fn fixture(file: &str) -> Fixture {
    fixtures().into_iter().find(|f| f.file == file).unwrap()
}

pub fn root_g1_der() -> Vec<u8> {
    TrustRoot::aws_nitro_root_g1().der().to_vec()
}

pub fn to_cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    out
}

pub fn from_cbor(b: &[u8]) -> Value {
    ciborium::from_reader(b).unwrap()
}

/// The four parts of a COSE_Sign1 as ciborium values.
pub fn envelope(doc: &[u8]) -> Vec<Value> {
    match from_cbor(doc) {
        Value::Array(parts) => parts,
        other => panic!("not an array: {other:?}"),
    }
}

pub fn bytes_of(v: &Value) -> Vec<u8> {
    v.as_bytes().unwrap().clone()
}

/// Re-encodes a document after editing its envelope parts (the payload stays byte-identical unless
/// the edit changes it).
pub fn edit_envelope(doc: &[u8], edit: impl FnOnce(&mut Vec<Value>)) -> Vec<u8> {
    let mut parts = envelope(doc);
    edit(&mut parts);
    to_cbor(&Value::Array(parts))
}

/// Edits the payload map (as ciborium entries, duplicates preserved) and keeps the original signature.
pub fn edit_payload(doc: &[u8], edit: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
    edit_envelope(doc, |parts| {
        let mut map = match from_cbor(&bytes_of(&parts[2])) {
            Value::Map(m) => m,
            other => panic!("payload not a map: {other:?}"),
        };
        edit(&mut map);
        parts[2] = Value::Bytes(to_cbor(&Value::Map(map)));
    })
}

pub fn payload_get<'a>(map: &'a mut [(Value, Value)], key: &str) -> &'a mut Value {
    &mut map.iter_mut().find(|(k, _)| k.as_text() == Some(key)).unwrap().1
}

/// Edits one certificate's DER inside the payload: `None` is the leaf, `Some(i)` is `cabundle[i]`.
pub fn edit_cert(doc: &[u8], which: Option<usize>, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    edit_payload(doc, |map| {
        let v = match which {
            None => payload_get(map, "certificate"),
            Some(i) => match payload_get(map, "cabundle") {
                Value::Array(a) => &mut a[i],
                _ => unreachable!(),
            },
        };
        let mut der = bytes_of(v);
        edit(&mut der);
        *v = Value::Bytes(der);
    })
}

// ---------------------------------------------------------------------------------------------
// A test PKI shaped like AWS's (root -> intermediate -> leaf, all P-384), for documents that verify.

/// 2025-01-01T00:00:00Z: the test leaf becomes valid here and lives 3 hours, as AWS's do.
pub const T0: u64 = 1_735_689_600;
pub const LEAF_LIFETIME: u64 = 3 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Root,
    Intermediate,
    Leaf,
}

pub struct TestPki {
    pub root: TrustRoot,
    /// `[root, intermediate]`, as AWS orders it.
    pub cabundle: Vec<Vec<u8>>,
    pub leaf: Vec<u8>,
    leaf_key: EcdsaKeyPair,
}

pub fn params(role: Role) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    let name = match role {
        Role::Root => "test root",
        Role::Intermediate => "test intermediate",
        Role::Leaf => "test leaf",
    };
    p.distinguished_name.push(DnType::OrganizationName, "enclave-sdk tests");
    p.distinguished_name.push(DnType::CommonName, name);
    let base = rcgen::date_time_ymd(2025, 1, 1);
    match role {
        Role::Root => {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            p.not_before = base - Duration::from_secs(86_400 * 365);
            p.not_after = base + Duration::from_secs(86_400 * 365 * 10);
        }
        Role::Intermediate => {
            p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            p.key_usages =
                vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
            p.not_before = base - Duration::from_secs(86_400);
            p.not_after = base + Duration::from_secs(86_400 * 30);
        }
        Role::Leaf => {
            p.is_ca = IsCa::ExplicitNoCa;
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            p.not_before = base;
            p.not_after = base + Duration::from_secs(LEAF_LIFETIME);
        }
    }
    p
}

impl TestPki {
    pub fn new() -> Self {
        Self::with(|_, _| {})
    }

    /// A PKI whose certificate parameters `tweak` may change per role.
    pub fn with(mut tweak: impl FnMut(Role, &mut CertificateParams)) -> Self {
        let alg = &rcgen::PKCS_ECDSA_P384_SHA384;
        let mut rp = params(Role::Root);
        tweak(Role::Root, &mut rp);
        let root = CertifiedIssuer::self_signed(rp, KeyPair::generate_for(alg).unwrap()).unwrap();
        let mut ip = params(Role::Intermediate);
        tweak(Role::Intermediate, &mut ip);
        let int = CertifiedIssuer::signed_by(ip, KeyPair::generate_for(alg).unwrap(), &root).unwrap();
        let mut lp = params(Role::Leaf);
        tweak(Role::Leaf, &mut lp);
        let leaf_key = KeyPair::generate_for(alg).unwrap();
        let leaf = lp.signed_by(&leaf_key, &int).unwrap();
        let leaf_key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &leaf_key.serialize_der()).unwrap();
        Self {
            root: TrustRoot::from_der(root.der().to_vec()).unwrap(),
            cabundle: vec![root.der().to_vec(), int.der().to_vec()],
            leaf: leaf.der().to_vec(),
            leaf_key,
        }
    }

    /// Signs `payload` (CBOR bytes) as an untagged COSE_Sign1 with the leaf key.
    pub fn sign_payload(&self, payload: Vec<u8>) -> Vec<u8> {
        let protected = vec![0xa1, 0x01, 0x38, 0x22];
        let sig_structure = to_cbor(&Value::Array(vec![
            Value::Text("Signature1".into()),
            Value::Bytes(protected.clone()),
            Value::Bytes(vec![]),
            Value::Bytes(payload.clone()),
        ]));
        let sig = self.leaf_key.sign(&SystemRandom::new(), &sig_structure).unwrap();
        to_cbor(&Value::Array(vec![
            Value::Bytes(protected),
            Value::Map(vec![]),
            Value::Bytes(payload),
            Value::Bytes(sig.as_ref().to_vec()),
        ]))
    }

    pub fn sign(&self, doc: &DocSpec) -> Vec<u8> {
        self.sign_payload(to_cbor(&doc.payload(self)))
    }
}

/// A document's payload fields; `Default` is a plausible non-debug enclave at `T0 + 60 s`.
#[derive(Debug, Clone)]
pub struct DocSpec {
    pub module_id: String,
    pub timestamp_ms: u64,
    pub pcrs: BTreeMap<u8, Vec<u8>>,
    pub public_key: Option<Vec<u8>>,
    pub user_data: Option<Vec<u8>>,
    pub nonce: Option<Vec<u8>>,
}

pub fn test_pcr(i: u8) -> Vec<u8> {
    vec![0x10 + i; 48]
}

impl Default for DocSpec {
    fn default() -> Self {
        Self {
            module_id: "i-0123456789abcdef0-enc0123456789abcdef".into(),
            timestamp_ms: (T0 + 60) * 1000,
            pcrs: (0..16).map(|i| (i, test_pcr(i))).collect(),
            public_key: Some(vec![0x42; 32]),
            user_data: None,
            nonce: Some(vec![0x07; 32]),
        }
    }
}

impl DocSpec {
    pub fn payload(&self, pki: &TestPki) -> Value {
        let opt = |v: &Option<Vec<u8>>| v.clone().map_or(Value::Null, Value::Bytes);
        Value::Map(vec![
            (Value::Text("module_id".into()), Value::Text(self.module_id.clone())),
            (Value::Text("digest".into()), Value::Text("SHA384".into())),
            (Value::Text("timestamp".into()), Value::Integer(self.timestamp_ms.into())),
            (
                Value::Text("pcrs".into()),
                Value::Map(
                    self.pcrs.iter().map(|(i, v)| (Value::Integer((*i).into()), Value::Bytes(v.clone()))).collect(),
                ),
            ),
            (Value::Text("certificate".into()), Value::Bytes(pki.leaf.clone())),
            (Value::Text("cabundle".into()), Value::Array(pki.cabundle.iter().cloned().map(Value::Bytes).collect())),
            (Value::Text("public_key".into()), opt(&self.public_key)),
            (Value::Text("user_data".into()), opt(&self.user_data)),
            (Value::Text("nonce".into()), opt(&self.nonce)),
        ])
    }
}

/// The time at which a default `DocSpec` is fresh and its chain valid.
pub const VERIFY_AT: u64 = T0 + 90;
