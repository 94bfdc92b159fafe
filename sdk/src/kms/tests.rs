//! The checker against a table of strict and permissive key policies, and generate → check round trips.

use super::*;
use enclave_protocol::Pcr;

const PCR0_A: &str = "aa00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000aa";
const PCR0_B: &str = "bb00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000bb";
const PCR1: &str = "111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111";
const PCR2: &str = "222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222";
const OTHER: &str = "ee00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000ee";

/// Two releases that differ in PCR0 only.
fn pins() -> Vec<MeasurementSet> {
    MeasurementSet::parse_list(&format!("0={PCR0_A},1={PCR1},2={PCR2};0={PCR0_B},1={PCR1},2={PCR2}")).unwrap()
}

fn idx(n: u8) -> PcrIndex {
    PcrIndex::new(n).unwrap()
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

fn allow(sid: &str, actions: &str, condition: Option<&str>) -> String {
    let condition = condition.map(|c| format!(r#","Condition":{c}"#)).unwrap_or_default();
    format!(
        r#"{{"Sid":"{sid}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:role/enclave"}},"Action":{actions},"Resource":"*"{condition}}}"#
    )
}

fn check(doc: &str) -> CheckReport {
    check_key_policy(doc, &pins()).unwrap()
}

/// One row: name, document, expected findings as (statement, problem).
type Row = (&'static str, String, Vec<(StatementRef, Problem)>);

fn table() -> Vec<Row> {
    let sid = |s: &str| StatementRef::Sid(s.to_owned());
    let strict = strict_condition("StringEqualsIgnoreCase");
    vec![
        // --- strict ---
        ("strict: StringEqualsIgnoreCase on every pin", policy(&allow("Enclave", r#"["kms:Decrypt","kms:GenerateDataKey"]"#, Some(&strict))), vec![]),
        ("strict: StringEquals, the second release's PCRs", policy(&allow("Enclave", r#""kms:Decrypt""#, Some(&format!(
            r#"{{"StringEquals":{{"kms:RecipientAttestation:PCR0":"{PCR0_B}","kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR2":"{PCR2}"}}}}"#)))), vec![]),
        ("strict: kms:* with every pin, plus a Deny kms:* without conditions", policy(&format!("{},{}",
            allow("Everything", r#""kms:*""#, Some(&strict)),
            r#"{"Sid":"DenyAll","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"}"#)), vec![]),
        ("strict: pins split across two operators (ANDed), uppercase hex, StringLike without wildcards", policy(&allow("Split", r#""kms:Decrypt""#, Some(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":"{}"}},"StringLike":{{"kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR2":"{PCR2}"}}}}"#,
            PCR0_A.to_uppercase())))), vec![]),
        ("strict: admin statement without crypto actions, no conditions", policy(&format!("{},{}",
            allow("Enclave", r#""kms:Decrypt""#, Some(&strict)),
            allow("Admin", r#"["kms:Describe*","kms:Put*","kms:Enable*","kms:ScheduleKeyDeletion","kms:Encrypt"]"#, None))), vec![]),
        ("strict: a weaker duplicate beside a strict entry still requires the pin (AND)", policy(&allow("Both", r#""kms:Decrypt""#, Some(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":"{PCR0_A}","kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR2":"{PCR2}"}},"StringEqualsIfExists":{{"kms:RecipientAttestation:PCR1":"{OTHER}"}}}}"#)))), vec![]),

        // --- permissive ---
        ("permissive: AWS default root statement, kms:* unconditioned", policy(r#"{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}"#),
            vec![(sid("Enable IAM User Permissions"), Problem::NoCondition)]),
        ("permissive: bare * without Sid is reported by index", policy(&format!("{},{}",
            allow("Enclave", r#""kms:Decrypt""#, Some(&strict)),
            r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}"#)),
            vec![(StatementRef::Index(1), Problem::NoCondition)]),
        ("permissive: kms:Decrypt* wildcard, mixed case, only PCR0 required", policy(&allow("Partial", r#""KMS:decrypt*""#, Some(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":"{PCR0_A}"}}}}"#)))),
            vec![(sid("Partial"), Problem::PcrNotRequired { index: idx(1) }), (sid("Partial"), Problem::PcrNotRequired { index: idx(2) })]),
        ("permissive: condition on the wrong PCR (PCR3 instead of PCR2)", policy(&allow("WrongPcr", r#""kms:Gen*""#, Some(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":"{PCR0_A}","kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR3":"{PCR2}"}}}}"#)))),
            vec![(sid("WrongPcr"), Problem::PcrNotRequired { index: idx(2) })]),
        ("permissive: wrong value for PCR0", policy(&allow("WrongValue", r#""kms:Decrypt""#, Some(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":["{PCR0_A}","{OTHER}"],"kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR2":"{PCR2}"}}}}"#)))),
            vec![(sid("WrongValue"), Problem::ValueNotPinned { index: idx(0), value: OTHER.to_owned() })]),
        ("permissive: both releases' PCR0 values in one statement (KMS ORs them per key)", policy(&allow("Both", r#""kms:Decrypt""#, Some(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":["{PCR0_A}","{PCR0_B}"],"kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR2":"{PCR2}"}}}}"#)))),
            vec![(sid("Both"), Problem::ValueNotPinned { index: idx(0), value: PCR0_B.to_owned() })]),
        ("permissive: StringEqualsIfExists lets requests without attestation through", policy(&allow("IfExists", r#""kms:Decrypt""#, Some(&strict_condition("StringEqualsIfExists")))),
            vec![0u8, 1, 2].into_iter().map(|i| (sid("IfExists"), Problem::IfExists { index: idx(i), operator: "StringEqualsIfExists".into() })).collect()),
        ("permissive: ForAnyValue:StringEquals set operator", policy(&allow("AnyValue", r#""kms:GenerateDataKey""#, Some(&strict_condition("ForAnyValue:StringEquals")))),
            vec![0u8, 1, 2].into_iter().map(|i| (sid("AnyValue"), Problem::SetOperator { index: idx(i), operator: "ForAnyValue:StringEquals".into() })).collect()),
        ("permissive: ForAllValues (true when the key is absent)", policy(&allow("AllValues", r#""kms:Decrypt""#, Some(&strict_condition("ForAllValues:StringEqualsIgnoreCase")))),
            vec![0u8, 1, 2].into_iter().map(|i| (sid("AllValues"), Problem::SetOperator { index: idx(i), operator: "ForAllValues:StringEqualsIgnoreCase".into() })).collect()),
        ("permissive: StringLike with a wildcard on PCR1", policy(&allow("Like", r#""kms:Decrypt""#, Some(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":"{PCR0_A}","kms:RecipientAttestation:PCR2":"{PCR2}"}},"StringLike":{{"kms:RecipientAttestation:PCR1":"1111*"}}}}"#)))),
            vec![(sid("Like"), Problem::Wildcard { index: idx(1), value: "1111*".into() })]),
        ("permissive: NotAction leaves the crypto actions open", policy(r#"{"Sid":"NotAdmin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/x"},"NotAction":["kms:Encrypt","kms:PutKeyPolicy"],"Resource":"*"}"#),
            vec![(sid("NotAdmin"), Problem::NoCondition)]),
        ("permissive: StringNotEquals is true when the key is absent", policy(&allow("NotEquals", r#""kms:DeriveSharedSecret""#, Some(&strict_condition("StringNotEquals")))),
            vec![0u8, 1, 2].into_iter().map(|i| (sid("NotEquals"), Problem::WeakOperator { index: idx(i), operator: "StringNotEquals".into() })).collect()),
        ("permissive: Null check only requires presence", policy(&allow("Null", r#""kms:Decrypt""#, Some(&format!(
            r#"{{"Null":{{"kms:RecipientAttestation:ImageSha384":"false"}},"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR2":"{PCR2}"}}}}"#)))),
            vec![(sid("Null"), Problem::WeakOperator { index: idx(0), operator: "Null".into() })]),
        ("permissive: conditioned on something else entirely", policy(&allow("Vpc", r#""kms:Decrypt""#, Some(r#"{"StringEquals":{"aws:SourceVpce":"vpce-1"}}"#))),
            vec![0u8, 1, 2].into_iter().map(|i| (sid("Vpc"), Problem::PcrNotRequired { index: idx(i) })).collect()),
        ("permissive: AWS default admin statement grants CreateGrant through kms:Create*", policy(&format!("{},{}",
            allow("Enclave", r#""kms:Decrypt""#, Some(&strict)),
            allow("Allow access for Key Administrators", r#"["kms:Create*","kms:Describe*","kms:Enable*"]"#, None))),
            vec![(sid("Allow access for Key Administrators"), Problem::NoCondition)]),
        ("permissive: ReEncrypt* releases ciphertext to another key", policy(&allow("ReEncrypt", r#""kms:ReEncrypt*""#, None)),
            vec![(sid("ReEncrypt"), Problem::NoCondition)]),
        ("permissive: a single statement object with an empty Condition", r#"{"Version":"2012-10-17","Statement":{"Sid":"Empty","Effect":"Allow","Principal":"*","Action":"kms:GenerateRandom","Resource":"*","Condition":{}}}"#.to_owned(),
            vec![(sid("Empty"), Problem::NoCondition)]),
    ]
}

#[test]
fn table_of_strict_and_permissive_policies() {
    let table = table();
    assert!(table.iter().filter(|(_, _, f)| f.is_empty()).count() >= 6);
    assert!(table.iter().filter(|(_, _, f)| !f.is_empty()).count() >= 12);
    for (name, doc, expected) in table {
        let report = check(&doc);
        let got: Vec<(StatementRef, Problem)> =
            report.findings.iter().map(|f| (f.statement.clone(), f.problem.clone())).collect();
        assert_eq!(got, expected, "{name}");
        assert_eq!(report.passed(), expected.is_empty(), "{name}");
    }
}

#[test]
fn findings_name_the_actions_and_how_they_are_granted() {
    let report = check(&policy(
        r#"{"Sid":"NotAdmin","Effect":"Allow","Principal":"*","NotAction":"kms:Decrypt","Resource":"*"}"#,
    ));
    let [finding] = report.findings.as_slice() else { panic!("{report:?}") };
    assert_eq!(finding.granted_through, "NotAction");
    assert!(!finding.actions.contains(&"kms:Decrypt"));
    assert!(finding.actions.contains(&"kms:GenerateDataKey"));
    let text = finding.to_string();
    assert!(
        text.contains("\"NotAdmin\"") && text.contains("kms:GenerateDataKey") && text.contains("no Condition"),
        "{text}"
    );

    let report = check(&policy(&allow("Gen", r#""kms:gen*""#, None)));
    assert_eq!(
        report.findings[0].actions,
        vec!["kms:GenerateDataKey", "kms:GenerateDataKeyPair", "kms:GenerateRandom"]
    );
    assert_eq!(report.granting_statements, 1);
}

#[test]
fn statements_without_guarded_actions_are_not_counted() {
    let report = check(&policy(&format!(
        "{},{}",
        allow("Admin", r#""kms:Describe*""#, None),
        allow("Other", r#""s3:*""#, None)
    )));
    assert_eq!((report.statements, report.granting_statements), (2, 0));
    assert!(report.passed());
}

#[test]
fn generated_policies_have_one_statement_per_set_and_pass_the_checker() {
    let sets = pins();
    let doc = generate_key_policy(
        &sets,
        Some("arn:aws:iam::111122223333:role/enclave"),
        Some("arn:aws:iam::111122223333:role/admin"),
    )
    .unwrap();
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let report = check_key_policy(&text, &sets).unwrap();
    assert!(report.passed(), "{report:?}");
    assert_eq!(report.granting_statements, 2, "one per set; the admin statement grants no crypto use");

    for (n, pcr0) in [PCR0_A, PCR0_B].into_iter().enumerate() {
        let statement = &doc["Statement"][n];
        assert_eq!(statement["Sid"], json!(format!("{ENCLAVE_SID}Set{}", n + 1)));
        let condition = &statement["Condition"]["StringEqualsIgnoreCase"];
        assert_eq!(condition["kms:RecipientAttestation:ImageSha384"], json!(pcr0), "one value per key: the set's");
        assert_eq!(condition["kms:RecipientAttestation:PCR1"], json!(PCR1));
        assert_eq!(condition["kms:RecipientAttestation:PCR2"], json!(PCR2));
        assert_eq!(statement["Action"], json!(ENCLAVE_ACTIONS));
    }
    let one = generate_key_policy(&sets[..1], None, None).unwrap();
    assert_eq!(one["Statement"][0]["Sid"], json!(ENCLAVE_SID));

    // The same document checked against stricter sets (PCR8 too) fails on PCR8, statement by
    // statement, each against the set it came closest to.
    let stricter: Vec<MeasurementSet> =
        sets.iter().map(|s| format!("{s},8={}", "08".repeat(48)).parse().unwrap()).collect();
    let report = check_key_policy(&text, &stricter).unwrap();
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

/// Two releases that differ in PCR0 and PCR2: a statement listing both values of each key would
/// admit release A's PCR0 with release B's PCR2, so it is not credited with either set.
#[test]
fn a_statement_that_admits_a_mixture_of_two_sets_is_reported() {
    let a0 = "a0".repeat(48);
    let a2 = "a2".repeat(48);
    let b0 = "b0".repeat(48);
    let b2 = "b2".repeat(48);
    let sets = MeasurementSet::parse_list(&format!("0={a0},2={a2};0={b0},2={b2}")).unwrap();
    let mixed = policy(&allow(
        "Mixed",
        r#""kms:Decrypt""#,
        Some(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":["{a0}","{b0}"],"kms:RecipientAttestation:PCR2":["{a2}","{b2}"]}}}}"#
        )),
    ));
    let report = check_key_policy(&mixed, &sets).unwrap();
    let got: Vec<_> = report.findings.iter().map(|f| (f.set, f.problem.clone())).collect();
    assert_eq!(
        got,
        vec![
            (Some(1), Problem::ValueNotPinned { index: PcrIndex::IMAGE, value: b0.clone() }),
            (Some(1), Problem::ValueNotPinned { index: PcrIndex::APPLICATION, value: b2.clone() }),
        ]
    );
    // One statement per set, as generate writes them, passes.
    let split = policy(&format!(
        "{},{}",
        allow(
            "A",
            r#""kms:Decrypt""#,
            Some(&format!(
                r#"{{"StringEquals":{{"kms:RecipientAttestation:PCR0":"{a0}","kms:RecipientAttestation:PCR2":"{a2}"}}}}"#
            ))
        ),
        allow(
            "B",
            r#""kms:Decrypt""#,
            Some(&format!(
                r#"{{"StringEquals":{{"kms:RecipientAttestation:PCR0":"{b0}","kms:RecipientAttestation:PCR2":"{b2}"}}}}"#
            ))
        ),
    ));
    assert!(check_key_policy(&split, &sets).unwrap().passed());
}

#[test]
fn admin_actions_grant_nothing_guarded() {
    for admin in KEY_ADMIN_ACTIONS {
        for guarded in GUARDED_ACTIONS {
            assert!(!action_matches(admin, guarded), "{admin} matches {guarded}");
        }
    }
}

#[test]
fn generation_refuses_empty_pins_and_non_arn_principals() {
    assert_eq!(generate_key_policy(&[], None, None), Err(KmsPolicyError::NothingPinned));
    assert_eq!(
        generate_key_policy(&pins(), Some("*"), None),
        Err(KmsPolicyError::BadPrincipal { role: "enclave", value: "*".into() })
    );
    assert_eq!(
        generate_key_policy(&pins(), None, Some("arn:aws:iam::*:root")),
        Err(KmsPolicyError::BadPrincipal { role: "key-admin", value: "arn:aws:iam::*:root".into() })
    );
    let doc = generate_key_policy(&pins()[..1], None, None).unwrap();
    assert_eq!(doc["Statement"][0]["Principal"]["AWS"], json!(PRINCIPAL_PLACEHOLDER));
    assert_eq!(doc["Statement"][1]["Principal"]["AWS"], json!(KEY_ADMIN_PLACEHOLDER));
}

#[test]
fn malformed_documents_are_errors_not_passes() {
    let p = pins();
    assert!(matches!(check_key_policy("not json", &p), Err(KmsPolicyError::Json(_))));
    assert!(matches!(check_key_policy("{} trailing", &p), Err(KmsPolicyError::Json(_))));
    // A duplicate "Condition" must not let the checker see one block while KMS sees another.
    let dup = policy(&format!(
        r#"{{"Sid":"Dup","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{},"Condition":{{}}}}"#,
        strict_condition("StringEquals")
    ));
    match check_key_policy(&dup, &p) {
        Err(KmsPolicyError::Json(msg)) => {
            assert!(msg.contains("duplicate key \"Condition\""), "{msg}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(check_key_policy(r#"{"Version":"2012-10-17"}"#, &p), Err(malformed("document", "no Statement")));
    assert_eq!(
        check_key_policy(&policy(r#"{"Sid":"X","Effect":"Allow","Principal":"*","Resource":"*"}"#), &p),
        Err(malformed("statement \"X\"", "has neither Action nor NotAction"))
    );
    assert_eq!(
        check_key_policy(
            &policy(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","NotAction":"kms:Encrypt","Resource":"*"}"#
            ),
            &p
        ),
        Err(malformed("statement #0", "has both Action and NotAction"))
    );
    assert_eq!(
        check_key_policy(
            &policy(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:RecipientAttestation:PCR1":7}}}"#
            ),
            &p
        ),
        Err(malformed("statement #0", "values of kms:RecipientAttestation:PCR1 are not strings"))
    );
    let big = " ".repeat(MAX_KEY_POLICY_LEN + 1);
    assert_eq!(
        check_key_policy(&big, &p),
        Err(KmsPolicyError::TooLarge { len: MAX_KEY_POLICY_LEN + 1, max: MAX_KEY_POLICY_LEN })
    );
    assert_eq!(check_key_policy("{}", &[]), Err(KmsPolicyError::NothingPinned));
}

#[test]
fn misspelt_effect_is_treated_as_allow() {
    let report =
        check(&policy(r#"{"Sid":"Typo","Effect":"deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}"#));
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
    assert!(!action_matches("kms:Decrypt", "kms:DecryptX"));
    assert!(!action_matches("kms:Encrypt", "kms:Decrypt"));
    assert!(!action_matches("kms:Re*", "kms:Decrypt"));
    assert!(!action_matches("s3:*", "kms:Decrypt"));
    assert!(!action_matches("", "kms:Decrypt"));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn one_set() -> impl Strategy<Value = MeasurementSet> {
        proptest::collection::btree_map(0u8..=31, any::<[u8; 4]>(), 1..6).prop_map(|map| {
            MeasurementSet::new(
                map.into_iter().map(|(i, v)| Pcr::new(idx(i), PcrValue::from_bytes(&v.repeat(12)).unwrap())),
            )
            .unwrap()
        })
    }

    proptest! {
        /// Whatever one set pins, the generated policy passes, and dropping any one PCR's condition is
        /// reported as exactly that PCR not being required, on the enclave statement.
        #[test]
        fn generated_passes_and_each_dropped_pin_is_named(set in one_set()) {
            let sets = vec![set];
            let doc = generate_key_policy(&sets, None, None).unwrap();
            let report = check_key_policy(&doc.to_string(), &sets).unwrap();
            prop_assert!(report.passed(), "{:?}", report);
            for index in sets[0].indices() {
                let mut edited = doc.clone();
                let keys = edited["Statement"][0]["Condition"]["StringEqualsIgnoreCase"].as_object_mut().unwrap();
                prop_assert!(keys.remove(&condition_key(index)).is_some());
                let report = check_key_policy(&edited.to_string(), &sets).unwrap();
                let got: Vec<_> = report.findings.iter().map(|f| (f.statement.clone(), f.problem.clone())).collect();
                prop_assert_eq!(got, vec![(StatementRef::Sid(ENCLAVE_SID.into()), Problem::PcrNotRequired { index })]);
            }
        }

        /// Several sets: one statement each, and the policy passes.
        #[test]
        fn generated_passes_for_several_sets(sets in proptest::collection::vec(one_set(), 1..4)) {
            let doc = generate_key_policy(&sets, None, None).unwrap();
            prop_assert_eq!(doc["Statement"].as_array().map(Vec::len), Some(sets.len() + 1));
            prop_assert!(check_key_policy(&doc.to_string(), &sets).unwrap().passed());
        }

        /// Arbitrary text never panics the checker.
        #[test]
        fn arbitrary_input_never_panics(text in ".{0,400}") {
            let _ = check_key_policy(&text, &pins());
        }
    }
}
