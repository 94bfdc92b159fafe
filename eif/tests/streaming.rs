//! The reader's result does not depend on how the bytes arrive: short reads, interrupted reads and a
//! large application ramdisk (hashed on the second thread) give the PCRs computed directly from the
//! sections. Mutated images never panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::io::Read;

use common::*;
use enclave_eif::{EifError, Measure, PcrValue};
use proptest::prelude::*;
use sha2::{Digest as _, Sha384};

/// Yields at most `step` bytes per read, and an `Interrupted` error before every third read.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
    calls: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.calls += 1;
        if self.calls % 3 == 0 {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// PCRs straight from the definition: extend(SHA-384(kernel || cmdline || ramdisks)), and so on.
fn expected(b: &[u8]) -> (PcrValue, PcrValue, PcrValue) {
    let extend = |h: Sha384| {
        let mut e = Sha384::new();
        e.update([0u8; 48]);
        e.update(h.finalize());
        PcrValue::from(<[u8; 48]>::from(e.finalize()))
    };
    let (mut p0, mut p1, mut p2) = (Sha384::new(), Sha384::new(), Sha384::new());
    let mut ramdisks = 0;
    for i in 0..count(b) {
        let d = data(b, i);
        match section_type(b, i) {
            1 | 2 => {
                p0.update(d);
                p1.update(d);
            }
            3 => {
                p0.update(d);
                if ramdisks == 0 {
                    p1.update(d)
                } else {
                    p2.update(d)
                }
                ramdisks += 1;
            }
            _ => {}
        }
    }
    (extend(p0), extend(p1), extend(p2))
}

#[test]
fn short_and_interrupted_reads_give_the_same_pcrs() {
    for name in ["unsigned-2ramdisks.eif", "signed-p384-a.eif", "unsigned-3ramdisks-long-cmdline.eif"] {
        let b = fixture(name);
        let whole = Measure::new().reader(&b[..]).unwrap();
        for step in [1, 7, 548, 4096] {
            let image = Measure::new().reader(Trickle { data: &b, step, calls: 0 }).unwrap();
            assert_eq!(image.measurements(), whole.measurements(), "{name}, {step}-byte reads");
        }
    }
}

/// A 6 MiB application ramdisk goes through the second hashing thread; the PCRs equal the direct
/// computation, however the bytes arrive.
#[test]
fn a_large_application_ramdisk_on_the_second_thread() {
    let mut b = fixture("unsigned-2ramdisks.eif");
    let big: Vec<u8> = (0..6u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    replace_last_section(&mut b, &big);
    let (p0, p1, p2) = expected(&b);
    let image = Measure::new().expect_len(b.len() as u64).reader(&b[..]).unwrap();
    let m = image.measurements();
    assert_eq!((m.pcr0(), m.pcr1(), m.pcr2()), (&p0, &p1, &p2));
    let trickled = Measure::new().reader(Trickle { data: &b, step: 100_003, calls: 0 }).unwrap();
    assert_eq!(trickled.measurements(), m);
    // Truncated while the second thread is busy: the error, and no hang.
    let e = Measure::new().reader(&b[..b.len() - 1]).unwrap_err();
    assert!(matches!(e, EifError::Truncated { .. }), "{e}");
}

#[test]
fn the_direct_computation_matches_every_fixture() {
    for name in ["unsigned-2ramdisks.eif", "aarch64-1ramdisk-empty-cmdline.eif", "signed-p256.eif"] {
        let b = fixture(name);
        let image = Measure::new().reader(&b[..]).unwrap();
        let m = image.measurements();
        let (p0, p1, p2) = expected(&b);
        assert_eq!((m.pcr0(), m.pcr1(), m.pcr2()), (&p0, &p1, &p2), "{name}");
    }
}

/// A reader error is reported with where it happened.
#[test]
fn a_failing_reader_names_the_offset() {
    struct Fails(usize);
    impl Read for Fails {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = self.0.min(buf.len());
            buf[..n].fill(0);
            self.0 -= n;
            Ok(n)
        }
    }
    let e = Measure::new().reader(Fails(100)).unwrap_err();
    assert!(matches!(e, EifError::Io { offset: 100, .. }), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any one byte changed, with or without a fixed CRC, and any truncation: an error or a
    /// measurement, never a panic; and an image whose PCR-relevant bytes did not change measures the same.
    #[test]
    fn mutations_never_panic(at in 0usize..16_000, xor in 1u8..=255, fix in any::<bool>(), cut in 0usize..16_000) {
        let original = fixture("signed-p384-a.eif");
        let mut b = original.clone();
        let at = at % b.len();
        b[at] ^= xor;
        if fix {
            fix_crc(&mut b);
        }
        let _ = Measure::new().reader(&b[..]);
        let _ = Measure::new().expect_len(b.len() as u64).reader(&b[..]);
        let cut = cut % original.len();
        prop_assert!(Measure::new().reader(&original[..cut]).is_err());
    }
}
