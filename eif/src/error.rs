//! Why an image was refused. Every variant names the check and the values (offsets, sizes, indices) a
//! user needs to find the problem in the file; none carries text taken from the file.

use crate::format::SectionKind;
use enclave_protocol::PcrValue;

/// An EIF that could not be measured, and why.
///
/// Offsets are byte offsets from the start of the file; section indices are positions in the
/// header's section table, counted from 0.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EifError {
    /// The image file could not be opened.
    #[error("opening the image: {source}")]
    Open {
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Reading the image failed (not a property of the image).
    #[error("reading the image at byte {offset}: {source}")]
    Io {
        /// Where the read was.
        offset: u64,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is shorter than the fixed 548-byte EIF header.
    #[error("the file is {len} bytes, shorter than the {header_len}-byte EIF header")]
    HeaderTruncated {
        /// Bytes the file has.
        len: u64,
        /// Bytes the header needs.
        header_len: u64,
    },
    /// The first four bytes are not `.eif`.
    #[error("not an EIF: the file starts with {found:02x?}, not \".eif\"")]
    BadMagic {
        /// The first four bytes.
        found: [u8; 4],
    },
    /// A format version this reader does not know (it reads 2 to 4, the versions with a CRC).
    #[error("EIF version {found} is not supported (this reader knows versions {min} to {max})")]
    UnsupportedVersion {
        /// The header's version.
        found: u16,
        /// Oldest version read.
        min: u16,
        /// Newest version read.
        max: u16,
    },
    /// The header declares no sections.
    #[error("the header declares no sections")]
    NoSections,
    /// The header declares more sections than its table holds.
    #[error("the header declares {count} sections; its table holds at most {max}")]
    TooManySections {
        /// Declared count.
        count: u16,
        /// Table size.
        max: usize,
    },
    /// A table entry past the declared count is not zero: a section the count hides.
    #[error("section table entry {index} is past the declared {count} sections but not empty (offset {offset}, size {size})")]
    UnusedTableEntry {
        /// The entry.
        index: usize,
        /// Declared section count.
        count: u16,
        /// Its offset.
        offset: u64,
        /// Its size.
        size: u64,
    },
    /// A section's offset plus its header and size does not fit in 64 bits.
    #[error("section {index} at byte {offset} with size {size} ends past 2^64")]
    SizeOverflow {
        /// The section.
        index: usize,
        /// Its offset.
        offset: u64,
        /// Its declared size.
        size: u64,
    },
    /// A section starts before the previous one (or the header) ends.
    #[error("section {index} starts at byte {offset}, inside the previous part, which ends at byte {previous_end}")]
    SectionsOverlap {
        /// The section.
        index: usize,
        /// Where the table says it starts.
        offset: u64,
        /// Where the header or the previous section ends.
        previous_end: u64,
    },
    /// A section starts after a gap of unaccounted bytes.
    #[error("section {index} starts at byte {offset}, leaving a gap after byte {previous_end}")]
    GapBeforeSection {
        /// The section.
        index: usize,
        /// Where the table says it starts.
        offset: u64,
        /// Where the header or the previous section ends.
        previous_end: u64,
    },
    /// A section ends past the end of the file.
    #[error("section {index} ends at byte {end}, past the end of the {file_len}-byte file")]
    PastEnd {
        /// The section.
        index: usize,
        /// Where it ends.
        end: u64,
        /// The file's length.
        file_len: u64,
    },
    /// The stream ended before the section table's last section did.
    #[error("the image ends at byte {offset}; its section table says it is {expected_len} bytes")]
    Truncated {
        /// Bytes read.
        offset: u64,
        /// Bytes the table accounts for.
        expected_len: u64,
    },
    /// Bytes follow the last section.
    #[error("data follows the last section, which ends at byte {end}")]
    TrailingData {
        /// Where the last section ends.
        end: u64,
    },
    /// A section header's type is none of kernel, cmdline, ramdisk, signature, metadata.
    #[error("section {index} at byte {offset} has unknown type {found}")]
    UnknownSectionType {
        /// The section.
        index: usize,
        /// Where its header is.
        offset: u64,
        /// The type found.
        found: u16,
    },
    /// A section header's size disagrees with the header's table.
    #[error("section {index} at byte {offset}: its header says {in_section} bytes, the section table {in_table}")]
    SectionSizeMismatch {
        /// The section.
        index: usize,
        /// Where its header is.
        offset: u64,
        /// Size in the section table.
        in_table: u64,
        /// Size in the section's own header.
        in_section: u64,
    },
    /// Section 0 must be the kernel and section 1 the command line.
    #[error("section {index} is a {found}, where the format puts the {expected}")]
    UnexpectedSection {
        /// The section.
        index: usize,
        /// What it is.
        found: SectionKind,
        /// What must be there.
        expected: SectionKind,
    },
    /// A second kernel, command line, metadata or signature section.
    #[error("section {index} is a second {kind} section")]
    DuplicateSection {
        /// The section.
        index: usize,
        /// Its kind.
        kind: SectionKind,
    },
    /// No ramdisk: PCR1 is defined over the kernel, command line and first ramdisk.
    #[error("the image has no ramdisk section")]
    NoRamdisk,
    /// A section is larger than this reader keeps in memory for its kind.
    #[error("section {index} ({kind}) is {size} bytes; at most {max} are accepted")]
    SectionTooLarge {
        /// The section.
        index: usize,
        /// Its kind.
        kind: SectionKind,
        /// Its size.
        size: u64,
        /// The bound for this kind.
        max: u64,
    },
    /// The CRC32 over the file (all but the CRC field) differs from the header's.
    #[error("CRC32 mismatch: the header says {in_header:08x}, the file's bytes give {computed:08x}")]
    CrcMismatch {
        /// The header's CRC field.
        in_header: u32,
        /// CRC32 (ISO-HDLC) of every byte but the CRC field.
        computed: u32,
    },
    /// The signature section does not verify; the image gets no measurements.
    #[error("signature section (section {index}, at byte {offset}): {source}")]
    Signature {
        /// The section.
        index: usize,
        /// Where its header is.
        offset: u64,
        /// What failed.
        source: SignatureError,
    },
    /// The thread hashing the application ramdisks stopped (a bug, not a property of the image).
    #[error("the PCR2 hashing thread stopped")]
    HashingThread,
}

/// Why a signature section was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The section is not the CBOR encoding AWS's signer writes (an array of PCR signatures, each a
    /// map with `signing_certificate` and `signature`, bytes as arrays of integers).
    #[error("not a PCR signature list: {what}")]
    Malformed {
        /// What was wrong.
        what: &'static str,
    },
    /// The list holds other than exactly one PCR signature (AWS's signer writes one, for PCR0).
    #[error("the section holds {found} PCR signatures; exactly 1 (PCR0's) is accepted")]
    EntryCount {
        /// Entries found.
        found: usize,
    },
    /// `signing_certificate` is not one PEM `CERTIFICATE` block holding an X.509 certificate.
    #[error("the signing certificate is not one PEM X.509 certificate")]
    Certificate,
    /// The certificate's key is not an EC key on P-256, P-384 or P-521.
    #[error("the signing certificate's key is not ECDSA P-256, P-384 or P-521")]
    UnsupportedKey,
    /// `signature` is not a COSE_Sign1 (RFC 9052 section 4.2) with a payload.
    #[error("the signature is not a COSE_Sign1 with a payload: {what}")]
    Cose {
        /// What was wrong.
        what: &'static str,
    },
    /// The COSE protected header names another algorithm than the certificate's key uses.
    #[error("the COSE header names algorithm {found}; the certificate's key signs with {expected}")]
    AlgorithmMismatch {
        /// The COSE algorithm identifier found (RFC 9053), or 0 if none.
        found: i64,
        /// What the key needs.
        expected: &'static str,
    },
    /// The COSE signature does not verify under the certificate's key.
    #[error("the COSE_Sign1 signature does not verify under the signing certificate's key")]
    BadSignature,
    /// The signed payload is not AWS's `{register_index, register_value}` map.
    #[error("the signed payload is not a PCR index and value: {what}")]
    Payload {
        /// What was wrong.
        what: &'static str,
    },
    /// The signature is over another PCR than PCR0.
    #[error("the signature is over PCR{found}; PCR0's is required")]
    SignedIndex {
        /// The signed register index.
        found: i64,
    },
    /// The signature is genuine but over another image's PCR0.
    #[error("the signature is over PCR0 {}, but this image's PCR0 is {computed}", hex::encode(signed))]
    SignedPcrMismatch {
        /// The PCR0 value that was signed.
        signed: Vec<u8>,
        /// This image's PCR0.
        computed: PcrValue,
    },
}
