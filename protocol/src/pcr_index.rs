//! The PCR index on its own: the registers' numbering and names, with no text parsing (that is
//! `measurement`'s, beside the error it reports), so that the error type can name an index without
//! depending on the module that parses one.

use std::fmt;

/// A PCR index: 0 to 31 (the Nitro Secure Module has 32 registers).
///
/// Its text form is the decimal number, without sign, spaces or leading zeros; its `Display` is
/// `PCR<n>`, as messages name registers.
///
/// # Examples
///
/// ```
/// use enclave_protocol::PcrIndex;
/// let i: PcrIndex = "8".parse()?;
/// assert_eq!(i, PcrIndex::SIGNING_CERTIFICATE);
/// assert_eq!(i.to_string(), "PCR8");
/// assert!("32".parse::<PcrIndex>().is_err());
/// assert!("08".parse::<PcrIndex>().is_err());
/// # Ok::<(), enclave_protocol::MeasurementError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PcrIndex(u8);

impl PcrIndex {
    /// How many PCRs the NSM has.
    pub const COUNT: u8 = 32;
    /// PCR0: the measurement of the whole enclave image file.
    pub const IMAGE: Self = Self(0);
    /// PCR1: the Linux kernel and boot ramdisk (the same for every image built by one nitro-cli version).
    pub const KERNEL: Self = Self(1);
    /// PCR2: the user application.
    pub const APPLICATION: Self = Self(2);
    /// PCR3: the IAM role of the parent instance (chosen by whoever runs it).
    pub const PARENT_ROLE: Self = Self(3);
    /// PCR4: the parent instance's id (chosen by whoever runs it).
    pub const PARENT_INSTANCE: Self = Self(4);
    /// PCR8: the certificate the image file was signed with.
    pub const SIGNING_CERTIFICATE: Self = Self(8);

    /// The index `n`, when it is below [`PcrIndex::COUNT`].
    pub const fn new(n: u8) -> Option<Self> {
        if n < Self::COUNT {
            Some(Self(n))
        } else {
            None
        }
    }

    /// The number.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Every index, in order.
    pub fn all() -> impl Iterator<Item = Self> {
        (0..Self::COUNT).map(Self)
    }
}

impl fmt::Display for PcrIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PCR{}", self.0)
    }
}

impl From<PcrIndex> for u8 {
    fn from(i: PcrIndex) -> Self {
        i.0
    }
}
