//! `enclave kms-policy generate|check`, run as a user would: exit codes, text and JSON output.

// A test crate: its helpers are test code, which clippy.toml already lets unwrap.
#![allow(clippy::unwrap_used)]

mod common;

use common::cli::*;

use serde_json::{json, Value};
use std::process::Output;

const PCR0: &str = "abababababababababababababababababababababababababababababababababababababababababababababababab";
const PCR0_NEXT: &str =
    "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";
const PCR1: &str = "010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101";
const ROLE: &str = "arn:aws:iam::111122223333:role/enclave-instance";
const ADMIN: &str = "arn:aws:iam::111122223333:role/key-admin";

/// Scratch files with a policy allowing two releases: (PCR0, PCR1) and (PCR0_NEXT, PCR1).
fn fixture() -> Scratch {
    let f = Scratch::new();
    f.write(
        "policy.toml",
        &format!("[[pcrs]]\n0 = \"{PCR0}\"\n1 = \"{PCR1}\"\n[[pcrs]]\n0 = \"{PCR0_NEXT}\"\n1 = \"{PCR1}\"\n"),
    );
    f
}

const SET1: &str = "AllowEnclaveCryptoOnlyWithPinnedMeasurementsSet1";

fn generate(f: &Scratch) -> Value {
    let policy = f.path("policy.toml");
    let out = enclave(&["kms-policy", "generate", "--policy", &policy, "--principal", ROLE, "--key-admin", ADMIN]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "note: KMS conditions are per key and cannot say \"one of these sets\": the key policy has one enclave \
         statement per allowed measurement set (2)\n"
    );
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn check(f: &Scratch, key_policy: &Value, format: &str) -> Output {
    let kp = f.write("key-policy.json", &key_policy.to_string());
    enclave(&["kms-policy", "check", &kp, "--policy", &f.path("policy.toml"), "--format", format])
}

#[test]
fn generated_policy_requires_every_pin_and_passes_the_check() {
    let f = fixture();
    let doc = generate(&f);
    // One enclave statement per allowed set, each with one value per PCR.
    for (n, pcr0) in [PCR0, PCR0_NEXT].into_iter().enumerate() {
        let enclave_statement = &doc["Statement"][n];
        assert_eq!(
            enclave_statement["Sid"],
            json!(format!("AllowEnclaveCryptoOnlyWithPinnedMeasurementsSet{}", n + 1))
        );
        assert_eq!(enclave_statement["Principal"]["AWS"], json!(ROLE));
        assert_eq!(
            enclave_statement["Action"],
            json!(["kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateRandom", "kms:DeriveSharedSecret"])
        );
        let condition = &enclave_statement["Condition"]["StringEqualsIgnoreCase"];
        assert_eq!(condition["kms:RecipientAttestation:ImageSha384"], json!(pcr0));
        assert_eq!(condition["kms:RecipientAttestation:PCR1"], json!(PCR1));
    }
    let admin = &doc["Statement"][2];
    assert_eq!(admin["Principal"]["AWS"], json!(ADMIN));
    assert!(admin.get("Condition").is_none());

    let out = check(&f, &doc, "text");
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).starts_with("OK: 2 of 3 statements"), "{}", stdout(&out));

    let out = check(&f, &doc, "json");
    assert_eq!(code(&out), 0);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["passed"], json!(true));
    assert_eq!(report["findings"], json!([]));
}

type Edit = Box<dyn Fn(&mut Value)>;

/// Each permissive edit of the generated policy is flagged with its statement and reason, exit 1.
#[test]
fn permissive_edits_are_flagged_by_statement_and_reason() {
    let f = fixture();
    let good = generate(&f);
    let rewrap = |operator: &'static str| -> Edit {
        Box::new(move |d: &mut Value| {
            let condition = &mut d["Statement"][0]["Condition"];
            let keys = condition["StringEqualsIgnoreCase"].take();
            *condition = json!({ operator: keys });
        })
    };
    let cases: Vec<(&str, Edit, Value)> = vec![
        (
            "IfExists",
            rewrap("StringEqualsIgnoreCaseIfExists"),
            json!({"kind": "if_exists", "index": 0, "operator": "StringEqualsIgnoreCaseIfExists"}),
        ),
        (
            "ForAnyValue",
            rewrap("ForAnyValue:StringEqualsIgnoreCase"),
            json!({"kind": "set_operator", "index": 0, "operator": "ForAnyValue:StringEqualsIgnoreCase"}),
        ),
        (
            "wrong PCR",
            Box::new(|d: &mut Value| {
                let keys = &mut d["Statement"][0]["Condition"]["StringEqualsIgnoreCase"];
                let v = keys.as_object_mut().unwrap().remove("kms:RecipientAttestation:PCR1").unwrap();
                keys["kms:RecipientAttestation:PCR2"] = v;
            }),
            json!({"kind": "pcr_not_required", "index": 1}),
        ),
        (
            "unpinned value",
            Box::new(|d: &mut Value| {
                d["Statement"][0]["Condition"]["StringEqualsIgnoreCase"]["kms:RecipientAttestation:PCR1"] =
                    json!([PCR1, PCR0]);
            }),
            json!({"kind": "value_not_pinned", "index": 1, "value": PCR0}),
        ),
        (
            "both releases' PCR0 in one statement",
            Box::new(|d: &mut Value| {
                d["Statement"][0]["Condition"]["StringEqualsIgnoreCase"]["kms:RecipientAttestation:ImageSha384"] =
                    json!([PCR0, PCR0_NEXT]);
            }),
            json!({"kind": "value_not_pinned", "index": 0, "value": PCR0_NEXT}),
        ),
        (
            "kms:* admin",
            Box::new(|d: &mut Value| d["Statement"][2]["Action"] = json!("kms:*")),
            json!({"kind": "no_condition"}),
        ),
        (
            "NotAction admin",
            Box::new(|d: &mut Value| {
                let admin = d["Statement"][2].as_object_mut().unwrap();
                admin.remove("Action");
                admin.insert("NotAction".into(), json!(["kms:Encrypt"]));
            }),
            json!({"kind": "no_condition"}),
        ),
    ];
    for (name, edit, problem) in cases {
        let mut doc = good.clone();
        edit(&mut doc);
        let out = check(&f, &doc, "json");
        assert_eq!(code(&out), 1, "{name}: {}", stdout(&out));
        let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(report["passed"], json!(false), "{name}");
        let first = &report["findings"][0];
        assert_eq!(first["problem"], problem, "{name}: {report}");
        let (expected_sid, set) = if problem["kind"] == json!("no_condition") {
            ("AllowKeyAdministrationWithoutCryptoUse", json!(null))
        } else {
            (SET1, json!(1))
        };
        assert_eq!(first["statement"], json!({ "sid": expected_sid }), "{name}");
        assert_eq!(first["set"], set, "{name}: the closest set is the one the statement was written for");

        let out = check(&f, &doc, "text");
        assert_eq!(code(&out), 1, "{name}");
        assert!(stdout(&out).contains(&format!("statement \"{expected_sid}\"")), "{name}: {}", stdout(&out));
    }
}

#[test]
fn unusable_inputs_are_usage_errors_and_malformed_key_policies_fail_the_check() {
    let f = fixture();
    let policy = f.path("policy.toml");

    // Nothing pinned: no key policy can be generated.
    let any = f.write("any.toml", "accept_any_enclave = true\n");
    let out = enclave(&["kms-policy", "generate", "--policy", &any]);
    assert_eq!(code(&out), 2);
    assert_eq!(stderr(&out), "error: the policy allows no measurement set; a KMS key policy needs at least one\n");

    // A principal that is not an ARN.
    let out = enclave(&["kms-policy", "generate", "--policy", &policy, "--principal", "*"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("enclave principal \"*\" is not an ARN"), "{}", stderr(&out));

    // Without principals: placeholders, and a note saying so.
    let out = enclave(&["kms-policy", "generate", "--policy", &policy, "--format", "json"]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("REPLACE_WITH_ENCLAVE_ROLE_ARN"));
    assert!(stderr(&out).contains("placeholders"));

    // A broken policy file names its line and key.
    let broken = f.write("broken.toml", "[[pcrs]]\n0 = \"abcd\"\n");
    let out = enclave(&["kms-policy", "generate", "--policy", &broken]);
    assert_eq!(code(&out), 2);
    assert_eq!(
        stderr(&out),
        format!(
            "error: {broken}: line 2, column 5, key `pcrs[1].0`: PCR values are 48 bytes (96 hex digits; 32 or 64 for \
             other banks); this is 2 bytes\n"
        )
    );

    // A missing key policy file.
    let out = enclave(&["kms-policy", "check", &f.path("nope.json"), "--policy", &policy]);
    assert_eq!(code(&out), 2);

    // Malformed key policies cannot be vouched for: the check fails.
    let dup = f.write("dup.json", r#"{"Statement":[],"Statement":[]}"#);
    let out = enclave(&["kms-policy", "check", &dup, "--policy", &policy, "--format", "json"]);
    assert_eq!(code(&out), 1);
    let err: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(err["error"]["kind"], json!("kms_policy"));
    assert!(err["error"]["message"].as_str().unwrap().contains("duplicate key"), "{err}");

    // Missing required argument: clap's usage error.
    let out = enclave(&["kms-policy", "check", &dup]);
    assert_eq!(code(&out), 2);
}

#[test]
fn help_documents_exit_codes_and_examples() {
    for sub in ["generate", "check"] {
        let out = enclave(&["kms-policy", sub, "--help"]);
        assert_eq!(code(&out), 0);
        let help = stdout(&out);
        assert!(help.contains("Exit codes:") && help.contains("Examples:"), "{sub}: {help}");
        assert!(help.contains("--format"), "{sub}");
    }
}
