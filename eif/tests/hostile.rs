//! Hostile images: each starts from a good fixture, makes one edit (then fixes the CRC, unless the CRC
//! is the point), and must be refused with the specific error that names the edit, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::*;
use enclave_eif::{EifError, Measure, SectionKind};

const GOOD: &str = "unsigned-2ramdisks.eif"; // kernel, cmdline, metadata, ramdisk 0, ramdisk 1

/// Streams `bytes` (length unknown).
fn streamed(bytes: &[u8]) -> EifError {
    Measure::new().reader(bytes).expect_err("a hostile image was measured")
}

/// Measures `bytes` with its length known, as `Measure::file` does.
fn sized(bytes: &[u8]) -> EifError {
    Measure::new().expect_len(bytes.len() as u64).reader(bytes).expect_err("a hostile image was measured")
}

fn edited(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = fixture(GOOD);
    edit(&mut b);
    fix_crc(&mut b);
    b
}

#[test]
fn the_good_fixture_measures_both_ways() {
    let b = fixture(GOOD);
    let a = Measure::new().reader(&b[..]).unwrap();
    let s = Measure::new().expect_len(b.len() as u64).reader(&b[..]).unwrap();
    assert_eq!(a.measurements(), s.measurements());
}

#[test]
fn truncated_inside_the_header() {
    let b = fixture(GOOD);
    assert!(matches!(streamed(&b[..100]), EifError::HeaderTruncated { len: 100, header_len: 548 }));
    assert!(matches!(streamed(&[]), EifError::HeaderTruncated { len: 0, .. }));
}

#[test]
fn truncated_inside_a_section() {
    let b = fixture(GOOD);
    let cut = b.len() - 10;
    let end = b.len() as u64;
    let e = streamed(&b[..cut]);
    assert!(
        matches!(e, EifError::Truncated { offset, expected_len } if offset == cut as u64 && expected_len == end),
        "{e}"
    );
    let e = sized(&b[..cut]);
    assert!(
        matches!(e, EifError::PastEnd { index: 4, end: e2, file_len } if e2 == end && file_len == cut as u64),
        "{e}"
    );
    // Cut inside a section header.
    let at = offset(&b, 3) as usize + 5;
    assert!(matches!(streamed(&b[..at]), EifError::Truncated { offset, .. } if offset == at as u64));
}

#[test]
fn one_flipped_byte_is_a_crc_mismatch() {
    let mut b = fixture(GOOD);
    let in_header = get_u32(&b, 544);
    let at = offset(&b, 4) as usize + 12 + 7;
    b[at] ^= 1;
    let e = streamed(&b);
    assert!(matches!(e, EifError::CrcMismatch { in_header: h, computed } if h == in_header && computed != h), "{e}");
    // The CRC field itself.
    let mut b = fixture(GOOD);
    b[547] ^= 0x80;
    assert!(matches!(streamed(&b), EifError::CrcMismatch { .. }));
}

fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

#[test]
fn zero_sections() {
    let b = edited(|b| set_count(b, 0));
    assert!(matches!(streamed(&b), EifError::NoSections));
}

#[test]
fn more_than_32_sections() {
    for n in [33, 0xffff] {
        let b = edited(|b| set_count(b, n));
        assert!(matches!(streamed(&b), EifError::TooManySections { count, max: 32 } if count == n));
    }
}

/// A count lower than the table's entries would hide a section from this reader.
#[test]
fn a_table_entry_past_the_count() {
    let b = edited(|b| set_count(b, 4));
    let (o, s) = (offset(&b, 4), size(&b, 4));
    let e = streamed(&b);
    assert!(
        matches!(e, EifError::UnusedTableEntry { index: 4, count: 4, offset, size } if offset == o && size == s),
        "{e}"
    );
}

#[test]
fn overlapping_sections() {
    let b = edited(|b| {
        let o = offset(b, 3);
        set_offset(b, 3, o - 1);
    });
    let e = streamed(&b);
    assert!(
        matches!(e, EifError::SectionsOverlap { index: 3, offset, previous_end } if previous_end == offset + 1),
        "{e}"
    );
    // The first section inside the header.
    let b = edited(|b| set_offset(b, 0, 0));
    assert!(matches!(streamed(&b), EifError::SectionsOverlap { index: 0, offset: 0, previous_end: 548 }));
}

#[test]
fn a_gap_between_sections() {
    let b = edited(|b| {
        let o = offset(b, 2);
        set_offset(b, 2, o + 3);
    });
    let e = streamed(&b);
    assert!(
        matches!(e, EifError::GapBeforeSection { index: 2, offset, previous_end } if offset == previous_end + 3),
        "{e}"
    );
}

#[test]
fn a_size_past_the_end() {
    let b = edited(|b| {
        let s = size(b, 4);
        set_table_size(b, 4, s + 1000);
    });
    let len = b.len() as u64;
    let e = sized(&b);
    assert!(matches!(e, EifError::PastEnd { index: 4, end, file_len } if end == len + 1000 && file_len == len), "{e}");
    // Streaming, the section's own header disagrees before the end is reached.
    let e = streamed(&b);
    assert!(
        matches!(e, EifError::SectionSizeMismatch { index: 4, in_table, in_section, .. } if in_table == in_section + 1000),
        "{e}"
    );
}

#[test]
fn a_size_of_two_to_the_64() {
    let b = edited(|b| {
        set_table_size(b, 1, u64::MAX);
        set_section_header_size(b, 1, u64::MAX);
    });
    let o = offset(&b, 1);
    assert!(matches!(streamed(&b), EifError::SizeOverflow { index: 1, offset, size: u64::MAX } if offset == o));
    assert!(matches!(sized(&b), EifError::SizeOverflow { index: 1, .. }));
    // Only the section's own header (what AWS's reader trusts) claims it.
    let b = edited(|b| set_section_header_size(b, 4, u64::MAX - 11));
    assert!(
        matches!(streamed(&b), EifError::SectionSizeMismatch { index: 4, in_section, .. } if in_section == u64::MAX - 11)
    );
}

#[test]
fn an_unknown_section_type() {
    for t in [0u16, 6, 0xffff] {
        let b = edited(|b| set_section_type(b, 2, t));
        let o = offset(&b, 2);
        let e = streamed(&b);
        assert!(
            matches!(e, EifError::UnknownSectionType { index: 2, offset, found } if offset == o && found == t),
            "{e}"
        );
    }
}

#[test]
fn the_first_sections_out_of_order() {
    let b = edited(|b| set_section_type(b, 0, 3));
    let e = streamed(&b);
    assert!(
        matches!(
            e,
            EifError::UnexpectedSection { index: 0, found: SectionKind::Ramdisk, expected: SectionKind::Kernel }
        ),
        "{e}"
    );
    let b = edited(|b| set_section_type(b, 1, 1));
    assert!(matches!(
        streamed(&b),
        EifError::UnexpectedSection { index: 1, found: SectionKind::Kernel, expected: SectionKind::Cmdline }
    ));
}

#[test]
fn a_second_metadata_or_kernel_section() {
    let b = edited(|b| set_section_type(b, 3, 5));
    assert!(matches!(streamed(&b), EifError::DuplicateSection { index: 3, kind: SectionKind::Metadata }));
    let b = edited(|b| set_section_type(b, 4, 2));
    assert!(matches!(streamed(&b), EifError::DuplicateSection { index: 4, kind: SectionKind::Cmdline }));
}

#[test]
fn no_ramdisk() {
    // kernel, cmdline, metadata, ramdisk: the one ramdisk retyped as a signature section.
    let mut b = fixture("aarch64-1ramdisk-empty-cmdline.eif");
    set_section_type(&mut b, 3, 4);
    fix_crc(&mut b);
    assert!(matches!(streamed(&b), EifError::NoRamdisk));
}

#[test]
fn trailing_data() {
    let mut b = fixture(GOOD);
    let end = b.len() as u64;
    b.extend_from_slice(&[0; 12]);
    fix_crc(&mut b);
    assert!(matches!(streamed(&b), EifError::TrailingData { end: e } if e == end));
    assert!(matches!(sized(&b), EifError::TrailingData { end: e } if e == end));
}

#[test]
fn bad_magic_and_versions() {
    let b = edited(|b| b[0] = b'E');
    assert!(matches!(streamed(&b), EifError::BadMagic { found } if &found == b"Eeif"));
    for v in [0u16, 1, 5, 0xffff] {
        let b = edited(|b| set_u16(b, 4, v));
        assert!(matches!(streamed(&b), EifError::UnsupportedVersion { found, min: 2, max: 4 } if found == v));
    }
}

#[test]
fn an_oversized_signature_section() {
    // The 12,000-byte ramdisk retyped as a signature section, its table and header size raised to
    // 64 KiB + 1 is refused before any of it is read.
    let mut b = fixture("unsigned-3ramdisks-long-cmdline.eif");
    let last = count(&b) - 1;
    let extra = (enclave_eif::MAX_SIGNATURE_SECTION + 1) as usize - size(&b, last) as usize;
    b.extend(std::iter::repeat_n(0u8, extra));
    set_section_type(&mut b, last, 4);
    set_table_size(&mut b, last, enclave_eif::MAX_SIGNATURE_SECTION + 1);
    set_section_header_size(&mut b, last, enclave_eif::MAX_SIGNATURE_SECTION + 1);
    fix_crc(&mut b);
    let e = streamed(&b);
    assert!(
        matches!(e, EifError::SectionTooLarge { index, kind: SectionKind::Signature, size, max: 65536 } if index == last && size == 65537),
        "{e}"
    );
}

/// Errors name offsets and sizes, never the image's own text.
#[test]
fn error_messages_name_the_check_and_the_values() {
    let b = edited(|b| {
        let o = offset(b, 3);
        set_offset(b, 3, o - 1);
    });
    let msg = streamed(&b).to_string();
    assert!(msg.starts_with("section 3 starts at byte "), "{msg}");
    assert!(msg.contains("inside the previous part, which ends at byte"), "{msg}");
}
