//! The committed fixtures measure to the PCRs AWS's builder reported for them (`testdata/manifest.json`),
//! offline, without the oracle.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::{fixture, manifest, manifest_pcrs, testdata};
use enclave_eif::{measure_file, Arch, Measure, SectionKind, SigningAlgorithm};

#[test]
fn every_fixture_measures_to_the_pcrs_aws_reported() {
    let m = manifest();
    let images = m["images"].as_array().unwrap();
    assert_eq!(images.len(), 8);
    for image in images {
        let file = image["file"].as_str().unwrap();
        let measured = measure_file(&testdata(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let ours: Vec<(u8, String)> =
            measured.measurements().pcrs().into_iter().map(|p| (p.index().get(), p.value().to_string())).collect();
        assert_eq!(ours, manifest_pcrs(file), "{file}");
        assert_eq!(measured.signer().is_some(), !image["signer_cn"].is_null(), "{file}");
        let arch = if image["arch"] == "aarch64" { Arch::Aarch64 } else { Arch::X86_64 };
        assert_eq!(measured.header().arch(), arch, "{file}");
        let ramdisks: Vec<u64> =
            measured.sections().iter().filter(|s| s.ramdisk().is_some()).map(|s| s.size()).collect();
        let expected: Vec<u64> = image["ramdisks"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        assert_eq!(ramdisks, expected, "{file}");
    }
}

#[test]
fn a_signed_fixture_names_its_signer() {
    let image = measure_file(&testdata("signed-p384-a.eif")).unwrap();
    let signer = image.signer().unwrap();
    assert_eq!(signer.subject(), "CN=fixture signer A,O=enclave-sdk oracle,C=US");
    assert_eq!(signer.issuer(), signer.subject());
    assert_eq!(signer.algorithm(), SigningAlgorithm::Es384);
    assert!(signer.not_before() < signer.not_after());
    assert_eq!(image.measurements().pcr8(), Some(&signer.pcr8()));
    let p256 = measure_file(&testdata("signed-p256.eif")).unwrap();
    assert_eq!(p256.signer().unwrap().algorithm(), SigningAlgorithm::Es256);
    assert_ne!(p256.measurements().pcr8(), image.measurements().pcr8());
}

#[test]
fn sections_are_reported_in_file_order_with_their_place() {
    let image = measure_file(&testdata("unsigned-2ramdisks.eif")).unwrap();
    let kinds: Vec<(SectionKind, Option<usize>)> = image.sections().iter().map(|s| (s.kind(), s.ramdisk())).collect();
    assert_eq!(
        kinds,
        [
            (SectionKind::Kernel, None),
            (SectionKind::Cmdline, None),
            (SectionKind::Metadata, None),
            (SectionKind::Ramdisk, Some(0)),
            (SectionKind::Ramdisk, Some(1)),
        ]
    );
    let first = &image.sections()[0];
    assert_eq!((first.offset(), first.size()), (548, 6000));
    assert_eq!(image.file_len(), std::fs::metadata(testdata("unsigned-2ramdisks.eif")).unwrap().len());
    assert!(image.sections().iter().all(|s| s.sha384().is_none()));
    assert_eq!(image.cmdline(), b"reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd random.trust_cpu=on");
}

/// The long command line is measured whole and kept only up to MAX_CMDLINE_KEPT bytes.
#[test]
fn a_long_cmdline_is_kept_only_in_part() {
    let image = measure_file(&testdata("unsigned-3ramdisks-long-cmdline.eif")).unwrap();
    let cmdline = image.sections().iter().find(|s| s.kind() == SectionKind::Cmdline).unwrap();
    assert!(cmdline.size() > enclave_eif::MAX_CMDLINE_KEPT as u64);
    assert_eq!(image.cmdline().len(), enclave_eif::MAX_CMDLINE_KEPT);
}

/// Section digests are each section's SHA-384, and asking for them changes no PCR.
#[test]
fn section_digests_are_the_sections_sha384() {
    use sha2::Digest as _;
    let bytes = fixture("signed-p384-a.eif");
    let plain = Measure::new().reader(&bytes[..]).unwrap();
    let image = Measure::new().section_digests(true).reader(&bytes[..]).unwrap();
    assert_eq!(plain.measurements(), image.measurements());
    for (i, s) in image.sections().iter().enumerate() {
        let expected: [u8; 48] = sha2::Sha384::digest(common::data(&bytes, i)).into();
        assert_eq!(s.sha384(), Some(&expected), "section {i}");
    }
}
