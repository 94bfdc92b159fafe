//! Who a key policy statement names, and who the caller trusts to administer the key.
//!
//! In: a statement's `Principal` or `NotPrincipal` element (untrusted JSON) and the caller's
//! `--key-admin` values (trusted, but checked: `*` is refused). Out: the principals as written
//! ([`Principal`]), and the one rule for when two AWS principals are the same ([`same_aws_principal`]),
//! which both "is this a named administrator" ([`KeyAdmin::admits`]) and "does this Deny name that
//! principal" use.
//!
//! IAM user guide, "AWS JSON policy elements: Principal"
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html>):
//! an account is named by its 12-digit id or by `arn:<partition>:iam::<id>:root`, and both mean the
//! account (every identity in it that the account's IAM policies allow), not its root user alone;
//! `"*"` and `{"AWS": "*"}` mean everyone; a role or user is named by its ARN, and a role session
//! (`arn:aws:sts::<id>:assumed-role/...`) is a different principal from its role. Wildcards inside a
//! principal are not allowed, so no pattern matching is done here.

use super::KmsPolicyError;
use serde::ser::SerializeMap;
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// A principal of a statement, as written in the key policy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Principal {
    /// `"Principal": "*"` or `{"AWS": "*"}`: everyone, in any account.
    Anyone,
    /// One entry of a `Principal` object: its type (`AWS`, `Service`, `Federated`, `CanonicalUser`)
    /// and its value, both as written.
    Named(NamedPrincipal),
    /// `NotPrincipal` with `Allow`: everyone except these.
    AnyoneExcept(Vec<NamedPrincipal>),
}

/// One `type: value` entry of a `Principal` or `NotPrincipal` object, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPrincipal {
    kind: String,
    name: String,
}

impl NamedPrincipal {
    /// The principal type as written (`AWS`, `Service`, ...).
    pub fn kind(&self) -> &str {
        &self.kind
    }
    /// The value as written (an ARN, an account id, a service name, ...).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for NamedPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug formatting escapes whatever the policy's author put there.
        write!(f, "{} {:?}", self.kind, self.name)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anyone => f.write_str("\"*\" (anyone)"),
            Self::Named(named) => named.fmt(f),
            Self::AnyoneExcept(except) => {
                f.write_str("anyone except (NotPrincipal) ")?;
                for (i, named) in except.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    named.fmt(f)?;
                }
                Ok(())
            }
        }
    }
}

/// JSON reports carry a principal in the policy's own form: `"*"`, `{"AWS": "..."}`, or
/// `{"NotPrincipal": [{"AWS": "..."}, ...]}`.
impl serde::Serialize for Principal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Anyone => serializer.serialize_str("*"),
            Self::Named(named) => named.serialize(serializer),
            Self::AnyoneExcept(except) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("NotPrincipal", except)?;
                map.end()
            }
        }
    }
}

impl serde::Serialize for NamedPrincipal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(&self.kind, &self.name)?;
        map.end()
    }
}

/// A principal the caller trusts with the key as much as the enclave: whoever can rewrite the key
/// policy or replicate the key can release it without attestation.
///
/// Accepted forms: an account, as its 12-digit id or `arn:<partition>:iam::<id>:root`; an IAM role or
/// user ARN (`arn:<partition>:iam::<id>:role/...`, `.../user/...`); an STS session ARN
/// (`arn:<partition>:sts::<id>:assumed-role/...`, `.../federated-user/...`). `*`, wildcards and
/// anything else are refused: everyone can never be a named administrator.
///
/// # Examples
/// ```
/// use enclave_kms::KeyAdmin;
/// let admin: KeyAdmin = "arn:aws:iam::111122223333:role/key-admin".parse()?;
/// assert_eq!(admin.as_str(), "arn:aws:iam::111122223333:role/key-admin");
/// assert!("*".parse::<KeyAdmin>().is_err());
/// assert!("arn:aws:iam::111122223333:role/*".parse::<KeyAdmin>().is_err());
/// # Ok::<(), enclave_kms::KmsPolicyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAdmin(String);

impl KeyAdmin {
    /// The administrator as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `principal`, as a key policy names it, is this administrator. Only an `AWS` principal
    /// can be; `*`, `NotPrincipal` and other principal types never are.
    pub fn admits(&self, principal: &Principal) -> bool {
        match principal {
            Principal::Named(named) => named.kind == "AWS" && same_aws_principal(&named.name, &self.0),
            Principal::Anyone | Principal::AnyoneExcept(_) => false,
        }
    }

    /// Whether this administrator is a whole account (every identity the account's IAM policies allow).
    pub fn is_account(&self) -> bool {
        matches!(identity(&self.0), Identity::Account { .. })
    }
}

impl fmt::Display for KeyAdmin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for KeyAdmin {
    type Err = KmsPolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if valid_admin(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(KmsPolicyError::BadKeyAdmin { value: s.to_owned() })
        }
    }
}

fn valid_admin(s: &str) -> bool {
    if s.len() > 2048 || s.bytes().any(|b| b == b'*' || b == b'?' || !b.is_ascii_graphic()) {
        return false;
    }
    if is_account_id(s) {
        return true;
    }
    // arn:partition:service:region:account:resource; IAM and STS ARNs have an empty region.
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else { return false };
    let resource_ok = match *service {
        "iam" => *resource == "root" || has_name_after(resource, "role/") || has_name_after(resource, "user/"),
        "sts" => has_name_after(resource, "assumed-role/") || has_name_after(resource, "federated-user/"),
        _ => false,
    };
    *arn == "arn"
        && !partition.is_empty()
        && partition.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && region.is_empty()
        && is_account_id(account)
        && resource_ok
}

fn has_name_after(resource: &str, prefix: &str) -> bool {
    resource.strip_prefix(prefix).is_some_and(|rest| !rest.is_empty() && !rest.ends_with('/'))
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// What an `AWS` principal string denotes, for comparison.
#[derive(Debug, PartialEq, Eq)]
enum Identity<'a> {
    /// An account: its id, and the partition when the ARN form names one.
    Account { partition: Option<&'a str>, id: &'a str },
    /// Anything else (a role, user or session ARN, a unique id): compared as written.
    Exact(&'a str),
}

fn identity(name: &str) -> Identity<'_> {
    if is_account_id(name) {
        return Identity::Account { partition: None, id: name };
    }
    let parts: Vec<&str> = name.splitn(6, ':').collect();
    if let ["arn", partition, "iam", "", id, "root"] = parts.as_slice() {
        if is_account_id(id) {
            return Identity::Account { partition: Some(partition), id };
        }
    }
    Identity::Exact(name)
}

/// The one rule for "these two `AWS` principal values name the same principal", as IAM resolves them.
///
/// An account id and `arn:<partition>:iam::<id>:root` are the same account. A key lives in one
/// partition and IAM reads a bare id in that partition, which a static reader of the document does
/// not know, so a bare id matches the root ARN in any partition; two ARNs must agree on it. Every other
/// ARN matches only itself, byte for byte: a role is not its account, a session is not its role, and
/// no case folding is done (an over-strict comparison reports a principal, it never admits one).
pub(super) fn same_aws_principal(a: &str, b: &str) -> bool {
    match (identity(a), identity(b)) {
        (Identity::Account { partition: pa, id: ia }, Identity::Account { partition: pb, id: ib }) => {
            ia == ib && (pa.is_none() || pb.is_none() || pa == pb)
        }
        (Identity::Exact(x), Identity::Exact(y)) => x == y,
        _ => false,
    }
}

/// Whether a Deny naming `deny` applies to every request from `allowed`: the Deny names everyone, or
/// names this exact principal. `NotPrincipal` in a Deny and accounts covering their own roles are not
/// credited (the checker would have to know the account's identities).
pub(super) fn deny_names(deny: &[Principal], allowed: &Principal) -> bool {
    deny.iter().any(|d| match (d, allowed) {
        (Principal::Anyone, _) => true,
        (Principal::Named(d), Principal::Named(a)) => {
            d.kind == a.kind && if d.kind == "AWS" { same_aws_principal(&d.name, &a.name) } else { d.name == a.name }
        }
        _ => false,
    })
}

/// The principals of a statement: each entry of `Principal`, or one [`Principal::AnyoneExcept`] for
/// `NotPrincipal`.
pub(super) fn statement_principals(
    statement: &serde_json::Map<String, Value>,
    at: &str,
) -> Result<Vec<Principal>, KmsPolicyError> {
    match (statement.get("Principal"), statement.get("NotPrincipal")) {
        (Some(p), None) => {
            let named = match p {
                Value::String(s) if s == "*" => return Ok(vec![Principal::Anyone]),
                Value::String(_) => return Err(super::malformed(at, "Principal is a string other than \"*\"")),
                Value::Object(_) => named_principals(p, "Principal", at)?,
                _ => return Err(super::malformed(at, "Principal is neither \"*\" nor an object")),
            };
            Ok(named
                .into_iter()
                .map(|n| if n.kind == "AWS" && n.name == "*" { Principal::Anyone } else { Principal::Named(n) })
                .collect())
        }
        (None, Some(n)) => Ok(vec![Principal::AnyoneExcept(named_principals(n, "NotPrincipal", at)?)]),
        (Some(_), Some(_)) => Err(super::malformed(at, "has both Principal and NotPrincipal")),
        (None, None) => Err(super::malformed(at, "has neither Principal nor NotPrincipal")),
    }
}

fn named_principals(value: &Value, element: &str, at: &str) -> Result<Vec<NamedPrincipal>, KmsPolicyError> {
    let Value::Object(map) = value else {
        return Err(super::malformed(at, &format!("{element} is not an object")));
    };
    let mut out = Vec::new();
    for (kind, names) in map {
        let names = super::string_list(names)
            .ok_or_else(|| super::malformed(at, &format!("{element} {kind:?} is not a string or list of strings")))?;
        out.extend(names.into_iter().map(|name| NamedPrincipal { kind: kind.clone(), name: name.to_owned() }));
    }
    if out.is_empty() {
        return Err(super::malformed(at, &format!("{element} names no principal")));
    }
    Ok(out)
}

#[cfg(test)]
pub(super) fn named(kind: &str, name: &str) -> Principal {
    Principal::Named(NamedPrincipal { kind: kind.to_owned(), name: name.to_owned() })
}

#[cfg(test)]
pub(super) fn named_entry(kind: &str, name: &str) -> NamedPrincipal {
    NamedPrincipal { kind: kind.to_owned(), name: name.to_owned() }
}
