//! AWS KMS key policies conditioned on the pinned measurements: generate one, check one.
//!
//! A tool for the `enclave kms-policy` command and for operators, not what an application links
//! (hence a crate of its own beside `enclave-sdk`).
//!
//! What comes in: the caller's own [`Policy`] (trusted), whose measurement sets (one
//! [`MeasurementSet`] per release, [`Policy::measurement_sets`]) the key policy must require, and
//! which must identify the image by the SDK's one rule, [`Policy::require_image_pinned`], applied here
//! without the waiver a policy may carry; the principals the caller trusts to administer the key ([`KeyAdmin`]), and, for
//! [`check_key_policy`], a key policy document (untrusted JSON, bounded to [`MAX_KEY_POLICY_LEN`]
//! bytes, duplicate object keys rejected). What goes out: a key policy as JSON with a plain-text
//! account of what it allows ([`generate_key_policy`]), or a [`CheckReport`].
//!
//! The checker makes two decisions, each in one place:
//! - **Cryptographic use requires the pins** (`check_guarded`). Every statement that allows an action
//!   of [`GUARDED_ACTIONS`] must either require every PCR of one allowed set by its own conditions, or
//!   be covered by `Deny` statements that, evaluated with their conditions, deny every request that
//!   does not match every PCR of one allowed set (a mixture of two sets included). Anything else is a
//!   [`Finding`] naming the statement, the actions and what is missing.
//! - **Whoever can take the key out of the attestation's control is named** (`check_key_control`).
//!   Every principal that a statement lets call an action of [`KEY_CONTROL_ACTIONS`] (rewrite the key
//!   policy, replicate the key, move its primary Region, import key material) is listed in
//!   [`CheckReport::key_control`], and is a finding unless the caller named it as a [`KeyAdmin`].
//!
//! KMS conditions are per key: the values listed for one key are ORed, and keys are ANDed, so one
//! statement cannot say "one of these sets". A generated policy therefore has one statement per
//! allowed set, and the checker credits an `Allow` statement's own conditions only when they require
//! every PCR of one set with that set's value alone (a list of values for one PCR could let a document
//! mix two releases). A `Deny` guard is judged as a whole instead: several Deny statements together
//! can express "one of these sets", and the checker searches for a request they let through.
//!
//! What this module does not decide: whether the enclave principal is the right one; what IAM
//! identity policies, existing grants, SCPs, RCPs or VPC endpoint policies allow; what other keys'
//! policies allow (a multi-Region replica's own policy, the key an alias is moved to, the new primary
//! after `UpdatePrimaryRegion`); who holds the key material of a key with `EXTERNAL` origin or in a
//! custom key store (they have the key whatever the policy says); and whether the pinned values are
//! themselves trustworthy. It reads one key policy document, statically, and where it cannot tell it
//! reports: conditions on a key-control statement other than an attestation condition those requests
//! can never meet are not credited (a condition on `aws:PrincipalArn` or MFA still leaves the
//! principal reported); a Deny is relied on only when it names everyone or every principal of the
//! statement it guards exactly, applies to `"Resource": "*"`, and conditions only on the attestation
//! keys of pinned PCRs; and a statement's own conditions are not combined with a Deny guard (each
//! must suffice alone).
//!
//! # The IAM and KMS rules the checker relies on
//!
//! Each rule is cited again next to the code that depends on it:
//! - AWS KMS developer guide, "Condition keys for Nitro Enclaves"
//!   (<https://docs.aws.amazon.com/kms/latest/developerguide/conditions-nitro-enclave.html>):
//!   `kms:RecipientAttestation:ImageSha384` (PCR0) and `kms:RecipientAttestation:PCR<n>` are
//!   single-valued string keys that control `Decrypt`, `DeriveSharedSecret`, `GenerateDataKey`,
//!   `GenerateDataKeyPair` and `GenerateRandom`. When the request carries no attestation document the
//!   keys are absent, so a plain `StringEquals*` condition on them is not met and permission is denied.
//!   No other operation takes an attestation document, so for every other action the keys are absent.
//! - IAM user guide, "Condition operators"
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>):
//!   a key absent from the request makes a condition false, except for `...IfExists` (absent key:
//!   true) and `Null`, and except negated operators such as `StringNotEquals` (absent key: true).
//! - IAM user guide, "Conditions with multiple context keys or values"
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html>):
//!   operators are ANDed with each other, keys inside one operator are ANDed, the values listed for one
//!   key are ORed, and NORed for a negated operator. So one Deny with `StringNotEquals` on three PCRs
//!   fires only when all three differ, and does not require any of them.
//! - IAM user guide, "Single-valued vs. multivalued context keys"
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>):
//!   `ForAllValues:` returns true when the key is absent, and set operators must not be used with
//!   single-valued keys because that can make a policy overly permissive.
//! - IAM user guide, "Action" and "NotAction"
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html>,
//!   `reference_policies_elements_notaction.html`): the service prefix and action name are case
//!   insensitive, `*` / `?` match any run of characters / one character, and `NotAction` matches every
//!   action not listed (with `Allow` it allows them, with `Deny` it denies them).
//! - IAM user guide, "Policy evaluation logic"
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>): an
//!   explicit Deny that applies overrides every Allow.
//! - IAM user guide, "Principal" (see `principal.rs`): account, role and `*` forms.
//! - IAM user guide, "Condition" (`reference_policies_elements_condition.html`): condition key names
//!   are case insensitive.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

use enclave_protocol::{MeasurementSet, PcrIndex, PcrValue};
use enclave_sdk::attestation::{Policy, PolicyError};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::fmt;

mod condition;
mod principal;

use condition::{deny_guard, entries, unusable_entry, Entry, Guard, Truth, GUARD_SEARCH_BUDGET};
pub use condition::{Observed, UnguardedRequest};
use principal::{deny_names, statement_principals};
pub use principal::{KeyAdmin, NamedPrincipal, Principal};

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
/// fails closed (those requests carry no attestation), so the same rule covers them. `CreateGrant` is
/// guarded rather than left to named administrators: a grant outlives the policy check, and
/// administering a key does not need one.
pub const GUARDED_ACTIONS: [&str; 7] = [
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyPair",
    "kms:GenerateRandom",
    "kms:DeriveSharedSecret",
    "kms:ReEncryptFrom",
    "kms:CreateGrant",
];

/// The actions that take the key out of the attestation's control, which only named key
/// administrators may hold (they are then as trusted as the enclave).
///
/// From the KMS API reference:
/// - `PutKeyPolicy` replaces this policy: the caller can grant itself `Decrypt` without conditions.
/// - `ReplicateKey` creates a multi-Region replica with the same key material under a key policy the
///   caller passes in the request (API reference, "ReplicateKey": all properties of a replica other
///   than the shared ones, its key policy included, can differ), and the replica decrypts this key's
///   ciphertexts with no attestation.
/// - `UpdatePrimaryRegion` makes a replica the primary key (API reference, "UpdatePrimaryRegion": the
///   primary is the only key that can be replicated), so who may replicate is then decided by
///   another key's policy, which this document does not constrain.
/// - `ImportKeyMaterial` puts key material into a key with `EXTERNAL` origin; with on-demand rotation
///   it can be new material (API reference, "ImportKeyMaterial": `ImportType` `NEW_KEY_MATERIAL`),
///   which the importer knows, so later ciphertexts are readable outside KMS and its attestation.
///
/// Deliberately absent: `CreateGrant` (in [`GUARDED_ACTIONS`]: nobody may hold it without the pins);
/// `ScheduleKeyDeletion`, `DisableKey` and `DeleteImportedKeyMaterial`, which make the key unusable
/// (availability, not confidentiality: re-importing after a deletion needs the same material, which
/// `ImportKeyMaterial` covers); `GetParametersForImport`, which only prepares an import;
/// `RotateKeyOnDemand`, which rotates to material KMS generates or that was already imported; and
/// `UpdateAlias`, which moves an alias to another key (clients that encrypt by alias are then
/// redirected, but this key is not released; the generated policy's account of its admin statement
/// says so).
pub const KEY_CONTROL_ACTIONS: [&str; 4] =
    ["kms:PutKeyPolicy", "kms:ReplicateKey", "kms:UpdatePrimaryRegion", "kms:ImportKeyMaterial"];

/// Key administration without cryptographic use. Deliberately absent: every action in
/// [`GUARDED_ACTIONS`] (notably `CreateGrant`, which the AWS console's default admin statement grants
/// through `kms:Create*`), `Encrypt`, `ReEncrypt*`, and every action of [`KEY_CONTROL_ACTIONS`] except
/// `PutKeyPolicy`. `PutKeyPolicy` remains: whoever administers the key can rewrite this policy, which
/// is what administering a key means, so the administrators are as trusted as the enclave and
/// `check_key_policy` requires them to be named.
pub const KEY_ADMIN_ACTIONS: [&str; 18] = [
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

/// What each [`KEY_ADMIN_ACTIONS`] entry lets an administrator do, for the generated policy's account
/// of itself. Every admin action appears in exactly one line (a test holds this).
const ADMIN_EFFECTS: [(&[&str], &str); 6] = [
    (
        &["kms:PutKeyPolicy"],
        "an administrator can replace this key policy, for example with one that lets any principal call \
         kms:Decrypt without attestation, and so release the key, and every ciphertext and data key under it, \
         without attestation. AWS KMS puts no attestation condition on PutKeyPolicy. Key administrators are \
         therefore as trusted as the enclave; `enclave kms-policy check --key-admin ARN` names them.",
    ),
    (
        &["kms:UpdateAlias"],
        "an administrator can point an alias that names this key at another key (one the administrator may \
         also use); clients that encrypt through the alias then encrypt under that key. This key is not \
         released, but data encrypted by alias afterwards may be.",
    ),
    (
        &["kms:DisableKey", "kms:ScheduleKeyDeletion", "kms:RevokeGrant", "kms:EnableKey", "kms:CancelKeyDeletion"],
        "an administrator can make the key unusable, or have it deleted after the waiting period, and with it \
         every ciphertext under it, or undo that (availability, not confidentiality).",
    ),
    (
        &["kms:EnableKeyRotation", "kms:DisableKeyRotation"],
        "AWS KMS generates the new key material on rotation, and no one sees it.",
    ),
    (
        &["kms:TagResource", "kms:UntagResource", "kms:UpdateKeyDescription"],
        "metadata: this policy grants nothing by tag or description, so changing them lets no one use the key.",
    ),
    (
        &[
            "kms:DescribeKey",
            "kms:GetKeyPolicy",
            "kms:GetKeyRotationStatus",
            "kms:ListGrants",
            "kms:ListKeyPolicies",
            "kms:ListResourceTags",
        ],
        "read-only.",
    ),
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
/// use enclave_kms::{generate_key_policy, KmsPolicyError};
/// use enclave_sdk::attestation::Policy;
/// // The waiver lets a verifier accept any enclave; it does not carry over to a key policy.
/// let any = Policy::builder().dangerous_accept_any_enclave().build()?;
/// assert!(matches!(generate_key_policy(&any, None, &[]), Err(KmsPolicyError::ImageNotPinned(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KmsPolicyError {
    /// The measurement sets do not identify the enclave image (the rule of
    /// [`PolicyError::ImageNotPinned`], which a key policy cannot waive: whoever meets its conditions gets
    /// the key's plaintexts, so `accept_any_enclave` in a policy file does not carry over).
    #[error("a KMS key policy must condition the key on the enclave image: {0}")]
    ImageNotPinned(PolicyError),
    /// The enclave principal given for the generated policy is not an ARN (or `*` is refused).
    #[error("{role} principal {value:?} is not an ARN (expected \"arn:...\")")]
    BadPrincipal {
        /// Which principal: "enclave".
        role: &'static str,
        /// The value given.
        value: String,
    },
    /// A key administrator is not an account or an IAM role, user or session ARN.
    #[error(
        "key administrator {value:?} is not an account id, an account's :root ARN, or an IAM role, user or STS \
         session ARN (\"*\" and wildcards can never be named administrators)"
    )]
    BadKeyAdmin {
        /// The value given.
        value: String,
    },
    /// The key policy document is larger than [`MAX_KEY_POLICY_LEN`].
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
/// use enclave_kms::check_key_policy;
/// use enclave_sdk::attestation::Policy;
/// let pins = Policy::builder().allow_measurements(format!("0={}", "ab".repeat(48)).parse()?).build()?;
/// // The AWS console's default statement: anyone in the account may decrypt, no attestation asked.
/// let console = r#"{"Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
///     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}"#;
/// let report = check_key_policy(console, &pins, &[])?;
/// assert!(matches!(&report.findings[0].statement, enclave_kms::StatementRef::Sid(sid) if sid.starts_with("Enable")));
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

/// What a statement that grants a guarded or key-control action is missing.
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
    /// There are `Deny` statements on these actions that test the attestation, but together they let
    /// `request` through, which matches no allowed set (or mixes two). `not_counted` lists the Deny
    /// statements the checker could not rely on, and why.
    DenyGuardLetsThrough {
        /// A request the Deny statements do not stop.
        request: UnguardedRequest,
        /// Deny statements on these actions that were not relied on.
        not_counted: Vec<NotCountedDeny>,
    },
    /// The checker spent its search budget without deciding whether the Deny statements confine
    /// requests to the allowed sets; they are not relied on.
    DenyGuardUndecided {
        /// The budget, in search steps, shared by the whole check.
        limit: usize,
        /// Deny statements on these actions that were not relied on.
        not_counted: Vec<NotCountedDeny>,
    },
    /// The statement lets `principal` call key-control actions ([`KEY_CONTROL_ACTIONS`]), and it is not
    /// a named key administrator.
    KeyControl {
        /// The principal, as written.
        principal: Principal,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCondition => write!(f, "has no Condition: no attestation is required"),
            Self::PcrNotRequired { index } => write!(f, "does not require pinned {}", pcr_name(*index)),
            Self::ValueNotPinned { index, value } => {
                write!(f, "allows {} = {value:?}, which is not the set's value", pcr_name(*index))
            }
            Self::IfExists { index, operator } => {
                write!(f, "uses {operator:?} on {}: a request without attestation passes", pcr_name(*index))
            }
            Self::SetOperator { index, operator } => write!(
                f,
                "uses set operator {operator:?} on single-valued {}: a request without attestation can pass",
                pcr_name(*index)
            ),
            Self::Wildcard { index, value } => {
                write!(f, "matches {} against wildcard pattern {value:?}", pcr_name(*index))
            }
            Self::WeakOperator { index, operator } => {
                write!(f, "uses {operator:?} on {}, which does not require the pinned value", pcr_name(*index))
            }
            Self::DenyGuardLetsThrough { request, not_counted } => {
                write!(f, "the Deny statements on these actions let through {request}, which matches no allowed set")?;
                write_not_counted(f, not_counted)
            }
            Self::DenyGuardUndecided { limit, not_counted } => {
                write!(
                    f,
                    "the checker could not show within {limit} search steps that the Deny statements on these \
                     actions deny every request outside the allowed sets"
                )?;
                write_not_counted(f, not_counted)
            }
            Self::KeyControl { principal } => write!(f, "{principal} is not a named key administrator"),
        }
    }
}

fn write_not_counted(f: &mut fmt::Formatter<'_>, not_counted: &[NotCountedDeny]) -> fmt::Result {
    for (i, deny) in not_counted.iter().enumerate() {
        f.write_str(if i == 0 { " (not counted: " } else { "; " })?;
        write!(f, "{}: {}", deny.statement, deny.reason)?;
    }
    if not_counted.is_empty() {
        Ok(())
    } else {
        f.write_str(")")
    }
}

/// A `Deny` statement that tests the attestation and applies to a guarded action, but that the checker
/// does not rely on for a given statement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct NotCountedDeny {
    /// The Deny statement.
    pub statement: StatementRef,
    /// Why it is not relied on.
    pub reason: DenyNotCounted,
}

/// Why a `Deny` statement is not relied on as a guard.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DenyNotCounted {
    /// It names neither everyone nor every principal of the statement it would guard, so some of
    /// them are not denied.
    Principals,
    /// It uses `NotPrincipal`, which the checker does not evaluate.
    NotPrincipal,
    /// Its `Resource` is not `"*"` (or it uses `NotResource`): the checker cannot tell it covers this key.
    Resource,
    /// One of its conditions is one a request can fail whatever attestation it carries (a key other
    /// than a pinned PCR's attestation key, or an operator the checker does not model), which exempts
    /// that request from the Deny.
    Condition {
        /// The operator, as written.
        operator: String,
        /// The condition key, as written.
        key: String,
    },
}

impl fmt::Display for DenyNotCounted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Principals => f.write_str("names neither \"*\" nor every principal of this statement"),
            Self::NotPrincipal => f.write_str("uses NotPrincipal"),
            Self::Resource => f.write_str("Resource is not \"*\""),
            Self::Condition { operator, key } => {
                write!(f, "a request can escape it through its condition {operator:?} on {key:?}")
            }
        }
    }
}

/// One offending statement and one thing it is missing.
///
/// # Examples
///
/// ```
/// use enclave_kms::check_key_policy;
/// use enclave_sdk::attestation::Policy;
/// let pins = Policy::builder().allow_measurements(format!("0={}", "ab".repeat(48)).parse()?).build()?;
/// // The AWS console's default statement: anyone in the account may decrypt, no attestation asked.
/// let console = r#"{"Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
///     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}"#;
/// let report = check_key_policy(console, &pins, &[])?;
/// use enclave_kms::{Problem, StatementRef};
/// let finding = &report.findings[0];
/// assert_eq!(finding.statement, StatementRef::Sid("Enable IAM User Permissions".into()));
/// assert_eq!(finding.problem, Problem::NoCondition);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// The statement.
    pub statement: StatementRef,
    /// The actions concerned (canonical names from [`GUARDED_ACTIONS`] or [`KEY_CONTROL_ACTIONS`]).
    pub actions: Vec<&'static str>,
    /// How it grants them: `"Action"` or `"NotAction"`.
    pub granted_through: &'static str,
    /// With several allowed sets: the set (1-based) the statement came closest to requiring, which
    /// `problem` is measured against. `None` with one set, or when the problem is not about one PCR.
    pub set: Option<usize>,
    /// What it is missing.
    pub problem: Problem,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Problem::KeyControl { principal } = &self.problem {
            return write!(
                f,
                "{} lets {principal} call {} (through {}), and it is not a named key administrator (--key-admin): \
                 whoever can rewrite the key policy, replicate the key, move its primary Region or import its key \
                 material can release it without attestation",
                self.statement,
                self.actions.join(", "),
                self.granted_through
            );
        }
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

/// A principal that a statement lets take the key out of the attestation's control.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct KeyControlGrant {
    /// The statement.
    pub statement: StatementRef,
    /// The principal, as written.
    pub principal: Principal,
    /// The key-control actions it may call (canonical names from [`KEY_CONTROL_ACTIONS`]).
    pub actions: Vec<&'static str>,
    /// How they are granted: `"Action"` or `"NotAction"`.
    pub granted_through: &'static str,
    /// Whether the caller named it as a key administrator.
    pub admitted: bool,
}

impl fmt::Display for KeyControlGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} may call {} (through {}): {}",
            self.statement,
            self.principal,
            self.actions.join(", "),
            self.granted_through,
            if self.admitted { "a named key administrator" } else { "NOT a named key administrator" }
        )
    }
}

/// The outcome of [`check_key_policy`].
///
/// # Examples
///
/// ```
/// use enclave_kms::check_key_policy;
/// use enclave_sdk::attestation::Policy;
/// let pins = Policy::builder().allow_measurements(format!("0={}", "ab".repeat(48)).parse()?).build()?;
/// // The AWS console's default statement: anyone in the account may decrypt, no attestation asked.
/// let console = r#"{"Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
///     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}"#;
/// let report = check_key_policy(console, &pins, &[])?;
/// // Two findings: decryption without attestation, and key control (kms:PutKeyPolicy) by an unnamed admin.
/// assert_eq!((report.statements, report.granting_statements, report.findings.len()), (1, 1, 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct CheckReport {
    /// Statements in the document.
    pub statements: usize,
    /// Allow statements that grant at least one guarded action.
    pub granting_statements: usize,
    /// Everything wrong, in statement order (within a statement: cryptographic use first, then key
    /// control); empty means the check passed.
    pub findings: Vec<Finding>,
    /// Every principal that can take the key out of the attestation's control, by statement, named
    /// administrators included: these are as trusted as the enclave.
    pub key_control: Vec<KeyControlGrant>,
}

impl CheckReport {
    /// True when every statement that grants a guarded action requires every PCR of one allowed set
    /// (by its own conditions or through Deny statements), and every principal with key control is a
    /// named key administrator.
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }
}

/// A generated key policy and its account of what it allows.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GeneratedKeyPolicy {
    document: Value,
    readme: String,
}

impl GeneratedKeyPolicy {
    /// The key policy document, for `aws kms put-key-policy`.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The document, by value.
    pub fn into_document(self) -> Value {
        self.document
    }

    /// What the policy allows, statement by statement, in plain text: in particular, what its key
    /// administration statement still allows.
    pub fn readme(&self) -> &str {
        &self.readme
    }
}

/// Generates a key policy granting [`ENCLAVE_ACTIONS`] to `principal` only when the request's
/// attestation document carries every PCR of one allowed set, plus key administration for
/// `key_admins` ([`KEY_ADMIN_ACTIONS`], no cryptographic use), and an account of what it allows.
///
/// KMS conditions cannot express "one of these sets" in one statement, so each set gets its own
/// `Allow` statement (Sid `AllowEnclaveCryptoOnlyWithPinnedMeasurements` for one set, with `Set1`,
/// `Set2`, ... appended for several).
///
/// `None` for the principal, or no administrators, writes a placeholder ([`PRINCIPAL_PLACEHOLDER`],
/// [`KEY_ADMIN_PLACEHOLDER`]) that AWS KMS will refuse until it is replaced.
///
/// # Errors
/// [`KmsPolicyError::ImageNotPinned`] when `pins` do not identify the image ([`Policy::require_image_pinned`],
/// which no waiver in `pins` relaxes); [`KmsPolicyError::BadPrincipal`] when the principal is given but is not
/// an ARN.
///
/// # Examples
/// ```
/// use enclave_kms::{check_key_policy, generate_key_policy, KeyAdmin};
/// use enclave_sdk::attestation::Policy;
/// // Two releases (a rolling deploy), as a policy file's two [[pcrs]] tables would give them.
/// let pins = Policy::builder()
///     .allow_measurements(format!("0={}", "ab".repeat(48)).parse()?)
///     .allow_measurements(format!("0={}", "cd".repeat(48)).parse()?)
///     .build()?;
/// let admins: Vec<KeyAdmin> = vec!["arn:aws:iam::111122223333:role/key-admin".parse()?];
/// let policy = generate_key_policy(&pins, Some("arn:aws:iam::111122223333:role/enclave"), &admins)?;
/// let statements = policy.document()["Statement"].as_array().map(Vec::len);
/// assert_eq!(statements, Some(3), "one statement per set, and the admin's");
/// assert!(policy.readme().contains("kms:PutKeyPolicy: an administrator can replace this key policy"));
///
/// let text = serde_json::to_string_pretty(policy.document())?;
/// assert!(check_key_policy(&text, &pins, &admins)?.passed());
/// // The administrator can rewrite the policy: unless named, that is a finding.
/// assert!(!check_key_policy(&text, &pins, &[])?.passed());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn generate_key_policy(
    pins: &Policy,
    principal: Option<&str>,
    key_admins: &[KeyAdmin],
) -> Result<GeneratedKeyPolicy, KmsPolicyError> {
    // The SDK's rule, never waived here: whoever meets the conditions gets the key's plaintexts.
    pins.require_image_pinned().map_err(KmsPolicyError::ImageNotPinned)?;
    let sets = pins.measurement_sets();
    let principal = checked_principal("enclave", principal, PRINCIPAL_PLACEHOLDER)?;
    let mut admins: Vec<&str> = Vec::new();
    for admin in key_admins {
        if !admins.contains(&admin.as_str()) {
            admins.push(admin.as_str());
        }
    }
    let admin_principal = match admins.as_slice() {
        [] => json!(KEY_ADMIN_PLACEHOLDER),
        [one] => json!(one),
        several => json!(several),
    };

    let mut statements = Vec::with_capacity(sets.len().saturating_add(1));
    let mut sids = Vec::with_capacity(sets.len());
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
        sids.push(sid);
    }
    statements.push(json!({
        "Sid": ADMIN_SID,
        "Effect": "Allow",
        "Principal": { "AWS": admin_principal },
        "Action": KEY_ADMIN_ACTIONS,
        "Resource": "*"
    }));
    let document = json!({
        "Version": "2012-10-17",
        "Id": "enclave-sdk-pinned-measurements",
        "Statement": statements,
    });
    let readme = readme(sets, &sids, principal, &admins, key_admins.iter().any(KeyAdmin::is_account));
    Ok(GeneratedKeyPolicy { document, readme })
}

/// The plain-text account of a generated policy.
fn readme(sets: &[MeasurementSet], sids: &[String], principal: &str, admins: &[&str], account_admin: bool) -> String {
    use fmt::Write as _;
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(out, "What this key policy allows (written by `enclave kms-policy generate`)");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Enclave use. {principal} may call {} only with an attestation document (the Recipient parameter) that \
         carries every PCR of one allowed measurement set with that set's value, one statement per set:",
        ENCLAVE_ACTIONS.join(", ")
    );
    for (sid, set) in sids.iter().zip(sets) {
        let pcrs: Vec<String> = set.indices().map(|i| i.to_string()).collect();
        let _ = writeln!(out, "  {sid}: {}", pcrs.join(", "));
    }
    let _ = writeln!(
        out,
        "AWS KMS encrypts what these calls return to the public key in that document, so only the attested enclave \
         can read it; a call without a document, or with another image's, is denied."
    );
    if sets.len() > 1 {
        let _ = writeln!(
            out,
            "KMS conditions are per key and cannot say \"one of these sets\", hence one statement per set; a document \
             that mixes two sets' values matches none of them."
        );
    }
    let _ = writeln!(out);
    let admin_text = if admins.is_empty() { KEY_ADMIN_PLACEHOLDER.to_owned() } else { admins.join(", ") };
    let _ = writeln!(
        out,
        "Key administration ({ADMIN_SID}). {admin_text} may call {}. This statement grants no cryptographic use of \
         the key, and none of kms:CreateGrant, kms:ReEncrypt*, kms:ReplicateKey, kms:UpdatePrimaryRegion or \
         kms:ImportKeyMaterial. What it still allows:",
        KEY_ADMIN_ACTIONS.join(", ")
    );
    for (actions, effect) in ADMIN_EFFECTS {
        let _ = writeln!(out, "  - {}: {effect}", actions.join(", "));
    }
    if account_admin {
        let _ = writeln!(
            out,
            "An administrator given as an account (its id or its :root ARN) is every identity in that account whose \
             IAM policies allow these actions, not only the account's root user."
        );
    }
    if principal == PRINCIPAL_PLACEHOLDER || admins.is_empty() {
        let _ = writeln!(
            out,
            "\nThe policy still has placeholders ({PRINCIPAL_PLACEHOLDER} / {KEY_ADMIN_PLACEHOLDER}); AWS KMS refuses \
             it until they are replaced (--principal, --key-admin)."
        );
    }
    let _ = writeln!(out);
    let admin_flags: String = if admins.is_empty() {
        " --key-admin ARN".to_owned()
    } else {
        admins.iter().map(|a| format!(" --key-admin {a}")).collect()
    };
    let _ = writeln!(
        out,
        "To check the policy the key actually has: enclave kms-policy check KEY_POLICY.json --policy POLICY_FILE{admin_flags}"
    );
    out
}

/// Checks `key_policy` against the measurement sets `pins` allows and the named `key_admins`: every
/// statement that grants a guarded action ([`GUARDED_ACTIONS`], directly, through a wildcard, or through
/// `NotAction`) must require every PCR of one allowed set, and every principal allowed a key-control action
/// ([`KEY_CONTROL_ACTIONS`]) must be one of `key_admins`.
///
/// A statement requires the pins by its own conditions when some condition uses `StringEquals`,
/// `StringEqualsIgnoreCase` or a wildcard-free `StringLike` on `kms:RecipientAttestation:PCR<n>` (or
/// `ImageSha384` for PCR0) for every PCR *n* of one set, listing only that set's value (compared
/// case-insensitively, as hex). Otherwise the `Deny` statements on the same action that apply to all
/// its principals are evaluated with their conditions: if every request they let through matches every
/// PCR of one allowed set, the statement is guarded; if not, the finding says which request gets
/// through.
///
/// A key-control grant does not count when the statement's own condition requires an attestation key
/// (those requests never carry one), or when an applicable Deny fires on every request without
/// attestation (an unconditioned Deny, or one negating the attestation keys).
///
/// # Errors
/// [`KmsPolicyError`] when the document is too large, not JSON, repeats an object key, or is not
/// shaped like a policy (no `Statement`, a statement with neither `Action` nor `NotAction`, or without
/// a `Principal`, ...), and [`KmsPolicyError::ImageNotPinned`] when `pins` do not identify the image. Offending
/// statements are not errors: they are the report's [`Finding`]s.
///
/// # Examples
/// ```
/// use enclave_kms::{check_key_policy, KeyAdmin, Problem, Principal};
/// use enclave_sdk::attestation::Policy;
/// let pins = Policy::builder().allow_measurements(format!("0={}", "ab".repeat(48)).parse()?).build()?;
/// // The AWS default statement: the account may do anything, with no attestation.
/// let policy = r#"{"Statement": [{"Sid": "Root", "Effect": "Allow", "Resource": "*",
///     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*"}]}"#;
/// let account: KeyAdmin = "111122223333".parse()?;
/// let report = check_key_policy(policy, &pins, &[account])?;
/// assert_eq!(report.findings.len(), 1, "the account is a named admin, but its Decrypt needs no attestation");
/// assert_eq!(report.findings[0].problem, Problem::NoCondition);
/// assert!(report.key_control[0].admitted);
/// // Unnamed, the account is reported as the policy writes it.
/// let unnamed = check_key_policy(policy, &pins, &[])?;
/// let Problem::KeyControl { principal: Principal::Named(account) } = &unnamed.findings[1].problem else { panic!() };
/// assert_eq!((account.kind(), account.name()), ("AWS", "arn:aws:iam::111122223333:root"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_key_policy(
    key_policy: &str,
    pins: &Policy,
    key_admins: &[KeyAdmin],
) -> Result<CheckReport, KmsPolicyError> {
    check_with_budget(key_policy, pins, key_admins, GUARD_SEARCH_BUDGET)
}

/// [`check_key_policy`] with `limit` search steps for the Deny guards.
fn check_with_budget(
    key_policy: &str,
    pins: &Policy,
    key_admins: &[KeyAdmin],
    limit: usize,
) -> Result<CheckReport, KmsPolicyError> {
    // As in generate_key_policy: the rule holds whatever the policy waived for its verifier.
    pins.require_image_pinned().map_err(KmsPolicyError::ImageNotPinned)?;
    let sets = pins.measurement_sets();
    if key_policy.len() > MAX_KEY_POLICY_LEN {
        return Err(KmsPolicyError::TooLarge { len: key_policy.len(), max: MAX_KEY_POLICY_LEN });
    }
    let document = parse_strict_json(key_policy)?;
    let raw = match document.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
        Some(single @ Value::Object(_)) => vec![single],
        Some(_) => return Err(malformed("document", "Statement is neither an object nor a list")),
        None => return Err(malformed("document", "no Statement")),
    };
    let statements = raw.into_iter().enumerate().map(|(i, s)| Statement::parse(i, s)).collect::<Result<Vec<_>, _>>()?;
    let denies: Vec<&Statement<'_>> = statements.iter().filter(|s| s.deny).collect();
    let pinned: BTreeSet<PcrIndex> = sets.iter().flat_map(MeasurementSet::indices).collect();

    let mut report = CheckReport {
        statements: statements.len(),
        granting_statements: 0,
        findings: Vec::new(),
        key_control: Vec::new(),
    };
    let mut budget = Budget { limit, left: limit };
    for statement in statements.iter().filter(|s| !s.deny) {
        check_guarded(statement, &denies, sets, &pinned, &mut budget, &mut report)?;
        check_key_control(statement, &denies, key_admins, &mut report);
    }
    Ok(report)
}

/// The search steps the Deny guards of one check may take, and how many are left.
struct Budget {
    limit: usize,
    left: usize,
}

/// One statement, read.
struct Statement<'a> {
    reference: StatementRef,
    deny: bool,
    patterns: Vec<&'a str>,
    granted_through: &'static str,
    principals: Vec<Principal>,
    any_resource: bool,
    /// `None` for no (or an empty) `Condition`.
    conditions: Option<&'a Map<String, Value>>,
    entries: Vec<Entry>,
}

impl<'a> Statement<'a> {
    fn parse(index: usize, statement: &'a Value) -> Result<Self, KmsPolicyError> {
        let Value::Object(statement) = statement else {
            return Err(malformed(&format!("statement #{index}"), "is not an object"));
        };
        let reference = match statement.get("Sid") {
            Some(Value::String(sid)) if !sid.is_empty() => StatementRef::Sid(sid.clone()),
            _ => StatementRef::Index(index),
        };
        let at = reference.to_string();

        // Only an explicit Deny denies. Anything else (a misspelt Effect is refused by KMS, but this
        // checker is not KMS) is treated as Allow, so a check never passes on a typo.
        let deny = statement.get("Effect") == Some(&Value::String("Deny".to_owned()));

        let (patterns, granted_through) = match (statement.get("Action"), statement.get("NotAction")) {
            (Some(a), None) => {
                (string_list(a).ok_or_else(|| malformed(&at, "Action is not a string or list of strings"))?, "Action")
            }
            (None, Some(n)) => (
                string_list(n).ok_or_else(|| malformed(&at, "NotAction is not a string or list of strings"))?,
                "NotAction",
            ),
            (Some(_), Some(_)) => return Err(malformed(&at, "has both Action and NotAction")),
            (None, None) => return Err(malformed(&at, "has neither Action nor NotAction")),
        };
        let principals = statement_principals(statement, &at)?;
        // In a key policy the resource is the key itself and is written "*"; anything else the checker
        // cannot resolve statically.
        let any_resource = match statement.get("Resource") {
            Some(Value::String(s)) => s == "*",
            Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some("*")),
            _ => false,
        };
        let conditions = match statement.get("Condition") {
            None => None,
            Some(Value::Object(c)) if c.is_empty() => None,
            Some(Value::Object(c)) => Some(c),
            Some(_) => return Err(malformed(&at, "Condition is not an object")),
        };
        let entries = match conditions {
            Some(c) => entries(c, &at)?,
            None => Vec::new(),
        };
        Ok(Self { reference, deny, patterns, granted_through, principals, any_resource, conditions, entries })
    }

    /// Whether the statement's Action (or NotAction) covers `action`.
    fn covers(&self, action: &str) -> bool {
        let listed = self.patterns.iter().any(|p| action_matches(p, action));
        // IAM "NotAction": the statement applies to every action NOT listed.
        if self.granted_through == "NotAction" {
            !listed
        } else {
            listed
        }
    }

    fn at(&self) -> String {
        self.reference.to_string()
    }
}

/// The decision "cryptographic use of the key requires the pins", for one Allow statement.
fn check_guarded(
    statement: &Statement<'_>,
    denies: &[&Statement<'_>],
    sets: &[MeasurementSet],
    pinned: &BTreeSet<PcrIndex>,
    budget: &mut Budget,
    report: &mut CheckReport,
) -> Result<(), KmsPolicyError> {
    let actions: Vec<&'static str> = GUARDED_ACTIONS.iter().copied().filter(|a| statement.covers(a)).collect();
    if actions.is_empty() {
        return Ok(());
    }
    report.granting_statements += 1;
    let Some((set, problems)) = own_problems(statement, sets)? else { return Ok(()) };

    // Actions with the same applicable Deny statements share one verdict.
    struct Group {
        actions: Vec<&'static str>,
        usable: Vec<usize>,
        not_counted: Vec<NotCountedDeny>,
    }
    let mut groups: Vec<Group> = Vec::new();
    for &action in &actions {
        let mut usable = Vec::new();
        let mut not_counted = Vec::new();
        for (i, deny) in denies.iter().enumerate() {
            if !deny.covers(action) {
                continue;
            }
            match deny_applies(deny, statement, pinned) {
                None => usable.push(i),
                Some(reason) if deny.entries.iter().any(Entry::on_attestation_key) => {
                    not_counted.push(NotCountedDeny { statement: deny.reference.clone(), reason });
                }
                Some(_) => {}
            }
        }
        match groups.iter_mut().find(|g| g.usable == usable && g.not_counted == not_counted) {
            Some(group) => group.actions.push(action),
            None => groups.push(Group { actions: vec![action], usable, not_counted }),
        }
    }

    let mut unguarded: Vec<&'static str> = Vec::new();
    let mut deny_findings = Vec::new();
    for group in groups {
        let verdict = if group.usable.is_empty() {
            Guard::LetsThrough(UnguardedRequest::without_document(pinned))
        } else {
            let clauses: Vec<&[Entry]> =
                group.usable.iter().filter_map(|&i| denies.get(i)).map(|d| d.entries.as_slice()).collect();
            deny_guard(&clauses, sets, &mut budget.left)
        };
        let problem = match verdict {
            Guard::Confined => continue,
            Guard::LetsThrough(request) => Problem::DenyGuardLetsThrough { request, not_counted: group.not_counted },
            Guard::Undecided => Problem::DenyGuardUndecided { limit: budget.limit, not_counted: group.not_counted },
        };
        unguarded.extend(&group.actions);
        // A Deny-guard finding only when there is a Deny guard to speak of.
        let has_guard = match &problem {
            Problem::DenyGuardLetsThrough { not_counted, .. } | Problem::DenyGuardUndecided { not_counted, .. } => {
                !group.usable.is_empty() || !not_counted.is_empty()
            }
            _ => false,
        };
        if has_guard {
            deny_findings.push(Finding {
                statement: statement.reference.clone(),
                actions: group.actions,
                granted_through: statement.granted_through,
                set: None,
                problem,
            });
        }
    }
    if unguarded.is_empty() {
        return Ok(());
    }
    let unguarded: Vec<&'static str> = actions.into_iter().filter(|a| unguarded.contains(a)).collect();
    report.findings.extend(problems.into_iter().map(|problem| Finding {
        statement: statement.reference.clone(),
        actions: unguarded.clone(),
        granted_through: statement.granted_through,
        set,
        problem,
    }));
    report.findings.extend(deny_findings);
    Ok(())
}

/// Why `deny` cannot be relied on to guard `allow`, or `None` when it can.
fn deny_applies(deny: &Statement<'_>, allow: &Statement<'_>, pinned: &BTreeSet<PcrIndex>) -> Option<DenyNotCounted> {
    if deny.principals.iter().any(|p| matches!(p, Principal::AnyoneExcept(_))) {
        return Some(DenyNotCounted::NotPrincipal);
    }
    if !allow.principals.iter().all(|p| deny_names(&deny.principals, p)) {
        return Some(DenyNotCounted::Principals);
    }
    if !deny.any_resource {
        return Some(DenyNotCounted::Resource);
    }
    unusable_entry(&deny.entries, pinned)
        .map(|e| DenyNotCounted::Condition { operator: e.operator().to_owned(), key: e.key().to_owned() })
}

/// The decision "whoever can take the key out of the attestation's control is a named
/// administrator", for one Allow statement.
fn check_key_control(
    statement: &Statement<'_>,
    denies: &[&Statement<'_>],
    key_admins: &[KeyAdmin],
    report: &mut CheckReport,
) {
    let actions: Vec<&'static str> = KEY_CONTROL_ACTIONS.iter().copied().filter(|a| statement.covers(a)).collect();
    if actions.is_empty() {
        return;
    }
    // KMS developer guide, "Condition keys for Nitro Enclaves": these requests carry no attestation
    // document, so a condition that needs an attestation key present is never met.
    if statement.entries.iter().any(|e| e.without_attestation() == Truth::False) {
        return;
    }
    for principal in &statement.principals {
        // IAM "Policy evaluation logic": an applicable explicit Deny wins. Only a Deny that fires on
        // every request without attestation is relied on.
        let open: Vec<&'static str> = actions
            .iter()
            .copied()
            .filter(|action| {
                !denies.iter().any(|d| {
                    d.covers(action)
                        && d.any_resource
                        && deny_names(&d.principals, principal)
                        && d.entries.iter().all(|e| e.without_attestation() == Truth::True)
                })
            })
            .collect();
        if open.is_empty() {
            continue;
        }
        let admitted = key_admins.iter().any(|admin| admin.admits(principal));
        report.key_control.push(KeyControlGrant {
            statement: statement.reference.clone(),
            principal: principal.clone(),
            actions: open.clone(),
            granted_through: statement.granted_through,
            admitted,
        });
        if !admitted {
            report.findings.push(Finding {
                statement: statement.reference.clone(),
                actions: open,
                granted_through: statement.granted_through,
                set: None,
                problem: Problem::KeyControl { principal: principal.clone() },
            });
        }
    }
}

/// What a statement's own conditions lack: the closest set (1-based, with several sets) and the problems.
type Lacks = (Option<usize>, Vec<Problem>);

/// `None` when the statement's own conditions require every PCR of one allowed set; otherwise what it
/// lacks, against the set it came closest to (fewest problems; the first of equals).
fn own_problems(statement: &Statement<'_>, sets: &[MeasurementSet]) -> Result<Option<Lacks>, KmsPolicyError> {
    let Some(conditions) = statement.conditions else { return Ok(Some((None, vec![Problem::NoCondition]))) };
    let at = statement.at();
    let mut closest: Option<(usize, Vec<Problem>)> = None;
    for (n, set) in sets.iter().enumerate() {
        let mut problems = Vec::new();
        for (pcr, value) in set.iter() {
            if let Some(problem) = pcr_problem(pcr, value, conditions, &at)? {
                problems.push(problem);
            }
        }
        if problems.is_empty() {
            return Ok(None);
        }
        if closest.as_ref().is_none_or(|(_, best)| problems.len() < best.len()) {
            closest = Some((n, problems));
        }
    }
    let (n, problems) = closest.unwrap_or_default();
    Ok(Some(((sets.len() > 1).then(|| n.saturating_add(1)), problems)))
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
            let values = condition::condition_values(values)
                .ok_or_else(|| malformed(at, &format!("values of {key} are not strings")))?;
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
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
