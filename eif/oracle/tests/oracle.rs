//! enclave-eif against AWS's builder and reader: every image below is built by AWS's `EifBuilder`, and
//! our PCR0, PCR1, PCR2 and PCR8 must equal what the builder reported and what AWS's reader computes.
//! Then the two hostile headers AWS's reader gets wrong: ours must refuse them with the named error.

use std::panic::AssertUnwindSafe;

use enclave_eif::{EifError, Measure};
use enclave_eif_oracle::{aws_read, build, fix_crc, ours, pcr8_of, pcrs_only, Curve, SigningKey, Spec};

const CMDLINE: &str = "reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux i8042.nomux \
                       i8042.nopnp i8042.dumbkbd random.trust_cpu=on";

fn long_cmdline() -> String {
    (0..600).map(|i| format!("opt{i}=v{i} ")).collect()
}

/// Builds, measures three ways, and requires agreement; returns the image path.
fn agree(dir: &std::path::Path, spec: Spec<'_>) -> std::path::PathBuf {
    let built = build(dir, &spec);
    let aws = aws_read(&built.path).unwrap();
    assert!(aws.crc_ok, "{}: AWS's reader disagrees with AWS's writer on the CRC", spec.name);
    let ours = ours(&built.path).unwrap_or_else(|e| panic!("{}: enclave-eif refused it: {e}", spec.name));
    assert_eq!(pcrs_only(&built.builder), pcrs_only(&aws.measurements), "{}: AWS builder vs reader", spec.name);
    assert_eq!(ours, pcrs_only(&built.builder), "{}: enclave-eif vs AWS", spec.name);
    match spec.signer {
        Some(key) => {
            assert_eq!(aws.sign_check, Some(true), "{}", spec.name);
            assert_eq!(ours.get("PCR8"), Some(&pcr8_of(&key.cert_der)), "{}", spec.name);
            let image = enclave_eif::measure_file(&built.path).unwrap();
            let signer = image.signer().unwrap();
            assert!(signer.subject().contains("CN=oracle"), "{}: subject {}", spec.name, signer.subject());
            let fp: [u8; 48] =
                sha2::Digest::finalize(<sha2::Sha384 as sha2::Digest>::new_with_prefix(&key.cert_der)).into();
            assert_eq!(signer.fingerprint_sha384(), &fp);
        }
        None => assert!(!ours.contains_key("PCR8"), "{}", spec.name),
    }
    let image = enclave_eif::measure_file(&built.path).unwrap();
    let arch = if spec.aarch64 { enclave_eif::Arch::Aarch64 } else { enclave_eif::Arch::X86_64 };
    assert_eq!(image.header().arch(), arch);
    assert_eq!(image.cmdline(), spec.cmdline.as_bytes().get(..4096).unwrap_or(spec.cmdline.as_bytes()));
    built.path
}

fn spec<'a>(name: &'a str, ramdisks: &[usize], cmdline: &str, signer: Option<&'a SigningKey>) -> Spec<'a> {
    Spec {
        name,
        aarch64: false,
        kernel_len: 7_001,
        cmdline: cmdline.to_owned(),
        ramdisk_lens: ramdisks.to_vec(),
        signer,
        seed: name.bytes().fold(17, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))),
    }
}

#[test]
fn unsigned_images_one_to_three_ramdisks_and_every_cmdline() {
    let dir = tempfile::tempdir().unwrap();
    let long = long_cmdline();
    let mut n = 0;
    for ramdisks in [&[3_000][..], &[3_000, 9_000], &[1, 4_096, 70_000]] {
        for (c, cmdline) in ["", CMDLINE, long.as_str()].into_iter().enumerate() {
            for aarch64 in [false, true] {
                let name = format!("u{}-{c}-{}", ramdisks.len(), if aarch64 { "arm" } else { "x86" });
                let mut s = spec(&name, ramdisks, cmdline, None);
                s.aarch64 = aarch64;
                agree(dir.path(), s);
                n += 1;
            }
        }
    }
    assert_eq!(n, 18);
}

#[test]
fn signed_images_on_each_curve() {
    let dir = tempfile::tempdir().unwrap();
    for (i, curve) in [Curve::P256, Curve::P384, Curve::P521].into_iter().enumerate() {
        let key = SigningKey::generate(dir.path(), &format!("k{i}"), curve, "oracle signer", 30);
        for ramdisks in [&[2_000][..], &[2_000, 5_000], &[2_000, 5_000, 11]] {
            let name = format!("s{i}-{}", ramdisks.len());
            agree(dir.path(), spec(&name, ramdisks, CMDLINE, Some(&key)));
        }
    }
}

/// An application ramdisk large enough for enclave-eif's second hashing thread, and an empty one.
#[test]
fn a_large_application_ramdisk_and_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    agree(dir.path(), spec("big", &[10_000, 3 << 20, 0, 1 << 20], CMDLINE, None));
    agree(dir.path(), spec("empty-ramdisk", &[0, 0], "", None));
}

fn set_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn set_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_be_bytes());
}

/// AWS's reader ignores `num_sections`: a header declaring 33 sections reads fine there. enclave-eif
/// refuses it (the table has 32 entries).
#[test]
fn a_33_section_header_aws_accepts_and_we_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let path = agree(dir.path(), spec("n33", &[100, 200], CMDLINE, None));
    let mut bytes = std::fs::read(&path).unwrap();
    set_u16(&mut bytes, 26, 33);
    fix_crc(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();
    let aws = aws_read(&path).expect("AWS's reader accepts a 33-section header");
    assert!(aws.crc_ok);
    let err = Measure::new().reader(&bytes[..]).unwrap_err();
    assert!(matches!(err, EifError::TooManySections { count: 33, max: 32 }), "{err}");
}

/// A section whose header claims 2^64 - 1 bytes: AWS's reader allocates that much and panics
/// (capacity overflow). enclave-eif names the problem without allocating.
#[test]
fn a_huge_section_size_makes_aws_panic_and_we_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let path = agree(dir.path(), spec("huge", &[100, 200], CMDLINE, None));
    let clean = std::fs::read(&path).unwrap();
    // The kernel's section header is right after the file header: type (2), flags (2), size (8).
    let mut bytes = clean.clone();
    set_u64(&mut bytes, 548 + 4, u64::MAX);
    fix_crc(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let aws = std::panic::catch_unwind(AssertUnwindSafe(|| aws_read(&path)));
    std::panic::set_hook(hook);
    assert!(aws.is_err(), "AWS's reader was expected to panic on a 2^64 - 1 section size");
    let err = Measure::new().reader(&bytes[..]).unwrap_err();
    assert!(matches!(err, EifError::SectionSizeMismatch { index: 0, offset: 548, in_section: u64::MAX, .. }), "{err}");
    // The same size in the table as well: refused before any section is read.
    set_u64(&mut bytes, 28 + 32 * 8, u64::MAX);
    fix_crc(&mut bytes);
    let err = Measure::new().reader(&bytes[..]).unwrap_err();
    assert!(matches!(err, EifError::SizeOverflow { index: 0, offset: 548, size: u64::MAX }), "{err}");
}

/// The fixtures committed for the workspace's offline tests (eif/testdata) still read, in AWS's reader,
/// as the PCRs their manifest records, and as ours.
#[test]
fn the_committed_fixtures_agree_with_aws() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let images = manifest["images"].as_array().unwrap();
    assert_eq!(images.len(), 8);
    for image in images {
        let path = dir.join(image["file"].as_str().unwrap());
        let recorded: std::collections::BTreeMap<String, String> =
            serde_json::from_value(image["pcrs"].clone()).unwrap();
        let aws = aws_read(&path).unwrap();
        assert!(aws.crc_ok && aws.sign_check.unwrap_or(true), "{}", path.display());
        assert_eq!(pcrs_only(&aws.measurements), recorded, "{}", path.display());
        assert_eq!(ours(&path).unwrap(), recorded, "{}", path.display());
    }
}
