//! `enclave kms-policy generate|check`, run as a user would: exit codes, text and JSON output.

// A test crate: its helpers are test code, which clippy.toml already lets unwrap.
#![allow(clippy::unwrap_used)]

mod common;

use common::cli::*;

use enclave_kms::{generate_key_policy, KeyAdmin};
use enclave_sdk::attestation::Policy;
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
const ADMIN_SID: &str = "AllowKeyAdministrationWithoutCryptoUse";

fn generate(f: &Scratch) -> Value {
    let policy = f.path("policy.toml");
    let out = enclave(&["kms-policy", "generate", "--policy", &policy, "--principal", ROLE, "--key-admin", ADMIN]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // stderr is the policy's account of itself, exactly as the library writes it from the same file.
    let admins: Vec<KeyAdmin> = vec![ADMIN.parse().unwrap()];
    let expected = generate_key_policy(&Policy::from_file(&policy).unwrap(), Some(ROLE), &admins).unwrap();
    assert_eq!(stderr(&out), expected.readme());
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(&doc, expected.document());
    doc
}

fn check_with(f: &Scratch, key_policy: &Value, format: &str, extra: &[&str]) -> Output {
    let kp = f.write("key-policy.json", &key_policy.to_string());
    let policy = f.path("policy.toml");
    let mut args = vec!["kms-policy", "check", &kp, "--policy", &policy, "--format", format];
    args.extend_from_slice(extra);
    enclave(&args)
}

/// Checks with the generated policy's administrator named.
fn check(f: &Scratch, key_policy: &Value, format: &str) -> Output {
    check_with(f, key_policy, format, &["--key-admin", ADMIN])
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
    assert_eq!(
        stdout(&out),
        format!(
            "OK: 2 of 3 statements grant cryptographic use, and each requires every PCR of one allowed set\n\
             Can release the key without attestation (as trusted as the enclave):\n  \
             statement \"{ADMIN_SID}\": AWS \"{ADMIN}\" may call kms:PutKeyPolicy (through Action): a named key administrator\n"
        )
    );

    let out = check(&f, &doc, "json");
    assert_eq!(code(&out), 0);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["passed"], json!(true));
    assert_eq!(report["findings"], json!([]));
    assert_eq!(
        report["key_control"],
        json!([{"statement": {"sid": ADMIN_SID}, "principal": {"AWS": ADMIN}, "actions": ["kms:PutKeyPolicy"],
                "granted_through": "Action", "admitted": true}])
    );

    // The administrator can rewrite the policy: unless named, the check fails on exactly that.
    let out = check_with(&f, &doc, "json", &[]);
    assert_eq!(code(&out), 1);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["findings"].as_array().map(Vec::len), Some(1), "{report}");
    assert_eq!(report["findings"][0]["statement"], json!({"sid": ADMIN_SID}));
    assert_eq!(report["findings"][0]["problem"], json!({"kind": "key_control", "principal": {"AWS": ADMIN}}));
    assert_eq!(report["key_control"][0]["admitted"], json!(false));
    // Named as the account instead of the role: still not the role.
    let out = check_with(&f, &doc, "json", &["--key-admin", "111122223333"]);
    assert_eq!(code(&out), 1);
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
        (
            "admin statement for everyone",
            Box::new(|d: &mut Value| d["Statement"][2]["Principal"] = json!("*")),
            json!({"kind": "key_control", "principal": "*"}),
        ),
        (
            "ReplicateKey for another account",
            Box::new(|d: &mut Value| {
                let statements = d["Statement"].as_array_mut().unwrap();
                statements.push(json!({"Sid": "Replicate", "Effect": "Allow", "Resource": "*",
                    "Principal": {"AWS": "444455556666"}, "Action": "kms:Replicate*"}));
            }),
            json!({"kind": "key_control", "principal": {"AWS": "444455556666"}}),
        ),
        (
            "enclave statement unconditioned, Deny guard on PCR0 only",
            Box::new(|d: &mut Value| {
                d["Statement"][0].as_object_mut().unwrap().remove("Condition");
                let statements = d["Statement"].as_array_mut().unwrap();
                statements.push(json!({"Sid": "DenyOtherImage", "Effect": "Deny", "Principal": "*", "Resource": "*",
                    "Action": "kms:*", "Condition": {"StringNotEqualsIgnoreCase":
                        {"kms:RecipientAttestation:ImageSha384": [PCR0, PCR0_NEXT]}}}));
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
        let (expected_sid, set) = match (name, problem["kind"].as_str()) {
            ("ReplicateKey for another account", _) => ("Replicate", json!(null)),
            (n, _) if n.starts_with("enclave statement") => (SET1, json!(null)),
            (_, Some("no_condition" | "key_control")) => (ADMIN_SID, json!(null)),
            _ => (SET1, json!(1)),
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
    assert_eq!(
        stderr(&out),
        "error: a KMS key policy must condition the key on the enclave image: the policy pins no measurement: it \
         must pin the enclave image with PCR0, PCR2 or PCR8\n"
    );

    // A principal that is not an ARN.
    let out = enclave(&["kms-policy", "generate", "--policy", &policy, "--principal", "*"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("enclave principal \"*\" is not an ARN"), "{}", stderr(&out));

    // "*" can never be a named administrator, in either subcommand.
    for sub in [
        vec!["kms-policy", "generate", "--policy", &policy, "--key-admin", "*"],
        vec!["kms-policy", "check", "k.json", "--policy", &policy, "--key-admin", "*"],
    ] {
        let out = enclave(&sub);
        assert_eq!(code(&out), 2, "{sub:?}");
        assert_eq!(
            stderr(&out),
            "error: key administrator \"*\" is not an account id, an account's :root ARN, or an IAM role, user or \
             STS session ARN (\"*\" and wildcards can never be named administrators)\n"
        );
    }

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

/// A Deny guard beside unconditioned Allows passes; one that lets a mixture or an unattested request
/// through is reported with that request.
#[test]
fn deny_guards_are_evaluated_with_their_conditions() {
    let f = fixture();
    let mut doc = generate(&f);
    for n in 0..2 {
        doc["Statement"][n].as_object_mut().unwrap().remove("Condition");
    }
    let deny = |sid: &str, key: &str, values: Value| {
        json!({"Sid": sid, "Effect": "Deny", "Principal": "*", "Resource": "*", "Action": "kms:*",
               "Condition": {"StringNotEqualsIgnoreCase": {key: values}}})
    };
    let statements = doc["Statement"].as_array_mut().unwrap();
    statements.push(deny("DenyOtherImage", "kms:RecipientAttestation:ImageSha384", json!([PCR0, PCR0_NEXT])));
    statements.push(deny("DenyOtherKernel", "kms:RecipientAttestation:PCR1", json!(PCR1)));
    // The Deny on kms:* fires on every request without attestation, PutKeyPolicy included: nobody holds
    // key control, so no administrator needs naming.
    let out = check_with(&f, &doc, "text", &[]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(
        stdout(&out),
        "OK: 2 of 5 statements grant cryptographic use, and each requires every PCR of one allowed set\n\
         No principal can rewrite the key policy, replicate the key or import key material.\n"
    );

    // Only PCR0 guarded: a document with either release's PCR0 and another kernel gets through.
    doc["Statement"].as_array_mut().unwrap().pop();
    let out = check_with(&f, &doc, "json", &[]);
    assert_eq!(code(&out), 1);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let problems: Vec<&Value> = report["findings"].as_array().unwrap().iter().map(|f| &f["problem"]).collect();
    let through =
        json!({"kind": "deny_guard_lets_through", "request": {"0": PCR0, "1": "unlisted"}, "not_counted": []});
    assert_eq!(problems, vec![&json!({"kind": "no_condition"}), &through, &json!({"kind": "no_condition"}), &through]);

    let out = check_with(&f, &doc, "text", &[]);
    assert!(
        stdout(&out).contains(&format!(
            "statement \"{SET1}\" allows kms:Decrypt, kms:GenerateDataKey, kms:GenerateRandom, kms:DeriveSharedSecret \
             (through Action) but the Deny statements on these actions let through a request whose attestation has \
             PCR0 = {PCR0}, PCR1 = a value no allowed set names, which matches no allowed set\n"
        )),
        "{}",
        stdout(&out)
    );
}
