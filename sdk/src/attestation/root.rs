//! `attestation::root`: the trust anchor a policy pins.
//!
//! In: a root certificate chosen by the caller (PEM or DER), or the AWS Nitro Enclaves Root-G1 embedded in
//! this crate. Out: a parsed [`TrustRoot`]. Never built from a document: `chain` only compares
//! `cabundle[0]` with a `TrustRoot`, it never promotes a `cabundle` entry to one.

use std::fmt;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::error::{AttestationError, CertPosition, ChainError, DerError};
use super::x509::Certificate;

/// AWS Nitro Enclaves Root-G1, as AWS publishes it
/// (<https://aws-nitro-enclaves.amazonaws.com/AWS_NitroEnclaves_Root-G1.zip>).
const ROOT_G1_PEM: &str = include_str!("../../testdata/nitro/AWS_NitroEnclaves_Root-G1.pem");

/// SHA-256 of Root-G1's DER, as AWS documents it in "Verifying the root of trust".
pub const AWS_NITRO_ROOT_G1_SHA256: [u8; 32] = [
    0x64, 0x1a, 0x03, 0x21, 0xa3, 0xe2, 0x44, 0xef, 0xe4, 0x56, 0x46, 0x31, 0x95, 0xd6, 0x06, 0x31, 0x7e, 0xd7, 0xcd,
    0xcc, 0x3c, 0x17, 0x56, 0xe0, 0x98, 0x93, 0xf3, 0xc6, 0x8f, 0x79, 0xbb, 0x5b,
];

/// A pinned root certificate: the only certificate a chain may end at.
///
/// Cheap to clone (the parsed certificate is shared).
#[derive(Clone, PartialEq, Eq)]
pub struct TrustRoot(Arc<RootInner>);

#[derive(PartialEq, Eq)]
struct RootInner {
    cert: Certificate,
    sha256: [u8; 32],
}

impl TrustRoot {
    /// AWS Nitro Enclaves Root-G1, embedded in this crate. Its DER SHA-256 is checked against
    /// [`AWS_NITRO_ROOT_G1_SHA256`] when it is first loaded.
    ///
    /// # Panics
    ///
    /// Only if the embedded file was altered at build time (the test `root_g1_is_the_published_one`
    /// guards this); a binary that carries a wrong root must not run.
    #[allow(clippy::expect_used)]
    pub fn aws_nitro_root_g1() -> Self {
        static ROOT: OnceLock<TrustRoot> = OnceLock::new();
        ROOT.get_or_init(|| {
            let root = TrustRoot::from_pem(ROOT_G1_PEM).expect("embedded Root-G1 PEM parses (checked by tests)");
            assert!(
                root.sha256() == AWS_NITRO_ROOT_G1_SHA256,
                "embedded Root-G1 does not have AWS's published SHA-256"
            );
            root
        })
        .clone()
    }

    /// A root from the first `CERTIFICATE` block of a PEM file (for the mock enclave's test CA, or a
    /// future AWS root).
    ///
    /// # Errors
    ///
    /// [`ChainError::Malformed`] at [`CertPosition::PinnedRoot`] if there is no PEM certificate block or
    /// the certificate is outside the Nitro profile (P-384, ecdsa-with-SHA384, v3).
    pub fn from_pem(pem: &str) -> Result<Self, AttestationError> {
        Self::from_der(pem_certificate(pem)?)
    }

    /// A root from DER bytes.
    ///
    /// # Errors
    ///
    /// [`ChainError::Malformed`] at [`CertPosition::PinnedRoot`] if the certificate is outside the profile.
    pub fn from_der(der: Vec<u8>) -> Result<Self, AttestationError> {
        let cert = Certificate::parse(&der).map_err(malformed)?;
        let sha256 = Sha256::digest(&der).into();
        Ok(Self(Arc::new(RootInner { cert, sha256 })))
    }

    /// The root's DER.
    pub fn der(&self) -> &[u8] {
        &self.0.cert.der
    }

    /// SHA-256 of the root's DER (the fingerprint AWS publishes for Root-G1).
    pub fn sha256(&self) -> [u8; 32] {
        self.0.sha256
    }

    /// The root's subject, as text (for display).
    pub fn subject(&self) -> String {
        self.0.cert.subject_text()
    }

    pub(crate) fn cert(&self) -> &Certificate {
        &self.0.cert
    }
}

impl fmt::Debug for TrustRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustRoot")
            .field("subject", &self.subject())
            .field("sha256", &hex::encode(self.sha256()))
            .finish()
    }
}

fn malformed(problem: DerError) -> AttestationError {
    ChainError::Malformed { at: CertPosition::PinnedRoot, problem }.into()
}

/// RFC 7468 section 2: the base64 between `-----BEGIN CERTIFICATE-----` and the matching END line.
fn pem_certificate(pem: &str) -> Result<Vec<u8>, AttestationError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let body = pem
        .split_once(BEGIN)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(body, _)| body)
        .ok_or_else(|| malformed(DerError::Truncated))?;
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| malformed(DerError::Truncated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_g1_is_the_published_one() {
        let root = TrustRoot::from_pem(ROOT_G1_PEM).unwrap();
        assert_eq!(hex::encode(root.sha256()), "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b");
        assert_eq!(root, TrustRoot::aws_nitro_root_g1());
        assert_eq!(root.cert().basic_constraints, Some((true, None)));
        assert!(root.subject().contains("CN=aws.nitro-enclaves"), "{}", root.subject());
    }

    #[test]
    fn pem_without_certificate_is_refused() {
        assert_eq!(
            TrustRoot::from_pem("nothing here"),
            Err(ChainError::Malformed { at: CertPosition::PinnedRoot, problem: DerError::Truncated }.into())
        );
    }
}
