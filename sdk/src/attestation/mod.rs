//! Decides whether an AWS Nitro attestation document may be believed.
//!
//! In: raw document bytes from the network or a file (untrusted), a [`Policy`] (what the caller
//! trusts), per-connection [`Expected`] values and the time. Out: an [`AttestedDocument`] whose fields
//! the caller may act on, or an [`AttestationError`] naming the failed check and its values.
//!
//! # What is verified, in order
//!
//! 1. Size: at most [`MAX_DOCUMENT_LEN`] bytes, before any parsing (`Verifier::verify`).
//! 2. Envelope (`cose`): COSE_Sign1, untagged or tag 18, protected header exactly `{1: -35}` (ES384),
//!    payload 1..=16384 bytes, signature 96 bytes.
//!    The unprotected header may not carry `alg` or `crit` (RFC 9052 section 3).
//! 3. Payload shape (`document`): every field's CBOR type and CDDL bound; duplicate keys refused;
//!    PCR0, PCR1 and PCR2 present. This only bounds-checks; nothing is believed yet
//!    ([`UnverifiedDocument`]). Every certificate is decoded by `x509-cert` (strict DER) and by
//!    rustls-webpki's parser, and held to the Nitro profile (`x509`): v3, ES384 and P-384 only, a
//!    positive serial of at most 20 octets, no repeated extension, only BasicConstraints and KeyUsage
//!    critical, no unused KeyUsage bit set.
//! 4. Certificates (`chain`): `cabundle[0]` byte-equal to a pinned [`TrustRoot`] (never the anchor
//!    itself); names chaining leaf -> `cabundle[n-1..1]` -> the pinned root in that order; every
//!    certificate valid at one instant within `now` +- skew; the pinned root a CA with keyCertSign and
//!    room for the intermediates; keyCertSign on every CA and digitalSignature on the leaf; then
//!    rustls-webpki validates exactly that path (ES384 signatures, BasicConstraints, pathLen,
//!    extensions, no ExtendedKeyUsage) with the pinned root as its only anchor. Its verdict is cached
//!    per exact path and validity window (`cache`). Then the ES384 signature over the COSE
//!    Sig_structure with the leaf key ([`VerifiedDocument`]).
//! 5. Policy (`policy`): debug mode, the allowed measurement sets (the document must match every PCR
//!    of one), document age, nonce, function claim and checksum, X25519 key ([`AttestedDocument`]).
//!
//! The types change with trust: a document that fails a step is dropped, one that passes comes back as
//! the next type. No payload field influences a decision before step 4 has passed.
//!
//! ```
//! use enclave_sdk::attestation::{Expected, Policy, UnixTime, Verifier};
//! use enclave_sdk::MeasurementSet;
//! let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor"))?;
//! let release: MeasurementSet =
//!     "0=bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe".parse()?;
//! let verifier = Verifier::new(Policy::builder().allow_measurements(release).build()?);
//! let doc = verifier.verify(&raw, &Expected::default(), UnixTime::from_secs(1_676_033_041))?;
//! assert_eq!(doc.module_id(), "i-08dd44ce4cc5ced0b-enc01863b583eb9dfbf");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cache;
mod cbor;
mod chain;
mod cose;
mod document;
mod error;
mod policy;
mod policy_file;
mod root;
mod time;
mod user_data;
mod x509;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

pub use document::DocumentFields;
pub use enclave_protocol::{cape_function_checksum, EnclaveUserData, UserDataError};
pub use error::{
    AttestationError, CborError, CborProblem, CertPosition, ChainError, CoseError, DerError, DerProblem, DocumentError,
    Field, Hex, HexList, PemProblem, SerialProblem, SetMismatches, WebpkiReason,
};
pub(crate) use policy::require_image_pinned;
pub use policy::{
    is_debug_mode, DebugEnclaves, Policy, PolicyBuilder, PolicyError, DEFAULT_CLOCK_SKEW, DEFAULT_MAX_DOCUMENT_AGE,
    IMAGE_PCRS,
};
pub use policy_file::{PolicyFile, PolicyFileError, RootSource, POLICY_ENV_VAR};
pub use root::{TrustRoot, AWS_NITRO_ROOT_G1_SHA256};
pub use time::UnixTime;
pub use user_data::UserDataForm;

use enclave_protocol::{FunctionChecksum, FunctionId, PcrIndex, PcrValue};
use user_data::Claim;

use cache::PathCache;
use chain::SignatureChecked;
use cose::Envelope;
use x509::Certificate;

/// The largest document accepted: a 16 KiB payload (the CDDL maximum) plus the envelope around it.
pub const MAX_DOCUMENT_LEN: usize = cose::MAX_PAYLOAD_LEN + 512;

/// Per-connection expectations, checked after the policy's pins.
///
/// Build it as a struct literal (`Expected { nonce: Some(&n), ..Default::default() }`) or with the
/// `with_*` methods.
#[derive(Debug, Default, Clone, Copy)]
pub struct Expected<'a> {
    /// Must equal the document's nonce when `Some` (the client's fresh nonce, against replays).
    pub nonce: Option<&'a [u8]>,
    /// Selects the checksum pin, and must equal the function id the enclave claims when both exist.
    pub function_id: Option<&'a FunctionId>,
    /// Sessions set this: `public_key` must be exactly 32 bytes (an X25519 key).
    pub require_x25519_key: bool,
    /// The form of function claim the user data must take: this protocol's (the default), or Cape's,
    /// which only Cape-mode sessions expect.
    pub user_data: UserDataForm,
}

impl<'a> Expected<'a> {
    /// No expectations beyond the policy.
    pub fn none() -> Self {
        Self::default()
    }
    /// With the nonce this client sent.
    pub fn with_nonce(mut self, nonce: &'a [u8]) -> Self {
        self.nonce = Some(nonce);
        self
    }
    /// With the function id this client will invoke.
    pub fn with_function_id(mut self, function_id: &'a FunctionId) -> Self {
        self.function_id = Some(function_id);
        self
    }
    /// Requiring a 32-byte X25519 public key.
    pub fn requiring_x25519_key(mut self) -> Self {
        self.require_x25519_key = true;
        self
    }
    /// Reading the function claim in `form`.
    pub fn with_user_data_form(mut self, form: UserDataForm) -> Self {
        self.user_data = form;
        self
    }
}

/// A document whose envelope, payload shape and certificate DER are well-formed and in bounds, and
/// nothing more: its signature and chain are NOT verified.
#[derive(Clone)]
pub struct UnverifiedDocument {
    raw: Vec<u8>,
    protected: Vec<u8>,
    payload: Vec<u8>,
    signature: Vec<u8>,
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
    /// Parses and bounds-checks a document (steps 1 to 3, plus the certificates' DER).
    ///
    /// # Errors
    ///
    /// [`AttestationError::DocumentTooLarge`], [`AttestationError::Cose`], [`AttestationError::Document`],
    /// or [`AttestationError::Chain`] ([`ChainError::Malformed`], [`ChainError::UnknownCriticalExtension`])
    /// for a certificate that is not strict DER or lies outside the Nitro X.509 profile.
    pub fn parse(raw: &[u8]) -> Result<Self, AttestationError> {
        if raw.len() > MAX_DOCUMENT_LEN {
            return Err(AttestationError::DocumentTooLarge { len: raw.len(), max: MAX_DOCUMENT_LEN });
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
        Ok(Self {
            raw: raw.to_vec(),
            protected: env.protected.into_owned(),
            payload: env.payload.into_owned(),
            signature: env.signature.into_owned(),
            fields,
            leaf,
            cabundle,
        })
    }

    /// Verifies the certificate path to one of `roots` at `now` +- `skew`, then the signature (step 4),
    /// with no path cache. [`Verifier::verify`] does this with its cache, then applies the policy.
    ///
    /// # Errors
    ///
    /// [`AttestationError::Chain`] or [`AttestationError::Cose`] ([`CoseError::BadSignature`]).
    pub fn verify(
        self,
        roots: &[TrustRoot],
        now: UnixTime,
        skew: std::time::Duration,
    ) -> Result<VerifiedDocument, AttestationError> {
        self.verify_with(roots, now, skew, &PathCache::new(0))
    }

    fn verify_with(
        self,
        roots: &[TrustRoot],
        now: UnixTime,
        skew: std::time::Duration,
        cache: &PathCache,
    ) -> Result<VerifiedDocument, AttestationError> {
        let env = Envelope {
            protected: (&self.protected[..]).into(),
            payload: (&self.payload[..]).into(),
            signature: (&self.signature[..]).into(),
        };
        let sig = chain::verify_document(&env, &self.leaf, &self.cabundle, roots, now, skew, cache)?;
        Ok(VerifiedDocument { raw: self.raw, fields: self.fields, _sig: sig })
    }

    /// The fields as the document states them, for `enclave inspect` and diagnostics.
    ///
    /// # Security
    ///
    /// Nothing here has been verified: anyone can write any value in these fields. Never base a
    /// decision on them; display them labelled as unverified.
    pub fn dangerous_unverified_fields(&self) -> &DocumentFields {
        &self.fields
    }

    /// Every certificate in the document, leaf first, then `cabundle[0..]`, as text (unverified).
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
#[derive(Clone)]
pub struct VerifiedDocument {
    raw: Vec<u8>,
    fields: DocumentFields,
    _sig: SignatureChecked,
}

impl fmt::Debug for VerifiedDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedDocument").field("module_id", &self.fields.module_id).finish_non_exhaustive()
    }
}

impl VerifiedDocument {
    /// Applies `policy`'s pins and the per-connection expectations (step 5).
    ///
    /// # Errors
    ///
    /// The first failed policy check, e.g. [`AttestationError::PcrNotAllowed`].
    pub fn check(
        self,
        policy: &Policy,
        expected: &Expected<'_>,
        now: UnixTime,
    ) -> Result<AttestedDocument, AttestationError> {
        policy.check(self, expected, now)
    }

    /// The verified fields (signed by the enclave; the policy is not applied).
    pub fn fields(&self) -> &DocumentFields {
        &self.fields
    }
}

/// A document that passed every check: its fields describe an enclave the policy trusts.
#[derive(Clone)]
pub struct AttestedDocument {
    raw: Vec<u8>,
    fields: DocumentFields,
    claim: Option<Claim>,
    _sig: SignatureChecked,
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
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }
    /// `module_id`.
    pub fn module_id(&self) -> &str {
        &self.fields.module_id
    }
    /// `timestamp`, milliseconds since the epoch.
    pub fn timestamp_ms(&self) -> u64 {
        self.fields.timestamp_ms
    }
    /// `digest` ("SHA384").
    pub fn digest(&self) -> &str {
        &self.fields.digest
    }
    /// Every PCR, index to value.
    pub fn pcrs(&self) -> &BTreeMap<PcrIndex, PcrValue> {
        &self.fields.pcrs
    }
    /// `public_key`, if present.
    pub fn public_key(&self) -> Option<&[u8]> {
        self.fields.public_key.as_deref()
    }
    /// `user_data`, if present.
    pub fn user_data(&self) -> Option<&[u8]> {
        self.fields.user_data.as_deref()
    }
    /// `nonce`, if present.
    pub fn nonce(&self) -> Option<&[u8]> {
        self.fields.nonce.as_deref()
    }
    /// The public key as an X25519 key, when it is exactly 32 bytes.
    pub fn x25519_public_key(&self) -> Option<[u8; 32]> {
        self.fields.public_key.as_deref().and_then(|k| k.try_into().ok())
    }
    /// This protocol's function claim in user data, when it decodes (always, if the policy pinned a
    /// checksum and the connection expected this protocol's form).
    pub fn claimed_function(&self) -> Option<&EnclaveUserData> {
        match &self.claim {
            Some(Claim::Native(claim)) => Some(claim),
            _ => None,
        }
    }
    /// The function checksum the user data claims, in whichever form the connection expected.
    pub fn claimed_checksum(&self) -> Option<FunctionChecksum> {
        self.claim.as_ref().map(Claim::checksum)
    }
    /// All fields.
    pub fn fields(&self) -> &DocumentFields {
        &self.fields
    }
}

/// Verifies documents against one [`Policy`], remembering verified certificate paths between calls.
///
/// Cheap to clone; clones share the cache. `Send + Sync`.
#[derive(Clone)]
pub struct Verifier(Arc<VerifierInner>);

struct VerifierInner {
    policy: Policy,
    cache: PathCache,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier").field("policy", &self.0.policy).field("cached_paths", &self.0.cache.len()).finish()
    }
}

/// `Verifier` is shared across tasks and threads (the contract promises `Clone + Send + Sync`).
const _: () = {
    const fn shared<T: Clone + Send + Sync + 'static>() {}
    shared::<Verifier>();
    shared::<Policy>();
    shared::<AttestedDocument>();
};

impl Verifier {
    /// A verifier for `policy`, with an empty path cache.
    pub fn new(policy: Policy) -> Self {
        Self(Arc::new(VerifierInner { policy, cache: PathCache::new(cache::DEFAULT_CAPACITY) }))
    }

    /// The policy this verifier applies.
    pub fn policy(&self) -> &Policy {
        &self.0.policy
    }

    /// Everything: size, COSE envelope, fields, the chain at `now` +- skew and the signature, then the
    /// policy (debug mode, PCRs, age, nonce, checksum, key).
    ///
    /// # Errors
    ///
    /// The first failed check, as an [`AttestationError`] carrying the values involved.
    pub fn verify(
        &self,
        raw: &[u8],
        expected: &Expected<'_>,
        now: UnixTime,
    ) -> Result<AttestedDocument, AttestationError> {
        let policy = &self.0.policy;
        UnverifiedDocument::parse(raw)?
            .verify_with(policy.trust_roots(), now, policy.clock_skew(), &self.0.cache)?
            .check(policy, expected, now)
    }

    /// [`Verifier::verify`] at the system clock's current time.
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify`].
    pub fn verify_now(&self, raw: &[u8], expected: &Expected<'_>) -> Result<AttestedDocument, AttestationError> {
        self.verify(raw, expected, UnixTime::now())
    }
}
