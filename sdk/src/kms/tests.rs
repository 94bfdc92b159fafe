//! The checker against a table of strict and permissive key policies, and generate → check round trips.

use super::*;

const PCR0_A: &str = "aa00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000aa";
const PCR0_B: &str = "bb00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000bb";
const PCR1: &str = "1111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111";
const PCR2: &str = "2222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222";
const OTHER: &str = "ee00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000ee";

fn pins() -> PinnedMeasurements {
    PinnedMeasurements::new()
        .allow_pcr(0, hex::decode(PCR0_A).unwrap())
        .allow_pcr(0, hex::decode(PCR0_B).unwrap())
        .allow_pcr(1, hex::decode(PCR1).unwrap())
        .allow_pcr(2, hex::decode(PCR2).unwrap())
}

fn policy(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

/// A strict condition block: PCR0 in the allow-list, PCR1 and PCR2 pinned.
fn strict_condition(op: &str) -> String {
    format!(
        r#"{{"{op}":{{"kms:RecipientAttestation:ImageSha384":["{PCR0_A}","{PCR0_B}"],"kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR2":"{PCR2}"}}}}"#
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
        ("strict: StringEquals, one of two allowed PCR0 values", policy(&allow("Enclave", r#""kms:Decrypt""#, Some(&format!(
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
            vec![(sid("Partial"), Problem::PcrNotRequired { index: 1 }), (sid("Partial"), Problem::PcrNotRequired { index: 2 })]),
        ("permissive: condition on the wrong PCR (PCR3 instead of PCR2)", policy(&allow("WrongPcr", r#""kms:Gen*""#, Some(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":"{PCR0_A}","kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR3":"{PCR2}"}}}}"#)))),
            vec![(sid("WrongPcr"), Problem::PcrNotRequired { index: 2 })]),
        ("permissive: wrong value for PCR0", policy(&allow("WrongValue", r#""kms:Decrypt""#, Some(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":["{PCR0_A}","{OTHER}"],"kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR2":"{PCR2}"}}}}"#)))),
            vec![(sid("WrongValue"), Problem::ValueNotPinned { index: 0, value: OTHER.to_owned() })]),
        ("permissive: StringEqualsIfExists lets requests without attestation through", policy(&allow("IfExists", r#""kms:Decrypt""#, Some(&strict_condition("StringEqualsIfExists")))),
            vec![0u8, 1, 2].into_iter().map(|index| (sid("IfExists"), Problem::IfExists { index, operator: "StringEqualsIfExists".into() })).collect()),
        ("permissive: ForAnyValue:StringEquals set operator", policy(&allow("AnyValue", r#""kms:GenerateDataKey""#, Some(&strict_condition("ForAnyValue:StringEquals")))),
            vec![0u8, 1, 2].into_iter().map(|index| (sid("AnyValue"), Problem::SetOperator { index, operator: "ForAnyValue:StringEquals".into() })).collect()),
        ("permissive: ForAllValues (true when the key is absent)", policy(&allow("AllValues", r#""kms:Decrypt""#, Some(&strict_condition("ForAllValues:StringEqualsIgnoreCase")))),
            vec![0u8, 1, 2].into_iter().map(|index| (sid("AllValues"), Problem::SetOperator { index, operator: "ForAllValues:StringEqualsIgnoreCase".into() })).collect()),
        ("permissive: StringLike with a wildcard on PCR1", policy(&allow("Like", r#""kms:Decrypt""#, Some(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:ImageSha384":"{PCR0_A}","kms:RecipientAttestation:PCR2":"{PCR2}"}},"StringLike":{{"kms:RecipientAttestation:PCR1":"1111*"}}}}"#)))),
            vec![(sid("Like"), Problem::Wildcard { index: 1, value: "1111*".into() })]),
        ("permissive: NotAction leaves the crypto actions open", policy(r#"{"Sid":"NotAdmin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/x"},"NotAction":["kms:Encrypt","kms:PutKeyPolicy"],"Resource":"*"}"#),
            vec![(sid("NotAdmin"), Problem::NoCondition)]),
        ("permissive: StringNotEquals is true when the key is absent", policy(&allow("NotEquals", r#""kms:DeriveSharedSecret""#, Some(&strict_condition("StringNotEquals")))),
            vec![0u8, 1, 2].into_iter().map(|index| (sid("NotEquals"), Problem::WeakOperator { index, operator: "StringNotEquals".into() })).collect()),
        ("permissive: Null check only requires presence", policy(&allow("Null", r#""kms:Decrypt""#, Some(&format!(
            r#"{{"Null":{{"kms:RecipientAttestation:ImageSha384":"false"}},"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:PCR1":"{PCR1}","kms:RecipientAttestation:PCR2":"{PCR2}"}}}}"#)))),
            vec![(sid("Null"), Problem::WeakOperator { index: 0, operator: "Null".into() })]),
        ("permissive: conditioned on something else entirely", policy(&allow("Vpc", r#""kms:Decrypt""#, Some(r#"{"StringEquals":{"aws:SourceVpce":"vpce-1"}}"#))),
            vec![0u8, 1, 2].into_iter().map(|index| (sid("Vpc"), Problem::PcrNotRequired { index })).collect()),
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
fn generated_policies_pass_the_checker_and_carry_every_pin() {
    let pins = pins();
    let doc = generate_key_policy(
        &pins,
        Some("arn:aws:iam::111122223333:role/enclave"),
        Some("arn:aws:iam::111122223333:role/admin"),
    )
    .unwrap();
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let report = check_key_policy(&text, &pins).unwrap();
    assert!(report.passed(), "{report:?}");
    assert_eq!(report.granting_statements, 1, "the admin statement grants no crypto use");

    let condition = &doc["Statement"][0]["Condition"]["StringEqualsIgnoreCase"];
    assert_eq!(condition["kms:RecipientAttestation:ImageSha384"], json!([PCR0_A, PCR0_B]));
    assert_eq!(condition["kms:RecipientAttestation:PCR1"], json!(PCR1));
    assert_eq!(condition["kms:RecipientAttestation:PCR2"], json!(PCR2));
    assert_eq!(doc["Statement"][0]["Action"], json!(ENCLAVE_ACTIONS));

    // The same document checked against a stricter pin set (PCR8 too) fails on PCR8.
    let stricter = pins.allow_pcr(8, vec![8; 48]);
    let report = check_key_policy(&text, &stricter).unwrap();
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].problem, Problem::PcrNotRequired { index: 8 });
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
    assert_eq!(generate_key_policy(&PinnedMeasurements::new(), None, None), Err(KmsPolicyError::NothingPinned));
    assert_eq!(
        generate_key_policy(&pins(), Some("*"), None),
        Err(KmsPolicyError::BadPrincipal { role: "enclave", value: "*".into() })
    );
    assert_eq!(
        generate_key_policy(&pins(), None, Some("arn:aws:iam::*:root")),
        Err(KmsPolicyError::BadPrincipal { role: "key-admin", value: "arn:aws:iam::*:root".into() })
    );
    let doc = generate_key_policy(&pins(), None, None).unwrap();
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
    assert_eq!(check_key_policy("{}", &PinnedMeasurements::new()), Err(KmsPolicyError::NothingPinned));
}

#[test]
fn misspelt_effect_is_treated_as_allow() {
    let report =
        check(&policy(r#"{"Sid":"Typo","Effect":"deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}"#));
    assert_eq!(report.findings[0].problem, Problem::NoCondition);
}

#[test]
fn condition_keys_are_case_insensitive_but_pcr_numbers_are_canonical() {
    assert_eq!(key_pcr("KMS:recipientattestation:imagesha384"), Some(0));
    assert_eq!(key_pcr("kms:RecipientAttestation:PCR0"), Some(0));
    assert_eq!(key_pcr("kms:recipientattestation:pcr15"), Some(15));
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

    fn pin_sets() -> impl Strategy<Value = PinnedMeasurements> {
        proptest::collection::btree_map(0u8..=31, proptest::collection::vec(any::<[u8; 4]>(), 1..4), 1..6).prop_map(
            |map| {
                map.into_iter().fold(PinnedMeasurements::new(), |pins, (index, values)| {
                    values.into_iter().fold(pins, |pins, v| pins.allow_pcr(index, v.repeat(12)))
                })
            },
        )
    }

    proptest! {
        /// Whatever is pinned, the generated policy passes, and dropping any one PCR's condition is
        /// reported as exactly that PCR not being required, on the enclave statement.
        #[test]
        fn generated_passes_and_each_dropped_pin_is_named(pins in pin_sets()) {
            let doc = generate_key_policy(&pins, None, None).unwrap();
            let report = check_key_policy(&doc.to_string(), &pins).unwrap();
            prop_assert!(report.passed(), "{:?}", report);
            for index in pins.pcrs().keys() {
                let mut edited = doc.clone();
                let keys = edited["Statement"][0]["Condition"]["StringEqualsIgnoreCase"].as_object_mut().unwrap();
                prop_assert!(keys.remove(&condition_key(*index)).is_some());
                let report = check_key_policy(&edited.to_string(), &pins).unwrap();
                let got: Vec<_> = report.findings.iter().map(|f| (f.statement.clone(), f.problem.clone())).collect();
                prop_assert_eq!(got, vec![(StatementRef::Sid(ENCLAVE_SID.into()), Problem::PcrNotRequired { index: *index })]);
            }
        }

        /// Arbitrary text never panics the checker.
        #[test]
        fn arbitrary_input_never_panics(text in ".{0,400}") {
            let _ = check_key_policy(&text, &pins());
        }
    }
}
