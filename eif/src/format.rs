//! The EIF container: the fixed header, its section table, and section headers. Pure parsing, no I/O.
//!
//! Facts from AWS's `aws-nitro-enclaves-image-format` (`src/defs/mod.rs`, `src/utils/mod.rs`,
//! `src/utils/eif_reader.rs`, version 0.8.1), all integers big-endian:
//!
//! ```text
//! header (548 bytes): magic ".eif" | version u16 | flags u16 | default_mem u64 | default_cpus u64
//!                     | reserved u16 | num_sections u16 | section_offsets [u64; 32] | section_sizes [u64; 32]
//!                     | unused u32 | eif_crc32 u32
//! section:            type u16 | flags u16 | size u64 | `size` bytes of data
//! ```
//!
//! A table offset points at the section's 12-byte header; the table size counts the data only.
//! AWS's builder writes kernel, cmdline, metadata, the ramdisks in order, then the signature, each
//! section right after the previous one, and zeroes the unused table entries. AWS's reader ignores the
//! table and walks the sections one after the other; whatever loads the image into an enclave may
//! follow the table. This reader requires both views to agree (contiguous sections, table sizes equal
//! to section headers, nothing after the last section), so there is only one possible reading of an
//! image and therefore one set of PCRs.

#![warn(clippy::arithmetic_side_effects)]

use crate::error::EifError;

/// The magic number, ".eif" in ASCII.
pub(crate) const MAGIC: [u8; 4] = *b".eif";
/// Size of the fixed header.
pub const HEADER_LEN: usize = 548;
/// Offset of the header's CRC32 field, its last 4 bytes; the CRC covers every byte of the file but these.
pub(crate) const CRC_OFFSET: usize = 544;
/// Size of a section header.
pub(crate) const SECTION_HEADER_LEN: u64 = 12;
/// Entries in the header's section table.
pub const MAX_SECTIONS: usize = 32;
/// Oldest version read: version 2 added the CRC.
pub(crate) const MIN_VERSION: u16 = 2;
/// Newest version read: version 3 added the signature section, 4 the metadata section.
pub(crate) const MAX_VERSION: u16 = 4;
/// Header flag bit 0: the image is for aarch64 (cleared: x86_64).
const FLAG_ARM64: u16 = 0x1;

/// What a section holds (the `type` of its header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SectionKind {
    /// The Linux kernel (type 1): measured in PCR0 and PCR1.
    Kernel,
    /// The kernel command line (type 2), without a terminating NUL: measured in PCR0 and PCR1.
    Cmdline,
    /// A ramdisk (type 3): the first is measured in PCR0 and PCR1, the others in PCR0 and PCR2.
    Ramdisk,
    /// The signature section (type 4): its certificate is measured in PCR8.
    Signature,
    /// Build metadata, JSON (type 5): not measured.
    Metadata,
}

impl SectionKind {
    fn from_type(t: u16) -> Option<Self> {
        match t {
            1 => Some(Self::Kernel),
            2 => Some(Self::Cmdline),
            3 => Some(Self::Ramdisk),
            4 => Some(Self::Signature),
            5 => Some(Self::Metadata),
            _ => None,
        }
    }

    /// The lowercase name used in output and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Kernel => "kernel",
            Self::Cmdline => "cmdline",
            Self::Ramdisk => "ramdisk",
            Self::Signature => "signature",
            Self::Metadata => "metadata",
        }
    }
}

impl std::fmt::Display for SectionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The architecture an image is built for (header flag bit 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Arch {
    /// x86_64 (flag cleared).
    X86_64,
    /// aarch64 (flag set).
    Aarch64,
}

impl Arch {
    /// `x86_64` or `aarch64`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Aarch64 => "aarch64",
        }
    }
}

/// The parts of the fixed header that describe the image (the table is checked, then kept as [`Span`]s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub(crate) version: u16,
    pub(crate) flags: u16,
    pub(crate) default_mem: u64,
    pub(crate) default_cpus: u64,
    pub(crate) crc32: u32,
    pub(crate) spans: Vec<Span>,
}

impl Header {
    /// The format version (2 to 4).
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The architecture flag.
    pub fn arch(&self) -> Arch {
        if self.flags & FLAG_ARM64 != 0 {
            Arch::Aarch64
        } else {
            Arch::X86_64
        }
    }

    /// The raw header flags.
    pub fn flags(&self) -> u16 {
        self.flags
    }

    /// Default enclave memory in bytes the builder recorded (not measured).
    pub fn default_mem(&self) -> u64 {
        self.default_mem
    }

    /// Default vCPU count the builder recorded (not measured).
    pub fn default_cpus(&self) -> u64 {
        self.default_cpus
    }

    /// The CRC32 the header claims.
    pub fn crc32(&self) -> u32 {
        self.crc32
    }

    /// Where the image ends: the end of its last section.
    pub(crate) fn end(&self) -> u64 {
        self.spans.last().map_or(HEADER_LEN as u64, |s| s.end)
    }
}

/// One section's place in the file, from the table, already checked against its neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// Where its section header starts.
    pub(crate) offset: u64,
    /// Data bytes.
    pub(crate) size: u64,
    /// One past its last data byte.
    pub(crate) end: u64,
}

/// Big-endian fields in order from a byte slice; running out is a truncated header.
struct Fields<'a> {
    rest: &'a [u8],
    len: u64,
}

impl<'a> Fields<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], EifError> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(EifError::HeaderTruncated { len: self.len, header_len: HEADER_LEN as u64 })?;
        self.rest = rest;
        Ok(*head)
    }

    fn u16(&mut self) -> Result<u16, EifError> {
        self.take().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, EifError> {
        self.take().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Result<u64, EifError> {
        self.take().map(u64::from_be_bytes)
    }
}

/// Parses the fixed header and checks its section table: count in 1..=32, unused entries zero,
/// every section right after the previous one (the first right after the header), no end past 2^64.
/// `file_len`, when known, must be exactly the end of the last section.
pub(crate) fn parse_header(bytes: &[u8], file_len: Option<u64>) -> Result<Header, EifError> {
    let mut f = Fields { rest: bytes, len: bytes.len() as u64 };
    let magic = f.take::<4>()?;
    if magic != MAGIC {
        return Err(EifError::BadMagic { found: magic });
    }
    let version = f.u16()?;
    let flags = f.u16()?;
    let default_mem = f.u64()?;
    let default_cpus = f.u64()?;
    let _reserved = f.u16()?;
    let count = f.u16()?;
    let mut offsets = [0u64; MAX_SECTIONS];
    for o in &mut offsets {
        *o = f.u64()?;
    }
    let mut sizes = [0u64; MAX_SECTIONS];
    for s in &mut sizes {
        *s = f.u64()?;
    }
    let _unused = f.u32()?;
    let crc32 = f.u32()?;

    if !(MIN_VERSION..=MAX_VERSION).contains(&version) {
        return Err(EifError::UnsupportedVersion { found: version, min: MIN_VERSION, max: MAX_VERSION });
    }
    // AWS's reader takes num_sections as it comes (33 and more included) and then ignores it.
    let n = usize::from(count);
    if n == 0 {
        return Err(EifError::NoSections);
    }
    if n > MAX_SECTIONS {
        return Err(EifError::TooManySections { count, max: MAX_SECTIONS });
    }
    for (index, (&offset, &size)) in offsets.iter().zip(&sizes).enumerate().skip(n) {
        if offset != 0 || size != 0 {
            return Err(EifError::UnusedTableEntry { index, count, offset, size });
        }
    }

    let mut spans = Vec::with_capacity(n);
    let mut previous_end = HEADER_LEN as u64;
    for (index, (&offset, &size)) in offsets.iter().zip(&sizes).take(n).enumerate() {
        if offset < previous_end {
            return Err(EifError::SectionsOverlap { index, offset, previous_end });
        }
        if offset > previous_end {
            return Err(EifError::GapBeforeSection { index, offset, previous_end });
        }
        let end = offset
            .checked_add(SECTION_HEADER_LEN)
            .and_then(|data| data.checked_add(size))
            .ok_or(EifError::SizeOverflow { index, offset, size })?;
        if let Some(file_len) = file_len {
            if end > file_len {
                return Err(EifError::PastEnd { index, end, file_len });
            }
        }
        spans.push(Span { offset, size, end });
        previous_end = end;
    }
    if let Some(file_len) = file_len {
        if file_len > previous_end {
            return Err(EifError::TrailingData { end: previous_end });
        }
    }
    Ok(Header { version, flags, default_mem, default_cpus, crc32, spans })
}

/// Parses the 12-byte header of section `index` and checks it against the table.
pub(crate) fn parse_section_header(bytes: &[u8; 12], index: usize, span: &Span) -> Result<SectionKind, EifError> {
    let mut f = Fields { rest: bytes, len: SECTION_HEADER_LEN };
    let t = f.u16()?;
    // Section flags are unused by the format (AWS writes 0); they are covered by the CRC only.
    let _flags = f.u16()?;
    let size = f.u64()?;
    let kind =
        SectionKind::from_type(t).ok_or(EifError::UnknownSectionType { index, offset: span.offset, found: t })?;
    if size != span.size {
        return Err(EifError::SectionSizeMismatch {
            index,
            offset: span.offset,
            in_table: span.size,
            in_section: size,
        });
    }
    Ok(kind)
}

/// The section order AWS's builder produces, as a small state machine: kernel, cmdline, then
/// ramdisks, at most one metadata and at most one signature section in any order. PCR0 and PCR1 hash
/// kernel || cmdline || ramdisks in file order, so any other first two sections would make a
/// different (and for the loader, meaningless) image.
#[derive(Debug, Default)]
pub(crate) struct Order {
    ramdisks: usize,
    metadata: bool,
    signature: bool,
}

impl Order {
    /// Accepts section `index` of `kind`, returning which ramdisk it is (0-based) if it is one.
    pub(crate) fn accept(&mut self, index: usize, kind: SectionKind) -> Result<Option<usize>, EifError> {
        let expected = match index {
            0 => Some(SectionKind::Kernel),
            1 => Some(SectionKind::Cmdline),
            _ => None,
        };
        match (expected, kind) {
            (Some(e), k) if e == k => Ok(None),
            (Some(expected), found) => Err(EifError::UnexpectedSection { index, found, expected }),
            (None, SectionKind::Ramdisk) => {
                let n = self.ramdisks;
                self.ramdisks = n.saturating_add(1);
                Ok(Some(n))
            }
            (None, SectionKind::Metadata) if !self.metadata => {
                self.metadata = true;
                Ok(None)
            }
            (None, SectionKind::Signature) if !self.signature => {
                self.signature = true;
                Ok(None)
            }
            (None, kind) => Err(EifError::DuplicateSection { index, kind }),
        }
    }

    /// At the end: at least one ramdisk.
    pub(crate) fn finish(&self) -> Result<(), EifError> {
        if self.ramdisks == 0 {
            return Err(EifError::NoRamdisk);
        }
        Ok(())
    }
}
