//! Writes the EIF fixtures enclave-eif's own tests use offline (`eif/testdata/`), built by AWS's
//! `EifBuilder`, and `manifest.json` with the PCRs AWS's builder reported for each. Run from the
//! repository root: `cargo run --manifest-path eif/oracle/Cargo.toml --bin fixtures -- eif/testdata`.
//! Contents are seeded; the signing keys are fresh, so signed fixtures differ from run to run.

use std::path::Path;

use enclave_eif_oracle::{aws_read, build, pcrs_only, Curve, SigningKey, Spec};

const CMDLINE: &str = "reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux i8042.nomux \
                       i8042.nopnp i8042.dumbkbd random.trust_cpu=on";

fn main() {
    let out = std::env::args().nth(1).expect("usage: fixtures OUT_DIR");
    let out = Path::new(&out);
    let work = tempfile::tempdir().unwrap();
    let key_a = SigningKey::generate(work.path(), "a", Curve::P384, "fixture signer A", 3650);
    let key_b = SigningKey::generate(work.path(), "b", Curve::P256, "fixture signer B", 3650);
    let long: String = (0..500).map(|i| format!("opt{i}=v{i} ")).collect();
    let specs = [
        ("unsigned-2ramdisks", false, CMDLINE.to_owned(), vec![3_000, 9_000], None),
        ("aarch64-1ramdisk-empty-cmdline", true, String::new(), vec![2_500], None),
        ("unsigned-3ramdisks-long-cmdline", false, long, vec![1, 4_096, 12_000], None),
        ("signed-p384-a", false, CMDLINE.to_owned(), vec![2_000, 5_000], Some(&key_a)),
        ("signed-p384-b", false, CMDLINE.to_owned(), vec![2_000, 5_001], Some(&key_a)),
        ("signed-p256", false, CMDLINE.to_owned(), vec![2_000, 3_000, 100], Some(&key_b)),
        // Small seeds for the fuzzer.
        ("tiny-unsigned", false, "console=ttyS0".to_owned(), vec![8, 8], None),
        ("tiny-signed", false, "console=ttyS0".to_owned(), vec![8], Some(&key_a)),
    ];
    let mut images = Vec::new();
    for (seed, (name, aarch64, cmdline, ramdisks, signer)) in specs.into_iter().enumerate() {
        let spec = Spec {
            name,
            aarch64,
            kernel_len: if name.starts_with("tiny") { 16 } else { 6_000 },
            cmdline,
            ramdisk_lens: ramdisks.clone(),
            signer,
            // b is a with one more application ramdisk byte: same kernel, cmdline and ramdisk 0.
            seed: if name == "signed-p384-b" { 1003 } else { 1000 + seed as u64 },
        };
        let built = build(work.path(), &spec);
        let aws = aws_read(&built.path).unwrap();
        assert_eq!(pcrs_only(&aws.measurements), pcrs_only(&built.builder), "{name}");
        assert!(aws.crc_ok && aws.sign_check.unwrap_or(true), "{name}");
        let file = format!("{name}.eif");
        std::fs::copy(&built.path, out.join(&file)).unwrap();
        images.push(serde_json::json!({
            "file": file,
            "arch": if aarch64 { "aarch64" } else { "x86_64" },
            "ramdisks": ramdisks,
            "cmdline_len": spec.cmdline.len(),
            "signer_cn": signer.map(|_| if name == "signed-p256" { "fixture signer B" } else { "fixture signer A" }),
            "pcrs": pcrs_only(&built.builder),
        }));
    }
    let manifest = serde_json::json!({
        "source": "eif/oracle/src/bin/fixtures.rs: AWS's aws-nitro-enclaves-image-format 0.8.1 EifBuilder (SHA-384), PCRs as its builder reported them and its reader recomputed them",
        "images": images,
    });
    std::fs::write(out.join("manifest.json"), serde_json::to_string_pretty(&manifest).unwrap() + "\n").unwrap();
}
