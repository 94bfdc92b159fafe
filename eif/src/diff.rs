//! Which sections two images differ in, and which PCRs that moves, so a user whose PCR2 does not match
//! the expected value knows which ramdisk to look at.

use crate::format::SectionKind;
use crate::measure::{Image, Section};
use crate::pcr::PCR_LEN;

/// One section as it is in each image (`None`: the image has no such section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionChange {
    label: String,
    kind: SectionKind,
    ramdisk: Option<usize>,
    a: Option<(u64, Option<[u8; PCR_LEN]>)>,
    b: Option<(u64, Option<[u8; PCR_LEN]>)>,
    pcrs: &'static [u8],
}

impl SectionChange {
    /// `kernel`, `cmdline`, `ramdisk 2`, `metadata` or `signature`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The section's kind.
    pub fn kind(&self) -> SectionKind {
        self.kind
    }

    /// Its size in the first image, if it has it.
    pub fn size_a(&self) -> Option<u64> {
        self.a.map(|(s, _)| s)
    }

    /// Its size in the second image, if it has it.
    pub fn size_b(&self) -> Option<u64> {
        self.b.map(|(s, _)| s)
    }

    /// The PCRs this change moves: kernel, cmdline and ramdisk 0 are in PCR0 and PCR1, later ramdisks
    /// in PCR0 and PCR2, metadata in none; a signature section moves PCR8 only when the certificate
    /// changed (a new signature by the same certificate, as every rebuild makes, moves nothing).
    pub fn pcrs(&self) -> &'static [u8] {
        self.pcrs
    }
}

/// How two images differ.
///
/// # Examples
///
/// ```no_run
/// use enclave_eif::{Diff, Measure};
/// let m = Measure::new().section_digests(true);
/// let (expected, built) = (m.file("expected.eif".as_ref())?, m.file("built.eif".as_ref())?);
/// for change in Diff::between(&expected, &built).sections() {
///     println!("{} differs (measured in PCRs {:?})", change.label(), change.pcrs());
/// }
/// # Ok::<(), enclave_eif::EifError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    pcrs: Vec<u8>,
    sections: Vec<SectionChange>,
}

impl Diff {
    /// Compares two measured images section by section (same kind and, for ramdisks, same position).
    ///
    /// Sections are compared by size and, when both images were measured with
    /// [`crate::Measure::section_digests`], by content; without digests, equal sizes count as equal.
    pub fn between(a: &Image, b: &Image) -> Self {
        let (ma, mb) = (a.measurements(), b.measurements());
        let pcrs = [(0, ma.pcr0() != mb.pcr0()), (1, ma.pcr1() != mb.pcr1()), (2, ma.pcr2() != mb.pcr2())]
            .into_iter()
            .chain([(8, ma.pcr8() != mb.pcr8())])
            .filter_map(|(i, differs)| differs.then_some(i))
            .collect();

        let mut sections = Vec::new();
        let key = |s: &Section| (s.kind(), s.ramdisk());
        let mut seen = Vec::new();
        for s in a.sections().iter().chain(b.sections()) {
            if seen.contains(&key(s)) {
                continue;
            }
            seen.push(key(s));
            let find =
                |img: &Image| img.sections().iter().find(|t| key(t) == key(s)).map(|t| (t.size(), t.sha384().copied()));
            let (sa, sb) = (find(a), find(b));
            let same = match (sa, sb) {
                (Some((za, da)), Some((zb, db))) => za == zb && (da.is_none() || db.is_none() || da == db),
                _ => false,
            };
            if !same {
                let pcrs: &'static [u8] = match (s.kind(), s.ramdisk()) {
                    (SectionKind::Ramdisk, Some(n)) if n > 0 => &[0, 2],
                    (SectionKind::Kernel | SectionKind::Cmdline | SectionKind::Ramdisk, _) => &[0, 1],
                    (SectionKind::Signature, _) if ma.pcr8() == mb.pcr8() => &[],
                    (SectionKind::Signature, _) => &[8],
                    (SectionKind::Metadata, _) => &[],
                };
                sections.push(SectionChange {
                    label: s.label(),
                    kind: s.kind(),
                    ramdisk: s.ramdisk(),
                    a: sa,
                    b: sb,
                    pcrs,
                });
            }
        }
        Self { pcrs, sections }
    }

    /// The PCR indices whose values differ.
    pub fn pcrs(&self) -> &[u8] {
        &self.pcrs
    }

    /// The sections that differ, in the first image's order, then those only the second has.
    pub fn sections(&self) -> &[SectionChange] {
        &self.sections
    }

    /// True when the images have the same PCRs and no section differs.
    pub fn is_empty(&self) -> bool {
        self.pcrs.is_empty() && self.sections.is_empty()
    }
}
