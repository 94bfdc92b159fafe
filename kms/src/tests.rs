//! The checker against a table of strict and permissive key policies (Allow conditions, Deny guards,
//! key control), and generate → check round trips.

use super::principal::{named, named_entry, same_aws_principal};
use super::*;
use enclave_protocol::Pcr;

/// The caller's policy allowing `sets`, as `enclave kms-policy` loads it from a policy file. It waives
/// the SDK's rule for its verifier, so that sets the rule refuses reach the KMS functions, whose own
/// refusal (no waiver) is what the tests of that rule check.
fn policy_of(sets: &[MeasurementSet]) -> Policy {
    let builder = sets.iter().cloned().fold(Policy::builder(), |b, set| b.allow_measurements(set));
    builder.dangerous_accept_any_enclave().build().unwrap()
}

const PCR0_A: &str = "aa00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000aa";
const PCR0_B: &str = "bb00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000bb";
const PCR1: &str = "111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111";
const PCR2: &str = "222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222";
const OTHER: &str = "ee00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000ee";

const ENCLAVE: &str = "arn:aws:iam::111122223333:role/enclave";
const ADMIN: &str = "arn:aws:iam::111122223333:role/admin";
const OPS: &str = "arn:aws:iam::111122223333:role/ops";
const ROOT: &str = "arn:aws:iam::111122223333:root";

/// Every guarded action, as `kms:*` or `*` grants them.
const CRYPTO: [&str; 7] = GUARDED_ACTIONS;
/// Every key-control action, likewise.
const CONTROL: [&str; 4] = KEY_CONTROL_ACTIONS;

/// Two releases that differ in PCR0 only.
fn pins() -> Vec<MeasurementSet> {
    MeasurementSet::parse_list(&format!("0={PCR0_A},1={PCR1},2={PCR2};0={PCR0_B},1={PCR1},2={PCR2}")).unwrap()
}

/// Two releases that differ in PCR0 and PCR2: values (0=a0, 2=a2) and (0=b0, 2=b2).
fn mixable() -> (Vec<MeasurementSet>, [String; 4]) {
    let [a0, a2, b0, b2] = ["a0", "a2", "b0", "b2"].map(|b| b.repeat(48));
    (MeasurementSet::parse_list(&format!("0={a0},2={a2};0={b0},2={b2}")).unwrap(), [a0, a2, b0, b2])
}

fn idx(n: u8) -> PcrIndex {
    PcrIndex::new(n).unwrap()
}

fn value(hex: &str) -> PcrValue {
    hex.parse().unwrap()
}

fn sid(s: &str) -> StatementRef {
    StatementRef::Sid(s.to_owned())
}

fn aws(name: &str) -> Principal {
    named("AWS", name)
}

fn policy(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

/// A strict condition block: every PCR of the first release.
fn strict_condition(op: &str) -> String {
    format!(
        r#"{{"{op}":{{"kms:RecipientAttestation:ImageSha384":["{PCR0_A}"],"kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR2":"{PCR2}"}}}}"#
    )
}

/// One statement. `principal` and `actions` are JSON as they appear in the policy.
fn statement(effect: &str, sid: &str, principal: &str, actions: &str, condition: Option<&str>) -> String {
    let condition = condition.map(|c| format!(r#","Condition":{c}"#)).unwrap_or_default();
    format!(
        r#"{{"Sid":"{sid}","Effect":"{effect}","Principal":{principal},"Action":{actions},"Resource":"*"{condition}}}"#
    )
}

/// An Allow for the enclave role.
fn allow(sid: &str, actions: &str, condition: Option<&str>) -> String {
    statement("Allow", sid, &format!(r#"{{"AWS":"{ENCLAVE}"}}"#), actions, condition)
}

/// An Allow for `principal` (an AWS principal value).
fn allow_to(sid: &str, principal: &str, actions: &str, condition: Option<&str>) -> String {
    statement("Allow", sid, &format!(r#"{{"AWS":"{principal}"}}"#), actions, condition)
}

/// A Deny for everyone.
fn deny(sid: &str, actions: &str, condition: &str) -> String {
    statement("Deny", sid, r#""*""#, actions, Some(condition))
}

/// The Deny guard written one PCR per statement, for the two `pins()` releases: sound, because each
/// Deny fires when its one PCR is absent or differs.
fn deny_trio(actions: &str, op: &str) -> String {
    [
        deny(
            "DenyOtherImage",
            actions,
            &format!(r#"{{"{op}":{{"kms:RecipientAttestation:ImageSha384":["{PCR0_A}","{PCR0_B}"]}}}}"#),
        ),
        deny("DenyOtherKernel", actions, &format!(r#"{{"{op}":{{"kms:RecipientAttestation:PCR1":"{PCR1}"}}}}"#)),
        deny("DenyOtherApp", actions, &format!(r#"{{"{op}":{{"kms:RecipientAttestation:PCR2":"{PCR2}"}}}}"#)),
    ]
    .join(",")
}

fn request(pcrs: &[(u8, Observed)]) -> UnguardedRequest {
    UnguardedRequest(pcrs.iter().map(|(i, o)| (idx(*i), o.clone())).collect())
}

fn no_document() -> UnguardedRequest {
    request(&[(0, Observed::Absent), (1, Observed::Absent), (2, Observed::Absent)])
}

fn not_counted(sids: &[&str], reason: DenyNotCounted) -> Vec<NotCountedDeny> {
    sids.iter().map(|s| NotCountedDeny { statement: sid(s), reason: reason.clone() }).collect()
}

type Expected = (StatementRef, Vec<&'static str>, Problem);
type Controller = (StatementRef, Principal, Vec<&'static str>, bool);

/// One row: a document, the sets and administrators it is checked against, the exact findings and
/// the exact key-control inventory.
struct Row {
    name: &'static str,
    doc: String,
    sets: Vec<MeasurementSet>,
    admins: Vec<KeyAdmin>,
    findings: Vec<Expected>,
    key_control: Vec<Controller>,
}

fn row(name: &'static str, doc: String, findings: Vec<Expected>) -> Row {
    Row { name, doc, sets: pins(), admins: Vec::new(), findings, key_control: Vec::new() }
}

impl Row {
    fn admins(mut self, admins: &[&str]) -> Self {
        self.admins = admins.iter().map(|a| a.parse().unwrap()).collect();
        self
    }
    fn sets(mut self, sets: Vec<MeasurementSet>) -> Self {
        self.sets = sets;
        self
    }
    fn key_control(mut self, key_control: Vec<Controller>) -> Self {
        self.key_control = key_control;
        self
    }
}

fn f(statement: StatementRef, actions: &[&'static str], problem: Problem) -> Expected {
    (statement, actions.to_vec(), problem)
}

fn control(statement: StatementRef, principal: Principal, actions: &[&'static str], admitted: bool) -> Controller {
    (statement, principal, actions.to_vec(), admitted)
}

/// Key control held by `principal` through `statement` and not admitted: an inventory entry and a finding.
fn unadmitted(statement: StatementRef, principal: Principal, actions: &[&'static str]) -> (Expected, Controller) {
    (
        f(statement.clone(), actions, Problem::KeyControl { principal: principal.clone() }),
        control(statement, principal, actions, false),
    )
}

fn table() -> Vec<Row> {
    let strict = strict_condition("StringEqualsIgnoreCase");
    let enclave = allow("Enclave", r#""kms:Decrypt""#, Some(&strict));
    let open_enclave = allow("Enclave", r#"["kms:Decrypt","kms:GenerateDataKey"]"#, None);
    let two = r#"["kms:Decrypt","kms:GenerateDataKey"]"#;
    let (mix_sets, [a0, a2, b0, b2]) = mixable();
    let mix_deny_values = format!(
        "{},{}",
        deny(
            "DenyOtherImage",
            r#""kms:Decrypt""#,
            &format!(r#"{{"StringNotEquals":{{"kms:RecipientAttestation:PCR0":["{a0}","{b0}"]}}}}"#)
        ),
        deny(
            "DenyOtherApp",
            r#""kms:Decrypt""#,
            &format!(r#"{{"StringNotEquals":{{"kms:RecipientAttestation:PCR2":["{a2}","{b2}"]}}}}"#)
        ),
    );
    let open_decrypt = allow("Enclave", r#""kms:Decrypt""#, None);

    let (root_f, root_c) = unadmitted(sid("Enable IAM User Permissions"), aws(ROOT), &CONTROL);
    let (any_f, any_c) = unadmitted(StatementRef::Index(1), Principal::Anyone, &CONTROL);
    let (notaction_f, notaction_c) = unadmitted(
        sid("NotAdmin"),
        aws("arn:aws:iam::111122223333:role/x"),
        &["kms:ReplicateKey", "kms:UpdatePrimaryRegion", "kms:ImportKeyMaterial"],
    );
    let (star_put_f, star_put_c) = unadmitted(sid("PutForAll"), Principal::Anyone, &["kms:PutKeyPolicy"]);
    let (put_star_f, put_star_c) = unadmitted(sid("Ops"), aws(OPS), &["kms:PutKeyPolicy"]);
    let (case_f, case_c) =
        unadmitted(sid("Replicate"), aws("arn:aws:iam::111122223333:role/Admin"), &["kms:ReplicateKey"]);
    let (other_account_f, other_account_c) =
        unadmitted(sid("OtherAccount"), aws("arn:aws:iam::444455556666:root"), &["kms:PutKeyPolicy"]);
    let (key_glob_f, key_glob_c) =
        unadmitted(sid("KeyGlob"), aws(OPS), &["kms:PutKeyPolicy", "kms:ReplicateKey", "kms:ImportKeyMaterial"]);
    let (service_f, service_c) =
        unadmitted(sid("Service"), named("Service", "ec2.amazonaws.com"), &["kms:ReplicateKey"]);
    let (not_principal_f, not_principal_c) =
        unadmitted(sid("AllButAdmin"), Principal::AnyoneExcept(vec![named_entry("AWS", ADMIN)]), &["kms:PutKeyPolicy"]);
    let (tag_f, tag_c) = unadmitted(sid("Tagged"), aws(OPS), &["kms:PutKeyPolicy"]);
    let (if_exists_f, if_exists_c) = unadmitted(sid("IfExists"), aws(OPS), &["kms:UpdatePrimaryRegion"]);
    let (dev_f, dev_c) = unadmitted(sid("Two"), aws("arn:aws:iam::111122223333:role/dev"), &["kms:PutKeyPolicy"]);
    let (listed_f, listed_c) = unadmitted(sid("Listed"), aws(OPS), &["kms:PutKeyPolicy"]);

    vec![
        // --- strict: the statement's own conditions ---
        row("strict: StringEqualsIgnoreCase on every pin", policy(&allow("Enclave", two, Some(&strict))), vec![]),
        row("strict: StringEquals, the second release's PCRs", policy(&allow("Enclave", r#""kms:Decrypt""#, Some(&format!(
            r#"{{"StringEquals":{{"kms:RecipientAttestation:PCR0":"{PCR0_B}","kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR2":"{PCR2}"}}}}"#)))), vec![]),
        row("strict: kms:* with every pin (key control fails closed: those requests carry no attestation), plus a Deny kms:* without conditions",
            policy(&format!("{},{}", allow("Everything", r#""kms:*""#, Some(&strict)),
                r#"{"Sid":"DenyAll","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"}"#)), vec![]),
        row("strict: pins split across two operators (ANDed), uppercase hex, StringLike without wildcards", policy(&allow("Split", r#""kms:Decrypt""#, Some(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":"{}"}},"StringLike":{{"kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR2":"{PCR2}"}}}}"#,
            PCR0_A.to_uppercase())))), vec![]),
        row("strict: a named admin's statement without crypto actions, no conditions", policy(&format!("{enclave},{}",
            allow_to("Admin", ADMIN, r#"["kms:Describe*","kms:Put*","kms:Enable*","kms:ScheduleKeyDeletion","kms:Encrypt"]"#, None))), vec![])
            .admins(&[ADMIN])
            .key_control(vec![control(sid("Admin"), aws(ADMIN), &["kms:PutKeyPolicy"], true)]),
        row("strict: a weaker duplicate beside a strict entry still requires the pin (AND)", policy(&allow("Both", r#""kms:Decrypt""#, Some(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":"{PCR0_A}","kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR2":"{PCR2}"}},"StringEqualsIfExists":{{"kms:RecipientAttestation:PCR1":"{OTHER}"}}}}"#)))), vec![]),

        // --- permissive: the statement's own conditions ---
        row("permissive: AWS default root statement, kms:* unconditioned", policy(&allow_to("Enable IAM User Permissions", ROOT, r#""kms:*""#, None)),
            vec![f(sid("Enable IAM User Permissions"), &CRYPTO, Problem::NoCondition), root_f]).key_control(vec![root_c]),
        row("permissive: bare * without Sid is reported by index", policy(&format!("{enclave},{}",
            r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}"#)),
            vec![f(StatementRef::Index(1), &CRYPTO, Problem::NoCondition), any_f]).key_control(vec![any_c]),
        row("permissive: kms:Decrypt* wildcard, mixed case, only PCR0 required", policy(&allow("Partial", r#""KMS:decrypt*""#, Some(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":"{PCR0_A}"}}}}"#)))),
            vec![f(sid("Partial"), &["kms:Decrypt"], Problem::PcrNotRequired { index: idx(1) }), f(sid("Partial"), &["kms:Decrypt"], Problem::PcrNotRequired { index: idx(2) })]),
        row("permissive: condition on the wrong PCR (PCR3 instead of PCR2)", policy(&allow("WrongPcr", r#""kms:Gen*""#, Some(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":"{PCR0_A}","kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR3":"{PCR2}"}}}}"#)))),
            vec![f(sid("WrongPcr"), &["kms:GenerateDataKey", "kms:GenerateDataKeyPair", "kms:GenerateRandom"], Problem::PcrNotRequired { index: idx(2) })]),
        row("permissive: wrong value for PCR0", policy(&allow("WrongValue", r#""kms:Decrypt""#, Some(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":["{PCR0_A}","{OTHER}"],"kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR2":"{PCR2}"}}}}"#)))),
            vec![f(sid("WrongValue"), &["kms:Decrypt"], Problem::ValueNotPinned { index: idx(0), value: OTHER.to_owned() })]),
        row("permissive: both releases' PCR0 values in one statement (KMS ORs them per key)", policy(&allow("Both", r#""kms:Decrypt""#, Some(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":["{PCR0_A}","{PCR0_B}"],"kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR2":"{PCR2}"}}}}"#)))),
            vec![f(sid("Both"), &["kms:Decrypt"], Problem::ValueNotPinned { index: idx(0), value: PCR0_B.to_owned() })]),
        row("permissive: StringEqualsIfExists lets requests without attestation through", policy(&allow("IfExists", r#""kms:Decrypt""#, Some(&strict_condition("StringEqualsIfExists")))),
            [0u8, 1, 2].into_iter().map(|i| f(sid("IfExists"), &["kms:Decrypt"], Problem::IfExists { index: idx(i), operator: "StringEqualsIfExists".into() })).collect()),
        row("permissive: ForAnyValue:StringEquals set operator", policy(&allow("AnyValue", r#""kms:GenerateDataKey""#, Some(&strict_condition("ForAnyValue:StringEquals")))),
            [0u8, 1, 2].into_iter().map(|i| f(sid("AnyValue"), &["kms:GenerateDataKey"], Problem::SetOperator { index: idx(i), operator: "ForAnyValue:StringEquals".into() })).collect()),
        row("permissive: ForAllValues (true when the key is absent)", policy(&allow("AllValues", r#""kms:Decrypt""#, Some(&strict_condition("ForAllValues:StringEqualsIgnoreCase")))),
            [0u8, 1, 2].into_iter().map(|i| f(sid("AllValues"), &["kms:Decrypt"], Problem::SetOperator { index: idx(i), operator: "ForAllValues:StringEqualsIgnoreCase".into() })).collect()),
        row("permissive: StringLike with a wildcard on PCR1", policy(&allow("Like", r#""kms:Decrypt""#, Some(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":"{PCR0_A}","kms:RecipientAttestation:PCR2":"{PCR2}"}},"StringLike":{{"kms:RecipientAttestation:PCR1":"1111*"}}}}"#)))),
            vec![f(sid("Like"), &["kms:Decrypt"], Problem::Wildcard { index: idx(1), value: "1111*".into() })]),
        row("permissive: NotAction leaves the crypto actions and three key-control actions open",
            policy(r#"{"Sid":"NotAdmin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/x"},"NotAction":["kms:Encrypt","kms:PutKeyPolicy"],"Resource":"*"}"#),
            vec![f(sid("NotAdmin"), &CRYPTO, Problem::NoCondition), notaction_f]).key_control(vec![notaction_c]),
        row("permissive: StringNotEquals is true when the key is absent", policy(&allow("NotEquals", r#""kms:DeriveSharedSecret""#, Some(&strict_condition("StringNotEquals")))),
            [0u8, 1, 2].into_iter().map(|i| f(sid("NotEquals"), &["kms:DeriveSharedSecret"], Problem::WeakOperator { index: idx(i), operator: "StringNotEquals".into() })).collect()),
        row("permissive: Null check only requires presence", policy(&allow("Null", r#""kms:Decrypt""#, Some(&format!(
            r#"{{"Null":{{"kms:RecipientAttestation:ImageSha384":"false"}},"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR2":"{PCR2}"}}}}"#)))),
            vec![f(sid("Null"), &["kms:Decrypt"], Problem::WeakOperator { index: idx(0), operator: "Null".into() })]),
        row("permissive: conditioned on something else entirely", policy(&allow("Vpc", r#""kms:Decrypt""#, Some(r#"{"StringEquals":{"aws:SourceVpce":"vpce-1"}}"#))),
            [0u8, 1, 2].into_iter().map(|i| f(sid("Vpc"), &["kms:Decrypt"], Problem::PcrNotRequired { index: idx(i) })).collect()),
        row("permissive: AWS default admin statement grants CreateGrant through kms:Create*", policy(&format!("{enclave},{}",
            allow_to("Allow access for Key Administrators", ADMIN, r#"["kms:Create*","kms:Describe*","kms:Enable*"]"#, None))),
            vec![f(sid("Allow access for Key Administrators"), &["kms:CreateGrant"], Problem::NoCondition)]).admins(&[ADMIN]),
        row("permissive: ReEncrypt* releases ciphertext to another key", policy(&allow("ReEncrypt", r#""kms:ReEncrypt*""#, None)),
            vec![f(sid("ReEncrypt"), &["kms:ReEncryptFrom"], Problem::NoCondition)]),
        row("permissive: a single statement object with an empty Condition", r#"{"Version":"2012-10-17","Statement":{"Sid":"Empty","Effect":"Allow","Principal":"*","Action":"kms:GenerateRandom","Resource":"*","Condition":{}}}"#.to_owned(),
            vec![f(sid("Empty"), &["kms:GenerateRandom"], Problem::NoCondition)]),

        // --- Deny guards that hold ---
        row("deny guard: unconditioned Allow, one StringNotEquals Deny per PCR for everyone",
            policy(&format!("{open_enclave},{}", deny_trio(two, "StringNotEquals"))), vec![]),
        row("deny guard: StringNotEqualsIgnoreCase on kms:*, which also denies key control to everyone without attestation",
            policy(&format!("{},{}", allow("Everything", r#""kms:*""#, None), deny_trio(r#""kms:*""#, "StringNotEqualsIgnoreCase"))), vec![]),
        // IAM "Condition operators": ...IfExists is true when the key is absent, so in a Deny it fires
        // on a request without attestation, exactly as StringNotEquals does.
        row("deny guard: StringNotEqualsIfExists fires when the key is absent",
            policy(&format!("{open_enclave},{}", deny_trio(two, "StringNotEqualsIfExists"))), vec![]),
        row("deny guard: a Deny naming exactly the statement's principal",
            policy(&format!("{open_decrypt},{}", deny_trio(r#""kms:Decrypt""#, "StringNotEquals").replace(r#""Principal":"*""#, &format!(r#""Principal":{{"AWS":["{ENCLAVE}"]}}"#)))), vec![]),
        row("deny guard: two sets that differ in two PCRs, with Denies that forbid each mixture (positive IgnoreCase match)",
            policy(&format!("{open_decrypt},{mix_deny_values},{},{}",
                deny("DenyMixA", r#""kms:Decrypt""#, &format!(r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:PCR0":"{a0}"}},"StringNotEquals":{{"kms:RecipientAttestation:PCR2":"{a2}"}}}}"#)),
                deny("DenyMixB", r#""kms:Decrypt""#, &format!(r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:PCR0":"{b0}"}},"StringNotEquals":{{"kms:RecipientAttestation:PCR2":"{b2}"}}}}"#)))),
            vec![]).sets(mix_sets.clone()),
        row("deny guard: two sets that differ in two PCRs, with two-key StringNotEquals Denies (NOR per key, AND across keys)",
            policy(&format!("{open_decrypt},{mix_deny_values},{},{}",
                deny("DenyMixA", r#""kms:Decrypt""#, &format!(r#"{{"StringNotEquals":{{"kms:RecipientAttestation:PCR0":"{a0}","kms:RecipientAttestation:PCR2":"{b2}"}}}}"#)),
                deny("DenyMixB", r#""kms:Decrypt""#, &format!(r#"{{"StringNotEquals":{{"kms:RecipientAttestation:PCR0":"{b0}","kms:RecipientAttestation:PCR2":"{a2}"}}}}"#)))),
            vec![]).sets(mix_sets.clone()),

        // --- Deny guards that leave a hole ---
        row("deny guard broken: one Deny with every PCR under one operator fires only when all differ",
            policy(&format!("{open_decrypt},{}", deny("DenyAllThree", r#""kms:Decrypt""#, &format!(
                r#"{{"StringNotEquals":{{"kms:RecipientAttestation:ImageSha384":["{PCR0_A}","{PCR0_B}"],"kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR2":"{PCR2}"}}}}"#)))),
            vec![f(sid("Enclave"), &["kms:Decrypt"], Problem::NoCondition),
                 f(sid("Enclave"), &["kms:Decrypt"], Problem::DenyGuardLetsThrough {
                     request: request(&[(0, Observed::Unlisted), (1, Observed::Unlisted), (2, Observed::Value(value(PCR2)))]), not_counted: vec![] })]),
        row("deny guard broken: Null \"true\" denies only requests without attestation",
            policy(&format!("{open_decrypt},{}", deny("DenyUnattested", r#""kms:Decrypt""#, r#"{"Null":{"kms:RecipientAttestation:ImageSha384":"true"}}"#))),
            vec![f(sid("Enclave"), &["kms:Decrypt"], Problem::NoCondition),
                 f(sid("Enclave"), &["kms:Decrypt"], Problem::DenyGuardLetsThrough {
                     request: request(&[(0, Observed::Unlisted), (1, Observed::Unlisted), (2, Observed::Unlisted)]), not_counted: vec![] })]),
        row("deny guard broken: Null \"false\" denies the attested requests instead",
            policy(&format!("{open_decrypt},{}", deny("DenyAttested", r#""kms:Decrypt""#, r#"{"Null":{"kms:RecipientAttestation:ImageSha384":"false"}}"#))),
            vec![f(sid("Enclave"), &["kms:Decrypt"], Problem::NoCondition),
                 f(sid("Enclave"), &["kms:Decrypt"], Problem::DenyGuardLetsThrough { request: no_document(), not_counted: vec![] })]),
        row("deny guard broken: the Deny covers Decrypt but not GenerateDataKey",
            policy(&format!("{open_enclave},{}", deny_trio(r#""kms:Decrypt""#, "StringNotEquals"))),
            vec![f(sid("Enclave"), &["kms:GenerateDataKey"], Problem::NoCondition)]),
        row("deny guard broken: the Denies name another principal",
            policy(&format!("{open_decrypt},{}", deny_trio(r#""kms:Decrypt""#, "StringNotEquals").replace(r#""Principal":"*""#, &format!(r#""Principal":{{"AWS":"{OPS}"}}"#)))),
            vec![f(sid("Enclave"), &["kms:Decrypt"], Problem::NoCondition),
                 f(sid("Enclave"), &["kms:Decrypt"], Problem::DenyGuardLetsThrough { request: no_document(),
                     not_counted: not_counted(&["DenyOtherImage", "DenyOtherKernel", "DenyOtherApp"], DenyNotCounted::Principals) })]),
        row("deny guard broken: a Deny scoped to some principals through aws:PrincipalArn",
            policy(&format!("{open_decrypt},{}", deny("DenyScoped", r#""kms:Decrypt""#, &format!(
                r#"{{"ArnEquals":{{"aws:PrincipalArn":"{OPS}"}},"StringNotEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":"{PCR0_A}"}}}}"#)))),
            vec![f(sid("Enclave"), &["kms:Decrypt"], Problem::NoCondition),
                 f(sid("Enclave"), &["kms:Decrypt"], Problem::DenyGuardLetsThrough { request: no_document(),
                     not_counted: not_counted(&["DenyScoped"], DenyNotCounted::Condition { operator: "ArnEquals".into(), key: "aws:PrincipalArn".into() }) })]),
        row("deny guard broken: NotPrincipal in a Deny is not evaluated",
            policy(&format!("{open_decrypt},{}", deny_trio(r#""kms:Decrypt""#, "StringNotEquals").replace(r#""Principal":"*""#, &format!(r#""NotPrincipal":{{"AWS":"{OPS}"}}"#)))),
            vec![f(sid("Enclave"), &["kms:Decrypt"], Problem::NoCondition),
                 f(sid("Enclave"), &["kms:Decrypt"], Problem::DenyGuardLetsThrough { request: no_document(),
                     not_counted: not_counted(&["DenyOtherImage", "DenyOtherKernel", "DenyOtherApp"], DenyNotCounted::NotPrincipal) })]),
        row("deny guard broken: a Deny on another key's ARN",
            policy(&format!("{open_decrypt},{}", deny_trio(r#""kms:Decrypt""#, "StringNotEquals").replacen(r#""Resource":"*""#, r#""Resource":"arn:aws:kms:us-east-1:111122223333:key/other""#, 1))),
            vec![f(sid("Enclave"), &["kms:Decrypt"], Problem::NoCondition),
                 f(sid("Enclave"), &["kms:Decrypt"], Problem::DenyGuardLetsThrough {
                     request: request(&[(0, Observed::Unlisted), (1, Observed::Value(value(PCR1))), (2, Observed::Value(value(PCR2)))]),
                     not_counted: not_counted(&["DenyOtherImage"], DenyNotCounted::Resource) })]),
        row("deny guard broken: the Deny's PCR0 value is not a pinned one",
            policy(&format!("{open_decrypt},{}", deny_trio(r#""kms:Decrypt""#, "StringNotEquals").replace(&format!(r#"["{PCR0_A}","{PCR0_B}"]"#), &format!(r#"["{OTHER}"]"#)))),
            vec![f(sid("Enclave"), &["kms:Decrypt"], Problem::NoCondition),
                 f(sid("Enclave"), &["kms:Decrypt"], Problem::DenyGuardLetsThrough {
                     request: request(&[(0, Observed::Value(value(OTHER))), (1, Observed::Value(value(PCR1))), (2, Observed::Value(value(PCR2)))]), not_counted: vec![] })]),
        row("deny guard broken: StringNotLike with a wildcard lets other images through",
            policy(&format!("{open_decrypt},{}", deny_trio(r#""kms:Decrypt""#, "StringNotLike").replace(&format!(r#"["{PCR0_A}","{PCR0_B}"]"#), r#""aa*""#))),
            vec![f(sid("Enclave"), &["kms:Decrypt"], Problem::NoCondition),
                 f(sid("Enclave"), &["kms:Decrypt"], Problem::DenyGuardLetsThrough {
                     request: request(&[(0, Observed::Unlisted), (1, Observed::Value(value(PCR1))), (2, Observed::Value(value(PCR2)))]), not_counted: vec![] })]),
        row("deny guard broken: ForAnyValue:StringNotEquals is false when the key is absent",
            policy(&format!("{open_decrypt},{}", deny("DenyAny", r#""kms:Decrypt""#, &format!(r#"{{"ForAnyValue:StringNotEquals":{{"kms:RecipientAttestation:ImageSha384":"{PCR0_A}"}}}}"#)))),
            vec![f(sid("Enclave"), &["kms:Decrypt"], Problem::NoCondition),
                 f(sid("Enclave"), &["kms:Decrypt"], Problem::DenyGuardLetsThrough { request: no_document(), not_counted: vec![] })]),
        row("deny guard broken: a Deny on a PCR no set pins",
            policy(&format!("{open_decrypt},{}", deny("DenyPcr9", r#""kms:Decrypt""#, &format!(r#"{{"StringNotEquals":{{"kms:RecipientAttestation:PCR9":"{OTHER}"}}}}"#)))),
            vec![f(sid("Enclave"), &["kms:Decrypt"], Problem::NoCondition),
                 f(sid("Enclave"), &["kms:Decrypt"], Problem::DenyGuardLetsThrough { request: no_document(),
                     not_counted: not_counted(&["DenyPcr9"], DenyNotCounted::Condition { operator: "StringNotEquals".into(), key: "kms:RecipientAttestation:PCR9".into() }) })]),
        row("deny guard broken: per-PCR Denies for two sets admit a mixture of them",
            policy(&format!("{open_decrypt},{mix_deny_values}")),
            vec![f(sid("Enclave"), &["kms:Decrypt"], Problem::NoCondition),
                 f(sid("Enclave"), &["kms:Decrypt"], Problem::DenyGuardLetsThrough {
                     request: request(&[(0, Observed::Value(value(&a0))), (2, Observed::Value(value(&b2)))]), not_counted: vec![] })]).sets(mix_sets.clone()),
        row("deny guard broken: the mixture Denies use case-sensitive StringEquals, whose match KMS's hex case decides",
            policy(&format!("{open_decrypt},{mix_deny_values},{},{}",
                deny("DenyMixA", r#""kms:Decrypt""#, &format!(r#"{{"StringEquals":{{"kms:RecipientAttestation:PCR0":"{a0}"}},"StringNotEquals":{{"kms:RecipientAttestation:PCR2":"{a2}"}}}}"#)),
                deny("DenyMixB", r#""kms:Decrypt""#, &format!(r#"{{"StringEquals":{{"kms:RecipientAttestation:PCR0":"{b0}"}},"StringNotEquals":{{"kms:RecipientAttestation:PCR2":"{b2}"}}}}"#)))),
            vec![f(sid("Enclave"), &["kms:Decrypt"], Problem::NoCondition),
                 f(sid("Enclave"), &["kms:Decrypt"], Problem::DenyGuardLetsThrough {
                     request: request(&[(0, Observed::Value(value(&a0))), (2, Observed::Value(value(&b2)))]), not_counted: vec![] })]).sets(mix_sets),

        // --- key control ---
        row("key control: PutKeyPolicy for \"*\"", policy(&format!("{enclave},{}",
            statement("Allow", "PutForAll", r#""*""#, r#""kms:PutKeyPolicy""#, None))),
            vec![star_put_f]).key_control(vec![star_put_c]),
        row("key control: kms:Put* for an unnamed role", policy(&format!("{enclave},{}", allow_to("Ops", OPS, r#""kms:Put*""#, None))),
            vec![put_star_f]).admins(&[ADMIN]).key_control(vec![put_star_c]),
        row("key control: ReplicateKey for a named administrator", policy(&format!("{enclave},{}", allow_to("Replicate", ADMIN, r#""kms:ReplicateKey""#, None))),
            vec![]).admins(&[ADMIN]).key_control(vec![control(sid("Replicate"), aws(ADMIN), &["kms:ReplicateKey"], true)]),
        row("key control: role names are compared as written (role/Admin is not role/admin)",
            policy(&format!("{enclave},{}", allow_to("Replicate", "arn:aws:iam::111122223333:role/Admin", r#""kms:ReplicateKey""#, None))),
            vec![case_f]).admins(&[ADMIN]).key_control(vec![case_c]),
        row("key control: the account id names the account's :root principal",
            policy(&format!("{enclave},{},{}", allow_to("ById", "111122223333", r#""kms:PutKeyPolicy""#, None), allow_to("OtherAccount", "arn:aws:iam::444455556666:root", r#""kms:PutKeyPolicy""#, None))),
            vec![other_account_f]).admins(&[ROOT])
            .key_control(vec![control(sid("ById"), aws("111122223333"), &["kms:PutKeyPolicy"], true), other_account_c]),
        row("key control: kms:*Key* grants GenerateDataKey(Pair) and three key-control actions",
            policy(&format!("{enclave},{}", allow_to("KeyGlob", OPS, r#""kms:*Key*""#, None))),
            vec![f(sid("KeyGlob"), &["kms:GenerateDataKey", "kms:GenerateDataKeyPair"], Problem::NoCondition), key_glob_f]).key_control(vec![key_glob_c]),
        row("key control: a service principal is never a named administrator",
            policy(&format!("{enclave},{}", statement("Allow", "Service", r#"{"Service":"ec2.amazonaws.com"}"#, r#""kms:ReplicateKey""#, None))),
            vec![service_f]).admins(&[ADMIN]).key_control(vec![service_c]),
        row("key control: NotPrincipal with Allow grants everyone else",
            policy(&format!("{enclave},{}", r#"{"Sid":"AllButAdmin","Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:role/admin"},"Action":"kms:PutKeyPolicy","Resource":"*"}"#)),
            vec![not_principal_f]).admins(&[ADMIN]).key_control(vec![not_principal_c]),
        row("key control: an unconditioned Deny of PutKeyPolicy for everyone removes the grant",
            policy(&format!("{enclave},{},{}", allow_to("Ops", OPS, r#""kms:Put*""#, None), r#"{"Sid":"Locked","Effect":"Deny","Principal":"*","Action":"kms:PutKeyPolicy","Resource":"*"}"#)), vec![]),
        row("key control: a Deny naming one of two principals removes only that one's grant",
            policy(&format!("{enclave},{},{}",
                statement("Allow", "Two", &format!(r#"{{"AWS":["{OPS}","arn:aws:iam::111122223333:role/dev"]}}"#), r#""kms:PutKeyPolicy""#, None),
                statement("Deny", "NotOps", &format!(r#"{{"AWS":"{OPS}"}}"#), r#""kms:PutKeyPolicy""#, None))),
            vec![dev_f]).key_control(vec![dev_c]),
        row("key control: a condition on a principal tag is not credited",
            policy(&format!("{enclave},{}", allow_to("Tagged", OPS, r#""kms:PutKeyPolicy""#, Some(r#"{"StringEquals":{"aws:PrincipalTag/team":"security"}}"#)))),
            vec![tag_f]).key_control(vec![tag_c]),
        row("key control: an IfExists attestation condition does not fail closed",
            policy(&format!("{enclave},{}", allow_to("IfExists", OPS, r#""kms:UpdatePrimaryRegion""#, Some(&strict_condition("StringEqualsIgnoreCaseIfExists"))))),
            vec![if_exists_f]).key_control(vec![if_exists_c]),
        row("key control: availability actions are not key control",
            policy(&format!("{enclave},{}", allow_to("Availability", OPS,
                r#"["kms:ScheduleKeyDeletion","kms:DisableKey","kms:DeleteImportedKeyMaterial","kms:GetParametersForImport","kms:RotateKeyOnDemand","kms:UpdateAlias"]"#, None))), vec![]),
        row("key control: one principal of a list is named, the other is reported",
            policy(&format!("{enclave},{}", statement("Allow", "Listed", &format!(r#"{{"AWS":["{ADMIN}","{OPS}"]}}"#), r#""kms:PutKeyPolicy""#, None))),
            vec![listed_f]).admins(&[ADMIN])
            .key_control(vec![control(sid("Listed"), aws(ADMIN), &["kms:PutKeyPolicy"], true), listed_c]),
    ]
}

#[test]
fn table_of_strict_and_permissive_policies() {
    let table = table();
    assert!(table.iter().filter(|r| r.findings.is_empty()).count() >= 14);
    assert!(table.iter().filter(|r| !r.findings.is_empty()).count() >= 40);
    for Row { name, doc, sets, admins, findings, key_control } in table {
        let report = check_key_policy(&doc, &policy_of(&sets), &admins).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got: Vec<Expected> =
            report.findings.iter().map(|f| (f.statement.clone(), f.actions.clone(), f.problem.clone())).collect();
        assert_eq!(got, findings, "{name}");
        assert_eq!(report.passed(), findings.is_empty(), "{name}");
        let got: Vec<Controller> = report
            .key_control
            .iter()
            .map(|g| (g.statement.clone(), g.principal.clone(), g.actions.clone(), g.admitted))
            .collect();
        assert_eq!(got, key_control, "{name}: key control");
        // Every finding prints; attacker-chosen text is escaped.
        for finding in &report.findings {
            assert!(!finding.to_string().contains('\n'), "{name}: {finding}");
        }
    }
}

#[test]
fn findings_name_the_actions_and_how_they_are_granted() {
    let report = check_key_policy(
        &policy(r#"{"Sid":"NotAdmin","Effect":"Allow","Principal":"*","NotAction":"kms:Decrypt","Resource":"*"}"#),
        &policy_of(&pins()),
        &[],
    )
    .unwrap();
    let [crypto, control] = report.findings.as_slice() else { panic!("{report:?}") };
    assert_eq!(crypto.granted_through, "NotAction");
    assert!(!crypto.actions.contains(&"kms:Decrypt"));
    assert!(crypto.actions.contains(&"kms:GenerateDataKey"));
    let text = crypto.to_string();
    assert!(
        text.contains("\"NotAdmin\"") && text.contains("kms:GenerateDataKey") && text.contains("no Condition"),
        "{text}"
    );
    assert_eq!(control.actions, KEY_CONTROL_ACTIONS);
    assert_eq!(
        control.to_string(),
        "statement \"NotAdmin\" lets \"*\" (anyone) call kms:PutKeyPolicy, kms:ReplicateKey, kms:UpdatePrimaryRegion, \
         kms:ImportKeyMaterial (through NotAction), and it is not a named key administrator (--key-admin): whoever \
         can rewrite the key policy, replicate the key, move its primary Region or import its key material can \
         release it without attestation"
    );

    let report = check_key_policy(&policy(&allow("Gen", r#""kms:gen*""#, None)), &policy_of(&pins()), &[]).unwrap();
    assert_eq!(
        report.findings[0].actions,
        vec!["kms:GenerateDataKey", "kms:GenerateDataKeyPair", "kms:GenerateRandom"]
    );
    assert_eq!(report.granting_statements, 1);
}

#[test]
fn deny_guard_findings_say_which_request_gets_through() {
    let doc = policy(&format!(
        "{},{}",
        allow("Enclave", r#""kms:Decrypt""#, None),
        deny(
            "DenyAllThree",
            r#""kms:Decrypt""#,
            &format!(
                r#"{{"StringNotEquals":{{"kms:RecipientAttestation:ImageSha384":["{PCR0_A}","{PCR0_B}"],"kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR2":"{PCR2}"}}}}"#
            )
        )
    ));
    let report = check_key_policy(&doc, &policy_of(&pins()), &[]).unwrap();
    assert_eq!(
        report.findings[1].to_string(),
        format!(
            "statement \"Enclave\" allows kms:Decrypt (through Action) but the Deny statements on these actions let \
             through a request whose attestation has PCR0 = a value no allowed set names, PCR1 = a value no allowed \
             set names, PCR2 = {PCR2}, which matches no allowed set"
        )
    );
    let json = serde_json::to_value(&report.findings[1].problem).unwrap();
    assert_eq!(
        json,
        json!({"kind": "deny_guard_lets_through", "request": {"0": "unlisted", "1": "unlisted", "2": PCR2}, "not_counted": []})
    );

    let scoped = policy(&format!(
        "{},{}",
        allow("Enclave", r#""kms:Decrypt""#, None),
        deny(
            "Scoped\\nSid",
            r#""kms:Decrypt""#,
            &format!(r#"{{"StringNotEquals":{{"kms:RecipientAttestation:PCR0":"{PCR0_A}"}}}}"#)
        )
        .replace(r#""Resource":"*""#, r#""NotResource":"x""#)
    ));
    let report = check_key_policy(&scoped, &policy_of(&pins()), &[]).unwrap();
    assert_eq!(
        report.findings[1].to_string(),
        "statement \"Enclave\" allows kms:Decrypt (through Action) but the Deny statements on these actions let \
         through a request without an attestation document, which matches no allowed set (not counted: statement \
         \"Scoped\\nSid\": Resource is not \"*\")"
    );
}

#[test]
fn an_exhausted_search_budget_is_a_finding_not_a_pass() {
    let doc = policy(&format!(
        "{},{}",
        allow("Enclave", r#""kms:Decrypt""#, None),
        deny_trio(r#""kms:Decrypt""#, "StringNotEquals")
    ));
    let sets = pins();
    assert!(check_with_budget(&doc, &policy_of(&sets), &[], GUARD_SEARCH_BUDGET).unwrap().passed());
    let report = check_with_budget(&doc, &policy_of(&sets), &[], 2).unwrap();
    let got: Vec<_> = report.findings.iter().map(|f| f.problem.clone()).collect();
    assert_eq!(got, vec![Problem::NoCondition, Problem::DenyGuardUndecided { limit: 2, not_counted: vec![] }]);
}

#[test]
fn statements_without_guarded_actions_are_not_counted() {
    let report = check_key_policy(
        &policy(&format!("{},{}", allow("Admin", r#""kms:Describe*""#, None), allow("Other", r#""s3:*""#, None))),
        &policy_of(&pins()),
        &[],
    )
    .unwrap();
    assert_eq!((report.statements, report.granting_statements), (2, 0));
    assert!(report.passed());
    assert!(report.key_control.is_empty());
}

#[test]
fn generated_policies_have_one_statement_per_set_and_pass_the_checker() {
    let sets = pins();
    let admins: Vec<KeyAdmin> = vec![ADMIN.parse().unwrap()];
    let generated = generate_key_policy(&policy_of(&sets), Some(ENCLAVE), &admins).unwrap();
    let doc = generated.document();
    let text = serde_json::to_string_pretty(doc).unwrap();
    let report = check_key_policy(&text, &policy_of(&sets), &admins).unwrap();
    assert!(report.passed(), "{report:?}");
    assert_eq!(report.granting_statements, 2, "one per set; the admin statement grants no crypto use");
    assert_eq!(
        report.key_control,
        vec![KeyControlGrant {
            statement: sid(ADMIN_SID),
            principal: aws(ADMIN),
            actions: vec!["kms:PutKeyPolicy"],
            granted_through: "Action",
            admitted: true,
        }]
    );
    // The administrator can rewrite the policy: without naming it, the check fails on exactly that.
    let report = check_key_policy(&text, &policy_of(&sets), &[]).unwrap();
    let got: Vec<_> = report.findings.iter().map(|f| (f.statement.clone(), f.problem.clone())).collect();
    assert_eq!(got, vec![(sid(ADMIN_SID), Problem::KeyControl { principal: aws(ADMIN) })]);

    for (n, pcr0) in [PCR0_A, PCR0_B].into_iter().enumerate() {
        let statement = &doc["Statement"][n];
        assert_eq!(statement["Sid"], json!(format!("{ENCLAVE_SID}Set{}", n + 1)));
        let condition = &statement["Condition"]["StringEqualsIgnoreCase"];
        assert_eq!(condition["kms:RecipientAttestation:ImageSha384"], json!(pcr0), "one value per key: the set's");
        assert_eq!(condition["kms:RecipientAttestation:PCR1"], json!(PCR1));
        assert_eq!(condition["kms:RecipientAttestation:PCR2"], json!(PCR2));
        assert_eq!(statement["Action"], json!(ENCLAVE_ACTIONS));
    }
    assert_eq!(doc["Statement"][2]["Principal"]["AWS"], json!(ADMIN));
    let one = generate_key_policy(&policy_of(&sets[..1]), None, &[]).unwrap();
    assert_eq!(one.document()["Statement"][0]["Sid"], json!(ENCLAVE_SID));

    // Several administrators: a list, duplicates once.
    let several: Vec<KeyAdmin> = [ADMIN, "111122223333", ADMIN].iter().map(|a| a.parse().unwrap()).collect();
    let generated = generate_key_policy(&policy_of(&sets), Some(ENCLAVE), &several).unwrap();
    assert_eq!(generated.document()["Statement"][2]["Principal"]["AWS"], json!([ADMIN, "111122223333"]));
    let text = generated.document().to_string();
    assert!(check_key_policy(&text, &policy_of(&sets), &several).unwrap().passed());
    // Naming the account by its :root ARN admits the id form the policy carries.
    let by_root: Vec<KeyAdmin> = [ADMIN, ROOT].iter().map(|a| a.parse().unwrap()).collect();
    assert!(check_key_policy(&text, &policy_of(&sets), &by_root).unwrap().passed());

    // The same document checked against stricter sets (PCR8 too) fails on PCR8, statement by
    // statement, each against the set it came closest to.
    let stricter: Vec<MeasurementSet> =
        sets.iter().map(|s| format!("{s},8={}", "08".repeat(48)).parse().unwrap()).collect();
    let report = check_key_policy(&text, &policy_of(&stricter), &several).unwrap();
    let got: Vec<_> = report.findings.iter().map(|f| (f.set, f.problem.clone())).collect();
    assert_eq!(
        got,
        vec![
            (Some(1), Problem::PcrNotRequired { index: PcrIndex::SIGNING_CERTIFICATE }),
            (Some(2), Problem::PcrNotRequired { index: PcrIndex::SIGNING_CERTIFICATE })
        ]
    );
    assert!(report.findings[1].to_string().ends_with("(closest allowed measurement set: 2)"), "{}", report.findings[1]);
}

#[test]
fn the_readme_says_what_the_admin_statement_still_allows() {
    let admins: Vec<KeyAdmin> = vec![ADMIN.parse().unwrap()];
    let readme = generate_key_policy(&policy_of(&pins()), Some(ENCLAVE), &admins).unwrap().readme().to_owned();
    assert!(readme.contains(&format!("Enclave use. {ENCLAVE} may call kms:Decrypt,")), "{readme}");
    assert!(readme.contains(&format!("  {ENCLAVE_SID}Set1: PCR0, PCR1, PCR2\n  {ENCLAVE_SID}Set2: PCR0, PCR1, PCR2\n")));
    assert!(readme.contains("cannot say \"one of these sets\""));
    assert!(readme.contains(&format!("Key administration ({ADMIN_SID}). {ADMIN} may call kms:DescribeKey,")));
    assert!(readme.contains(
        "  - kms:PutKeyPolicy: an administrator can replace this key policy, for example with one that lets any \
         principal call kms:Decrypt without attestation, and so release the key"
    ));
    assert!(readme.contains("as trusted as the enclave"));
    assert!(readme.contains(&format!("--policy POLICY_FILE --key-admin {ADMIN}\n")));
    assert!(!readme.contains("placeholders"));
    assert!(!readme.contains("every identity in that account"));

    // Every admin action is accounted for, in exactly one line of "What it still allows".
    let explained: Vec<&str> = ADMIN_EFFECTS.iter().flat_map(|(actions, _)| actions.iter().copied()).collect();
    let mut sorted = explained.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), explained.len(), "an action explained twice");
    let mut admin = KEY_ADMIN_ACTIONS.to_vec();
    admin.sort_unstable();
    assert_eq!(sorted, admin);
    for (actions, effect) in ADMIN_EFFECTS {
        assert!(readme.contains(&format!("  - {}: {effect}\n", actions.join(", "))));
    }

    // An account as administrator, and placeholders, are spelt out.
    let account: Vec<KeyAdmin> = vec!["111122223333".parse().unwrap()];
    let readme = generate_key_policy(&policy_of(&pins()), None, &account).unwrap().readme().to_owned();
    assert!(readme.contains("every identity in that account whose IAM policies allow these actions"), "{readme}");
    assert!(readme.contains("The policy still has placeholders"));
    let readme = generate_key_policy(&policy_of(&pins()[..1]), Some(ENCLAVE), &[]).unwrap().readme().to_owned();
    assert!(readme.contains(&format!("Key administration ({ADMIN_SID}). {KEY_ADMIN_PLACEHOLDER} may call")));
    assert!(!readme.contains("one of these sets"));
}

#[test]
fn admin_actions_grant_nothing_guarded_and_only_put_key_policy_of_key_control() {
    for admin in KEY_ADMIN_ACTIONS {
        for guarded in GUARDED_ACTIONS {
            assert!(!action_matches(admin, guarded), "{admin} matches {guarded}");
        }
    }
    let control: Vec<&str> =
        KEY_CONTROL_ACTIONS.into_iter().filter(|c| KEY_ADMIN_ACTIONS.iter().any(|a| action_matches(a, c))).collect();
    assert_eq!(control, vec!["kms:PutKeyPolicy"]);
    for c in KEY_CONTROL_ACTIONS {
        assert!(!GUARDED_ACTIONS.contains(&c));
    }
}

/// A policy file may waive the image rule for its verifier (`accept_any_enclave = true`); a key policy
/// made or checked from it must not: its conditions would release the key to an enclave running any
/// code whose parent instance has the pinned IAM role (PCR3).
#[test]
fn a_policy_that_waives_the_image_rule_gets_no_key_policy() {
    let waived = Policy::from_toml_str(&format!("accept_any_enclave = true\n[[pcrs]]\n3 = \"{PCR1}\"\n")).unwrap();
    assert!(waived.accepts_any_enclave(), "the SDK's verifier accepts it");
    let refused = KmsPolicyError::ImageNotPinned(PolicyError::ImageNotPinned {
        set: Some(1),
        pins: vec![idx(3)],
        zeroed: vec![],
        checksum_pinned: false,
    });
    assert_eq!(generate_key_policy(&waived, Some(ENCLAVE), &[]), Err(refused.clone()));
    // Not even a key policy that conditions on that set passes the check.
    let pcr3 = format!(r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:PCR3":"{PCR1}"}}}}"#);
    let on_pcr3 = policy(&allow("P3", r#""kms:Decrypt""#, Some(&pcr3)));
    assert_eq!(check_key_policy(&on_pcr3, &waived, &[]), Err(refused));
}

#[test]
fn generation_refuses_empty_pins_and_non_arn_principals() {
    assert_eq!(
        generate_key_policy(&policy_of(&[]), None, &[]),
        Err(KmsPolicyError::ImageNotPinned(PolicyError::ImageNotPinned {
            set: None,
            pins: vec![],
            zeroed: vec![],
            checksum_pinned: false
        }))
    );
    assert_eq!(
        generate_key_policy(&policy_of(&pins()), Some("*"), &[]),
        Err(KmsPolicyError::BadPrincipal { role: "enclave", value: "*".into() })
    );
    let doc = generate_key_policy(&policy_of(&pins()[..1]), None, &[]).unwrap().into_document();
    assert_eq!(doc["Statement"][0]["Principal"]["AWS"], json!(PRINCIPAL_PLACEHOLDER));
    assert_eq!(doc["Statement"][1]["Principal"]["AWS"], json!(KEY_ADMIN_PLACEHOLDER));
}

#[test]
fn key_admins_are_accounts_or_iam_principals_and_never_everyone() {
    for good in [
        "111122223333",
        ROOT,
        "arn:aws-cn:iam::111122223333:root",
        ADMIN,
        "arn:aws:iam::111122223333:role/path/to/admin",
        "arn:aws:iam::111122223333:user/alice",
        "arn:aws:sts::111122223333:assumed-role/admin/session",
        "arn:aws-us-gov:sts::111122223333:federated-user/bob",
    ] {
        assert_eq!(good.parse::<KeyAdmin>().map(|a| a.as_str().to_owned()), Ok(good.to_owned()));
    }
    for bad in [
        "*",
        "",
        "arn:aws:iam::*:root",
        "arn:aws:iam::111122223333:role/*",
        "arn:aws:iam::111122223333:role/adm?n",
        "arn:aws:iam::11112222333:root",
        "1111222233334",
        "arn:aws:iam:us-east-1:111122223333:root",
        "arn:aws:iam::111122223333:group/admins",
        "arn:aws:iam::111122223333:role/",
        "arn:aws:s3:::bucket",
        "arn::iam::111122223333:root",
        "arn:aws:iam::111122223333:role/admin ",
        "AROAEXAMPLEID",
    ] {
        assert_eq!(bad.parse::<KeyAdmin>(), Err(KmsPolicyError::BadKeyAdmin { value: bad.to_owned() }), "{bad:?}");
    }
}

#[test]
fn principals_match_as_iam_resolves_them() {
    // (policy principal, admin, same)
    let cases = [
        ("111122223333", ROOT, true),
        (ROOT, "111122223333", true),
        ("arn:aws-cn:iam::111122223333:root", "111122223333", true),
        ("arn:aws-cn:iam::111122223333:root", ROOT, false),
        (ROOT, ADMIN, false),
        (ADMIN, ROOT, false),
        (ADMIN, "111122223333", false),
        ("444455556666", ROOT, false),
        (ADMIN, ADMIN, true),
        ("arn:aws:iam::111122223333:role/Admin", ADMIN, false),
        ("arn:aws:sts::111122223333:assumed-role/admin/s", ADMIN, false),
        ("arn:aws:iam::111122223333:root ", ROOT, false),
    ];
    for (policy_side, admin, same) in cases {
        assert_eq!(same_aws_principal(policy_side, admin), same, "{policy_side} vs {admin}");
        let admin: KeyAdmin = admin.parse().unwrap();
        assert_eq!(admin.admits(&aws(policy_side)), same, "{policy_side} vs {admin}");
        assert!(!admin.admits(&named("Service", admin.as_str())), "only AWS principals");
        assert!(!admin.admits(&Principal::Anyone));
        assert!(!admin.admits(&Principal::AnyoneExcept(vec![named_entry("AWS", admin.as_str())])));
    }
}

#[test]
fn malformed_documents_are_errors_not_passes() {
    let p = pins();
    let check = |doc: &str| check_key_policy(doc, &policy_of(&p), &[]);
    assert!(matches!(check("not json"), Err(KmsPolicyError::Json(_))));
    assert!(matches!(check("{} trailing"), Err(KmsPolicyError::Json(_))));
    // A duplicate "Condition" must not let the checker see one block while KMS sees another.
    let dup = policy(&format!(
        r#"{{"Sid":"Dup","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{},"Condition":{{}}}}"#,
        strict_condition("StringEquals")
    ));
    match check(&dup) {
        Err(KmsPolicyError::Json(msg)) => {
            assert!(msg.contains("duplicate key \"Condition\""), "{msg}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(check(r#"{"Version":"2012-10-17"}"#), Err(malformed("document", "no Statement")));
    assert_eq!(
        check(&policy(r#"{"Sid":"X","Effect":"Allow","Principal":"*","Resource":"*"}"#)),
        Err(malformed("statement \"X\"", "has neither Action nor NotAction"))
    );
    assert_eq!(
        check(&policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","NotAction":"kms:Encrypt","Resource":"*"}"#
        )),
        Err(malformed("statement #0", "has both Action and NotAction"))
    );
    assert_eq!(
        check(&policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:RecipientAttestation:PCR1":7}}}"#
        )),
        Err(malformed("statement #0", "values of kms:RecipientAttestation:PCR1 are not strings"))
    );
    // Deny statements are read too: a malformed one cannot be relied on, nor silently skipped.
    assert_eq!(
        check(&policy(r#"{"Sid":"D","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":[]}"#)),
        Err(malformed("statement \"D\"", "Condition is not an object"))
    );
    assert_eq!(
        check(&policy(r#"{"Sid":"P","Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}"#)),
        Err(malformed("statement \"P\"", "has neither Principal nor NotPrincipal"))
    );
    assert_eq!(
        check(&policy(
            r#"{"Sid":"P","Effect":"Allow","Principal":"*","NotPrincipal":{"AWS":"1"},"Action":"kms:Decrypt","Resource":"*"}"#
        )),
        Err(malformed("statement \"P\"", "has both Principal and NotPrincipal"))
    );
    assert_eq!(
        check(&policy(
            r#"{"Sid":"P","Effect":"Allow","Principal":"arn:aws:iam::111122223333:root","Action":"kms:Decrypt","Resource":"*"}"#
        )),
        Err(malformed("statement \"P\"", "Principal is a string other than \"*\""))
    );
    assert_eq!(
        check(&policy(r#"{"Sid":"P","Effect":"Allow","Principal":{"AWS":[]},"Action":"kms:Decrypt","Resource":"*"}"#)),
        Err(malformed("statement \"P\"", "Principal names no principal"))
    );
    assert_eq!(
        check(&policy(r#"{"Sid":"P","Effect":"Allow","Principal":{"AWS":7},"Action":"kms:Decrypt","Resource":"*"}"#)),
        Err(malformed("statement \"P\"", "Principal \"AWS\" is not a string or list of strings"))
    );
    let big = " ".repeat(MAX_KEY_POLICY_LEN + 1);
    assert_eq!(check(&big), Err(KmsPolicyError::TooLarge { len: MAX_KEY_POLICY_LEN + 1, max: MAX_KEY_POLICY_LEN }));
    assert!(matches!(
        check_key_policy("{}", &policy_of(&[]), &[]),
        Err(KmsPolicyError::ImageNotPinned(PolicyError::ImageNotPinned { set: None, .. }))
    ));
}

#[test]
fn misspelt_effect_is_treated_as_allow() {
    let report = check_key_policy(
        &policy(r#"{"Sid":"Typo","Effect":"deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}"#),
        &policy_of(&pins()),
        &[],
    )
    .unwrap();
    assert_eq!(report.findings[0].problem, Problem::NoCondition);
}

#[test]
fn condition_keys_are_case_insensitive_but_pcr_numbers_are_canonical() {
    assert_eq!(key_pcr("KMS:recipientattestation:imagesha384"), Some(idx(0)));
    assert_eq!(key_pcr("kms:RecipientAttestation:PCR0"), Some(idx(0)));
    assert_eq!(key_pcr("kms:recipientattestation:pcr15"), Some(idx(15)));
    assert_eq!(key_pcr("kms:RecipientAttestation:PCR01"), None);
    assert_eq!(key_pcr("kms:RecipientAttestation:PCR"), None);
    assert_eq!(key_pcr("kms:RecipientAttestation:PCR1x"), None);
    assert_eq!(key_pcr("kms:RecipientAttestation:PCR256"), None);
    assert_eq!(key_pcr("kms:RecipientAttestation:NitroTPMPCR1"), None);
}

#[test]
fn action_wildcards_follow_iam() {
    assert!(action_matches("*", "kms:Decrypt"));
    assert!(action_matches("kms:*", "kms:Decrypt"));
    assert!(action_matches("KMS:DECRYPT", "kms:Decrypt"));
    assert!(action_matches("kms:?ecrypt", "kms:Decrypt"));
    assert!(action_matches("*:Decrypt", "kms:Decrypt"));
    assert!(action_matches("kms:*Data*", "kms:GenerateDataKeyPair"));
    assert!(action_matches("kms:Put*", "kms:PutKeyPolicy"));
    assert!(action_matches("kms:*Key*", "kms:ImportKeyMaterial"));
    assert!(!action_matches("kms:*Key*", "kms:UpdatePrimaryRegion"));
    assert!(!action_matches("kms:Decrypt", "kms:DecryptX"));
    assert!(!action_matches("kms:Encrypt", "kms:Decrypt"));
    assert!(!action_matches("kms:Re*", "kms:Decrypt"));
    assert!(!action_matches("s3:*", "kms:Decrypt"));
    assert!(!action_matches("", "kms:Decrypt"));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// A set of 1 to 6 PCRs that identifies an image (a non-zero PCR0, PCR2 or PCR8 among them), as every
    /// set a key policy is made from must.
    fn one_set() -> impl Strategy<Value = MeasurementSet> {
        let image =
            (prop_oneof![Just(0u8), Just(2), Just(8)], any::<[u8; 4]>().prop_filter("non-zero", |v| v != &[0; 4]));
        (proptest::collection::btree_map(0u8..=31, any::<[u8; 4]>(), 0..6), image).prop_map(|(mut map, (i, v))| {
            map.insert(i, v);
            MeasurementSet::new(
                map.into_iter().map(|(i, v)| Pcr::new(idx(i), PcrValue::from_bytes(&v.repeat(12)).unwrap())),
            )
            .unwrap()
        })
    }

    /// An unconditioned Allow for the enclave beside one StringNotEqualsIgnoreCase Deny per PCR of `set`,
    /// leaving out the PCR at `skip`.
    fn deny_guarded(set: &MeasurementSet, skip: Option<PcrIndex>) -> String {
        let mut statements = vec![allow("Enclave", r#""kms:Decrypt""#, None)];
        for (index, value) in set.iter().filter(|(i, _)| Some(*i) != skip) {
            statements.push(deny(
                &format!("Deny{}", index.get()),
                r#""kms:Decrypt""#,
                &format!(r#"{{"StringNotEqualsIgnoreCase":{{"{}":"{value}"}}}}"#, condition_key(index)),
            ));
        }
        policy(&statements.join(","))
    }

    proptest! {
        /// Whatever one set pins, the generated policy passes, and dropping any one PCR's condition is
        /// reported as exactly that PCR not being required, on the enclave statement.
        #[test]
        fn generated_passes_and_each_dropped_pin_is_named(set in one_set()) {
            let sets = vec![set];
            let admins: Vec<KeyAdmin> = vec![ADMIN.parse().unwrap()];
            let doc = generate_key_policy(&policy_of(&sets), None, &admins).unwrap().into_document();
            let report = check_key_policy(&doc.to_string(), &policy_of(&sets), &admins).unwrap();
            prop_assert!(report.passed(), "{:?}", report);
            for index in sets[0].indices() {
                let mut edited = doc.clone();
                let keys = edited["Statement"][0]["Condition"]["StringEqualsIgnoreCase"].as_object_mut().unwrap();
                prop_assert!(keys.remove(&condition_key(index)).is_some());
                let report = check_key_policy(&edited.to_string(), &policy_of(&sets), &admins).unwrap();
                let got: Vec<_> = report.findings.iter().map(|f| (f.statement.clone(), f.problem.clone())).collect();
                prop_assert_eq!(got, vec![(StatementRef::Sid(ENCLAVE_SID.into()), Problem::PcrNotRequired { index })]);
            }
        }

        /// Several sets: one statement each, and the policy passes.
        #[test]
        fn generated_passes_for_several_sets(sets in proptest::collection::vec(one_set(), 1..4)) {
            let doc = generate_key_policy(&policy_of(&sets), None, &[]).unwrap().into_document();
            prop_assert_eq!(doc["Statement"].as_array().map(Vec::len), Some(sets.len() + 1));
            let admins: Vec<KeyAdmin> = vec![];
            let report = check_key_policy(&doc.to_string(), &policy_of(&sets), &admins).unwrap();
            let got: Vec<_> = report.findings.iter().map(|f| f.problem.clone()).collect();
            prop_assert_eq!(got, vec![Problem::KeyControl { principal: aws(KEY_ADMIN_PLACEHOLDER) }]);
        }

        /// One Deny per PCR guards the set; leaving one out lets exactly that PCR vary, and the example
        /// request shows it with every other PCR pinned.
        #[test]
        fn each_missing_deny_is_the_hole_the_example_shows(set in one_set()) {
            let sets = vec![set];
            prop_assert!(check_key_policy(&deny_guarded(&sets[0], None), &policy_of(&sets), &[]).unwrap().passed());
            if sets[0].indices().len() < 2 {
                return Ok(());
            }
            for skip in sets[0].indices() {
                let report = check_key_policy(&deny_guarded(&sets[0], Some(skip)), &policy_of(&sets), &[]).unwrap();
                let expected: Vec<(PcrIndex, Observed)> = sets[0]
                    .iter()
                    .map(|(i, v)| (i, if i == skip { Observed::Unlisted } else { Observed::Value(v.clone()) }))
                    .collect();
                let got: Vec<_> = report.findings.iter().map(|f| f.problem.clone()).collect();
                prop_assert_eq!(got, vec![
                    Problem::NoCondition,
                    Problem::DenyGuardLetsThrough { request: UnguardedRequest(expected), not_counted: vec![] },
                ]);
            }
        }

        /// Arbitrary text never panics the checker.
        #[test]
        fn arbitrary_input_never_panics(text in ".{0,400}") {
            let admins: Vec<KeyAdmin> = vec![ADMIN.parse().unwrap()];
            let _ = check_key_policy(&text, &policy_of(&pins()), &admins);
        }
    }
}

/// A guard built so that no partial assignment is ever blocked (every Deny tests the last PCR): the
/// search would need 3^15 steps. The real budget stops it with a finding, in well under a second.
#[test]
fn a_document_built_to_explode_the_search_is_undecided_not_a_hang() {
    let v = |i: u8| format!("{i:02x}").repeat(48);
    let set: MeasurementSet = (0u8..16).map(|i| format!("{i}={}", v(i))).collect::<Vec<_>>().join(",").parse().unwrap();
    let last = condition_key(idx(15));
    let mut statements = vec![
        allow("Enclave", r#""kms:Decrypt""#, None),
        deny("Last", r#""kms:Decrypt""#, &format!(r#"{{"StringNotEquals":{{"{last}":"{}"}}}}"#, v(15))),
    ];
    for i in 0u8..15 {
        statements.push(deny(
            &format!("Pair{i}"),
            r#""kms:Decrypt""#,
            &format!(r#"{{"StringNotEquals":{{"{}":"{}","{last}":"{OTHER}"}}}}"#, condition_key(idx(i)), v(i)),
        ));
    }
    let doc = policy(&statements.join(","));
    assert!(doc.len() < MAX_KEY_POLICY_LEN);
    let report = check_key_policy(&doc, &policy_of(&[set]), &[]).unwrap();
    let got: Vec<_> = report.findings.iter().map(|f| f.problem.clone()).collect();
    assert_eq!(
        got,
        vec![Problem::NoCondition, Problem::DenyGuardUndecided { limit: GUARD_SEARCH_BUDGET, not_counted: vec![] }]
    );
}
