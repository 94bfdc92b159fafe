//! Test-only: builds EIFs with AWS's own `aws-nitro-enclaves-image-format` (the code `nitro-cli
//! build-enclave` runs) and reads them back with AWS's reader, so that enclave-eif's PCRs are checked
//! against an implementation that shares no code with it.
//!
//! Inputs are made here from a seeded generator (kernel and ramdisk bytes, command lines); signing keys
//! and self-signed certificates come from OpenSSL, fresh for every run.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use aws_nitro_enclaves_image_format::defs::{EifBuildInfo, EifIdentityInfo, EIF_HDR_ARCH_ARM64};
use aws_nitro_enclaves_image_format::utils::eif_reader::EifReader;
use aws_nitro_enclaves_image_format::utils::{EifBuilder, SignKeyData};
use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509NameBuilder, X509};
use sha2::Digest as _;

/// A deterministic byte generator (SplitMix64), so the images' contents are reproducible.
pub struct Bytes(u64);

impl Bytes {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn take(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

/// The curve of a signing key.
#[derive(Debug, Clone, Copy)]
pub enum Curve {
    P256,
    P384,
    P521,
}

/// A signing key and its self-signed certificate, as PEM files in a directory.
pub struct SigningKey {
    pub key_pem: PathBuf,
    pub cert_pem: PathBuf,
    pub cert_der: Vec<u8>,
}

impl SigningKey {
    /// A fresh key on `curve` and a certificate for it named `cn`, valid for `days` from now.
    pub fn generate(dir: &Path, name: &str, curve: Curve, cn: &str, days: u32) -> Self {
        let nid = match curve {
            Curve::P256 => Nid::X9_62_PRIME256V1,
            Curve::P384 => Nid::SECP384R1,
            Curve::P521 => Nid::SECP521R1,
        };
        let group = EcGroup::from_curve_name(nid).unwrap();
        let key: PKey<Private> = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let mut subject = X509NameBuilder::new().unwrap();
        subject.append_entry_by_text("C", "US").unwrap();
        subject.append_entry_by_text("O", "enclave-sdk oracle").unwrap();
        subject.append_entry_by_text("CN", cn).unwrap();
        let subject = subject.build();
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&subject).unwrap();
        b.set_issuer_name(&subject).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
        b.set_not_after(&Asn1Time::days_from_now(days).unwrap()).unwrap();
        let serial = openssl::bn::BigNum::from_u32(7).unwrap().to_asn1_integer().unwrap();
        b.set_serial_number(&serial).unwrap();
        let digest = match curve {
            Curve::P256 => MessageDigest::sha256(),
            Curve::P384 => MessageDigest::sha384(),
            Curve::P521 => MessageDigest::sha512(),
        };
        b.sign(&key, digest).unwrap();
        let cert = b.build();
        let key_pem = dir.join(format!("{name}.key.pem"));
        let cert_pem = dir.join(format!("{name}.cert.pem"));
        std::fs::write(&key_pem, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        std::fs::write(&cert_pem, cert.to_pem().unwrap()).unwrap();
        Self { key_pem, cert_pem, cert_der: cert.to_der().unwrap() }
    }

    fn sign_info(&self) -> SignKeyData {
        SignKeyData::new(self.key_pem.to_str().unwrap(), &self.cert_pem).unwrap()
    }
}

/// What to build.
pub struct Spec<'a> {
    pub name: &'a str,
    pub aarch64: bool,
    pub kernel_len: usize,
    pub cmdline: String,
    pub ramdisk_lens: Vec<usize>,
    pub signer: Option<&'a SigningKey>,
    pub seed: u64,
}

/// An image AWS's builder wrote, with the measurements the builder reported.
pub struct Built {
    pub path: PathBuf,
    pub builder: BTreeMap<String, String>,
}

/// Builds `spec` into `dir/<name>.eif` with AWS's `EifBuilder` (SHA-384, as nitro-cli does).
pub fn build(dir: &Path, spec: &Spec<'_>) -> Built {
    let mut bytes = Bytes::new(spec.seed);
    let kernel = dir.join(format!("{}.kernel", spec.name));
    std::fs::write(&kernel, bytes.take(spec.kernel_len)).unwrap();
    // Fixed metadata, so the same spec gives the same file apart from the signature.
    let info = EifIdentityInfo {
        img_name: spec.name.to_owned(),
        img_version: "1.0".to_owned(),
        build_info: EifBuildInfo {
            build_time: "2026-11-30T00:00:00+00:00".to_owned(),
            build_tool: "enclave-eif-oracle".to_owned(),
            build_tool_version: "0.0.0".to_owned(),
            img_os: "test".to_owned(),
            img_kernel: "test".to_owned(),
        },
        docker_info: serde_json::json!(null),
        custom_info: serde_json::json!(null),
    };
    let flags = if spec.aarch64 { EIF_HDR_ARCH_ARM64 } else { 0 };
    let mut b = EifBuilder::new(
        &kernel,
        spec.cmdline.clone(),
        spec.signer.map(SigningKey::sign_info),
        sha2::Sha384::new(),
        flags,
        info,
    );
    for (i, &len) in spec.ramdisk_lens.iter().enumerate() {
        let path = dir.join(format!("{}.ramdisk{i}", spec.name));
        std::fs::write(&path, bytes.take(len)).unwrap();
        b.add_ramdisk(&path);
    }
    let path = dir.join(format!("{}.eif", spec.name));
    let mut out = File::create(&path).unwrap();
    let builder = b.write_to(&mut out);
    Built { path, builder }
}

/// What AWS's reader says about an image: measurements, whether the CRC matched and, for a signed
/// image, whether the signature check passed (as `nitro-cli describe-eif` does).
pub struct Read {
    pub measurements: BTreeMap<String, String>,
    pub crc_ok: bool,
    pub sign_check: Option<bool>,
}

pub fn aws_read(path: &Path) -> Result<Read, String> {
    let mut r = EifReader::from_eif(path.to_str().unwrap().to_owned())?;
    let measurements = r.get_measurements()?;
    let crc_ok = r.check_crc();
    let sign_check = if measurements.contains_key("PCR8") {
        r.get_certificate_info(measurements.clone())?;
        r.sign_check
    } else {
        None
    };
    Ok(Read { measurements, crc_ok, sign_check })
}

/// Our measurements in AWS's map shape (`PCR0`.. as lowercase hex).
pub fn ours(path: &Path) -> Result<BTreeMap<String, String>, enclave_eif::EifError> {
    let image = enclave_eif::measure_file(path)?;
    Ok(image
        .measurements()
        .pcrs()
        .into_iter()
        .map(|p| (format!("PCR{}", p.index().get()), p.value().to_string()))
        .collect())
}

/// AWS's map without its `HashAlgorithm` entry.
pub fn pcrs_only(m: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    m.iter().filter(|(k, _)| k.starts_with("PCR")).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// PCR8 as AWS defines it, from the certificate's DER: extend(SHA-384(DER)).
pub fn pcr8_of(der: &[u8]) -> String {
    let inner = sha2::Sha384::digest(der);
    let mut h = sha2::Sha384::new();
    h.update([0u8; 48]);
    h.update(inner);
    hex::encode(h.finalize())
}

/// Rewrites the CRC field of the EIF at `path` to the CRC of its bytes, as AWS's writer computes it
/// (every byte but the field), so that an edit made on purpose reaches the check it targets.
pub fn fix_crc(bytes: &mut [u8]) {
    let mut h = crc32fast_like::Crc::new();
    h.update(&bytes[..544]);
    h.update(&bytes[548..]);
    bytes[544..548].copy_from_slice(&h.finish().to_be_bytes());
}

/// CRC-32/ISO-HDLC written out here (bitwise), so the oracle's fixer does not share the CRC crate
/// enclave-eif uses.
mod crc32fast_like {
    pub struct Crc(u32);
    impl Crc {
        pub fn new() -> Self {
            Self(0xffff_ffff)
        }
        pub fn update(&mut self, data: &[u8]) {
            for &b in data {
                self.0 ^= u32::from(b);
                for _ in 0..8 {
                    let mask = (self.0 & 1).wrapping_neg();
                    self.0 = (self.0 >> 1) ^ (0xedb8_8320 & mask);
                }
            }
        }
        pub fn finish(&self) -> u32 {
            !self.0
        }
    }
}
