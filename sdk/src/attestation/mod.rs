//! Decides whether an AWS Nitro attestation document may be believed.
//!
//! In: raw document bytes from the network or a file (untrusted), a [`Policy`] (what the caller
//! trusts), per-connection [`Expected`] values and the time. Out: an [`AttestedDocument`] whose fields
//! the caller may act on, or an [`AttestationError`] naming the failed check and its values.
//!
//! # What is verified, in order
//!
//! 1. Size: at most [`UnverifiedDocument::MAX_LEN`] bytes, before any parsing.
//! 2. Envelope (`cose`): COSE_Sign1, untagged or tag 18, protected header exactly `{1: -35}` (ES384),
//!    payload 1..=16384 bytes, signature 96 bytes, read by ciborium (nesting bounded) and coset.
//!    The unprotected header may not carry `alg` or `crit` (RFC 9052 section 3), and is otherwise
//!    held to what coset accepts (no label twice, each known parameter of its type).
//! 3. Payload shape (`document`): every field's CBOR type and CDDL bound, read by ciborium into a
//!    tree that keeps a bignum a tag (`cbor`); duplicate keys refused; PCR0, PCR1 and PCR2 present. This only bounds-checks; nothing is believed yet
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
mod documents;
mod error;
mod policy;
mod policy_file;
mod root;
mod time;
mod user_data;
mod verifier;
mod x509;

pub use document::DocumentFields;
pub use documents::{AttestedDocument, CertificateSummary, Expected, UnverifiedDocument, VerifiedDocument};
pub use enclave_protocol::EnclaveUserData;
pub use error::{
    AttestationError, CborError, CborProblem, CertPosition, ChainError, CoseError, DerError, DerProblem, DocumentError,
    Field, WebpkiReason,
};
pub use policy::{Policy, PolicyBuilder, PolicyError};
pub use policy_file::{PolicyFile, PolicyFileError, RootSource};
pub use root::TrustRoot;
pub use time::UnixTime;
pub use user_data::UserDataForm;
pub use verifier::Verifier;
