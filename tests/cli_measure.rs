//! `enclave measure` end to end on the committed EIF fixtures (built by AWS's EifBuilder; PCRs in
//! eif/testdata/manifest.json): the PCRs printed are AWS's, a refused image exits 1 naming the check,
//! `--diff` names the section that moved PCR2, text from the image is escaped, usage errors exit 2.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("eif/testdata").join(name)
}

fn enclave(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_enclave")).args(args).output().unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn manifest_pcrs(file: &str) -> serde_json::Map<String, serde_json::Value> {
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(testdata("manifest.json")).unwrap()).unwrap();
    let image = m["images"].as_array().unwrap().iter().find(|i| i["file"] == file).unwrap();
    image["pcrs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.trim_start_matches("PCR").to_owned(), v.clone()))
        .collect()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn json_pcrs_are_the_ones_aws_reported() {
    for file in ["unsigned-2ramdisks.eif", "signed-p384-a.eif", "aarch64-1ramdisk-empty-cmdline.eif"] {
        let out = enclave(&["measure", path(&testdata(file)), "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let v = json(&out);
        assert_eq!(v["ok"], true);
        assert_eq!(v["pcrs"].as_object().unwrap(), &manifest_pcrs(file), "{file}");
        assert_eq!(v["size"], std::fs::metadata(testdata(file)).unwrap().len());
        assert_eq!(v["sections"][0]["kind"], "kernel");
    }
    let v = json(&enclave(&["measure", path(&testdata("signed-p384-a.eif")), "--format", "json"]));
    assert_eq!(v["signer"]["subject"], "CN=fixture signer A,O=enclave-sdk oracle,C=US");
    assert_eq!(v["signer"]["algorithm"], "ES384");
    assert_eq!(v["signer"]["sha384"].as_str().unwrap().len(), 96);
    let v = json(&enclave(&["measure", path(&testdata("unsigned-2ramdisks.eif")), "--format", "json"]));
    assert!(v["signer"].is_null());
    assert!(v["pcrs"].get("8").is_none());
}

#[test]
fn text_prints_each_pcr_in_lowercase_hex() {
    let out = enclave(&["measure", path(&testdata("signed-p256.eif"))]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for (i, v) in manifest_pcrs("signed-p256.eif") {
        assert!(text.contains(&format!("PCR{i}     {}\n", v.as_str().unwrap())), "PCR{i} missing:\n{text}");
    }
    assert!(text.contains("signer   CN=fixture signer B,O=enclave-sdk oracle,C=US (ES256)"), "{text}");
}

#[test]
fn iam_role_and_instance_id_give_aws_guides_pcr3_and_pcr4() {
    let out = enclave(&[
        "measure",
        "--iam-role",
        "arn:aws:iam::123456789012:role/Webserver",
        "--instance-id",
        "i-1234567890abcdef0",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(
        v["pcrs"]["3"],
        "78fce75db17cd4e0a3fb8dad3ad128ca5e77edbb2b2c7f75329dccd99aa5f6ef4fc1f1a452e315b9e98f9e312e6921e6"
    );
    assert_eq!(
        v["pcrs"]["4"],
        "08f996b5d43e047a9eb51e7f548bfee7e164fd7dc8f65541f2ac09d6545ac812719327281c401a67a10fcba87ae79ce0"
    );
    // With an image: all pins in one object.
    let v = json(&enclave(&[
        "measure",
        path(&testdata("unsigned-2ramdisks.eif")),
        "--iam-role",
        "arn:aws:iam::123456789012:role/Webserver",
        "--format",
        "json",
    ]));
    assert_eq!(v["pcrs"].as_object().unwrap().keys().collect::<Vec<_>>(), ["0", "1", "2", "3"]);
}

/// The user whose PCR2 does not match learns it is ramdisk 1; identical images exit 0.
#[test]
fn diff_names_the_ramdisk_that_moved_pcr2() {
    let (a, b) = (testdata("signed-p384-a.eif"), testdata("signed-p384-b.eif"));
    let out = enclave(&["measure", "--diff", path(&a), path(&b), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["identical"], false);
    assert_eq!(v["pcrs"], serde_json::json!([0, 2]));
    let sections: Vec<&str> =
        v["sections"].as_array().unwrap().iter().map(|s| s["section"].as_str().unwrap()).collect();
    assert_eq!(sections, ["metadata", "ramdisk 1", "signature"]);
    let ramdisk = &v["sections"][1];
    assert_eq!((ramdisk["size_a"].as_u64(), ramdisk["size_b"].as_u64()), (Some(5000), Some(5001)));
    assert_eq!(ramdisk["pcrs"], serde_json::json!([0, 2]));
    assert_eq!(v["sections"][2]["pcrs"], serde_json::json!([]), "same certificate: PCR8 unchanged");
    let text = String::from_utf8(enclave(&["measure", "--diff", path(&a), path(&b)]).stdout).unwrap();
    assert!(text.contains("PCRs that differ: PCR0, PCR2\n"), "{text}");
    assert!(text.contains("ramdisk 1  5000 bytes vs 5001 bytes (in PCR0, PCR2)"), "{text}");

    let same = enclave(&["measure", "--diff", path(&a), path(&a)]);
    assert_eq!(same.status.code(), Some(0));
    assert!(String::from_utf8(same.stdout).unwrap().contains("have the same sections and the same PCRs"));
}

fn edited(name: &str, edit: impl FnOnce(&mut Vec<u8>)) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut b = std::fs::read(testdata(name)).unwrap();
    edit(&mut b);
    let p = dir.path().join(name);
    std::fs::write(&p, b).unwrap();
    (dir, p)
}

fn fix_crc(b: &mut [u8]) {
    let crc = crc32(&[&b[..544], &b[548..]]);
    b[544..548].copy_from_slice(&crc.to_be_bytes());
}

/// CRC-32/ISO-HDLC, bitwise.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in parts.iter().flat_map(|p| p.iter()) {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = (c >> 1) ^ (0xedb8_8320 & (c & 1).wrapping_neg());
        }
    }
    !c
}

#[test]
fn a_refused_image_exits_1_naming_the_check() {
    let (_d, p) = edited("unsigned-2ramdisks.eif", |b| {
        let n = b.len();
        b[n - 1] ^= 1;
    });
    let out = enclave(&["measure", path(&p)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: ") && err.contains("CRC32 mismatch: the header says"), "{err}");
    let out = enclave(&["measure", path(&p), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["error"]["kind"], "image_refused");
}

/// A command line carrying a terminal escape sequence is printed escaped.
#[test]
fn text_from_the_image_is_escaped() {
    let (_d, p) = edited("unsigned-2ramdisks.eif", |b| {
        // The cmdline section's data starts 12 bytes after its header (section 1, table entry 1).
        let at = u64::from_be_bytes(b[36..44].try_into().unwrap()) as usize + 12;
        b[at..at + 4].copy_from_slice(b"\x1b[2J");
        fix_crc(b);
    });
    let out = enclave(&["measure", path(&p)]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!out.stdout.contains(&0x1b));
    assert!(String::from_utf8(out.stdout).unwrap().contains("cmdline  \\x1b[2J"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(enclave(&["measure"]).status.code(), Some(2));
    assert_eq!(enclave(&["measure", "/nonexistent/app.eif"]).status.code(), Some(2));
    let out = enclave(&["measure", "--iam-role", "arn:aws:iam::123456789012:instance-profile/web"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("instance profile's ARN"));
    assert_eq!(enclave(&["measure", "--instance-id", "web-1"]).status.code(), Some(2));
    let a = testdata("unsigned-2ramdisks.eif");
    assert_eq!(enclave(&["measure", path(&a), "--diff", path(&a), path(&a)]).status.code(), Some(2));
}

/// `policy init --from-eif` pins the image's PCR0, 1, 2 and 8 in one [[pcrs]] set; `policy check` reads
/// the file back and `kms-policy generate` conditions the key on exactly those values.
#[test]
fn policy_init_from_eif_pins_the_image_for_the_sdk_and_kms() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    let out = enclave(&["policy", "init", "--from-eif", path(&testdata("signed-p384-a.eif")), "--out", path(&policy)]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8(out.stderr).unwrap().contains("no function checksum pinned"));
    let expected = manifest_pcrs("signed-p384-a.eif");
    assert_eq!(expected.len(), 4);

    let check = enclave(&["policy", "check", path(&policy), "--format", "json"]);
    assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stderr));
    let v = json(&check);
    assert_eq!(v["pcrs"].as_array().unwrap().len(), 1, "one release");
    assert_eq!(v["pcrs"][0].as_object().unwrap(), &expected);
    assert_eq!(v["trust_root"], "AWS Nitro Enclaves Root-G1");

    let kms = enclave(&[
        "kms-policy",
        "generate",
        "--policy",
        path(&policy),
        "--principal",
        "arn:aws:iam::111122223333:role/enclave-host",
        "--key-admin",
        "arn:aws:iam::111122223333:role/key-admin",
    ]);
    assert_eq!(kms.status.code(), Some(0), "{}", String::from_utf8_lossy(&kms.stderr));
    let key_policy = json(&kms);
    let condition = &key_policy["Statement"][0]["Condition"]["StringEqualsIgnoreCase"];
    assert_eq!(condition["kms:RecipientAttestation:ImageSha384"], expected["0"]);
    for i in ["1", "2", "8"] {
        assert_eq!(condition[format!("kms:RecipientAttestation:PCR{i}")], expected[i], "PCR{i}");
    }
}

/// The rogue image carries another image's genuine signature section: `policy init --from-eif` refuses
/// it and writes nothing, so no PCR8 (or any pin) of it reaches a policy.
#[test]
fn policy_init_from_eif_refuses_a_rogue_image_and_writes_nothing() {
    let a = std::fs::read(testdata("signed-p384-a.eif")).unwrap();
    let (_d, rogue) = edited("signed-p384-b.eif", |b| {
        let section = last_section(&a).to_vec();
        let i = usize::from(u16::from_be_bytes(b[26..28].try_into().unwrap())) - 1;
        let offset = u64::from_be_bytes(b[28 + 8 * i..36 + 8 * i].try_into().unwrap()) as usize;
        b.truncate(offset + 12);
        b.extend_from_slice(&section);
        let len = (section.len() as u64).to_be_bytes();
        b[284 + 8 * i..292 + 8 * i].copy_from_slice(&len);
        b[offset + 4..offset + 12].copy_from_slice(&len);
        fix_crc(b);
    });
    let policy = rogue.with_file_name("policy.toml");
    let out = enclave(&["policy", "init", "--from-eif", path(&rogue), "--out", path(&policy), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["error"]["kind"], "image_refused");
    assert!(v["error"]["message"].as_str().unwrap().contains("the signature is over PCR0"), "{v}");
    assert!(!policy.exists());
    // And `enclave measure` prints no PCR of it either.
    let out = enclave(&["measure", path(&rogue)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

/// The data of the image's last section (the signature, in the signed fixtures).
fn last_section(b: &[u8]) -> &[u8] {
    let i = usize::from(u16::from_be_bytes(b[26..28].try_into().unwrap())) - 1;
    let offset = u64::from_be_bytes(b[28 + 8 * i..36 + 8 * i].try_into().unwrap()) as usize;
    let size = u64::from_be_bytes(b[284 + 8 * i..292 + 8 * i].try_into().unwrap()) as usize;
    &b[offset + 12..offset + 12 + size]
}
