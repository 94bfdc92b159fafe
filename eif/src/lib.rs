//! Measure an AWS Nitro Enclaves image file (EIF) the way `nitro-cli build-enclave` reports it: PCR0,
//! PCR1, PCR2 and, for a signed image, PCR8, in pure Rust, in one pass and constant memory.
//!
//! These are the values to pin: an enclave booted from the image attests them, and a policy (or an
//! AWS KMS key policy) that requires them admits that image only.
//!
//! ```no_run
//! let image = enclave_eif::measure_file("app.eif".as_ref())?;
//! for pcr in image.measurements().pcrs() {
//!     println!("PCR{} {}", pcr.index().get(), pcr.value());
//! }
//! if let Some(signer) = image.signer() {
//!     println!("signed by {}", enclave_eif::escape(signer.subject().as_bytes()));
//! }
//! # Ok::<(), enclave_eif::EifError>(())
//! ```
//!
//! # What is checked, in order
//!
//! The image is untrusted input: every check below fails with an [`EifError`] that names it and the
//! offsets or values involved, never a panic, and no allocation is sized by the file (sections stream
//! through fixed buffers; only the signature section, at most 64 KiB, and the first 4 KiB of the
//! command line are kept).
//!
//! 1. The 548-byte header: magic, version 2 to 4, 1 to 32 sections, unused table entries empty.
//! 2. The section table: each section right after the previous one, no size past 2^64, and, when the
//!    length is known, none past the end and nothing after the last.
//! 3. Each section header: a known type, the table's size, the order kernel, cmdline, then ramdisks, at
//!    most one metadata and one signature section.
//! 4. The CRC32 over every byte but the CRC field, as AWS's reader computes it.
//! 5. For a signed image, [the signature](Signer): the COSE_Sign1 verifies under its certificate's key
//!    and is over this image's PCR0.
//!
//! AWS's own reader (aws-nitro-enclaves-image-format 0.8.1) accepts a header declaring 33 sections and
//! panics on a section size near 2^64; this one refuses both.
//!
//! # PCR3 and PCR4
//!
//! They depend on the parent instance, not the image: [`pcr3_for_iam_role`] and
//! [`pcr4_for_instance_id`].
//!
//! PCR values and indices are the workspace's vocabulary, [`enclave_protocol`]'s (re-exported here).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod diff;
mod error;
mod format;
mod hash;
mod measure;
mod pcr;
mod signature;

pub use diff::{Diff, SectionChange};
pub use enclave_protocol::{Pcr, PcrIndex, PcrValue};
pub use error::{EifError, SignatureError};
pub use format::{Arch, Header, SectionKind, HEADER_LEN, MAX_SECTIONS};
pub use measure::{measure_file, Image, Measure, Measurements, Section, MAX_CMDLINE_KEPT};
pub use pcr::{pcr3_for_iam_role, pcr4_for_instance_id, PCR_LEN};
pub use signature::{Signer, SigningAlgorithm, MAX_SIGNATURE_SECTION};

/// Text from an image (command line, certificate names) made safe to print: printable ASCII stays,
/// a backslash becomes `\\`, every other byte `\xNN`, so no control sequence, line break or
/// look-alike character reaches a terminal or a log.
///
/// # Examples
///
/// ```
/// assert_eq!(enclave_eif::escape(b"console=ttyS0\x1b[2J\n"), "console=ttyS0\\x1b[2J\\x0a");
/// ```
pub fn escape(text: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text {
        match b {
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}
