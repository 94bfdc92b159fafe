//! `SoftwareNsm`: a software Nitro Secure Module with real P-384 keys and a CA chain shaped like AWS's.
//!
//! Input: an [`AttestationRequest`] from the session layer (our own process; its fields are bounded
//! here anyway, as the NSM bounds them), the configured [`Measurements`], a clock, and the state
//! directory (trusted: written by this module with 0600 key files). Output: attestation documents whose
//! bytes are shaped exactly like NSM's. This module does not decide what a client trusts: a client
//! that pins the mock root (`root.pem`) accepts these documents, and one that pins AWS's refuses them.
//!
//! # Certificate hierarchy (profile copied from real AWS chains)
//!
//! | level    | lifetime | BasicConstraints (critical) | KeyUsage                                    | other                 |
//! |----------|----------|-----------------------------|---------------------------------------------|-----------------------|
//! | root     | 30 years | CA, no pathLen              | critical: digitalSignature, keyCertSign, cRLSign | SKI              |
//! | regional | 20 days  | CA, pathLen 2               | same                                         | AKI, SKI, CRL DP     |
//! | zonal    | 5.75 d   | CA, pathLen 1               | same                                         | AKI, SKI, CRL DP     |
//! | instance | 1 day    | CA, pathLen 0               | critical: keyCertSign                        | none                 |
//! | leaf     | 3 hours  | not CA                      | non-critical: digitalSignature, nonRepudiation | none               |
//!
//! All keys are P-384, all signatures ecdsa-with-SHA384, no certificate has an EKU. Subjects have
//! the attribute types and order of AWS's (`C,O,OU,CN` for root and regional, `CN,OU,O,C,ST,L` for
//! zonal, `C,ST,L,O,OU,CN` for instance and leaf) with values that say "mock", so nobody mistakes a
//! mock chain for AWS's. The CRL distribution points use the reserved `.invalid` domain: no CRL exists.
//!
//! The root is valid from 2020-01-01 to 2050-01-01 (fixed, so an injected clock anywhere in that range
//! works). Below it, each certificate is issued lazily, at the clock's time, and re-issued before it
//! expires: the leaf when less than [`LEAF_REFRESH_MARGIN_S`] remains (a real leaf is reused for its
//! 3 hours, so documents can expire soon after issue, as AWS's do), a CA when less than its child's
//! lifetime plus that margin remains, so no child outlives its issuer. Moving the clock backwards
//! before a certificate's start re-issues it too.
//!
//! # State directory
//!
//! `root.key`, `regional.key`, `zonal.key`, `instance.key` (PKCS#8 DER, mode 0600), `root.der` and
//! `root.pem` (the trust anchor a client pins), `module-id`. The intermediate certificates are not
//! stored: they are re-issued from the stored keys. The leaf key lives in memory only.
//!
//! Key bytes read from or written to disk are held in `Zeroizing` buffers; the leaf's signing key is
//! an aws-lc-rs key, which AWS-LC cleanses when freed. rcgen's `KeyPair` (the CA keys) keeps its own
//! PKCS#8 copy without zeroizing it: a limit of that type, acceptable for a mock's CA keys.

use std::fmt;
use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};
use ciborium::Value;
use rand_core::{OsRng, RngCore};
use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName, DnType, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber, PKCS_ECDSA_P384_SHA384,
};
use rustls_pki_types::PrivatePkcs8KeyDer;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use enclave_runtime::{AttestationRequest, Attester, AttesterError};

use super::state::{check_dir, create_private_dir, read_file, read_key, write_file, StateError};
use crate::measurements::Measurements;

/// A clock returning Unix time in milliseconds.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Lifetime of the leaf certificate, as AWS issues it.
pub const LEAF_LIFETIME_S: u64 = 3 * 3600;
/// Lifetime of the instance CA.
pub const INSTANCE_LIFETIME_S: u64 = 24 * 3600;
/// Lifetime of the zonal CA (5 days 18 hours, like the real one).
pub const ZONAL_LIFETIME_S: u64 = 5 * 24 * 3600 + 18 * 3600;
/// Lifetime of the regional CA.
pub const REGIONAL_LIFETIME_S: u64 = 20 * 24 * 3600;
/// A certificate is re-issued when less than its child's lifetime plus this margin remains (for the
/// leaf: this margin alone).
pub const LEAF_REFRESH_MARGIN_S: u64 = 10 * 60;
/// Root validity start: 2020-01-01T00:00:00Z.
pub const ROOT_NOT_BEFORE_S: u64 = 1_577_836_800;
/// Root validity end: 2050-01-01T00:00:00Z.
pub const ROOT_NOT_AFTER_S: u64 = 2_524_608_000;

/// Every file the state directory holds.
const STATE_FILES: [&str; 7] =
    ["root.key", "regional.key", "zonal.key", "instance.key", "root.der", "root.pem", "module-id"];

const ORG: &str = "Mock Enclave";
const UNIT: &str = "enclave-sdk";
const REGION: &str = "mock-region-1";
const ROOT_CN: &str = "mock.nitro-enclaves";

// RFC 5280 section 4.2.1.9 BasicConstraints and 4.2.1.3 KeyUsage, DER-encoded by hand so the instance
// and leaf certificates carry exactly the extensions AWS's carry (rcgen would add a SubjectKeyIdentifier
// and mark KeyUsage critical).
const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
const OID_KEY_USAGE: &[u64] = &[2, 5, 29, 15];
/// SEQUENCE { BOOLEAN TRUE, INTEGER 0 }
const BC_CA_PATHLEN_0: &[u8] = &[0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x00];
/// SEQUENCE { } (cA defaults to FALSE)
const BC_NOT_CA: &[u8] = &[0x30, 0x00];
/// BIT STRING, 2 unused bits, keyCertSign (bit 5)
const KU_CERT_SIGN: &[u8] = &[0x03, 0x02, 0x02, 0x04];
/// BIT STRING, 6 unused bits, digitalSignature (bit 0) and nonRepudiation (bit 1)
const KU_SIG_NONREP: &[u8] = &[0x03, 0x02, 0x06, 0xc0];

/// A software NSM. Thread-safe; one instance serves every session of a mock enclave.
pub struct SoftwareNsm {
    measurements: Measurements,
    module_id: String,
    root_key: KeyPair,
    root_der: Vec<u8>,
    /// Regional, zonal, instance.
    ca_keys: [KeyPair; 3],
    clock: Clock,
    /// Shared out by `Arc`, so documents are signed outside the lock.
    issued: Mutex<Option<Arc<Issued>>>,
}

struct Issued {
    /// Regional, zonal, instance; each with its validity in Unix seconds.
    cas: Vec<IssuedCert>,
    leaf: IssuedCert,
    /// aws-lc-rs keys free their memory with `OPENSSL_cleanse`.
    leaf_key: EcdsaKeyPair,
}

#[derive(Clone)]
struct IssuedCert {
    der: Vec<u8>,
    not_before: u64,
    not_after: u64,
}

impl fmt::Debug for SoftwareNsm {
    // Keys are secret; the module id and the root fingerprint identify the instance in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareNsm")
            .field("module_id", &self.module_id)
            .field("root_sha256", &hex::encode(Sha256::digest(&self.root_der)))
            .field("debug_mode", &self.measurements.is_debug())
            .finish_non_exhaustive()
    }
}

impl SoftwareNsm {
    /// Loads the CA keys and root certificate from `state_dir`, or creates them there (the directory
    /// too, mode 0700) on first use. A client can pin `state_dir/root.pem` across restarts.
    ///
    /// # Errors
    /// [`StateError::Io`] when the directory cannot be read or written;
    /// [`StateError::Corrupt`] when some state files exist but not all, or a key does not
    /// match the stored root certificate; [`StateError::Writable`], [`StateError::KeyMode`] or
    /// [`StateError::Symlink`] when others could have replaced a key (the directory or a file
    /// group- or world-writable, a key not mode 0600, a link where a file should be).
    pub fn load_or_create(state_dir: &Path, measurements: Measurements) -> Result<Self, StateError> {
        let root_key_path = state_dir.join("root.key");
        if fs::symlink_metadata(state_dir).is_ok() {
            check_dir(state_dir)?;
        }
        // symlink_metadata, not exists(): a dangling link where the key should be is refused, not
        // taken for "no state yet".
        if fs::symlink_metadata(&root_key_path).is_ok() {
            return Self::load(state_dir, measurements);
        }
        // Never mint a new root over the remains of an old one: clients pinned that root.
        if STATE_FILES.iter().any(|name| fs::symlink_metadata(state_dir.join(name)).is_ok()) {
            return Err(StateError::Corrupt { path: root_key_path, problem: "missing while other state files exist" });
        }
        create_private_dir(state_dir)?;
        check_dir(state_dir)?;
        let nsm = Self::ephemeral(measurements)?;
        for (name, key) in ["root.key", "regional.key", "zonal.key", "instance.key"]
            .iter()
            .zip(std::iter::once(&nsm.root_key).chain(nsm.ca_keys.iter()))
        {
            write_file(&state_dir.join(name), &Zeroizing::new(key.serialize_der()), 0o600)?;
        }
        write_file(&state_dir.join("root.der"), &nsm.root_der, 0o644)?;
        write_file(&state_dir.join("module-id"), nsm.module_id.as_bytes(), 0o644)?;
        write_file(&state_dir.join("root.pem"), nsm.root_pem().as_bytes(), 0o644)?;
        Ok(nsm)
    }

    /// A fresh hierarchy in memory only (tests, demos). Its root differs on every call.
    ///
    /// # Errors
    /// [`AttesterError::Failed`] if key generation or certificate signing fails.
    pub fn ephemeral(measurements: Measurements) -> Result<Self, AttesterError> {
        let root_key = generate_key()?;
        let ca_keys = [generate_key()?, generate_key()?, generate_key()?];
        let root_der = root_params(random_serial())
            .self_signed(&root_key)
            .map_err(|e| failed("self-signing the root", &e))?
            .der()
            .to_vec();
        Ok(Self {
            measurements,
            module_id: random_module_id(),
            root_key,
            root_der,
            ca_keys,
            clock: Arc::new(system_clock_ms),
            issued: Mutex::new(None),
        })
    }

    fn load(dir: &Path, measurements: Measurements) -> Result<Self, StateError> {
        let root_key = load_key(&dir.join("root.key"))?;
        let ca_keys = [
            load_key(&dir.join("regional.key"))?,
            load_key(&dir.join("zonal.key"))?,
            load_key(&dir.join("instance.key"))?,
        ];
        let root_path = dir.join("root.der");
        let root_der = read_file(&root_path, 4096)?;
        // The certificate embeds the root's public key: a key file swapped under a kept root.der would
        // sign chains nobody can verify. Catch that here rather than at the client.
        let public = root_key.public_key_raw();
        if !root_der.windows(public.len()).any(|w| w == public) {
            return Err(StateError::Corrupt { path: root_path, problem: "does not hold root.key's public key" });
        }
        let id_path = dir.join("module-id");
        let module_id = String::from_utf8(read_file(&id_path, 128)?)
            .ok()
            .filter(|s| valid_module_id(s))
            .ok_or(StateError::Corrupt { path: id_path, problem: "not a module id" })?;
        Ok(Self {
            measurements,
            module_id,
            root_key,
            root_der,
            ca_keys,
            clock: Arc::new(system_clock_ms),
            issued: Mutex::new(None),
        })
    }

    /// Replaces the clock (Unix milliseconds) used for document timestamps and certificate
    /// validity, so tests can move time. Certificates are re-issued as the new clock requires.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The root certificate (DER): what a client pins.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// The root certificate as PEM, the content of `root.pem`.
    pub fn root_pem(&self) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.root_der);
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        pem
    }

    /// The NSM module id this instance reports (`i-<17 hex>-enc<16 hex>`, like AWS's).
    pub fn module_id(&self) -> &str {
        &self.module_id
    }

    /// The measurements this instance reports.
    pub fn measurements(&self) -> &Measurements {
        &self.measurements
    }

    /// Issues certificates as needed for `now` and returns what a document needs.
    fn current_chain(&self, now: u64) -> Result<Arc<Issued>, AttesterError> {
        if !(ROOT_NOT_BEFORE_S..=ROOT_NOT_AFTER_S.saturating_sub(REGIONAL_LIFETIME_S)).contains(&now) {
            return Err(AttesterError::OutsideRootValidity {
                now_s: now,
                not_before_s: ROOT_NOT_BEFORE_S,
                not_after_s: ROOT_NOT_AFTER_S,
            });
        }
        let mut guard =
            self.issued.lock().map_err(|_| AttesterError::Failed { step: "taking the certificate state lock" })?;
        // The first level (top-down) that needs a new certificate; everything below it is re-issued too.
        let lifetimes = [REGIONAL_LIFETIME_S, ZONAL_LIFETIME_S, INSTANCE_LIFETIME_S, LEAF_LIFETIME_S];
        let first_stale = match guard.as_ref() {
            None => 0,
            Some(issued) => {
                let certs: Vec<&IssuedCert> = issued.cas.iter().chain(std::iter::once(&issued.leaf)).collect();
                certs
                    .iter()
                    .enumerate()
                    .find(|(level, cert)| {
                        let child = lifetimes.get(level + 1).copied().unwrap_or(0);
                        now < cert.not_before || now.saturating_add(child + LEAF_REFRESH_MARGIN_S) >= cert.not_after
                    })
                    .map_or(4, |(level, _)| level)
            }
        };
        match guard.as_ref() {
            Some(issued) if first_stale >= 4 => Ok(Arc::clone(issued)),
            current => {
                let kept: Vec<IssuedCert> =
                    current.map(|i| i.cas.iter().take(first_stale).cloned().collect()).unwrap_or_default();
                let fresh = Arc::new(self.issue_from(first_stale, kept, now)?);
                *guard = Some(Arc::clone(&fresh));
                Ok(fresh)
            }
        }
    }

    /// Issues levels `from..` (0 regional .. 3 leaf), keeping the `kept` CA certificates above.
    fn issue_from(&self, from: usize, mut cas: Vec<IssuedCert>, now: u64) -> Result<Issued, AttesterError> {
        let [regional_key, zonal_key, instance_key] = &self.ca_keys;
        let ids = self.names();
        let root_issuer = Issuer::new(root_params(SerialNumber::from(0u64)), &self.root_key);
        let regional = ca_params(1, &ids);
        let zonal = ca_params(2, &ids);
        let instance = ca_params(3, &ids);
        if from == 0 {
            cas.push(sign(&regional, regional_key, &root_issuer, now, REGIONAL_LIFETIME_S)?);
        }
        let regional_issuer = Issuer::from_params(&regional, regional_key);
        if from <= 1 {
            cas.push(sign(&zonal, zonal_key, &regional_issuer, now, ZONAL_LIFETIME_S)?);
        }
        let zonal_issuer = Issuer::from_params(&zonal, zonal_key);
        if from <= 2 {
            cas.push(sign(&instance, instance_key, &zonal_issuer, now, INSTANCE_LIFETIME_S)?);
        }
        let instance_issuer = Issuer::from_params(&instance, instance_key);
        let leaf_rcgen = generate_key()?;
        let leaf = sign(&ca_params(4, &ids), &leaf_rcgen, &instance_issuer, now, LEAF_LIFETIME_S)?;
        let pkcs8 = Zeroizing::new(leaf_rcgen.serialize_der());
        let leaf_key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &pkcs8)
            .map_err(|_| AttesterError::Failed { step: "loading the leaf key" })?;
        Ok(Issued { cas, leaf, leaf_key })
    }

    /// Names derived from the keys and the module id, stable across restarts.
    fn names(&self) -> Names {
        let tag = |key: &KeyPair| hex::encode(Sha256::digest(key.public_key_raw()).get(..8).unwrap_or_default());
        let instance = self.module_id.split("-enc").next().unwrap_or(&self.module_id).to_string();
        Names {
            regional: format!("{}.{REGION}.{ROOT_CN}", tag(&self.ca_keys[0])),
            zonal: format!("{}.zonal.{REGION}.{ROOT_CN}", tag(&self.ca_keys[1])),
            instance: format!("{instance}.{REGION}.{ROOT_CN}"),
            leaf: format!("{}.{REGION}.mock", self.module_id),
        }
    }
}

impl Attester for SoftwareNsm {
    fn attest(&self, request: &AttestationRequest) -> Result<Vec<u8>, AttesterError> {
        request.check_limits()?;
        let now_ms = (self.clock)();
        let issued = self.current_chain(now_ms / 1000)?;

        // AWS NSM API, AttestationDocument CDDL: keys in this order; optional fields null when absent;
        // cabundle = [root, intermediates...] ordered from the root down.
        let opt = |v: Option<&[u8]>| v.map_or(Value::Null, |b| Value::Bytes(b.to_vec()));
        let pcrs = self
            .measurements
            .pcrs()
            .iter()
            .map(|(i, v)| (Value::Integer(i.get().into()), Value::Bytes(v.as_bytes().to_vec())))
            .collect();
        let cabundle = std::iter::once(&self.root_der)
            .chain(issued.cas.iter().map(|c| &c.der))
            .map(|der| Value::Bytes(der.clone()))
            .collect();
        let payload = Value::Map(vec![
            (text("module_id"), text(&self.module_id)),
            (text("digest"), text("SHA384")),
            (text("timestamp"), Value::Integer(now_ms.into())),
            (text("pcrs"), Value::Map(pcrs)),
            (text("certificate"), Value::Bytes(issued.leaf.der.clone())),
            (text("cabundle"), Value::Array(cabundle)),
            (text("public_key"), opt(request.public_key())),
            (text("user_data"), opt(request.user_data())),
            (text("nonce"), opt(request.nonce())),
        ]);
        let payload = cbor(&payload)?;
        sign_cose(&issued.leaf_key, payload)
    }

    /// It only computes: one P-384 signature, cheaper in place than on another thread.
    fn blocks(&self) -> bool {
        false
    }
}

/// RFC 9052 section 4.2 (COSE_Sign1, untagged as NSM emits it) and section 4.4 (Sig_structure).
fn sign_cose(key: &EcdsaKeyPair, payload: Vec<u8>) -> Result<Vec<u8>, AttesterError> {
    // Protected header {1: -35}: alg = ES384 (RFC 9053 section 2.1).
    let protected = cbor(&Value::Map(vec![(Value::Integer(1.into()), Value::Integer((-35).into()))]))?;
    let to_be_signed = cbor(&Value::Array(vec![
        text("Signature1"),
        Value::Bytes(protected.clone()),
        Value::Bytes(Vec::new()),
        Value::Bytes(payload.clone()),
    ]))?;
    // RFC 9053 section 2.1: the signature is r || s, each 48 bytes for P-384 (the FIXED encoding).
    let signature = key
        .sign(&SystemRandom::new(), &to_be_signed)
        .map_err(|_| AttesterError::Failed { step: "signing the document (ECDSA P-384)" })?;
    cbor(&Value::Array(vec![
        Value::Bytes(protected),
        Value::Map(Vec::new()),
        Value::Bytes(payload),
        Value::Bytes(signature.as_ref().to_vec()),
    ]))
}

fn cbor(value: &Value) -> Result<Vec<u8>, AttesterError> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).map_err(|e| failed("encoding CBOR", &e))?;
    Ok(out)
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

struct Names {
    regional: String,
    zonal: String,
    instance: String,
    leaf: String,
}

fn root_params(serial: SerialNumber) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(&[
        (DnType::CountryName, "US"),
        (DnType::OrganizationName, ORG),
        (DnType::OrganizationalUnitName, UNIT),
        (DnType::CommonName, ROOT_CN),
    ]);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut p, ROOT_NOT_BEFORE_S, ROOT_NOT_AFTER_S);
    p.serial_number = Some(serial);
    p
}

/// Parameters of level 1 (regional) .. 4 (leaf), without validity (set by [`sign`]).
fn ca_params(level: u8, names: &Names) -> CertificateParams {
    let mut p = CertificateParams::default();
    let ca_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let crl = |name: &str| CrlDistributionPoint { uris: vec![format!("http://crl.{REGION}.mock.invalid/{name}.crl")] };
    let local = |cn: &str| {
        dn(&[
            (DnType::CountryName, "US"),
            (DnType::StateOrProvinceName, "Mock State"),
            (DnType::LocalityName, "Mock City"),
            (DnType::OrganizationName, ORG),
            (DnType::OrganizationalUnitName, UNIT),
            (DnType::CommonName, cn),
        ])
    };
    match level {
        1 => {
            p.distinguished_name = dn(&[
                (DnType::CountryName, "US"),
                (DnType::OrganizationName, ORG),
                (DnType::OrganizationalUnitName, UNIT),
                (DnType::CommonName, &names.regional),
            ]);
            p.is_ca = IsCa::Ca(BasicConstraints::Constrained(2));
            p.key_usages = ca_usages;
            p.use_authority_key_identifier_extension = true;
            p.crl_distribution_points = vec![crl("regional")];
        }
        2 => {
            p.distinguished_name = dn(&[
                (DnType::CommonName, &names.zonal),
                (DnType::OrganizationalUnitName, UNIT),
                (DnType::OrganizationName, ORG),
                (DnType::CountryName, "US"),
                (DnType::StateOrProvinceName, "Mock State"),
                (DnType::LocalityName, "Mock City"),
            ]);
            p.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
            p.key_usages = ca_usages;
            p.use_authority_key_identifier_extension = true;
            p.crl_distribution_points = vec![crl("zonal")];
        }
        3 => {
            p.distinguished_name = local(&names.instance);
            p.custom_extensions = vec![
                extension(OID_BASIC_CONSTRAINTS, BC_CA_PATHLEN_0, true),
                extension(OID_KEY_USAGE, KU_CERT_SIGN, true),
            ];
        }
        _ => {
            p.distinguished_name = local(&names.leaf);
            p.custom_extensions =
                vec![extension(OID_BASIC_CONSTRAINTS, BC_NOT_CA, true), extension(OID_KEY_USAGE, KU_SIG_NONREP, false)];
        }
    }
    p
}

/// Signs `params` for `subject`'s key, valid from `now` for `lifetime` seconds.
fn sign(
    params: &CertificateParams,
    subject: &KeyPair,
    issuer: &Issuer<'_, &KeyPair>,
    now: u64,
    lifetime: u64,
) -> Result<IssuedCert, AttesterError> {
    let mut p = params.clone();
    let not_after = now.saturating_add(lifetime);
    set_validity(&mut p, now, not_after);
    p.serial_number = Some(random_serial());
    let cert = p.signed_by(subject, issuer).map_err(|e| failed("issuing a certificate", &e))?;
    Ok(IssuedCert { der: cert.der().to_vec(), not_before: now, not_after })
}

fn extension(oid: &[u64], der: &[u8], critical: bool) -> CustomExtension {
    let mut ext = CustomExtension::from_oid_content(oid, der.to_vec());
    ext.set_criticality(critical);
    ext
}

fn dn(parts: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (ty, value) in parts {
        dn.push(ty.clone(), *value);
    }
    dn
}

/// Sets a certificate's validity from Unix seconds. rcgen does not re-export its date type; its epoch
/// date plus a `std` duration yields that type without adding a dependency.
fn set_validity(p: &mut CertificateParams, not_before: u64, not_after: u64) {
    p.not_before = rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(not_before);
    p.not_after = rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(not_after);
}

/// 16 random bytes, made a positive DER INTEGER without leading zero.
fn random_serial() -> SerialNumber {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    b[0] = (b[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&b)
}

fn random_module_id() -> String {
    let mut b = [0u8; 17];
    OsRng.fill_bytes(&mut b);
    let hex = hex::encode(b);
    format!("i-{}-enc{}", hex.get(..17).unwrap_or_default(), hex.get(17..33).unwrap_or_default())
}

fn valid_module_id(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn generate_key() -> Result<KeyPair, AttesterError> {
    KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).map_err(|e| failed("generating a P-384 key", &e))
}

fn load_key(path: &Path) -> Result<KeyPair, StateError> {
    let der = Zeroizing::new(read_key(path, 1024)?);
    KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(der.as_slice()), &PKCS_ECDSA_P384_SHA384)
        .map_err(|_| StateError::Corrupt { path: path.to_path_buf(), problem: "not a PKCS#8 P-384 key" })
}

/// A step of issuing or signing failed; rcgen's reason goes to the log, the step to the caller.
fn failed(step: &'static str, e: &dyn std::fmt::Display) -> AttesterError {
    tracing::warn!(error = %e, step, "software NSM failed");
    AttesterError::Failed { step }
}

fn system_clock_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
