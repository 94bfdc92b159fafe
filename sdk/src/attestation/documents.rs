//! `attestation::documents`: a document's types as trust grows: [`UnverifiedDocument`] (shape and
//! bounds checked) -> [`VerifiedDocument`] (signature and chain to a pinned root) ->
//! [`AttestedDocument`] (the policy and the connection's [`Expected`] values passed).
//!
//! In: raw bytes (untrusted). Out: these types; each step takes `self`, so a document that fails is
//! dropped and one that passes comes back as the next type. The last step, the policy, is
//! `policy`'s (`VerifiedDocument::check`); this module only holds what each type carries.

use std::collections::BTreeMap;
use std::fmt;

use enclave_protocol::{EnclaveUserData, FunctionChecksum, FunctionId, PcrIndex, PcrValue};

use super::cache::PathCache;
use super::chain::{self, SignatureChecked};
use super::cose::{self, Envelope};
use super::document::DocumentFields;
use super::error::{AttestationError, CertPosition};
use super::root::TrustRoot;
use super::time::UnixTime;
use super::user_data::{Claim, UserDataForm};
use super::x509::Certificate;

/// Per-connection expectations, checked after the policy's pins.
///
/// Start from [`Expected::none`] and add with the `with_*` methods; the fields are read by the policy
/// only.
///
/// # Examples
///
/// ```
/// # #![allow(unused_imports, unused_variables)]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
/// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
/// # let at = UnixTime::from_secs(1_676_033_041);
/// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
/// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
/// let nonce = [7u8; 32]; // what this client sent
/// let function: enclave_sdk::FunctionId = "echo".parse()?;
/// let expected = Expected::none().with_nonce(&nonce).with_function_id(&function).requiring_x25519_key();
/// // Cape's real document carries another nonce: refused.
/// assert!(verifier.verify(&raw, &expected, at).is_err());
/// # Ok(()) }
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct Expected<'a> {
    /// Must equal the document's nonce when `Some` (the client's fresh nonce, against replays).
    pub(super) nonce: Option<&'a [u8]>,
    /// Selects the checksum pin, and must equal the function id the enclave claims when both exist.
    pub(super) function_id: Option<&'a FunctionId>,
    /// Sessions set this: `public_key` must be exactly 32 bytes (an X25519 key).
    pub(super) require_x25519_key: bool,
    /// The form of function claim the user data must take: this protocol's (the default), or Cape's,
    /// which only Cape-mode sessions expect.
    pub(super) user_data: UserDataForm,
}

impl<'a> Expected<'a> {
    /// No expectations beyond the policy.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// verifier.verify(&raw, &Expected::none(), at)?; // the policy's pins only
    /// # Ok(()) }
    /// ```
    pub fn none() -> Self {
        Self::default()
    }
    /// With the nonce this client sent.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let sent = [7u8; 32];
    /// assert!(verifier.verify(&raw, &Expected::none().with_nonce(&sent), at).is_err());
    /// # Ok(()) }
    /// ```
    pub fn with_nonce(mut self, nonce: &'a [u8]) -> Self {
        self.nonce = Some(nonce);
        self
    }
    /// With the function id this client will invoke.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let echo: enclave_sdk::FunctionId = "echo".parse()?;
    /// let expected = Expected::none().with_function_id(&echo); // selects the checksum pin too
    /// # let _ = expected;
    /// # Ok(()) }
    /// ```
    pub fn with_function_id(mut self, function_id: &'a FunctionId) -> Self {
        self.function_id = Some(function_id);
        self
    }
    /// Requiring a 32-byte X25519 public key.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let doc = verifier.verify(&raw, &Expected::none().requiring_x25519_key(), at)?;
    /// assert_eq!(doc.public_key().map(<[u8]>::len), Some(32));
    /// # Ok(()) }
    /// ```
    pub fn requiring_x25519_key(mut self) -> Self {
        self.require_x25519_key = true;
        self
    }
    /// Reading the function claim in `form`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// use enclave_sdk::attestation::UserDataForm;
    /// // A Cape-mode connection reads Cape's JSON claim, which names no function.
    /// let doc = verifier.verify(&raw, &Expected::none().with_user_data_form(UserDataForm::Cape), at)?;
    /// assert!(doc.claimed_function().is_none());
    /// # Ok(()) }
    /// ```
    pub fn with_user_data_form(mut self, form: UserDataForm) -> Self {
        self.user_data = form;
        self
    }
}

/// A document whose envelope, payload shape and certificate DER are well-formed and in bounds, and
/// nothing more: its signature and chain are NOT verified.
///
/// # Examples
///
/// ```
/// # #![allow(unused_imports, unused_variables)]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
/// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
/// # let at = UnixTime::from_secs(1_676_033_041);
/// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
/// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
/// let unverified = UnverifiedDocument::parse(&raw)?; // shape and bounds only
/// println!("UNVERIFIED module {}", unverified.dangerous_unverified_fields().module_id());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct UnverifiedDocument {
    raw: Vec<u8>,
    envelope: Envelope,
    fields: DocumentFields,
    leaf: Certificate,
    cabundle: Vec<Certificate>,
}

impl fmt::Debug for UnverifiedDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedDocument").field("module_id", &self.fields.module_id).finish_non_exhaustive()
    }
}

impl UnverifiedDocument {
    /// The largest document accepted: a 16 KiB payload (the CDDL maximum) plus the envelope around it.
    pub const MAX_LEN: usize = cose::MAX_PAYLOAD_LEN + 512;

    /// Parses and bounds-checks a document (steps 1 to 3, plus the certificates' DER).
    ///
    /// # Errors
    ///
    /// [`AttestationError::DocumentTooLarge`], [`AttestationError::Cose`], [`AttestationError::Document`],
    /// or [`AttestationError::Chain`] ([`ChainError::Malformed`](super::ChainError::Malformed), [`ChainError::UnknownCriticalExtension`](super::ChainError::UnknownCriticalExtension))
    /// for a certificate that is not strict DER or lies outside the Nitro X.509 profile.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// use enclave_sdk::attestation::AttestationError;
    /// assert!(UnverifiedDocument::parse(&raw).is_ok());
    /// assert!(matches!(UnverifiedDocument::parse(b"not cbor"), Err(AttestationError::Cose(_))));
    /// # Ok(()) }
    /// ```
    pub fn parse(raw: &[u8]) -> Result<Self, AttestationError> {
        if raw.len() > Self::MAX_LEN {
            return Err(AttestationError::DocumentTooLarge { len: raw.len(), max: Self::MAX_LEN });
        }
        let env = Envelope::parse(raw)?;
        let fields = DocumentFields::parse(&env.payload)?;
        let leaf = Certificate::parse(&fields.certificate, CertPosition::Leaf)?;
        let cabundle = fields
            .cabundle
            .iter()
            .enumerate()
            .map(|(i, der)| Certificate::parse(der, CertPosition::CaBundle(i)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { raw: raw.to_vec(), envelope: env, fields, leaf, cabundle })
    }

    /// Verifies the certificate path to one of `roots` at `now` +- `skew`, then the signature (step 4),
    /// with no path cache. [`Verifier::verify`](super::Verifier::verify) does this with its cache, then applies the policy.
    ///
    /// # Errors
    ///
    /// [`AttestationError::Chain`] or [`AttestationError::Cose`] ([`CoseError::BadSignature`](super::CoseError::BadSignature)).
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// use enclave_sdk::attestation::TrustRoot;
    /// let verified = UnverifiedDocument::parse(&raw)?.verify(&[TrustRoot::aws_nitro_root_g1()], at, Policy::DEFAULT_CLOCK_SKEW)?;
    /// assert_eq!(verified.fields().module_id(), "i-08dd44ce4cc5ced0b-enc01863b583eb9dfbf");
    /// # Ok(()) }
    /// ```
    pub fn verify(
        self,
        roots: &[TrustRoot],
        now: UnixTime,
        skew: std::time::Duration,
    ) -> Result<VerifiedDocument, AttestationError> {
        self.verify_with(roots, now, skew, &PathCache::new(0))
    }

    pub(super) fn verify_with(
        self,
        roots: &[TrustRoot],
        now: UnixTime,
        skew: std::time::Duration,
        cache: &PathCache,
    ) -> Result<VerifiedDocument, AttestationError> {
        let sig = chain::verify_document(&self.envelope, &self.leaf, &self.cabundle, roots, now, skew, cache)?;
        let valid_until = self.cabundle.iter().map(|c| c.not_after).fold(self.leaf.not_after, std::cmp::min);
        Ok(VerifiedDocument { raw: self.raw, fields: self.fields, valid_until, _sig: sig })
    }

    /// The fields as the document states them, for `enclave inspect` and diagnostics.
    ///
    /// # Security
    ///
    /// Nothing here has been verified: anyone can write any value in these fields. Never base a
    /// decision on them; display them labelled as unverified.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let doc = UnverifiedDocument::parse(&raw)?;
    /// // Anyone can write these: display them as unverified, decide nothing on them.
    /// println!("{} PCRs, UNVERIFIED", doc.dangerous_unverified_fields().pcrs().len());
    /// # Ok(()) }
    /// ```
    pub fn dangerous_unverified_fields(&self) -> &DocumentFields {
        &self.fields
    }

    /// Every certificate in the document, leaf first, then `cabundle[0..]`, as text (unverified).
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// for cert in UnverifiedDocument::parse(&raw)?.dangerous_unverified_certificates() {
    ///     println!("{}: {} (UNVERIFIED)", cert.position, cert.subject);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn dangerous_unverified_certificates(&self) -> Vec<CertificateSummary> {
        std::iter::once((CertPosition::Leaf, &self.leaf))
            .chain(self.cabundle.iter().enumerate().map(|(i, c)| (CertPosition::CaBundle(i), c)))
            .map(|(position, c)| CertificateSummary {
                position,
                subject: c.subject_text(),
                issuer: c.issuer_text(),
                not_before: c.not_before,
                not_after: c.not_after,
            })
            .collect()
    }
}

/// One certificate of a document, described for display.
///
/// # Examples
///
/// ```
/// # #![allow(unused_imports, unused_variables)]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
/// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
/// # let at = UnixTime::from_secs(1_676_033_041);
/// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
/// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
/// let certs = UnverifiedDocument::parse(&raw)?.dangerous_unverified_certificates();
/// assert!(certs.len() >= 4); // leaf, then cabundle[0..]
/// assert!(certs[0].not_before < certs[0].not_after);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateSummary {
    /// Where it sits in the document.
    pub position: CertPosition,
    /// Subject name, e.g. `C=US, O=Amazon, OU=AWS, CN=...`.
    pub subject: String,
    /// Issuer name.
    pub issuer: String,
    /// Start of validity.
    pub not_before: UnixTime,
    /// End of validity.
    pub not_after: UnixTime,
}

/// A document whose signature chains to a pinned root and whose certificates were valid at the
/// verification time. Its fields are the enclave's words; the policy has not been applied yet.
///
/// # Examples
///
/// ```
/// # #![allow(unused_imports, unused_variables)]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
/// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
/// # let at = UnixTime::from_secs(1_676_033_041);
/// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
/// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
/// use enclave_sdk::attestation::TrustRoot;
/// let verified = UnverifiedDocument::parse(&raw)?.verify(&[TrustRoot::aws_nitro_root_g1()], at, Policy::DEFAULT_CLOCK_SKEW)?;
/// let attested = verified.check(verifier.policy(), &Expected::none(), at)?;
/// # let _ = attested;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct VerifiedDocument {
    pub(super) raw: Vec<u8>,
    pub(super) fields: DocumentFields,
    /// The earliest end of validity of the certificates the path verified (leaf and bundle).
    pub(super) valid_until: UnixTime,
    pub(super) _sig: SignatureChecked,
}

impl fmt::Debug for VerifiedDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedDocument").field("module_id", &self.fields.module_id).finish_non_exhaustive()
    }
}

impl VerifiedDocument {
    /// The verified fields (signed by the enclave; the policy is not applied).
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// use enclave_sdk::attestation::TrustRoot;
    /// let verified = UnverifiedDocument::parse(&raw)?.verify(&[TrustRoot::aws_nitro_root_g1()], at, Policy::DEFAULT_CLOCK_SKEW)?;
    /// assert!(!verified.fields().is_debug_mode());
    /// # Ok(()) }
    /// ```
    pub fn fields(&self) -> &DocumentFields {
        &self.fields
    }
}

/// A document that passed every check: its fields describe an enclave the policy trusts.
///
/// # Examples
///
/// ```
/// # #![allow(unused_imports, unused_variables)]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
/// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
/// # let at = UnixTime::from_secs(1_676_033_041);
/// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
/// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
/// let doc = verifier.verify(&raw, &Expected::none(), at)?;
/// println!("{} at {} ms, PCR0 {}", doc.module_id(), doc.timestamp_ms(), doc.pcrs()[&enclave_sdk::PcrIndex::IMAGE]);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AttestedDocument {
    pub(super) raw: Vec<u8>,
    pub(super) fields: DocumentFields,
    pub(super) claim: Option<Claim>,
    pub(super) valid_until: UnixTime,
    pub(super) _sig: SignatureChecked,
}

impl fmt::Debug for AttestedDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttestedDocument")
            .field("module_id", &self.fields.module_id)
            .field("timestamp_ms", &self.fields.timestamp_ms)
            .finish_non_exhaustive()
    }
}

impl AttestedDocument {
    /// The exact bytes that were verified (sessions bind these into the HPKE `info`).
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let doc = verifier.verify(&raw, &Expected::none(), at)?;
    /// assert_eq!(doc.raw(), &raw[..]);
    /// # Ok(()) }
    /// ```
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }
    /// `module_id`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let doc = verifier.verify(&raw, &Expected::none(), at)?;
    /// assert_eq!(doc.module_id(), "i-08dd44ce4cc5ced0b-enc01863b583eb9dfbf");
    /// # Ok(()) }
    /// ```
    pub fn module_id(&self) -> &str {
        &self.fields.module_id
    }
    /// `timestamp`, milliseconds since the epoch.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let doc = verifier.verify(&raw, &Expected::none(), at)?;
    /// assert!(doc.timestamp_ms() / 1000 <= at.as_secs());
    /// # Ok(()) }
    /// ```
    pub fn timestamp_ms(&self) -> u64 {
        self.fields.timestamp_ms
    }

    /// The earliest end of validity among the certificates that verified it (the leaf and the
    /// bundle): a session opened on this document is not reused past it, whatever the policy's
    /// document age allows (a Nitro leaf lives about 3 hours).
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let doc = verifier.verify(&raw, &Expected::none(), at)?;
    /// assert!(doc.certificates_valid_until() > at);
    /// # Ok(()) }
    /// ```
    pub fn certificates_valid_until(&self) -> UnixTime {
        self.valid_until
    }
    /// `digest` ("SHA384").
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let doc = verifier.verify(&raw, &Expected::none(), at)?;
    /// assert_eq!(doc.digest(), "SHA384");
    /// # Ok(()) }
    /// ```
    pub fn digest(&self) -> &str {
        &self.fields.digest
    }
    /// Every PCR, index to value.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let doc = verifier.verify(&raw, &Expected::none(), at)?;
    /// assert_eq!(doc.pcrs().len(), 16);
    /// # Ok(()) }
    /// ```
    pub fn pcrs(&self) -> &BTreeMap<PcrIndex, PcrValue> {
        &self.fields.pcrs
    }
    /// `public_key`, if present.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let doc = verifier.verify(&raw, &Expected::none(), at)?;
    /// assert_eq!(doc.public_key().map(<[u8]>::len), Some(32));
    /// # Ok(()) }
    /// ```
    pub fn public_key(&self) -> Option<&[u8]> {
        self.fields.public_key.as_deref()
    }
    /// `user_data`, if present.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let doc = verifier.verify(&raw, &Expected::none(), at)?;
    /// assert_eq!(doc.user_data().map(<[u8]>::len), Some(746));
    /// # Ok(()) }
    /// ```
    pub fn user_data(&self) -> Option<&[u8]> {
        self.fields.user_data.as_deref()
    }
    /// `nonce`, if present.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let doc = verifier.verify(&raw, &Expected::none(), at)?;
    /// let _nonce = doc.nonce();
    /// # Ok(()) }
    /// ```
    pub fn nonce(&self) -> Option<&[u8]> {
        self.fields.nonce.as_deref()
    }
    /// The public key as an X25519 key, when it is exactly 32 bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let doc = verifier.verify(&raw, &Expected::none(), at)?;
    /// assert!(doc.x25519_public_key().is_some());
    /// # Ok(()) }
    /// ```
    pub fn x25519_public_key(&self) -> Option<[u8; 32]> {
        self.fields.public_key.as_deref().and_then(|k| k.try_into().ok())
    }
    /// This protocol's function claim in user data, when it decodes (always, if the policy pinned a
    /// checksum and the connection expected this protocol's form).
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let doc = verifier.verify(&raw, &Expected::none(), at)?;
    /// assert!(doc.claimed_function().is_none()); // Cape's form names no function
    /// # Ok(()) }
    /// ```
    pub fn claimed_function(&self) -> Option<&EnclaveUserData> {
        match &self.claim {
            Some(Claim::Native(claim)) => Some(claim),
            _ => None,
        }
    }
    /// The function checksum the user data claims, in whichever form the connection expected.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(unused_imports, unused_variables)]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use enclave_sdk::attestation::{Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let at = UnixTime::from_secs(1_676_033_041);
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let doc = verifier.verify(&raw, &Expected::none(), at)?;
    /// assert!(doc.claimed_checksum().is_none()); // read in the native form, which Cape's is not
    /// # Ok(()) }
    /// ```
    pub fn claimed_checksum(&self) -> Option<FunctionChecksum> {
        self.claim.as_ref().map(Claim::checksum)
    }
    /// All fields.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use enclave_sdk::attestation::{Expected, Policy, UnixTime, Verifier};
    /// # let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
    /// # let release: enclave_sdk::MeasurementSet = "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
    /// # let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
    /// let doc = verifier.verify(&raw, &Expected::none(), UnixTime::from_secs(1_676_033_041))?;
    /// assert_eq!(doc.fields().cabundle().len(), 4);
    /// # Ok(()) }
    /// ```
    pub fn fields(&self) -> &DocumentFields {
        &self.fields
    }
}
