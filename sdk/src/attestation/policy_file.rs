//! `Policy::from_file`: the TOML policy file, one format for what a caller trusts.
//!
//! What comes in: a policy file's text (trusted in intent, written by the caller, but parsed as
//! untrusted input: bounded to [`MAX_POLICY_FILE_LEN`], every error names the line and the key) and,
//! for `root_pem`, a PEM file next to it. What goes out: a [`PolicyFile`], and from it a `Policy` for
//! the verifier (whose measurement sets are also what a KMS key policy requires, in the `enclave-kms`
//! crate).
//! This module does not verify anything and does not decide what a policy must pin: it only
//! translates the file into the pins `Policy::builder()` takes, and the builder decides.
//!
//! The format is documented on [`PolicyFile`].

use super::error::AttestationError;
use super::policy::{Policy, PolicyError};
use super::root::TrustRoot;
use enclave_protocol::{FunctionChecksum, FunctionId, MeasurementError, MeasurementSet, Pcr, PcrIndex, PcrValue};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::{Spanned, Value};

/// Largest policy file read, in bytes.
pub(crate) const MAX_POLICY_FILE_LEN: usize = 1024 * 1024;
/// Largest `root_pem` file read, in bytes.
pub(crate) const MAX_ROOT_PEM_LEN: usize = 64 * 1024;

/// Where the trust root comes from.
///
/// # Examples
///
/// ```
/// use enclave_sdk::attestation::{PolicyFile, RootSource};
/// let text = format!("[[pcrs]]\n0 = \"{}\"\n", "ab".repeat(48));
/// let file = PolicyFile::parse(&text, None)?;
/// assert_eq!(file.trust_root(), &RootSource::AwsNitroRootG1); // no root_pem: AWS Root-G1
/// # Ok::<(), enclave_sdk::attestation::PolicyFileError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RootSource {
    /// The AWS Nitro Enclaves Root-G1 certificate built into the SDK.
    #[default]
    AwsNitroRootG1,
    /// A PEM certificate read from `path` (as written in the file) when the policy was loaded. Made only
    /// by this module ([`PolicyFile::parse`], [`PolicyFile::with_root_pem`]), once the certificate parsed.
    #[non_exhaustive]
    Pem {
        /// The path as written in the policy file.
        path: PathBuf,
        /// The file's contents.
        pem: String,
    },
}

/// A parsed policy file: what a caller trusts. Settings left `None` take `Policy::builder()`'s
/// defaults. Read one with [`PolicyFile::from_file`] or [`Policy::from_file`], or start one to write
/// out with [`PolicyFile::pinning`]; each succeeds only for pins
/// [`crate::attestation::PolicyBuilder::build`] accepts, so every `PolicyFile` describes a policy the
/// builder accepts and its [`PolicyFile::to_toml_string`] parses back to the same value.
///
/// # Format
///
/// ```toml
/// # Trust root. Default: the AWS Nitro Enclaves Root-G1 certificate built into the SDK.
/// # A path is relative to the policy file.
/// # root_pem = "mock-root.pem"
/// # root_sha256 = "<64 hex digits>"  # SHA-256 of the root's DER: loading refuses any other root file
///
/// max_document_age_secs = 300   # default 300: reject documents older than this
/// clock_skew_secs = 60          # default 60: tolerance for certificate validity and document age
/// allow_debug = false           # default false: debug-mode enclaves (all-zero PCRs) are rejected
/// accept_any_enclave = false    # true only for experiments: waives the rule below
///
/// # Whatever function the enclave attests must have this checksum (optional).
/// # function_checksum = "<64 hex digits>"
///
/// [[pcrs]]  # one allowed release: the document must carry every PCR of one [[pcrs]] table
/// 0 = "<96 hex digits>"
/// 1 = "<96 hex digits>"
/// 2 = "<96 hex digits>"
///
/// [[pcrs]]  # the next release, allowed during a rolling deploy (never mixed with the one above)
/// 0 = "<96 hex digits>"
/// 1 = "<96 hex digits>"
/// 2 = "<96 hex digits>"
///
/// [functions]  # per function id: the checksum the enclave must report when serving that function
/// "hello" = "<64 hex digits>"
/// ```
///
/// PCR indices are 0 to 31, each with one value: a SHA-384 digest (48 bytes, 96 hex digits, either
/// case). Checksums are SHA-256 (32 bytes). Unknown keys are errors, so a misspelt
/// `max_document_age` cannot silently fall back to a default. Every `[[pcrs]]` table must pin PCR0,
/// PCR2 or PCR8, and a file must have one, unless it says `accept_any_enclave = true`: PCR1 is the
/// same for every image of one nitro-cli version, PCR3 and PCR4 describe the parent instance its
/// operator chooses, and a function checksum is a claim made by the enclave's own code, which means
/// something only when PCRs pin that code.
///
/// # Examples
///
/// ```
/// use enclave_sdk::attestation::{PolicyFile, RootSource};
/// let text = format!("[[pcrs]]\n0 = \"{}\"\n", "ab".repeat(48));
/// let file = PolicyFile::parse(&text, None)?;
/// assert_eq!(file.measurement_sets().len(), 1);
/// let policy = file.to_policy()?;
/// assert_eq!(policy.measurement_sets().len(), 1);
/// # let _ = RootSource::AwsNitroRootG1;
/// # Ok::<(), enclave_sdk::attestation::PolicyFileError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFile {
    /// `root_pem`.
    trust_root: RootSource,
    /// `[[pcrs]]`, in file order.
    pcrs: Vec<MeasurementSet>,
    /// `[functions]`.
    functions: BTreeMap<FunctionId, FunctionChecksum>,
    /// `function_checksum`.
    function_checksum: Option<FunctionChecksum>,
    /// `max_document_age_secs`.
    max_document_age: Option<Duration>,
    /// `clock_skew_secs`.
    clock_skew: Option<Duration>,
    /// `allow_debug`.
    allow_debug: bool,
    /// `accept_any_enclave`.
    accept_any_enclave: bool,
}

/// Why a policy file was refused.
///
/// # Examples
///
/// ```
/// use enclave_sdk::attestation::{PolicyFile, PolicyFileError};
/// let err = PolicyFile::parse("max_document_age = 5\n", None).unwrap_err(); // a misspelt key
/// assert!(matches!(err, PolicyFileError::Invalid { line: 1, .. }), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyFileError {
    /// The file (or its `root_pem`) could not be read.
    #[error("{}: cannot read: {kind}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error's kind.
        kind: std::io::ErrorKind,
    },
    /// The file (or its `root_pem`) is larger than allowed.
    #[error("{}: {len} bytes; at most {max} allowed", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A syntax error, an unknown key, or a value of the wrong type or shape.
    #[error("{}line {line}, column {column}{}: {message}", file_prefix(.file), key_suffix(.key))]
    Invalid {
        /// The policy file, when read from one.
        file: Option<PathBuf>,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The key, dotted (`pcrs.0`), when known.
        key: Option<String>,
        /// What is wrong. Text, because the TOML parser's errors (`toml::de::Error`) carry only a
        /// message and a span, no kind to match on; this module's own refusals say what they refuse in
        /// the same field, so that each names its line and key the same way.
        message: String,
    },
    /// The pins were refused by [`crate::attestation::PolicyBuilder`].
    #[error("{}{source}{}", file_prefix(.file), file_hint(.source))]
    Policy {
        /// The policy file, when read from one.
        file: Option<PathBuf>,
        /// The builder's reason.
        source: PolicyError,
    },
    /// The trust root could not be loaded.
    #[error("{}root_pem: {source}", file_prefix(.file))]
    Root {
        /// The policy file, when read from one.
        file: Option<PathBuf>,
        /// Why the certificate was refused.
        source: AttestationError,
    },
    /// The root certificate is not the one `root_sha256` pins: the file at `root_pem` was replaced
    /// after the policy was written (or the policy was pointed at another root).
    #[error(
        "{}root_sha256 pins a root with SHA-256 {}, but {} has SHA-256 {}; restore that root file, or re-pin it \
         (enclave policy init / mock-enclave policy) if the change was yours",
        file_prefix(.file), hex::encode(.pinned), root_display(.root_pem), hex::encode(.found)
    )]
    RootDigest {
        /// The policy file, when read from one.
        file: Option<PathBuf>,
        /// The root file read (`None`: the built-in AWS Nitro Enclaves Root-G1).
        root_pem: Option<PathBuf>,
        /// The SHA-256 the policy pins.
        pinned: [u8; 32],
        /// The SHA-256 of the root's DER as loaded.
        found: [u8; 32],
    },
}

fn root_display(root_pem: &Option<PathBuf>) -> String {
    root_pem.as_ref().map_or_else(|| "the built-in AWS Nitro Enclaves Root-G1".to_owned(), |p| p.display().to_string())
}

/// The one check of a policy file's `root_sha256`: the root loaded is the root that was pinned. The
/// SHA-256 is over the certificate's DER (what `mock-enclave measurements` prints and AWS publishes
/// for Root-G1); digests are public, so a plain comparison leaks nothing.
fn check_root_digest(root: &TrustRoot, pinned: [u8; 32], root_pem: Option<&Path>) -> Result<(), PolicyFileError> {
    let found = root.sha256();
    if found == pinned {
        Ok(())
    } else {
        Err(PolicyFileError::RootDigest { file: None, root_pem: root_pem.map(Path::to_owned), pinned, found })
    }
}

impl TrustRoot {
    /// A root from a PEM file, as `root_pem` in a policy file, `--root-pem` and `ENCLAVE_ROOT_PEM` name
    /// it (for the mock enclave: `<state-dir>/root.pem`). At most 64 KiB are read.
    ///
    /// # Errors
    /// [`PolicyFileError::Read`] or [`PolicyFileError::TooLarge`] naming the path, or
    /// [`PolicyFileError::Root`] (with the path as `file`) when it holds no usable root certificate.
    ///
    /// # Examples
    ///
    /// ```
    /// use enclave_sdk::attestation::{PolicyFileError, TrustRoot};
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/AWS_NitroEnclaves_Root-G1.pem");
    /// assert_eq!(TrustRoot::from_pem_file(path)?, TrustRoot::aws_nitro_root_g1());
    /// let missing = TrustRoot::from_pem_file("no/such/root.pem").unwrap_err();
    /// assert!(matches!(missing, PolicyFileError::Read { kind: std::io::ErrorKind::NotFound, .. }));
    /// assert_eq!(missing.to_string(), "no/such/root.pem: cannot read: entity not found");
    /// # Ok::<(), PolicyFileError>(())
    /// ```
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<TrustRoot, PolicyFileError> {
        let path = path.as_ref();
        let pem = read_bounded(path, MAX_ROOT_PEM_LEN)?;
        TrustRoot::from_pem(&pem).map_err(|source| PolicyFileError::Root { file: Some(path.to_owned()), source })
    }
}

/// What to write in the file to satisfy the builder.
fn file_hint(source: &PolicyError) -> &'static str {
    if matches!(source, PolicyError::ImageNotPinned { .. }) {
        "; add a [[pcrs]] table pinning \"0\", \"2\" or \"8\" for each allowed release, or set \
         accept_any_enclave = true to trust any enclave"
    } else {
        ""
    }
}

fn file_prefix(file: &Option<PathBuf>) -> String {
    file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default()
}

fn key_suffix(key: &Option<String>) -> String {
    key.as_ref().map(|k| format!(", key `{k}`")).unwrap_or_default()
}

impl Policy {
    /// Reads a policy file (format: [`PolicyFile`]) and builds the policy it describes.
    ///
    /// # Errors
    /// [`PolicyFileError`] naming the file, the line and the key.
    ///
    /// # Examples
    /// ```no_run
    /// use enclave_sdk::attestation::{Expected, Policy, Verifier};
    /// let verifier = Verifier::new(Policy::from_file("policy.toml")?);
    /// let document = verifier.verify_now(&std::fs::read("doc.cbor")?, &Expected::default())?;
    /// println!("attested: {}", document.module_id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<Policy, PolicyFileError> {
        let path = path.as_ref();
        PolicyFile::from_file(path)?.to_policy().map_err(|e| e.in_file(path))
    }

    /// Parses policy text (format: [`PolicyFile`]); a relative `root_pem` is resolved against the
    /// current directory.
    ///
    /// # Errors
    /// [`PolicyFileError`] naming the line and the key.
    ///
    /// # Examples
    /// ```
    /// use enclave_sdk::attestation::Policy;
    /// use enclave_sdk::{PcrIndex, PcrValue};
    /// let policy = Policy::from_toml_str(&format!("[[pcrs]]\n0 = \"{}\"\n", "ab".repeat(48)))?;
    /// assert_eq!(policy.measurement_sets()[0].get(PcrIndex::IMAGE), Some(&PcrValue::from([0xab; 48])));
    /// # Ok::<(), enclave_sdk::attestation::PolicyFileError>(())
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Policy, PolicyFileError> {
        PolicyFile::parse(text, None)?.to_policy()
    }

    /// The policy in the file named by `ENCLAVE_POLICY` ([`PolicyFile::ENV_VAR`]), or `None` when the
    /// variable is unset or empty.
    ///
    /// # Errors
    /// As [`Policy::from_file`]; a set variable naming a bad file is an error, never a silent `None`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// // None when ENCLAVE_POLICY is unset; the policy in that file otherwise.
    /// if let Some(policy) = enclave_sdk::attestation::Policy::from_env()? {
    ///     println!("{} measurement sets", policy.measurement_sets().len());
    /// }
    /// # Ok::<(), enclave_sdk::attestation::PolicyFileError>(())
    /// ```
    pub fn from_env() -> Result<Option<Policy>, PolicyFileError> {
        match std::env::var_os(PolicyFile::ENV_VAR) {
            Some(path) if !path.is_empty() => Policy::from_file(PathBuf::from(path)).map(Some),
            _ => Ok(None),
        }
    }
}

impl PolicyFile {
    /// The environment variable naming a policy file, read by [`Policy::from_env`] (and so by
    /// `connect_and_invoke` and the CLI when no policy is given explicitly).
    pub const ENV_VAR: &'static str = "ENCLAVE_POLICY";

    /// A policy file allowing `releases` (one [`MeasurementSet`] each, as `[[pcrs]]` tables), with every
    /// other setting at its default: AWS Root-G1, no function checksums, debug enclaves refused, and
    /// the image rule in force (there is no constructor that waives it: write `accept_any_enclave`
    /// into the file by hand if you mean it).
    ///
    /// # Errors
    /// [`PolicyFileError::Policy`] when the builder refuses the sets: none at all, or one that does not
    /// identify the image.
    ///
    /// # Examples
    ///
    /// ```
    /// use enclave_sdk::attestation::{PolicyError, PolicyFile, PolicyFileError};
    /// use enclave_sdk::{FunctionChecksum, FunctionId};
    /// let release = format!("0={}", "ab".repeat(48)).parse()?;
    /// let hello = FunctionId::new("hello")?;
    /// let file = PolicyFile::pinning([release])?.with_function_checksum_for(hello, FunctionChecksum::from_bytes([7; 32]));
    /// assert_eq!(PolicyFile::parse(&file.to_toml_string(), None)?, file);
    ///
    /// // No release pinned is no policy file, rather than one that fails later.
    /// let none = PolicyFile::pinning([]).unwrap_err();
    /// assert!(matches!(none, PolicyFileError::Policy { source: PolicyError::ImageNotPinned { set: None, .. }, .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pinning(releases: impl IntoIterator<Item = MeasurementSet>) -> Result<Self, PolicyFileError> {
        let file = PolicyFile { pcrs: releases.into_iter().collect(), ..PolicyFile::unchecked() };
        file.to_policy()?;
        Ok(file)
    }

    /// This file with `pem` (read from `path`, written into the file as `root_pem = "path"`) as its
    /// only trust root in place of AWS Root-G1.
    ///
    /// # Errors
    /// [`PolicyFileError::Root`] when `pem` is not one usable certificate.
    pub fn with_root_pem(self, path: impl Into<PathBuf>, pem: impl Into<String>) -> Result<Self, PolicyFileError> {
        let pem = pem.into();
        TrustRoot::from_pem(&pem).map_err(|source| PolicyFileError::Root { file: None, source })?;
        Ok(PolicyFile { trust_root: RootSource::Pem { path: path.into(), pem }, ..self })
    }

    /// This file with `checksum` required of the function `function_id` (a `[functions]` entry), as
    /// [`crate::attestation::PolicyBuilder::function_checksum_for`].
    #[must_use]
    pub fn with_function_checksum_for(mut self, function_id: FunctionId, checksum: FunctionChecksum) -> Self {
        self.functions.insert(function_id, checksum);
        self
    }

    /// This file with `checksum` required of whatever function is attested (`function_checksum`), as
    /// [`crate::attestation::PolicyBuilder::function_checksum`].
    #[must_use]
    pub fn with_function_checksum(mut self, checksum: FunctionChecksum) -> Self {
        self.function_checksum = Some(checksum);
        self
    }

    /// `root_pem`: where the trust root comes from.
    pub fn trust_root(&self) -> &RootSource {
        &self.trust_root
    }

    /// `[[pcrs]]`: the allowed measurement sets (releases), in file order.
    pub fn measurement_sets(&self) -> &[MeasurementSet] {
        &self.pcrs
    }

    /// `[functions]`: the checksum each function id must report.
    pub fn function_checksums(&self) -> &BTreeMap<FunctionId, FunctionChecksum> {
        &self.functions
    }

    /// `function_checksum`: the checksum whatever function is attested must report.
    pub fn function_checksum(&self) -> Option<FunctionChecksum> {
        self.function_checksum
    }

    /// `max_document_age_secs`, when the file sets it.
    pub fn max_document_age(&self) -> Option<Duration> {
        self.max_document_age
    }

    /// `clock_skew_secs`, when the file sets it.
    pub fn clock_skew(&self) -> Option<Duration> {
        self.clock_skew
    }

    /// `allow_debug = true`.
    pub fn allows_debug(&self) -> bool {
        self.allow_debug
    }

    /// `accept_any_enclave = true`: the image rule is waived.
    pub fn accepts_any_enclave(&self) -> bool {
        self.accept_any_enclave
    }

    /// The settings of an empty file, which no caller may see before `to_policy` accepts what was put in.
    fn unchecked() -> Self {
        PolicyFile {
            trust_root: RootSource::AwsNitroRootG1,
            pcrs: Vec::new(),
            functions: BTreeMap::new(),
            function_checksum: None,
            max_document_age: None,
            clock_skew: None,
            allow_debug: false,
            accept_any_enclave: false,
        }
    }

    /// Builds the [`Policy`] this file describes, through [`Policy::builder`] (which alone decides
    /// whether the pins identify the enclave image).
    ///
    /// # Errors
    /// [`PolicyFileError::Root`] for an unusable `root_pem`, [`PolicyFileError::Policy`] when the
    /// builder refuses the pins.
    ///
    /// # Examples
    ///
    /// ```
    /// use enclave_sdk::attestation::{PolicyFile, RootSource};
    /// let text = format!("[[pcrs]]\n0 = \"{}\"\n", "ab".repeat(48));
    /// let policy = PolicyFile::parse(&text, None)?.to_policy()?; // the builder's rule applies
    /// assert!(!policy.accepts_any_enclave());
    /// # let _ = RootSource::AwsNitroRootG1;
    /// # Ok::<(), enclave_sdk::attestation::PolicyFileError>(())
    /// ```
    pub fn to_policy(&self) -> Result<Policy, PolicyFileError> {
        let mut builder = Policy::builder();
        if let RootSource::Pem { pem, .. } = &self.trust_root {
            let root = TrustRoot::from_pem(pem).map_err(|source| PolicyFileError::Root { file: None, source })?;
            builder = builder.trust_root(root);
        }
        for set in &self.pcrs {
            builder = builder.allow_measurements(set.clone());
        }
        if let Some(sum) = self.function_checksum {
            builder = builder.function_checksum(sum);
        }
        for (id, sum) in &self.functions {
            builder = builder.function_checksum_for(id.clone(), *sum);
        }
        if let Some(age) = self.max_document_age {
            builder = builder.max_document_age(age);
        }
        if let Some(skew) = self.clock_skew {
            builder = builder.clock_skew(skew);
        }
        if self.allow_debug {
            builder = builder.dangerous_allow_debug();
        }
        if self.accept_any_enclave {
            builder = builder.dangerous_accept_any_enclave();
        }
        builder.build().map_err(|source| PolicyFileError::Policy { file: None, source })
    }

    /// Reads the policy file at `path`; a relative `root_pem` is resolved against the file's directory.
    ///
    /// # Errors
    /// [`PolicyFileError`] naming the file, the line and the key, or the builder's refusal.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, PolicyFileError> {
        let path = path.as_ref();
        let text = read_bounded(path, MAX_POLICY_FILE_LEN)?;
        let base = path.parent().unwrap_or_else(|| Path::new(""));
        Self::parse(&text, Some(base)).map_err(|e| e.in_file(path))
    }

    /// Parses policy text; a relative `root_pem` is resolved against `base_dir` (the current directory
    /// when `None`). The pins are then put through [`PolicyFile::to_policy`], so a file the builder
    /// refuses is refused here.
    ///
    /// # Errors
    /// [`PolicyFileError::Invalid`] naming the line and the key, [`PolicyFileError::Policy`], or a read
    /// error for `root_pem`.
    ///
    /// # Examples
    /// ```
    /// use enclave_sdk::attestation::{PolicyError, PolicyFile, PolicyFileError};
    /// let pcr0 = "ab".repeat(48);
    /// let file = PolicyFile::parse(&format!("[[pcrs]]\n0 = \"{pcr0}\"\n"), None)?;
    /// assert_eq!(file.measurement_sets().len(), 1);
    ///
    /// let err = PolicyFile::parse("max_document_age_secs = \"5m\"\n", None).unwrap_err();
    /// assert!(err.to_string().starts_with("line 1, column 25, key `max_document_age_secs`"), "{err}");
    ///
    /// // PCR3 is the parent instance's IAM role: it does not identify the image.
    /// let err = PolicyFile::parse(&format!("[[pcrs]]\n3 = \"{pcr0}\"\n"), None).unwrap_err();
    /// assert!(matches!(err, PolicyFileError::Policy { source: PolicyError::ImageNotPinned { .. }, .. }));
    /// # Ok::<(), PolicyFileError>(())
    /// ```
    pub fn parse(text: &str, base_dir: Option<&Path>) -> Result<Self, PolicyFileError> {
        if text.len() > MAX_POLICY_FILE_LEN {
            return Err(PolicyFileError::TooLarge {
                path: PathBuf::from("<policy text>"),
                len: text.len() as u64,
                max: MAX_POLICY_FILE_LEN,
            });
        }
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let at = Locator(text);
            let message = e.message().trim().to_owned();
            // Our own refusal of a [pcrs] table is about that key, which TOML does not name.
            let key = if message == PCRS_NOT_AN_ARRAY { Some("pcrs".to_owned()) } else { at.key_on_line(&span) };
            invalid_at(&at, &span, key, message)
        })?;
        let at = Locator(text);
        let mut file = PolicyFile::unchecked();

        if let Some(root) = raw.root_pem {
            let path = PathBuf::from(string_value(&at, "root_pem", &root)?);
            let full = match base_dir {
                Some(base) if path.is_relative() => base.join(&path),
                _ => path.clone(),
            };
            let pem = read_bounded(&full, MAX_ROOT_PEM_LEN)?;
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(invalid(&at, &root, "root_pem", format!("{} holds no PEM certificate", full.display())));
            }
            if let Some(pinned) = &raw.root_sha256 {
                let digest = digest_value(&at, "root_sha256", pinned)?;
                let loaded =
                    TrustRoot::from_pem(&pem).map_err(|source| PolicyFileError::Root { file: None, source })?;
                check_root_digest(&loaded, digest, Some(&full))?;
            }
            file.trust_root = RootSource::Pem { path, pem };
        } else if let Some(pinned) = &raw.root_sha256 {
            check_root_digest(&TrustRoot::aws_nitro_root_g1(), digest_value(&at, "root_sha256", pinned)?, None)?;
        }

        for (n, table) in raw.pcrs.map(|t| t.0).unwrap_or_default().into_iter().enumerate() {
            file.pcrs.push(measurement_set(&at, n.saturating_add(1), &table)?);
        }

        for (key, value) in raw.functions.unwrap_or_default() {
            let name = format!("functions.{}", key.get_ref());
            let id = FunctionId::new(key.get_ref().as_str()).map_err(|e| invalid(&at, &key, &name, e.to_string()))?;
            file.functions.insert(id, checksum_value(&at, &name, &value)?);
        }

        if let Some(v) = raw.function_checksum {
            file.function_checksum = Some(checksum_value(&at, "function_checksum", &v)?);
        }
        if let Some(v) = raw.max_document_age_secs {
            let secs = int_value(&at, "max_document_age_secs", &v, 1..=u64::from(u32::MAX))?;
            file.max_document_age = Some(Duration::from_secs(secs));
        }
        if let Some(v) = raw.clock_skew_secs {
            let secs = int_value(&at, "clock_skew_secs", &v, 0..=86_400)?;
            file.clock_skew = Some(Duration::from_secs(secs));
        }
        if let Some(v) = raw.allow_debug {
            file.allow_debug = bool_value(&at, "allow_debug", &v)?;
        }
        if let Some(v) = &raw.accept_any_enclave {
            file.accept_any_enclave = bool_value(&at, "accept_any_enclave", v)?;
        }
        file.to_policy()?;
        Ok(file)
    }

    /// Writes the file back as TOML (commented, in the documented format); [`PolicyFile::parse`] reads
    /// it back as the same value.
    ///
    /// # Examples
    ///
    /// ```
    /// use enclave_sdk::attestation::{PolicyFile, RootSource};
    /// let text = format!("[[pcrs]]\n0 = \"{}\"\n", "ab".repeat(48));
    /// let file = PolicyFile::parse(&text, None)?;
    /// assert_eq!(PolicyFile::parse(&file.to_toml_string(), None)?, file);
    /// # let _ = RootSource::AwsNitroRootG1;
    /// # Ok::<(), enclave_sdk::attestation::PolicyFileError>(())
    /// ```
    pub fn to_toml_string(&self) -> String {
        let mut out = String::from(
            "# enclave-sdk policy file: what this client trusts.\n\
             # Format: README \"Pinning what you trust\" (or the rustdoc of enclave_sdk::attestation::PolicyFile).\n\n",
        );
        match &self.trust_root {
            RootSource::AwsNitroRootG1 => {
                out.push_str("# Trust root: the AWS Nitro Enclaves Root-G1 built into the SDK (root_pem = \"file.pem\" to override).\n")
            }
            RootSource::Pem { path, pem } => {
                out.push_str(&format!("root_pem = {}\n", toml_string(&path.to_string_lossy())));
                // to_policy above parsed this PEM; the digest pins it, so a replaced file is refused on load.
                if let Ok(root) = TrustRoot::from_pem(pem) {
                    out.push_str(&format!("root_sha256 = \"{}\"\n", hex::encode(root.sha256())));
                }
            }
        }
        match self.max_document_age {
            Some(age) => out.push_str(&format!("max_document_age_secs = {}\n", age.as_secs())),
            None => out.push_str(&format!(
                "# max_document_age_secs = {}  (the default)\n",
                Policy::DEFAULT_MAX_DOCUMENT_AGE.as_secs()
            )),
        }
        match self.clock_skew {
            Some(skew) => out.push_str(&format!("clock_skew_secs = {}\n", skew.as_secs())),
            None => {
                out.push_str(&format!("# clock_skew_secs = {}  (the default)\n", Policy::DEFAULT_CLOCK_SKEW.as_secs()))
            }
        }
        out.push_str(&format!("allow_debug = {}\n", self.allow_debug));
        if self.accept_any_enclave {
            out.push_str("accept_any_enclave = true\n");
        }
        if let Some(sum) = &self.function_checksum {
            out.push_str(&format!("function_checksum = \"{sum}\"\n"));
        }
        for set in &self.pcrs {
            out.push_str("\n[[pcrs]]  # one allowed release\n");
            for (index, value) in set.iter() {
                out.push_str(&format!("{} = \"{value}\"\n", index.get()));
            }
        }
        if !self.functions.is_empty() {
            out.push_str("\n[functions]\n");
            for (id, sum) in &self.functions {
                out.push_str(&format!("{} = \"{sum}\"\n", toml_string(id.as_str())));
            }
        }
        out
    }
}

/// One `[[pcrs]]` table (the `number`th, from 1) as a measurement set.
fn measurement_set(
    at: &Locator<'_>,
    number: usize,
    table: &Spanned<BTreeMap<Spanned<String>, Spanned<Value>>>,
) -> Result<MeasurementSet, PolicyFileError> {
    let set_key = format!("pcrs[{number}]");
    let mut pcrs = Vec::with_capacity(table.get_ref().len());
    for (key, value) in table.get_ref() {
        let name = format!("{set_key}.{}", key.get_ref());
        let index: PcrIndex =
            key.get_ref().parse().map_err(|e: MeasurementError| invalid(at, key, &name, e.to_string()))?;
        let text = match value.get_ref() {
            Value::String(s) => s.as_str(),
            Value::Array(_) => {
                return Err(invalid(
                    at,
                    value,
                    &name,
                    "a [[pcrs]] table is one release, with one value per PCR; to allow another release, write \
                     another [[pcrs]] table"
                        .into(),
                ))
            }
            other => {
                return Err(invalid(at, value, &name, format!("expected a hex string, found {}", other.type_str())))
            }
        };
        let pcr_value: PcrValue =
            text.parse().map_err(|e: MeasurementError| invalid(at, value, &name, e.to_string()))?;
        pcrs.push(Pcr::new(index, pcr_value));
    }
    if pcrs.is_empty() {
        return Err(invalid(
            at,
            table,
            &set_key,
            "an empty [[pcrs]] table pins nothing; give it PCR values or remove it".into(),
        ));
    }
    // TOML refuses a key given twice in one table, and "0" and "00" cannot both parse as indices.
    MeasurementSet::new(pcrs).map_err(|e| invalid(at, table, &set_key, e.to_string()))
}

impl PolicyFileError {
    fn in_file(self, path: &Path) -> Self {
        match self {
            Self::Invalid { file: None, line, column, key, message } => {
                Self::Invalid { file: Some(path.to_owned()), line, column, key, message }
            }
            Self::Policy { file: None, source } => Self::Policy { file: Some(path.to_owned()), source },
            Self::Root { file: None, source } => Self::Root { file: Some(path.to_owned()), source },
            Self::RootDigest { file: None, root_pem, pinned, found } => {
                Self::RootDigest { file: Some(path.to_owned()), root_pem, pinned, found }
            }
            other => other,
        }
    }
}

/// The file as TOML gives it: every value spanned, so each error can name its line and key.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    root_pem: Option<Spanned<Value>>,
    root_sha256: Option<Spanned<Value>>,
    pcrs: Option<PcrTables>,
    functions: Option<BTreeMap<Spanned<String>, Spanned<Value>>>,
    function_checksum: Option<Spanned<Value>>,
    max_document_age_secs: Option<Spanned<Value>>,
    clock_skew_secs: Option<Spanned<Value>>,
    allow_debug: Option<Spanned<Value>>,
    accept_any_enclave: Option<Spanned<Value>>,
}

/// What a `[pcrs]` table (the per-index allow-lists of earlier versions) or any other `pcrs` that is
/// not an array of tables is told.
const PCRS_NOT_AN_ARRAY: &str = "write each allowed release as its own [[pcrs]] table with one value per PCR \
                                 (a [pcrs] table of allow-lists would let a document mix PCRs of two releases)";

/// `[[pcrs]]`: the tables in file order, each key and value spanned.
struct PcrTables(Vec<Spanned<BTreeMap<Spanned<String>, Spanned<Value>>>>);

impl<'de> serde::Deserialize<'de> for PcrTables {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Tables;
        impl<'de> Visitor<'de> for Tables {
            type Value = PcrTables;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[[pcrs]] tables")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PcrTables, A::Error> {
                let mut tables = Vec::new();
                while let Some(table) = seq.next_element()? {
                    tables.push(table);
                }
                Ok(PcrTables(tables))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, _map: A) -> Result<PcrTables, A::Error> {
                Err(de::Error::custom(PCRS_NOT_AN_ARRAY))
            }
        }
        deserializer.deserialize_any(Tables)
    }
}

/// Turns byte offsets into 1-based line and column.
struct Locator<'a>(&'a str);

impl Locator<'_> {
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = self.0.get(..offset).unwrap_or(self.0);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    /// For errors TOML reports without a key: the bare key at the start of the offending line.
    fn key_on_line(&self, span: &Range<usize>) -> Option<String> {
        let start = self.0.get(..span.start)?.rfind('\n').map_or(0, |i| i + 1);
        let line = self.0.get(start..)?.lines().next()?;
        let (key, _) = line.split_once('=')?;
        let key = key.trim().trim_matches('"');
        (!key.is_empty() && !key.starts_with('#')).then(|| key.to_owned())
    }
}

fn invalid_at(at: &Locator<'_>, span: &Range<usize>, key: Option<String>, message: String) -> PolicyFileError {
    let (line, column) = at.line_col(span.start);
    PolicyFileError::Invalid { file: None, line, column, key, message }
}

fn invalid<T>(at: &Locator<'_>, value: &Spanned<T>, key: &str, message: String) -> PolicyFileError {
    invalid_at(at, &value.span(), Some(key.to_owned()), message)
}

fn string_value<'v>(at: &Locator<'_>, key: &str, v: &'v Spanned<Value>) -> Result<&'v str, PolicyFileError> {
    v.get_ref()
        .as_str()
        .ok_or_else(|| invalid(at, v, key, format!("expected a string, found {}", v.get_ref().type_str())))
}

fn bool_value(at: &Locator<'_>, key: &str, v: &Spanned<Value>) -> Result<bool, PolicyFileError> {
    v.get_ref()
        .as_bool()
        .ok_or_else(|| invalid(at, v, key, format!("expected true or false, found {}", v.get_ref().type_str())))
}

fn int_value(
    at: &Locator<'_>,
    key: &str,
    v: &Spanned<Value>,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, PolicyFileError> {
    let n = v.get_ref().as_integer().ok_or_else(|| {
        invalid(at, v, key, format!("expected a whole number of seconds, found {}", v.get_ref().type_str()))
    })?;
    u64::try_from(n)
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| invalid(at, v, key, format!("{n} is outside {}..={}", range.start(), range.end())))
}

fn checksum_value(at: &Locator<'_>, key: &str, v: &Spanned<Value>) -> Result<FunctionChecksum, PolicyFileError> {
    string_value(at, key, v)?.parse().map_err(|e: MeasurementError| invalid(at, v, key, e.to_string()))
}

/// A SHA-256 digest written as 64 hex digits (either case).
fn digest_value(at: &Locator<'_>, key: &str, v: &Spanned<Value>) -> Result<[u8; 32], PolicyFileError> {
    let text = string_value(at, key, v)?;
    let mut digest = [0u8; 32];
    hex::decode_to_slice(text, &mut digest).map_err(|e| {
        let problem = match e {
            hex::FromHexError::InvalidHexCharacter { c, index } => {
                format!("{c:?} at offset {index} is not a hex digit")
            }
            _ => format!("this is {} characters", text.chars().count()),
        };
        invalid(at, v, key, format!("a SHA-256 digest is 64 hex digits; {problem}"))
    })?;
    Ok(digest)
}

fn toml_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

fn read_bounded(path: &Path, max: usize) -> Result<String, PolicyFileError> {
    use std::io::Read;
    let read_err = |e: std::io::Error| PolicyFileError::Read { path: path.to_owned(), kind: e.kind() };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut text = String::new();
    // Read one byte past the limit so an oversized file is detected without reading all of it.
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    file.take(limit).read_to_string(&mut text).map_err(read_err)?;
    if text.len() > max {
        return Err(PolicyFileError::TooLarge { path: path.to_owned(), len: text.len() as u64, max });
    }
    Ok(text)
}

impl fmt::Display for RootSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AwsNitroRootG1 => f.write_str("AWS Nitro Enclaves Root-G1"),
            Self::Pem { path, .. } => write!(f, "{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests;
