//! `Policy::from_file`: the TOML policy file, one format for what a caller trusts.
//!
//! What comes in: a policy file's text (trusted in intent, written by the caller, but parsed as
//! untrusted input: bounded to [`MAX_POLICY_FILE_LEN`], every error names the line and the key) and,
//! for `root_pem`, a PEM file next to it. What goes out: a validated [`PolicyFile`], and from it a
//! `Policy` for the verifier or the pins for a KMS key policy ([`PolicyFile::pinned_measurements`]).
//! This module does not verify anything and does not decide what a document must contain: it only
//! translates the file into the same pins `Policy::builder()` takes.
//!
//! The format is documented on [`PolicyFile`].

use super::{Policy, PolicyError, TrustRoot, DEFAULT_CLOCK_SKEW, DEFAULT_MAX_DOCUMENT_AGE};
use crate::kms::PinnedMeasurements;
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
/// Length of a PCR value: Nitro PCRs are SHA-384 digests.
pub(crate) const PCR_LEN: usize = 48;
/// Highest PCR index: the NSM has 32 PCRs.
pub(crate) const MAX_PCR_INDEX: u8 = 31;
use super::MAX_FUNCTION_ID_LEN;

/// Where the trust root comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RootSource {
    /// The AWS Nitro Enclaves Root-G1 certificate built into the SDK.
    #[default]
    AwsNitroRootG1,
    /// A PEM certificate read from `path` (as written in the file) when the policy was loaded.
    Pem {
        /// The path as written in the policy file.
        path: PathBuf,
        /// The file's contents.
        pem: String,
    },
}

/// A parsed and validated policy file: what a caller trusts. Fields left `None` take
/// `Policy::builder()`'s defaults. Read one with [`PolicyFile::from_file`] or [`Policy::from_file`].
///
/// # Format
///
/// ```toml
/// # Trust root. Default: the AWS Nitro Enclaves Root-G1 certificate built into the SDK.
/// # A path is relative to the policy file.
/// # root_pem = "mock-root.pem"
///
/// max_document_age_secs = 300   # default 300: reject documents older than this
/// clock_skew_secs = 60          # default 60: tolerance for certificate validity and document age
/// allow_debug = false           # default false: debug-mode enclaves (all-zero PCRs) are rejected
/// accept_any_enclave = false    # true only for experiments: a policy must otherwise pin a PCR
///
/// # Whatever function the enclave attests must have this checksum (optional).
/// # function_checksum = "<64 hex digits>"
///
/// [pcrs]  # allow-lists per PCR index: the document must carry one of the listed values
/// 0 = ["<96 hex digits>", "<96 hex digits of the next release>"]
/// 1 = ["<96 hex digits>"]
/// 2 = ["<96 hex digits>"]
///
/// [functions]  # per function id: the checksum the enclave must report when serving that function
/// "hello" = "<64 hex digits>"
/// ```
///
/// PCR indices are 0 to 31, values are SHA-384 digests (48 bytes, 96 hex digits, either case); a
/// single string stands for a one-value list.
/// Checksums are SHA-256 (32 bytes). Unknown keys are errors, so a misspelt `max_document_age`
/// cannot silently fall back to a default. A policy that pins no PCR is an error unless it says
/// `accept_any_enclave = true` (and then it must pin none): a function checksum alone is a claim
/// made by the enclave's own code, which means something only when PCRs pin that code.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyFile {
    /// `root_pem`.
    pub trust_root: RootSource,
    /// `[pcrs]`: allowed values per PCR index.
    pub pcrs: BTreeMap<u8, Vec<Vec<u8>>>,
    /// `[functions]`: the checksum each function id must report.
    pub functions: BTreeMap<String, [u8; 32]>,
    /// `function_checksum`: the checksum whatever function is attested must report.
    pub function_checksum: Option<[u8; 32]>,
    /// `max_document_age_secs`.
    pub max_document_age: Option<Duration>,
    /// `clock_skew_secs`.
    pub clock_skew: Option<Duration>,
    /// `allow_debug`.
    pub allow_debug: bool,
    /// `accept_any_enclave`.
    pub accept_any_enclave: bool,
}

/// Why a policy file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyFileError {
    /// The file (or its `root_pem`) could not be read.
    #[error("{}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
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
        /// What is wrong.
        message: String,
    },
    /// The pins were refused by [`crate::attestation::PolicyBuilder`].
    #[error("{}{source}", file_prefix(.file))]
    Policy {
        /// The policy file, when read from one.
        file: Option<PathBuf>,
        /// The builder's reason.
        source: PolicyError,
    },
    /// The trust root could not be loaded.
    #[error("{}root_pem: {reason}", file_prefix(.file))]
    Root {
        /// The policy file, when read from one.
        file: Option<PathBuf>,
        /// Why.
        reason: String,
    },
    /// No PCR is pinned and `accept_any_enclave` is not set.
    #[error("{}the policy pins no PCR: add a [pcrs] table, or set accept_any_enclave = true to trust any enclave", file_prefix(.file))]
    PinsNothing {
        /// The policy file, when read from one.
        file: Option<PathBuf>,
    },
}

fn file_prefix(file: &Option<PathBuf>) -> String {
    file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default()
}

fn key_suffix(key: &Option<String>) -> String {
    key.as_ref().map(|k| format!(", key `{k}`")).unwrap_or_default()
}

/// The environment variable naming a policy file, read by [`Policy::from_env`] (and so by
/// `connect_and_invoke` and the CLI when no policy is given explicitly).
pub const POLICY_ENV_VAR: &str = "ENCLAVE_POLICY";

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
    /// let policy = Policy::from_toml_str(&format!("[pcrs]\n0 = [\"{}\"]\n", "ab".repeat(48)))?;
    /// assert_eq!(policy.pcr_allow_list()[&0], vec![vec![0xab; 48]]);
    /// # Ok::<(), enclave_sdk::attestation::PolicyFileError>(())
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Policy, PolicyFileError> {
        PolicyFile::parse(text, None)?.to_policy()
    }

    /// The policy in the file named by `ENCLAVE_POLICY` ([`POLICY_ENV_VAR`]), or `None` when the
    /// variable is unset or empty.
    ///
    /// # Errors
    /// As [`Policy::from_file`]; a set variable naming a bad file is an error, never a silent `None`.
    pub fn from_env() -> Result<Option<Policy>, PolicyFileError> {
        match std::env::var_os(POLICY_ENV_VAR) {
            Some(path) if !path.is_empty() => Policy::from_file(PathBuf::from(path)).map(Some),
            _ => Ok(None),
        }
    }
}

impl PolicyFile {
    /// Builds the [`Policy`] this file describes.
    ///
    /// # Errors
    /// [`PolicyFileError::Root`] for an unusable `root_pem`, [`PolicyFileError::Policy`] when the
    /// builder refuses a pin, and the rules of [`PolicyFile::validate`].
    pub fn to_policy(&self) -> Result<Policy, PolicyFileError> {
        self.validate()?;
        let mut builder = Policy::builder();
        if let RootSource::Pem { pem, .. } = &self.trust_root {
            let root =
                TrustRoot::from_pem(pem).map_err(|e| PolicyFileError::Root { file: None, reason: e.to_string() })?;
            builder = builder.trust_root(root);
        }
        for (index, values) in &self.pcrs {
            for value in values {
                builder = builder.allow_pcr(*index, value.clone());
            }
        }
        if let Some(sum) = self.function_checksum {
            builder = builder.function_checksum(sum);
        }
        for (id, sum) in &self.functions {
            builder = builder.function_checksum_for(id, *sum);
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

    /// Reads and validates the policy file at `path`; a relative `root_pem` is resolved against the
    /// file's directory.
    ///
    /// # Errors
    /// [`PolicyFileError`] naming the file, the line and the key.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, PolicyFileError> {
        let path = path.as_ref();
        let text = read_bounded(path, MAX_POLICY_FILE_LEN)?;
        let base = path.parent().unwrap_or_else(|| Path::new(""));
        Self::parse(&text, Some(base)).map_err(|e| e.in_file(path))
    }

    /// Parses and validates policy text; a relative `root_pem` is resolved against `base_dir`
    /// (the current directory when `None`).
    ///
    /// # Errors
    /// [`PolicyFileError::Invalid`] naming the line and the key, [`PolicyFileError::PinsNothing`],
    /// or a read error for `root_pem`.
    ///
    /// # Examples
    /// ```
    /// use enclave_sdk::attestation::{PolicyFile, PolicyFileError};
    /// let pcr0 = "ab".repeat(48);
    /// let file = PolicyFile::parse(&format!("[pcrs]\n0 = [\"{pcr0}\"]\n"), None)?;
    /// assert_eq!(file.pcrs[&0], vec![vec![0xab; 48]]);
    ///
    /// let err = PolicyFile::parse("max_document_age_secs = \"5m\"\n", None).unwrap_err();
    /// assert!(err.to_string().starts_with("line 1, column 25, key `max_document_age_secs`"), "{err}");
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
            invalid_at(&at, &span, at.key_on_line(&span), e.message().trim().to_owned())
        })?;
        let at = Locator(text);
        let mut file = PolicyFile::default();

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
            file.trust_root = RootSource::Pem { path, pem };
        }

        for (key, values) in raw.pcrs.unwrap_or_default() {
            let name = format!("pcrs.{}", key.get_ref());
            let index = key
                .get_ref()
                .parse::<u8>()
                .ok()
                .filter(|i| *i <= MAX_PCR_INDEX && key.get_ref() == &i.to_string())
                .ok_or_else(|| {
                    invalid(&at, &key, &name, format!("a PCR index is a number from 0 to {MAX_PCR_INDEX}"))
                })?;
            let list = match values.get_ref() {
                Value::String(s) => vec![s.as_str()],
                Value::Array(items) => items
                    .iter()
                    .map(Value::as_str)
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| invalid(&at, &values, &name, "expected a list of hex strings".into()))?,
                other => {
                    return Err(invalid(
                        &at,
                        &values,
                        &name,
                        format!("expected a list of hex strings, found {}", other.type_str()),
                    ))
                }
            };
            if list.is_empty() {
                return Err(invalid(
                    &at,
                    &values,
                    &name,
                    "an empty allow-list pins nothing; remove the key or list a value".into(),
                ));
            }
            let mut allowed: Vec<Vec<u8>> = Vec::with_capacity(list.len());
            for (n, hex_value) in list.into_iter().enumerate() {
                let bytes = decode_hex(hex_value, PCR_LEN)
                    .map_err(|why| invalid(&at, &values, &name, format!("value {n}: {why}")))?;
                if !allowed.contains(&bytes) {
                    allowed.push(bytes);
                }
            }
            file.pcrs.insert(index, allowed);
        }

        for (key, value) in raw.functions.unwrap_or_default() {
            let id = key.get_ref();
            let name = format!("functions.{id}");
            if id.is_empty() || id.len() > MAX_FUNCTION_ID_LEN {
                return Err(invalid(&at, &key, &name, format!("a function id is 1 to {MAX_FUNCTION_ID_LEN} bytes")));
            }
            file.functions.insert(id.clone(), checksum_value(&at, &name, &value)?);
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
            if file.accept_any_enclave && !file.pcrs.is_empty() {
                return Err(invalid(
                    &at,
                    v,
                    "accept_any_enclave",
                    "contradicts the [pcrs] pins; remove one of them".into(),
                ));
            }
        }
        file.validate()?;
        Ok(file)
    }

    /// Checks the rules a file must follow: at least one PCR pinned unless `accept_any_enclave`,
    /// and not both.
    ///
    /// # Errors
    /// [`PolicyFileError::PinsNothing`], or [`PolicyFileError::Invalid`] for the contradiction.
    pub fn validate(&self) -> Result<(), PolicyFileError> {
        match (self.pcrs.is_empty(), self.accept_any_enclave) {
            (true, false) => Err(PolicyFileError::PinsNothing { file: None }),
            (false, true) => Err(PolicyFileError::Invalid {
                file: None,
                line: 0,
                column: 0,
                key: Some("accept_any_enclave".into()),
                message: "contradicts the [pcrs] pins".into(),
            }),
            _ => Ok(()),
        }
    }

    /// The PCR pins, for a KMS key policy ([`crate::kms`]).
    pub fn pinned_measurements(&self) -> PinnedMeasurements {
        let mut pins = PinnedMeasurements::new();
        for (index, values) in &self.pcrs {
            for value in values {
                pins = pins.allow_pcr(*index, value.clone());
            }
        }
        pins
    }

    /// Writes the file back as TOML (commented, in the documented format), after [`PolicyFile::validate`].
    ///
    /// # Errors
    /// As [`PolicyFile::validate`].
    pub fn to_toml_string(&self) -> Result<String, PolicyFileError> {
        self.validate()?;
        let mut out = String::from(
            "# enclave-sdk policy file: what this client trusts.\n\
             # Format: README \"Pinning what you trust\" (or the rustdoc of enclave_sdk::attestation::PolicyFile).\n\n",
        );
        match &self.trust_root {
            RootSource::AwsNitroRootG1 => {
                out.push_str("# Trust root: the AWS Nitro Enclaves Root-G1 built into the SDK (root_pem = \"file.pem\" to override).\n")
            }
            RootSource::Pem { path, .. } => {
                out.push_str(&format!("root_pem = {}\n", toml_string(&path.to_string_lossy())));
            }
        }
        match self.max_document_age {
            Some(age) => out.push_str(&format!("max_document_age_secs = {}\n", age.as_secs())),
            None => out.push_str(&format!(
                "# max_document_age_secs = {}  (the default)\n",
                DEFAULT_MAX_DOCUMENT_AGE.as_secs()
            )),
        }
        match self.clock_skew {
            Some(skew) => out.push_str(&format!("clock_skew_secs = {}\n", skew.as_secs())),
            None => out.push_str(&format!("# clock_skew_secs = {}  (the default)\n", DEFAULT_CLOCK_SKEW.as_secs())),
        }
        out.push_str(&format!("allow_debug = {}\n", self.allow_debug));
        if self.accept_any_enclave {
            out.push_str("accept_any_enclave = true\n");
        }
        if let Some(sum) = &self.function_checksum {
            out.push_str(&format!("function_checksum = \"{}\"\n", hex::encode(sum)));
        }
        if !self.pcrs.is_empty() {
            out.push_str("\n[pcrs]\n");
            for (index, values) in &self.pcrs {
                let list: Vec<String> = values.iter().map(|v| format!("\"{}\"", hex::encode(v))).collect();
                out.push_str(&format!("{index} = [{}]\n", list.join(", ")));
            }
        }
        if !self.functions.is_empty() {
            out.push_str("\n[functions]\n");
            for (id, sum) in &self.functions {
                out.push_str(&format!("{} = \"{}\"\n", toml_string(id), hex::encode(sum)));
            }
        }
        Ok(out)
    }
}

impl PolicyFileError {
    fn in_file(self, path: &Path) -> Self {
        match self {
            Self::Invalid { file: None, line, column, key, message } => {
                Self::Invalid { file: Some(path.to_owned()), line, column, key, message }
            }
            Self::PinsNothing { file: None } => Self::PinsNothing { file: Some(path.to_owned()) },
            other => other,
        }
    }
}

/// The file as TOML gives it: every value spanned, so each error can name its line and key.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    root_pem: Option<Spanned<Value>>,
    pcrs: Option<BTreeMap<Spanned<String>, Spanned<Value>>>,
    functions: Option<BTreeMap<Spanned<String>, Spanned<Value>>>,
    function_checksum: Option<Spanned<Value>>,
    max_document_age_secs: Option<Spanned<Value>>,
    clock_skew_secs: Option<Spanned<Value>>,
    allow_debug: Option<Spanned<Value>>,
    accept_any_enclave: Option<Spanned<Value>>,
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

fn checksum_value(at: &Locator<'_>, key: &str, v: &Spanned<Value>) -> Result<[u8; 32], PolicyFileError> {
    let text = string_value(at, key, v)?;
    let bytes = decode_hex(text, 32).map_err(|why| invalid(at, v, key, why))?;
    <[u8; 32]>::try_from(bytes).map_err(|_| invalid(at, v, key, "expected 32 bytes".into()))
}

fn decode_hex(text: &str, len: usize) -> Result<Vec<u8>, String> {
    if text.len() != 2 * len {
        return Err(format!("expected {} hex digits ({len} bytes), found {} characters", 2 * len, text.len()));
    }
    hex::decode(text).map_err(|e| format!("not hex: {e}"))
}

fn toml_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

fn read_bounded(path: &Path, max: usize) -> Result<String, PolicyFileError> {
    use std::io::Read;
    let read_err = |e: std::io::Error| PolicyFileError::Read { path: path.to_owned(), reason: e.to_string() };
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
