//! AWS KMS key policies conditioned on the pinned measurements: generate one, check one.
//!
//! What comes in: the measurement sets a caller allows (one [`MeasurementSet`] per release, trusted:
//! they come from the caller's own policy, [`Policy::measurement_sets`](crate::attestation::Policy::measurement_sets))
//! and, for [`check_key_policy`], a key policy document (untrusted JSON, bounded to
//! `MAX_KEY_POLICY_LEN` bytes, duplicate object keys rejected). What goes out: a key policy as JSON
//! ([`generate_key_policy`]), or a [`CheckReport`] listing each statement that lets a cryptographic
//! operation through without requiring every PCR of one allowed set ([`Finding`]).
//!
//! KMS conditions are per key: the values listed for one key are ORed, and keys are ANDed, so one
//! statement cannot say "one of these sets". A generated policy therefore has one statement per
//! allowed set, and the checker credits a statement only when it requires every PCR of one set with
//! that set's value alone (a list of values for one PCR could let a document mix two releases).
//!
//! What this module does not decide: whether the principals in a policy are the right ones, what IAM
//! identity policies, grants or SCPs outside the key policy allow, or whether the pinned values are
//! themselves trustworthy. The checker reads one key policy document, statically.
//!
//! # The IAM rules the checker relies on
//!
//! Each rule is cited again next to the code that depends on it:
//! - AWS KMS developer guide, "Condition keys for Nitro Enclaves"
//!   (<https://docs.aws.amazon.com/kms/latest/developerguide/conditions-nitro-enclave.html>):
//!   `kms:RecipientAttestation:ImageSha384` (PCR0) and `kms:RecipientAttestation:PCR<n>` are
//!   single-valued string keys that control `Decrypt`, `DeriveSharedSecret`, `GenerateDataKey`,
//!   `GenerateDataKeyPair` and `GenerateRandom`. When the request carries no attestation document the
//!   keys are absent, so a plain `StringEquals*` condition on them is not met and permission is denied.
//! - IAM user guide, "Condition operators"
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>):
//!   a key absent from the request makes a condition false, except for `...IfExists` (absent key:
//!   true) and `Null`, and except negated operators such as `StringNotEquals` (absent key: true).
//! - IAM user guide, "Single-valued vs. multivalued context keys"
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>):
//!   `ForAllValues:` returns true when the key is absent from the request, and set operators must not
//!   be used with single-valued keys because that can make a policy overly permissive.
//! - IAM user guide, "Action" and "NotAction"
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html>,
//!   `reference_policies_elements_notaction.html`): the service prefix and action name are case
//!   insensitive, `*` / `?` match any run of characters / one character, and `NotAction` with `Allow`
//!   allows every action not listed.
//! - IAM user guide, "Condition" (`reference_policies_elements_condition.html`): operators are ANDed
//!   with each other, keys inside one operator are ANDed, the values listed for one key are ORed, and
//!   condition key names are case insensitive.
//!
//! `Resource`, `Principal` and `NotPrincipal` are not examined: any statement that lets anyone use a
//! guarded action without the pins is reported, whoever it names.

use enclave_protocol::{MeasurementSet, PcrIndex, PcrValue};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::fmt;

/// Largest key policy document [`check_key_policy`] reads: AWS KMS caps a key policy at 32 KiB
/// (KMS developer guide, "Quotas": key policy document size).
pub(crate) const MAX_KEY_POLICY_LEN: usize = 32 * 1024;

/// The actions a generated policy grants to the enclave principal, each conditioned on the pins.
pub(crate) const ENCLAVE_ACTIONS: [&str; 4] =
    ["kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateRandom", "kms:DeriveSharedSecret"];

/// The actions the checker guards: every statement that allows one of them must require the pins.
///
/// The first five are the operations the KMS Nitro Enclaves condition keys control (KMS developer
/// guide, "Condition keys for Nitro Enclaves"). The last two release or delegate decryption without
/// any attestation in the request: `ReEncryptFrom` turns this key's ciphertext into ciphertext under a
/// key the caller chooses, and `CreateGrant` can hand `Decrypt` to anyone through a grant, which the
/// key policy's conditions do not constrain. A statement that conditions them on the attestation keys
/// fails closed (those requests carry no attestation), so the same rule covers them.
pub(crate) const GUARDED_ACTIONS: [&str; 7] = [
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyPair",
    "kms:GenerateRandom",
    "kms:DeriveSharedSecret",
    "kms:ReEncryptFrom",
    "kms:CreateGrant",
];

/// Key administration without cryptographic use. Deliberately absent: every action in
/// `GUARDED_ACTIONS` (notably `CreateGrant`, which the AWS console's default admin statement grants
/// through `kms:Create*`), `Encrypt`, and `ReEncrypt*`. `PutKeyPolicy` remains: whoever administers
/// the key can rewrite this policy, which is what administering a key means; pick that principal
/// accordingly.
pub(crate) const KEY_ADMIN_ACTIONS: [&str; 18] = [
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:PutKeyPolicy",
    "kms:ListKeyPolicies",
    "kms:GetKeyRotationStatus",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:ListGrants",
    "kms:RevokeGrant",
    "kms:ListResourceTags",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:UpdateKeyDescription",
    "kms:UpdateAlias",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
];

/// Placeholder principal in a generated policy when none is given; KMS rejects it, so a policy
/// generated without `--principal` cannot be applied by accident.
pub(crate) const PRINCIPAL_PLACEHOLDER: &str = "REPLACE_WITH_ENCLAVE_ROLE_ARN";
/// Placeholder key administrator in a generated policy when none is given.
pub(crate) const KEY_ADMIN_PLACEHOLDER: &str = "REPLACE_WITH_KEY_ADMIN_ARN";

const IMAGE_SHA384_KEY: &str = "kms:RecipientAttestation:ImageSha384";
const PCR_KEY_PREFIX: &str = "kms:RecipientAttestation:PCR";
const ENCLAVE_SID: &str = "AllowEnclaveCryptoOnlyWithPinnedMeasurements";
const ADMIN_SID: &str = "AllowKeyAdministrationWithoutCryptoUse";

/// Why a key policy could not be generated or checked at all (as opposed to a [`Finding`]).
///
/// # Examples
///
/// ```
/// use enclave_sdk::kms::{generate_key_policy, KmsPolicyError};
/// assert!(matches!(generate_key_policy(&[], None, None), Err(KmsPolicyError::NothingPinned)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KmsPolicyError {
    /// The policy allows no measurement set, so there is nothing to condition the key on.
    #[error("the policy allows no measurement set; a KMS key policy needs at least one")]
    NothingPinned,
    /// A principal given for the generated policy is not an ARN (or `*` is refused).
    #[error("{role} principal {value:?} is not an ARN (expected \"arn:...\")")]
    BadPrincipal {
        /// Which principal: "enclave" or "key-admin".
        role: &'static str,
        /// The value given.
        value: String,
    },
    /// The key policy document is larger than `MAX_KEY_POLICY_LEN`.
    #[error("key policy is {len} bytes; AWS KMS allows at most {max}")]
    TooLarge {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The document is not JSON, or repeats an object key (IAM's handling of duplicates is
    /// unspecified, so a checker must not guess which copy counts).
    #[error("key policy is not valid JSON: {0}")]
    Json(String),
    /// The document is JSON but not a policy the checker can reason about.
    #[error("key policy {at}: {problem}")]
    Malformed {
        /// Where: "document" or the statement.
        at: String,
        /// What is wrong.
        problem: String,
    },
}

/// Which statement a finding is about: its `Sid`, or its 0-based index when it has none.
///
/// # Examples
///
/// ```
/// use enclave_sdk::kms::check_key_policy;
/// use enclave_sdk::MeasurementSet;
/// let sets = vec![format!("0={}", "ab".repeat(48)).parse::<MeasurementSet>()?];
/// // The AWS console's default statement: anyone in the account may decrypt, no attestation asked.
/// let console = r#"{"Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
///     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}"#;
/// let report = check_key_policy(console, &sets)?;
/// assert!(matches!(&report.findings[0].statement, enclave_sdk::kms::StatementRef::Sid(sid) if sid.starts_with("Enable")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementRef {
    /// The statement's `Sid`.
    Sid(String),
    /// The statement's position in `Statement` (0-based).
    Index(usize),
}

impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sid(sid) => write!(f, "statement {sid:?}"),
            Self::Index(i) => write!(f, "statement #{i}"),
        }
    }
}

/// What a statement that grants a guarded action is missing.
///
/// # Examples
///
/// ```
/// use enclave_sdk::kms::check_key_policy;
/// use enclave_sdk::MeasurementSet;
/// let sets = vec![format!("0={}", "ab".repeat(48)).parse::<MeasurementSet>()?];
/// // The AWS console's default statement: anyone in the account may decrypt, no attestation asked.
/// let console = r#"{"Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
///     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}"#;
/// let report = check_key_policy(console, &sets)?;
/// assert_eq!(report.findings[0].problem, enclave_sdk::kms::Problem::NoCondition);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Problem {
    /// The statement has no `Condition` at all: anyone it names may use the key without attestation.
    NoCondition,
    /// No condition requires this PCR of the set.
    PcrNotRequired {
        /// The PCR index.
        #[serde(serialize_with = "pcr_number")]
        index: PcrIndex,
    },
    /// A condition on this PCR allows a value other than the set's (as written).
    ValueNotPinned {
        /// The PCR index.
        #[serde(serialize_with = "pcr_number")]
        index: PcrIndex,
        /// The value the key policy allows.
        value: String,
    },
    /// `...IfExists`: a request with no attestation document (key absent) satisfies the condition.
    IfExists {
        /// The PCR index.
        #[serde(serialize_with = "pcr_number")]
        index: PcrIndex,
        /// The operator as written.
        operator: String,
    },
    /// `ForAllValues:` / `ForAnyValue:` on a single-valued key; `ForAllValues` is true when the key is
    /// absent, and AWS warns set operators on single-valued keys can be overly permissive.
    SetOperator {
        /// The PCR index.
        #[serde(serialize_with = "pcr_number")]
        index: PcrIndex,
        /// The operator as written.
        operator: String,
    },
    /// `StringLike` with `*` or `?`: the value matches more than the pinned measurement.
    Wildcard {
        /// The PCR index.
        #[serde(serialize_with = "pcr_number")]
        index: PcrIndex,
        /// The pattern.
        value: String,
    },
    /// An operator that does not require equality with the pinned value (`StringNotEquals`, which
    /// is true when the key is absent; `Null`; or one this checker does not know).
    WeakOperator {
        /// The PCR index.
        #[serde(serialize_with = "pcr_number")]
        index: PcrIndex,
        /// The operator as written.
        operator: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCondition => write!(f, "has no Condition: no attestation is required"),
            Self::PcrNotRequired { index } => write!(f, "does not require pinned {}", pcr_name(*index)),
            Self::ValueNotPinned { index, value } => {
                write!(f, "allows {} = {value}, which is not the set's value", pcr_name(*index))
            }
            Self::IfExists { index, operator } => {
                write!(f, "uses {operator} on {}: a request without attestation passes", pcr_name(*index))
            }
            Self::SetOperator { index, operator } => write!(
                f,
                "uses set operator {operator} on single-valued {}: a request without attestation can pass",
                pcr_name(*index)
            ),
            Self::Wildcard { index, value } => {
                write!(f, "matches {} against wildcard pattern {value:?}", pcr_name(*index))
            }
            Self::WeakOperator { index, operator } => {
                write!(f, "uses {operator} on {}, which does not require the pinned value", pcr_name(*index))
            }
        }
    }
}

/// One offending statement and one thing it is missing.
///
/// # Examples
///
/// ```
/// use enclave_sdk::kms::check_key_policy;
/// use enclave_sdk::MeasurementSet;
/// let sets = vec![format!("0={}", "ab".repeat(48)).parse::<MeasurementSet>()?];
/// // The AWS console's default statement: anyone in the account may decrypt, no attestation asked.
/// let console = r#"{"Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
///     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}"#;
/// let report = check_key_policy(console, &sets)?;
/// use enclave_sdk::kms::{Problem, StatementRef};
/// let finding = &report.findings[0];
/// assert_eq!(finding.statement, StatementRef::Sid("Enable IAM User Permissions".into()));
/// assert_eq!(finding.problem, Problem::NoCondition);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The statement.
    pub statement: StatementRef,
    /// The guarded actions it allows (canonical names from `GUARDED_ACTIONS`).
    pub actions: Vec<&'static str>,
    /// How it grants them: `"Action"` or `"NotAction"`.
    pub granted_through: &'static str,
    /// With several allowed sets: the set (1-based) the statement came closest to requiring, which
    /// `problem` is measured against. `None` with one set, or when the statement has no condition.
    pub set: Option<usize>,
    /// What it is missing.
    pub problem: Problem,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} allows {} (through {}) but {}",
            self.statement,
            self.actions.join(", "),
            self.granted_through,
            self.problem
        )?;
        match self.set {
            Some(n) => write!(f, " (closest allowed measurement set: {n})"),
            None => Ok(()),
        }
    }
}

/// The outcome of [`check_key_policy`].
///
/// # Examples
///
/// ```
/// use enclave_sdk::kms::check_key_policy;
/// use enclave_sdk::MeasurementSet;
/// let sets = vec![format!("0={}", "ab".repeat(48)).parse::<MeasurementSet>()?];
/// // The AWS console's default statement: anyone in the account may decrypt, no attestation asked.
/// let console = r#"{"Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
///     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}"#;
/// let report = check_key_policy(console, &sets)?;
/// assert_eq!((report.statements, report.granting_statements, report.findings.len()), (1, 1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    /// Statements in the document.
    pub statements: usize,
    /// Allow statements that grant at least one guarded action.
    pub granting_statements: usize,
    /// Everything wrong, in statement order; empty means every granting statement requires one
    /// allowed set.
    pub findings: Vec<Finding>,
}

impl CheckReport {
    /// True when every statement that grants a guarded action requires every PCR of one allowed set.
    ///
    /// # Examples
    ///
    /// ```
    /// use enclave_sdk::kms::check_key_policy;
    /// use enclave_sdk::MeasurementSet;
    /// let sets = vec![format!("0={}", "ab".repeat(48)).parse::<MeasurementSet>()?];
    /// // The AWS console's default statement: anyone in the account may decrypt, no attestation asked.
    /// let console = r#"{"Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
    ///     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}"#;
    /// let report = check_key_policy(console, &sets)?;
    /// assert!(!report.passed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Generates a key policy granting `ENCLAVE_ACTIONS` to `principal` only when the request's
/// attestation document carries every PCR of one allowed set, plus key administration for
/// `key_admin` (`KEY_ADMIN_ACTIONS`, no cryptographic use).
///
/// KMS conditions cannot express "one of these sets" in one statement, so each set gets its own
/// `Allow` statement (Sid `AllowEnclaveCryptoOnlyWithPinnedMeasurements` for one set, with `Set1`,
/// `Set2`, ... appended for several).
///
/// `None` for a principal writes a placeholder (`PRINCIPAL_PLACEHOLDER`, `KEY_ADMIN_PLACEHOLDER`)
/// that AWS KMS will refuse until it is replaced.
///
/// # Errors
/// [`KmsPolicyError::NothingPinned`] when `sets` is empty; [`KmsPolicyError::BadPrincipal`] when a
/// principal is given but is not an ARN.
///
/// # Examples
/// ```
/// use enclave_sdk::kms::{check_key_policy, generate_key_policy};
/// use enclave_sdk::MeasurementSet;
/// let sets: Vec<MeasurementSet> = MeasurementSet::parse_list(&format!("0={};0={}", "ab".repeat(48), "cd".repeat(48)))?;
/// let policy = generate_key_policy(&sets, Some("arn:aws:iam::111122223333:role/enclave"), None)?;
/// assert_eq!(policy["Statement"].as_array().map(Vec::len), Some(3), "one statement per set, and the admin's");
/// let text = serde_json::to_string_pretty(&policy)?;
/// assert!(check_key_policy(&text, &sets)?.passed());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn generate_key_policy(
    sets: &[MeasurementSet],
    principal: Option<&str>,
    key_admin: Option<&str>,
) -> Result<Value, KmsPolicyError> {
    if sets.is_empty() {
        return Err(KmsPolicyError::NothingPinned);
    }
    let principal = checked_principal("enclave", principal, PRINCIPAL_PLACEHOLDER)?;
    let key_admin = checked_principal("key-admin", key_admin, KEY_ADMIN_PLACEHOLDER)?;

    let mut statements = Vec::with_capacity(sets.len().saturating_add(1));
    for (n, set) in sets.iter().enumerate() {
        // KMS developer guide, "Condition keys for Nitro Enclaves": the examples use
        // StringEqualsIgnoreCase, and the values are lowercase hex. One value per key: the set's.
        let mut keys = Map::new();
        for (index, value) in set.iter() {
            keys.insert(condition_key(index), Value::String(value.to_string()));
        }
        let sid =
            if sets.len() == 1 { ENCLAVE_SID.to_owned() } else { format!("{ENCLAVE_SID}Set{}", n.saturating_add(1)) };
        statements.push(json!({
            "Sid": sid,
            "Effect": "Allow",
            "Principal": { "AWS": principal },
            "Action": ENCLAVE_ACTIONS,
            "Resource": "*",
            "Condition": { "StringEqualsIgnoreCase": keys }
        }));
    }
    statements.push(json!({
        "Sid": ADMIN_SID,
        "Effect": "Allow",
        "Principal": { "AWS": key_admin },
        "Action": KEY_ADMIN_ACTIONS,
        "Resource": "*"
    }));
    Ok(json!({
        "Version": "2012-10-17",
        "Id": "enclave-sdk-pinned-measurements",
        "Statement": statements,
    }))
}

/// Checks that every `Allow` statement of `key_policy` that grants a guarded action
/// (`GUARDED_ACTIONS`, directly, through a wildcard, or through `NotAction`) requires every PCR of
/// one allowed set with that set's value.
///
/// A statement requires PCR *n* with value *v* when some condition uses `StringEquals`,
/// `StringEqualsIgnoreCase` or a wildcard-free `StringLike` on `kms:RecipientAttestation:PCR<n>` (or
/// `ImageSha384` for PCR0) and every value it lists is *v* (compared case-insensitively, as hex). A
/// list of several values for one key is not credited: KMS ORs them per key, so with two sets a
/// document could combine one set's PCR0 with the other's PCR2. `Deny` statements grant nothing and
/// are skipped.
///
/// # Errors
/// [`KmsPolicyError`] when the document is too large, not JSON, repeats an object key, or is not
/// shaped like a policy (no `Statement`, a statement with neither `Action` nor `NotAction`, ...), and
/// [`KmsPolicyError::NothingPinned`] when `sets` is empty. Offending statements are not errors: they
/// are the report's [`Finding`]s.
///
/// # Examples
///
/// ```
/// use enclave_sdk::kms::check_key_policy;
/// use enclave_sdk::MeasurementSet;
/// let sets = vec![format!("0={}", "ab".repeat(48)).parse::<MeasurementSet>()?];
/// // The AWS console's default statement: anyone in the account may decrypt, no attestation asked.
/// let console = r#"{"Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
///     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}"#;
/// let report = check_key_policy(console, &sets)?;
/// assert!(!report.passed());
/// println!("{}", report.findings[0]); // names the statement and what it lacks
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_key_policy(key_policy: &str, sets: &[MeasurementSet]) -> Result<CheckReport, KmsPolicyError> {
    if sets.is_empty() {
        return Err(KmsPolicyError::NothingPinned);
    }
    if key_policy.len() > MAX_KEY_POLICY_LEN {
        return Err(KmsPolicyError::TooLarge { len: key_policy.len(), max: MAX_KEY_POLICY_LEN });
    }
    let document = parse_strict_json(key_policy)?;
    let statements = match document.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
        Some(single @ Value::Object(_)) => vec![single],
        Some(_) => return Err(malformed("document", "Statement is neither an object nor a list")),
        None => return Err(malformed("document", "no Statement")),
    };

    let mut report = CheckReport { statements: statements.len(), granting_statements: 0, findings: Vec::new() };
    for (index, statement) in statements.into_iter().enumerate() {
        let findings = check_statement(index, statement, sets)?;
        if let Some(findings) = findings {
            report.granting_statements += 1;
            report.findings.extend(findings);
        }
    }
    Ok(report)
}

/// `Ok(None)` when the statement grants no guarded action; otherwise its findings (maybe none).
fn check_statement(
    index: usize,
    statement: &Value,
    sets: &[MeasurementSet],
) -> Result<Option<Vec<Finding>>, KmsPolicyError> {
    let Value::Object(statement) = statement else {
        return Err(malformed(&format!("statement #{index}"), "is not an object"));
    };
    let reference = match statement.get("Sid") {
        Some(Value::String(sid)) if !sid.is_empty() => StatementRef::Sid(sid.clone()),
        _ => StatementRef::Index(index),
    };
    let at = reference.to_string();

    // Only an explicit Deny grants nothing. Anything else (a misspelt Effect is refused by KMS, but
    // this checker is not KMS) is treated as Allow, so a check never passes on a typo.
    if statement.get("Effect") == Some(&Value::String("Deny".to_owned())) {
        return Ok(None);
    }

    let (patterns, granted_through) = match (statement.get("Action"), statement.get("NotAction")) {
        (Some(a), None) => {
            (string_list(a).ok_or_else(|| malformed(&at, "Action is not a string or list of strings"))?, "Action")
        }
        (None, Some(n)) => {
            (string_list(n).ok_or_else(|| malformed(&at, "NotAction is not a string or list of strings"))?, "NotAction")
        }
        (Some(_), Some(_)) => return Err(malformed(&at, "has both Action and NotAction")),
        (None, None) => return Err(malformed(&at, "has neither Action nor NotAction")),
    };
    let actions: Vec<&'static str> = GUARDED_ACTIONS
        .iter()
        .copied()
        .filter(|action| {
            let listed = patterns.iter().any(|p| action_matches(p, action));
            // IAM "NotAction": with Allow, every action NOT listed is allowed.
            if granted_through == "NotAction" {
                !listed
            } else {
                listed
            }
        })
        .collect();
    if actions.is_empty() {
        return Ok(None);
    }

    let finding = |set, problem| Finding {
        statement: reference.clone(),
        actions: actions.clone(),
        granted_through,
        set,
        problem,
    };
    let conditions = match statement.get("Condition") {
        None => return Ok(Some(vec![finding(None, Problem::NoCondition)])),
        Some(Value::Object(c)) if c.is_empty() => return Ok(Some(vec![finding(None, Problem::NoCondition)])),
        Some(Value::Object(c)) => c,
        Some(_) => return Err(malformed(&at, "Condition is not an object")),
    };

    // The statement is guarded when it requires one set entirely; otherwise report what it lacks
    // against the set it came closest to (fewest problems; the first of equals).
    let mut closest: Option<(usize, Vec<Problem>)> = None;
    for (n, set) in sets.iter().enumerate() {
        let mut problems = Vec::new();
        for (pcr, value) in set.iter() {
            if let Some(problem) = pcr_problem(pcr, value, conditions, &at)? {
                problems.push(problem);
            }
        }
        if problems.is_empty() {
            return Ok(Some(Vec::new()));
        }
        if closest.as_ref().is_none_or(|(_, best)| problems.len() < best.len()) {
            closest = Some((n, problems));
        }
    }
    let (n, problems) = closest.unwrap_or_default();
    let set = (sets.len() > 1).then(|| n.saturating_add(1));
    Ok(Some(problems.into_iter().map(|p| finding(set, p)).collect()))
}

/// `None` when some condition entry requires `pcr` to be exactly `expected`; otherwise the most telling
/// reason none does (the first offending entry, or "not required" when no entry names the PCR).
fn pcr_problem(
    pcr: PcrIndex,
    expected: &PcrValue,
    conditions: &Map<String, Value>,
    at: &str,
) -> Result<Option<Problem>, KmsPolicyError> {
    let mut first_problem = None;
    for (operator, keys) in conditions {
        let Value::Object(keys) = keys else {
            return Err(malformed(at, &format!("condition operator {operator} does not map keys to values")));
        };
        for (key, values) in keys {
            if key_pcr(key) != Some(pcr) {
                continue;
            }
            let values =
                string_list(values).ok_or_else(|| malformed(at, &format!("values of {key} are not strings")))?;
            match entry_problem(pcr, operator, &values, expected) {
                None => return Ok(None),
                Some(problem) => {
                    first_problem.get_or_insert(problem);
                }
            }
        }
    }
    Ok(Some(first_problem.unwrap_or(Problem::PcrNotRequired { index: pcr })))
}

/// Judges one `operator: { key: values }` entry on the key for `pcr`.
fn entry_problem(pcr: PcrIndex, operator: &str, values: &[&str], expected: &PcrValue) -> Option<Problem> {
    let index = pcr;
    // IAM "Single-valued vs. multivalued context keys": ForAllValues is true when the key is absent,
    // and set operators on single-valued keys (these are) may be overly permissive.
    if operator.contains(':') {
        return Some(Problem::SetOperator { index, operator: operator.to_owned() });
    }
    // IAM "Condition operators": ...IfExists evaluates to true when the key is absent, i.e. for a
    // request that carries no attestation document.
    if operator.ends_with("IfExists") {
        return Some(Problem::IfExists { index, operator: operator.to_owned() });
    }
    // Operator names are matched exactly: an unknown spelling is not credited with requiring anything.
    let wildcards_allowed = match operator {
        "StringEquals" | "StringEqualsIgnoreCase" => false,
        "StringLike" => true,
        _ => return Some(Problem::WeakOperator { index, operator: operator.to_owned() }),
    };
    if values.is_empty() {
        return Some(Problem::PcrNotRequired { index });
    }
    for value in values {
        if wildcards_allowed && (value.contains('*') || value.contains('?')) {
            return Some(Problem::Wildcard { index, value: (*value).to_owned() });
        }
        let pinned = value.parse::<PcrValue>().is_ok_and(|v| v == *expected);
        if !pinned {
            return Some(Problem::ValueNotPinned { index, value: (*value).to_owned() });
        }
    }
    None
}

/// The PCR a condition key names, if it is one of the Nitro Enclaves attestation keys.
/// IAM "Condition": condition key names are case insensitive.
fn key_pcr(key: &str) -> Option<PcrIndex> {
    let lower = key.to_ascii_lowercase();
    if lower == IMAGE_SHA384_KEY.to_ascii_lowercase() {
        return Some(PcrIndex::IMAGE);
    }
    // "PCR01" is not "PCR1": PcrIndex parses only the canonical decimal spelling.
    lower.strip_prefix(&PCR_KEY_PREFIX.to_ascii_lowercase())?.parse().ok()
}

/// JSON reports carry a PCR index as its number, as they did before the index had a type.
fn pcr_number<S: serde::Serializer>(index: &PcrIndex, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u8(index.get())
}

fn condition_key(index: PcrIndex) -> String {
    if index == PcrIndex::IMAGE {
        IMAGE_SHA384_KEY.to_owned()
    } else {
        format!("{PCR_KEY_PREFIX}{}", index.get())
    }
}

fn pcr_name(index: PcrIndex) -> String {
    format!("{index} ({})", condition_key(index))
}

/// IAM "Action": prefix and name are case insensitive; `*` matches any run of characters and `?`
/// exactly one.
fn action_matches(pattern: &str, action: &str) -> bool {
    glob_match(pattern.to_ascii_lowercase().as_bytes(), action.to_ascii_lowercase().as_bytes())
}

/// Iterative wildcard match with single-star backtracking: linear in practice, never recursive.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern.get(p..).is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

fn string_list(value: &Value) -> Option<Vec<&str>> {
    match value {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(items) => items.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

fn checked_principal<'a>(
    role: &'static str,
    given: Option<&'a str>,
    placeholder: &'a str,
) -> Result<&'a str, KmsPolicyError> {
    match given {
        None => Ok(placeholder),
        Some(arn) if arn.starts_with("arn:") && arn.len() <= 2048 && !arn.contains('*') => Ok(arn),
        Some(other) => Err(KmsPolicyError::BadPrincipal { role, value: other.to_owned() }),
    }
}

fn malformed(at: &str, problem: &str) -> KmsPolicyError {
    KmsPolicyError::Malformed { at: at.to_owned(), problem: problem.to_owned() }
}

/// Parses JSON, refusing any object that repeats a key (serde_json would silently keep the last).
fn parse_strict_json(text: &str) -> Result<Value, KmsPolicyError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value =
        <StrictValue as serde::Deserialize>::deserialize(&mut de).map_err(|e| KmsPolicyError::Json(e.to_string()))?;
    de.end().map_err(|e| KmsPolicyError::Json(e.to_string()))?;
    Ok(value.0)
}

struct StrictValue(Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut seen = BTreeSet::new();
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let StrictValue(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests;
