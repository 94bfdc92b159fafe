//! PCR values as Nitro Enclaves report them: SHA-384, 48 bytes, shown as 96 lowercase hex digits.

use crate::hash::Sha384;
use subtle::ConstantTimeEq;

/// Length of a SHA-384 PCR.
pub const PCR_LEN: usize = 48;

/// One 48-byte PCR value (every 48-byte value is a possible PCR).
///
/// `Display` prints 96 lowercase hex digits; equality is constant-time.
///
/// # Examples
///
/// ```
/// let pcr3 = enclave_eif::Pcr::for_iam_role("arn:aws:iam::123456789012:role/Webserver");
/// assert_eq!(
///     pcr3.to_string(),
///     "78fce75db17cd4e0a3fb8dad3ad128ca5e77edbb2b2c7f75329dccd99aa5f6ef4fc1f1a452e315b9e98f9e312e6921e6"
/// );
/// ```
#[derive(Clone, Copy)]
pub struct Pcr([u8; PCR_LEN]);

impl Pcr {
    /// Wraps 48 bytes.
    pub const fn from_bytes(bytes: [u8; PCR_LEN]) -> Self {
        Self(bytes)
    }

    /// The 48 bytes.
    pub const fn as_bytes(&self) -> &[u8; PCR_LEN] {
        &self.0
    }

    /// The register extended once from zero with the SHA-384 of a measured component:
    /// `SHA-384(0^48 || SHA-384(component))`, which is how nitro-cli turns the image's hashes into
    /// PCR0, PCR1, PCR2 and PCR8 (aws-nitro-enclaves-image-format, `EifHasher::tpm_extend_finalize_reset`).
    pub(crate) fn extended_once(component_digest: &[u8]) -> Self {
        let mut h = Sha384::new();
        h.update(&[0u8; PCR_LEN]);
        h.update(component_digest);
        Self(h.finalize())
    }

    /// PCR3 of an enclave whose parent instance has the IAM role `role_arn` (the role's ARN, as
    /// `arn:aws:iam::<account>:role/<name>`).
    ///
    /// AWS Nitro Enclaves User Guide, "Where to get an enclave's measurements", PCR3: SHA-384 over 48
    /// zero bytes followed by the ARN's UTF-8 bytes (the ARN itself, not its hash, is what the Nitro
    /// hypervisor extends). The guide's example (`arn:aws:iam::123456789012:role/Webserver`) is a test.
    pub fn for_iam_role(role_arn: &str) -> Self {
        Self::padded(role_arn.as_bytes())
    }

    /// PCR4 of an enclave whose parent instance has the ID `instance_id` (`i-...`), by the same
    /// construction as [`Pcr::for_iam_role`] (the same guide, PCR4).
    pub fn for_instance_id(instance_id: &str) -> Self {
        Self::padded(instance_id.as_bytes())
    }

    fn padded(data: &[u8]) -> Self {
        let mut h = Sha384::new();
        h.update(&[0u8; PCR_LEN]);
        h.update(data);
        Self(h.finalize())
    }
}

impl PartialEq for Pcr {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Pcr {}

impl std::fmt::Display for Pcr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for Pcr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pcr({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example outputs printed in the AWS Nitro Enclaves User Guide for PCR3 and PCR4.
    #[test]
    fn pcr3_and_pcr4_match_the_aws_guide() {
        assert_eq!(
            Pcr::for_iam_role("arn:aws:iam::123456789012:role/Webserver").to_string(),
            "78fce75db17cd4e0a3fb8dad3ad128ca5e77edbb2b2c7f75329dccd99aa5f6ef4fc1f1a452e315b9e98f9e312e6921e6"
        );
        assert_eq!(
            Pcr::for_instance_id("i-1234567890abcdef0").to_string(),
            "08f996b5d43e047a9eb51e7f548bfee7e164fd7dc8f65541f2ac09d6545ac812719327281c401a67a10fcba87ae79ce0"
        );
    }

    #[test]
    fn one_changed_character_changes_pcr3() {
        assert_ne!(
            Pcr::for_iam_role("arn:aws:iam::123456789012:role/Webserver"),
            Pcr::for_iam_role("arn:aws:iam::123456789012:role/Webservex")
        );
    }
}
