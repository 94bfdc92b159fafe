//! `attestation::root`: the trust anchor a policy pins.
//!
//! In: a root certificate chosen by the caller (PEM or DER), or the AWS Nitro Enclaves Root-G1 embedded in
//! this crate. Out: a parsed [`TrustRoot`]. Never built from a document: `chain` only compares
//! `cabundle[0]` with a `TrustRoot`, it never promotes a `cabundle` entry to one.

use std::fmt;
use std::sync::{Arc, OnceLock};

use rustls_pki_types::pem::{self, PemObject as _};
use rustls_pki_types::{CertificateDer, TrustAnchor};
use sha2::{Digest, Sha256};

use super::error::{AttestationError, CertPosition, ChainError, DerError};
use super::x509::{webpki_reason, Certificate};

/// AWS Nitro Enclaves Root-G1, as AWS publishes it
/// (<https://aws-nitro-enclaves.amazonaws.com/AWS_NitroEnclaves_Root-G1.zip>).
const ROOT_G1_PEM: &str = include_str!("../../testdata/nitro/AWS_NitroEnclaves_Root-G1.pem");

/// A pinned root certificate: the only certificate a chain may end at.
///
/// Cheap to clone (the parsed certificate is shared).
///
/// # Examples
///
/// ```
/// use enclave_sdk::attestation::{Policy, TrustRoot};
/// // The default: AWS Nitro Enclaves Root-G1, embedded and checked against AWS's published SHA-256.
/// let policy = Policy::builder().trust_root(TrustRoot::aws_nitro_root_g1()).dangerous_accept_any_enclave().build()?;
/// # let _ = policy; Ok::<(), enclave_sdk::attestation::PolicyError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TrustRoot(Arc<RootInner>);

struct RootInner {
    cert: Certificate,
    /// The same certificate as rustls-webpki's anchor: its subject and key, nothing else.
    anchor: TrustAnchor<'static>,
    sha256: [u8; 32],
}

/// Two roots are the same root when their DER is.
impl PartialEq for RootInner {
    fn eq(&self, other: &Self) -> bool {
        self.cert.der == other.cert.der
    }
}

impl Eq for RootInner {}

impl TrustRoot {
    /// SHA-256 of Root-G1's DER, as AWS documents it in "Verifying the root of trust".
    pub const AWS_NITRO_ROOT_G1_SHA256: [u8; 32] = [
        0x64, 0x1a, 0x03, 0x21, 0xa3, 0xe2, 0x44, 0xef, 0xe4, 0x56, 0x46, 0x31, 0x95, 0xd6, 0x06, 0x31, 0x7e, 0xd7,
        0xcd, 0xcc, 0x3c, 0x17, 0x56, 0xe0, 0x98, 0x93, 0xf3, 0xc6, 0x8f, 0x79, 0xbb, 0x5b,
    ];

    /// AWS Nitro Enclaves Root-G1, embedded in this crate. Its DER SHA-256 is checked against
    /// [`TrustRoot::AWS_NITRO_ROOT_G1_SHA256`] when it is first loaded.
    ///
    /// # Panics
    ///
    /// Only if the embedded file was altered at build time (the test `root_g1_is_the_published_one`
    /// guards this); a binary that carries a wrong root must not run.
    ///
    /// # Examples
    ///
    /// ```
    /// use enclave_sdk::attestation::TrustRoot;
    /// let g1 = TrustRoot::aws_nitro_root_g1();
    /// assert_eq!(g1.sha256(), TrustRoot::AWS_NITRO_ROOT_G1_SHA256);
    /// assert!(g1.subject().contains("aws.nitro-enclaves"));
    /// ```
    #[allow(clippy::expect_used)]
    pub fn aws_nitro_root_g1() -> Self {
        static ROOT: OnceLock<TrustRoot> = OnceLock::new();
        ROOT.get_or_init(|| {
            let root = TrustRoot::from_pem(ROOT_G1_PEM).expect("embedded Root-G1 PEM parses (checked by tests)");
            assert!(
                root.sha256() == Self::AWS_NITRO_ROOT_G1_SHA256,
                "embedded Root-G1 does not have AWS's published SHA-256"
            );
            root
        })
        .clone()
    }

    /// A root from the first `CERTIFICATE` section of PEM text (RFC 7468), for the mock enclave's test
    /// CA or a future AWS root. Text outside the sections is ignored.
    ///
    /// # Errors
    ///
    /// [`ChainError::Malformed`] at [`CertPosition::PinnedRoot`]: [`DerError::PemNoCertificate`] or [`DerError::PemMalformed`] if there is no
    /// well-formed certificate section, or the problem if the certificate is outside the Nitro profile
    /// (P-384, ecdsa-with-SHA384, v3).
    ///
    /// # Examples
    ///
    /// ```
    /// use enclave_sdk::attestation::TrustRoot;
    /// let pem = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/AWS_NitroEnclaves_Root-G1.pem"));
    /// assert_eq!(TrustRoot::from_pem(pem)?, TrustRoot::aws_nitro_root_g1());
    /// // A path is not PEM text: read files with TrustRoot::from_pem_file.
    /// let path = TrustRoot::from_pem("mock-state/root.pem").unwrap_err();
    /// assert!(path.to_string().ends_with("for a file, TrustRoot::from_pem_file)"), "{path}");
    /// # Ok::<(), enclave_sdk::attestation::AttestationError>(())
    /// ```
    pub fn from_pem(pem: &str) -> Result<Self, AttestationError> {
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| {
            malformed(match e {
                pem::Error::NoItemsFound => DerError::PemNoCertificate,
                _ => DerError::PemMalformed,
            })
        })?;
        Self::from_der(der.to_vec())
    }

    /// A root from DER bytes.
    ///
    /// # Errors
    ///
    /// [`ChainError::Malformed`] at [`CertPosition::PinnedRoot`] if the certificate is outside the profile.
    ///
    /// # Examples
    ///
    /// ```
    /// use enclave_sdk::attestation::TrustRoot;
    /// let der = TrustRoot::aws_nitro_root_g1().der().to_vec();
    /// assert_eq!(TrustRoot::from_der(der)?, TrustRoot::aws_nitro_root_g1());
    /// # Ok::<(), enclave_sdk::attestation::AttestationError>(())
    /// ```
    pub fn from_der(der: Vec<u8>) -> Result<Self, AttestationError> {
        let cert = Certificate::parse(&der, CertPosition::PinnedRoot)?;
        let anchor = webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice()))
            .map_err(|e| malformed(DerError::Webpki { reason: webpki_reason(&e) }))?
            .to_owned();
        let sha256 = Sha256::digest(&der).into();
        Ok(Self(Arc::new(RootInner { cert, anchor, sha256 })))
    }

    /// The root's DER.
    ///
    /// # Examples
    ///
    /// ```
    /// let der = enclave_sdk::attestation::TrustRoot::aws_nitro_root_g1().der().len();
    /// assert!(der > 500);
    /// ```
    pub fn der(&self) -> &[u8] {
        &self.0.cert.der
    }

    /// SHA-256 of the root's DER (the fingerprint AWS publishes for Root-G1).
    ///
    /// # Examples
    ///
    /// ```
    /// use enclave_sdk::attestation::TrustRoot;
    /// assert_eq!(TrustRoot::aws_nitro_root_g1().sha256(), TrustRoot::AWS_NITRO_ROOT_G1_SHA256);
    /// ```
    pub fn sha256(&self) -> [u8; 32] {
        self.0.sha256
    }

    /// The root's subject, as text (for display).
    ///
    /// # Examples
    ///
    /// ```
    /// println!("{}", enclave_sdk::attestation::TrustRoot::aws_nitro_root_g1().subject());
    /// ```
    pub fn subject(&self) -> String {
        self.0.cert.subject_text()
    }

    pub(crate) fn cert(&self) -> &Certificate {
        &self.0.cert
    }

    pub(crate) fn anchor(&self) -> &TrustAnchor<'static> {
        &self.0.anchor
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_g1_is_the_published_one() {
        let root = TrustRoot::from_pem(ROOT_G1_PEM).unwrap();
        assert_eq!(hex::encode(root.sha256()), "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b");
        assert_eq!(root, TrustRoot::aws_nitro_root_g1());
        assert_eq!(root.cert().basic_constraints, Some((true, None)));
        assert_eq!(root.anchor().subject.as_ref(), root.cert().subject.as_slice());
        assert!(root.subject().contains("CN=aws.nitro-enclaves"), "{}", root.subject());
    }

    #[test]
    fn pem_without_certificate_is_refused() {
        let refused = |pem: &str, problem| {
            assert_eq!(
                TrustRoot::from_pem(pem),
                Err(ChainError::Malformed { at: CertPosition::PinnedRoot, problem }.into()),
                "{pem:?}"
            )
        };
        refused("nothing here", DerError::PemNoCertificate);
        refused("-----BEGIN CERTIFICATE-----\nMIIB\n", DerError::PemMalformed);
        refused("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", DerError::PemMalformed);
        // A PEM certificate section holding a certificate outside the profile.
        let junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            TrustRoot::from_pem(junk),
            Err(AttestationError::Chain(ChainError::Malformed {
                at: CertPosition::PinnedRoot,
                problem: DerError::Decode { .. }
            }))
        ));
        // Text around the section, and a second section, are ignored: the first certificate is the root.
        let text = format!("comment\n{ROOT_G1_PEM}\n{ROOT_G1_PEM}");
        assert_eq!(TrustRoot::from_pem(&text).unwrap(), TrustRoot::aws_nitro_root_g1());
    }
}
