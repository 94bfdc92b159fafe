//! Condition entries as the checker models them, and the one decision of whether the `Deny`
//! statements that apply to a grant confine every request to the allowed measurement sets.
//!
//! In: one statement's `Condition` block (untrusted JSON, already bounded) and the caller's sets.
//! Out: for each `operator: {key: values}` entry, what it says about a request with and without the
//! attestation keys ([`Entry`]); and for a group of Deny statements, either a proof that every request
//! they let through matches every PCR of one allowed set, or a request that gets through
//! ([`deny_guard`]).
//!
//! The model is the IAM user guide's, cited where each rule is used: "Condition operators" (a key
//! absent from the request makes a condition false, except negated operators, `...IfExists` and
//! `Null`, which are true), "Conditions with multiple context keys or values"
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html>:
//! operators and keys ANDed, the values of one key ORed, and NORed for a negated operator), and
//! "Single-valued vs. multivalued context keys" (`ForAllValues` true and `ForAnyValue` false when the
//! key is absent). Where the model cannot say what an entry does with a present value (case-sensitive
//! matches, whose outcome depends on the hex case KMS uses; wildcards; set operators on these
//! single-valued keys; operators it does not know), the sender of the request is assumed to choose:
//! for a Deny, that means the entry is taken to be false, which can only let more requests through.

use super::{key_pcr, malformed, KmsPolicyError};
use enclave_protocol::{MeasurementSet, PcrIndex, PcrValue};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;

/// How many search steps one `check_key_policy` call may spend proving Deny guards. Sound guards take
/// a few dozen; a document written to make the search explode gets a finding, not a hang.
pub(super) const GUARD_SEARCH_BUDGET: usize = 200_000;

/// Three-valued truth: `Unknown` when the request's sender may make it either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Truth {
    True,
    False,
    Unknown,
}

/// What an entry does with a key that is present in the request.
#[derive(Debug, Clone)]
enum Match {
    /// True when the value is one of these.
    In(Vec<PcrValue>),
    /// True when the value is none of these (a negated operator: values NORed).
    NotIn(Vec<PcrValue>),
    /// True or false whatever the value (`Null`).
    Always(bool),
    /// The model cannot tell; the sender may choose.
    Unknown,
}

#[derive(Debug, Clone)]
struct Test {
    absent: Truth,
    present: Match,
}

/// One `operator: { key: values }` entry of a condition block.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    operator: String,
    key: String,
    /// The PCR a Nitro Enclaves attestation key names.
    pcr: Option<PcrIndex>,
    /// `None`: an operator the model does not know, or a key other than a PCR's.
    test: Option<Test>,
}

impl Entry {
    /// The entry's truth for a request that carries no attestation document (every
    /// `kms:RecipientAttestation:*` key absent), as requests other than the five Nitro Enclaves
    /// operations always are.
    pub(super) fn without_attestation(&self) -> Truth {
        self.test.as_ref().map_or(Truth::Unknown, |t| t.absent)
    }

    /// Whether the entry tests a `kms:RecipientAttestation:` key (any, including ones the model
    /// does not know).
    pub(super) fn on_attestation_key(&self) -> bool {
        self.key.to_ascii_lowercase().starts_with("kms:recipientattestation:")
    }

    pub(super) fn operator(&self) -> &str {
        &self.operator
    }

    pub(super) fn key(&self) -> &str {
        &self.key
    }
}

/// Every entry of a statement's `Condition` (none when it has no condition).
pub(super) fn entries(conditions: &Map<String, Value>, at: &str) -> Result<Vec<Entry>, KmsPolicyError> {
    let mut out = Vec::new();
    for (operator, keys) in conditions {
        let Value::Object(keys) = keys else {
            return Err(malformed(at, &format!("condition operator {operator} does not map keys to values")));
        };
        for (key, values) in keys {
            let pcr = key_pcr(key);
            let test = match pcr {
                Some(_) => {
                    let values = condition_values(values)
                        .ok_or_else(|| malformed(at, &format!("values of {key} are not strings")))?;
                    model(operator, &values)
                }
                None => None,
            };
            out.push(Entry { operator: operator.clone(), key: key.clone(), pcr, test });
        }
    }
    Ok(out)
}

/// Condition values: strings, or JSON booleans (which IAM reads as "true" / "false").
pub(super) fn condition_values(value: &Value) -> Option<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match value {
        Value::Array(items) => items.iter().map(one).collect(),
        other => one(other).map(|v| vec![v]),
    }
}

/// What `operator` with `values` says about a single-valued attestation key.
fn model(operator: &str, values: &[String]) -> Option<Test> {
    if values.is_empty() {
        return None;
    }
    let (qualifier, base) = match operator.split_once(':') {
        Some((q, b)) => (Some(q), b),
        None => (None, operator),
    };
    let (base, if_exists) = match base.strip_suffix("IfExists") {
        Some(b) => (b, true),
        None => (base, false),
    };
    // IAM "Condition operators": Null takes "true" (the key is absent) or "false" (present); it has
    // no IfExists form and no set qualifier.
    if base == "Null" {
        if qualifier.is_some() || if_exists {
            return None;
        }
        let (mut absent, mut present) = (false, false);
        for v in values {
            match v.as_str() {
                "true" => absent = true,
                "false" => present = true,
                _ => return None,
            }
        }
        return Some(Test { absent: truth(absent), present: Match::Always(present) });
    }
    let (negated, ignore_case, like) = match base {
        "StringEquals" => (false, false, false),
        "StringEqualsIgnoreCase" => (false, true, false),
        "StringLike" => (false, false, true),
        "StringNotEquals" => (true, false, false),
        "StringNotEqualsIgnoreCase" => (true, true, false),
        "StringNotLike" => (true, false, true),
        _ => return None,
    };
    if let Some(qualifier) = qualifier {
        // IAM "Single-valued vs. multivalued context keys": with the key absent ForAllValues is true and
        // ForAnyValue false; what they do with one present value AWS advises not to rely on.
        let absent = match (qualifier, if_exists) {
            ("ForAllValues", _) => Truth::True,
            ("ForAnyValue", false) => Truth::False,
            ("ForAnyValue", true) => Truth::Unknown,
            _ => return None,
        };
        return Some(Test { absent, present: Match::Unknown });
    }
    // IAM "Condition operators": an absent key makes a condition false, except for negated operators
    // and ...IfExists, which are true.
    let absent = truth(negated || if_exists);
    let wildcard = like && values.iter().any(|v| v.contains('*') || v.contains('?'));
    let present = if wildcard {
        Match::Unknown
    } else if negated {
        // Lenient parsing (case, surrounding space) can only make a negated match look false more
        // often than it is, i.e. a Deny fire less often: safe.
        Match::NotIn(values.iter().filter_map(|v| v.parse().ok()).collect())
    } else if ignore_case {
        // A positive match is credited only for plain hex, which is what KMS compares against.
        Match::In(
            values.iter().filter(|v| v.bytes().all(|b| b.is_ascii_hexdigit())).filter_map(|v| v.parse().ok()).collect(),
        )
    } else {
        // Case-sensitive equality with hex text whose case KMS does not document.
        Match::Unknown
    };
    Some(Test { absent, present })
}

fn truth(b: bool) -> Truth {
    if b {
        Truth::True
    } else {
        Truth::False
    }
}

/// What an example request carries for one PCR.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Observed {
    /// The key is absent (no attestation document, or a document without this PCR).
    Absent,
    /// A value that neither the allowed sets nor the Deny statements name: another image's.
    Unlisted,
    /// This value.
    Value(PcrValue),
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Absent => f.write_str("absent"),
            Self::Unlisted => f.write_str("a value no allowed set names"),
            Self::Value(v) => v.fmt(f),
        }
    }
}

impl serde::Serialize for Observed {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Absent => serializer.serialize_str("absent"),
            Self::Unlisted => serializer.serialize_str("unlisted"),
            Self::Value(v) => serializer.serialize_str(&v.to_string()),
        }
    }
}

/// A request that the Deny statements let through although it matches no allowed set: what it
/// carries for each PCR the sets pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnguardedRequest(pub(super) Vec<(PcrIndex, Observed)>);

impl UnguardedRequest {
    /// A request without an attestation document, for the PCRs `pinned`.
    pub(super) fn without_document(pinned: &BTreeSet<PcrIndex>) -> Self {
        Self(pinned.iter().map(|&k| (k, Observed::Absent)).collect())
    }

    /// Each pinned PCR and what the request carries for it.
    pub fn pcrs(&self) -> &[(PcrIndex, Observed)] {
        &self.0
    }

    /// Whether the request carries no attestation key at all.
    pub fn without_attestation(&self) -> bool {
        self.0.iter().all(|(_, seen)| *seen == Observed::Absent)
    }
}

impl fmt::Display for UnguardedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.without_attestation() {
            return f.write_str("a request without an attestation document");
        }
        f.write_str("a request whose attestation has ")?;
        for (i, (index, seen)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match seen {
                Observed::Absent => write!(f, "{index} absent")?,
                other => write!(f, "{index} = {other}")?,
            }
        }
        Ok(())
    }
}

impl serde::Serialize for UnguardedRequest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (index, seen) in &self.0 {
            map.serialize_entry(&index.get().to_string(), seen)?;
        }
        map.end()
    }
}

/// The outcome of [`deny_guard`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Guard {
    /// Every request the Denies let through matches every PCR of one allowed set.
    Confined,
    /// This request gets through and matches no set.
    LetsThrough(UnguardedRequest),
    /// The budget ran out before either was shown.
    Undecided,
}

/// The entry of `deny` that keeps the checker from relying on it, if any: one whose truth the sender
/// can choose whatever attestation the request carries (a key other than a pinned PCR's, or an
/// operator the model does not know). Such a Deny can always be escaped.
pub(super) fn unusable_entry<'a>(deny: &'a [Entry], pinned: &BTreeSet<PcrIndex>) -> Option<&'a Entry> {
    deny.iter().find(|e| e.test.is_none() || !e.pcr.is_some_and(|p| pinned.contains(&p)))
}

/// Whether the Deny statements `denies` (each a list of entries, all usable: see [`unusable_entry`])
/// confine every request to the allowed `sets`: for every assignment of the pinned PCRs (absent, a
/// value some set or Deny names, or any other value), either some Deny fires (all its entries true)
/// or the assignment matches every PCR of one set. A request that mixes two sets' values matches
/// neither, so a Deny guard that admits a mixture is found here.
///
/// The search tries a request without attestation first, then documents carrying every pinned PCR,
/// then any combination, and spends at most `budget` steps across calls.
pub(super) fn deny_guard(denies: &[&[Entry]], sets: &[MeasurementSet], budget: &mut usize) -> Guard {
    let keys: Vec<PcrIndex> =
        sets.iter().flat_map(MeasurementSet::indices).collect::<BTreeSet<_>>().into_iter().collect();
    let position = |pcr: PcrIndex| keys.iter().position(|&k| k == pcr);

    // Each Deny as (key position, test) pairs; an entry outside the pinned PCRs never gets here.
    let mut clauses: Vec<Vec<(usize, &Test)>> = Vec::new();
    for deny in denies {
        let mut clause = Vec::new();
        for entry in *deny {
            match (entry.pcr.and_then(position), entry.test.as_ref()) {
                (Some(pos), Some(test)) => clause.push((pos, test)),
                // The caller filtered these out; if one slipped through, the Deny is not relied on.
                _ => {
                    clause.clear();
                    break;
                }
            }
        }
        if clause.is_empty() && !deny.is_empty() {
            continue;
        }
        if clause.is_empty() {
            // An unconditioned Deny fires on every request.
            return Guard::Confined;
        }
        clauses.push(clause);
    }

    // Per key, the values worth trying: one no one names, every value a set or a Deny names, absent.
    let mut domains: Vec<Vec<Observed>> = keys
        .iter()
        .enumerate()
        .map(|(pos, &key)| {
            let mut named: Vec<&PcrValue> = sets.iter().filter_map(|s| s.get(key)).collect();
            for clause in &clauses {
                for (p, test) in clause {
                    if *p == pos {
                        if let Match::In(v) | Match::NotIn(v) = &test.present {
                            named.extend(v.iter());
                        }
                    }
                }
            }
            named.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            named.dedup();
            let mut domain = vec![Observed::Unlisted];
            domain.extend(named.into_iter().cloned().map(Observed::Value));
            domain.push(Observed::Absent);
            domain
        })
        .collect();

    // A Deny on one key removes the values it fires on, before any search.
    clauses.retain(|clause| {
        let Some(&(first, _)) = clause.first() else { return false };
        if clause.iter().any(|(p, _)| *p != first) {
            return true;
        }
        if let Some(domain) = domains.get_mut(first) {
            domain.retain(|seen| !clause.iter().all(|(_, test)| holds(test, seen)));
        }
        false
    });
    if domains.iter().any(Vec::is_empty) {
        return Guard::Confined;
    }

    let search = Search::new(&keys, &domains, &clauses, sets);
    // First: no attestation at all; then a document with every pinned PCR; then anything.
    for pass in [Pass::NoDocument, Pass::FullDocument, Pass::Any] {
        let mut chosen = Vec::with_capacity(keys.len());
        match search.run(pass, &mut chosen, budget) {
            Step::Found => {
                let request = keys
                    .iter()
                    .zip(&chosen)
                    .filter_map(|(&k, &i)| search.domains.get(i.0).and_then(|d| d.get(i.1)).map(|s| (k, s.clone())))
                    .collect();
                return Guard::LetsThrough(UnguardedRequest(request));
            }
            Step::Exhausted => {}
            Step::OutOfBudget => return Guard::Undecided,
        }
    }
    Guard::Confined
}

/// The entry's truth for `seen`, with the sender choosing wherever the model cannot tell: this is
/// evaluated for Deny statements only, and the sender wants them not to fire.
fn holds(test: &Test, seen: &Observed) -> bool {
    match seen {
        Observed::Absent => test.absent == Truth::True,
        Observed::Unlisted => match &test.present {
            Match::In(_) | Match::Unknown => false,
            Match::NotIn(_) => true,
            Match::Always(b) => *b,
        },
        Observed::Value(v) => match &test.present {
            Match::In(values) => values.contains(v),
            Match::NotIn(values) => !values.contains(v),
            Match::Always(b) => *b,
            Match::Unknown => false,
        },
    }
}

#[derive(Clone, Copy)]
enum Pass {
    NoDocument,
    FullDocument,
    Any,
}

enum Step {
    Found,
    Exhausted,
    OutOfBudget,
}

struct Search<'a> {
    domains: &'a [Vec<Observed>],
    /// Deny clauses grouped by the last key position they test, so each is checked once its keys are set.
    clauses_ending_at: Vec<Vec<&'a [(usize, &'a Test)]>>,
    /// Each set's (position, value) pairs, grouped likewise.
    sets_ending_at: Vec<Vec<Vec<(usize, &'a PcrValue)>>>,
}

impl<'a> Search<'a> {
    fn new(
        keys: &[PcrIndex],
        domains: &'a [Vec<Observed>],
        clauses: &'a [Vec<(usize, &'a Test)>],
        sets: &'a [MeasurementSet],
    ) -> Self {
        let mut clauses_ending_at: Vec<Vec<&[(usize, &Test)]>> = vec![Vec::new(); keys.len()];
        for clause in clauses {
            if let Some(last) = clause.iter().map(|(p, _)| *p).max() {
                if let Some(bucket) = clauses_ending_at.get_mut(last) {
                    bucket.push(clause.as_slice());
                }
            }
        }
        let mut sets_ending_at: Vec<Vec<Vec<(usize, &PcrValue)>>> = vec![Vec::new(); keys.len()];
        for set in sets {
            let pins: Vec<(usize, &PcrValue)> =
                set.iter().filter_map(|(k, v)| keys.iter().position(|&x| x == k).map(|p| (p, v))).collect();
            if let Some(last) = pins.iter().map(|(p, _)| *p).max() {
                if let Some(bucket) = sets_ending_at.get_mut(last) {
                    bucket.push(pins);
                }
            }
        }
        Self { domains, clauses_ending_at, sets_ending_at }
    }

    /// Depth-first over key positions; `chosen` holds (position, domain index) for keys set so far.
    fn run(&self, pass: Pass, chosen: &mut Vec<(usize, usize)>, budget: &mut usize) -> Step {
        let pos = chosen.len();
        let Some(domain) = self.domains.get(pos) else { return Step::Found };
        for (i, seen) in domain.iter().enumerate() {
            let wanted = match pass {
                Pass::NoDocument => *seen == Observed::Absent,
                Pass::FullDocument => *seen != Observed::Absent,
                Pass::Any => true,
            };
            if !wanted {
                continue;
            }
            let Some(left) = budget.checked_sub(1) else { return Step::OutOfBudget };
            *budget = left;
            chosen.push((pos, i));
            if !self.blocked_at(pos, chosen) {
                match self.run(pass, chosen, budget) {
                    Step::Exhausted => {}
                    done => return done,
                }
            }
            chosen.pop();
        }
        Step::Exhausted
    }

    fn seen(&self, chosen: &[(usize, usize)], pos: usize) -> Option<&Observed> {
        chosen.get(pos).and_then(|&(p, i)| self.domains.get(p).and_then(|d| d.get(i)))
    }

    /// Whether the keys set so far (the last at `pos`) already make a Deny fire or match a set.
    fn blocked_at(&self, pos: usize, chosen: &[(usize, usize)]) -> bool {
        let denied = self.clauses_ending_at.get(pos).is_some_and(|clauses| {
            clauses.iter().any(|clause| {
                clause.iter().all(|(p, test)| self.seen(chosen, *p).is_some_and(|seen| holds(test, seen)))
            })
        });
        let legitimate = self.sets_ending_at.get(pos).is_some_and(|sets| {
            sets.iter().any(|pins| {
                pins.iter().all(|(p, v)| matches!(self.seen(chosen, *p), Some(Observed::Value(seen)) if seen == *v))
            })
        });
        denied || legitimate
    }
}
