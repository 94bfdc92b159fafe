//! PCR values as Nitro Enclaves report them (SHA-384, 48 bytes), in the workspace's vocabulary
//! ([`enclave_protocol::PcrValue`]: lowercase hex, constant-time equality).

use enclave_protocol::PcrValue;

use crate::hash::Sha384;

/// Length of a SHA-384 PCR.
pub const PCR_LEN: usize = 48;

/// The register extended once from zero with the SHA-384 of a measured component:
/// `SHA-384(0^48 || SHA-384(component))`, which is how nitro-cli turns the image's hashes into PCR0,
/// PCR1, PCR2 and PCR8 (aws-nitro-enclaves-image-format, `EifHasher::tpm_extend_finalize_reset`).
pub(crate) fn extended_once(component_digest: &[u8; PCR_LEN]) -> PcrValue {
    padded(component_digest)
}

/// PCR3 of an enclave whose parent instance has the IAM role `role_arn` (the role's ARN, as
/// `arn:aws:iam::<account>:role/<name>`).
///
/// AWS Nitro Enclaves User Guide, "Where to get an enclave's measurements", PCR3: SHA-384 over 48 zero
/// bytes followed by the ARN's UTF-8 bytes (the ARN itself, not its hash). The guide's example is a test.
///
/// # Examples
///
/// ```
/// let pcr3 = enclave_eif::pcr3_for_iam_role("arn:aws:iam::123456789012:role/Webserver");
/// assert_eq!(
///     pcr3.to_string(),
///     "78fce75db17cd4e0a3fb8dad3ad128ca5e77edbb2b2c7f75329dccd99aa5f6ef4fc1f1a452e315b9e98f9e312e6921e6"
/// );
/// ```
pub fn pcr3_for_iam_role(role_arn: &str) -> PcrValue {
    padded(role_arn.as_bytes())
}

/// PCR4 of an enclave whose parent instance has the ID `instance_id` (`i-...`), by the same
/// construction as [`pcr3_for_iam_role`] (the same guide, PCR4).
pub fn pcr4_for_instance_id(instance_id: &str) -> PcrValue {
    padded(instance_id.as_bytes())
}

fn padded(data: &[u8]) -> PcrValue {
    let mut h = Sha384::new();
    h.update(&[0u8; PCR_LEN]);
    h.update(data);
    PcrValue::from(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example outputs printed in the AWS Nitro Enclaves User Guide for PCR3 and PCR4.
    #[test]
    fn pcr3_and_pcr4_match_the_aws_guide() {
        assert_eq!(
            pcr3_for_iam_role("arn:aws:iam::123456789012:role/Webserver").to_string(),
            "78fce75db17cd4e0a3fb8dad3ad128ca5e77edbb2b2c7f75329dccd99aa5f6ef4fc1f1a452e315b9e98f9e312e6921e6"
        );
        assert_eq!(
            pcr4_for_instance_id("i-1234567890abcdef0").to_string(),
            "08f996b5d43e047a9eb51e7f548bfee7e164fd7dc8f65541f2ac09d6545ac812719327281c401a67a10fcba87ae79ce0"
        );
    }

    #[test]
    fn one_changed_character_changes_pcr3() {
        assert_ne!(
            pcr3_for_iam_role("arn:aws:iam::123456789012:role/Webserver"),
            pcr3_for_iam_role("arn:aws:iam::123456789012:role/Webservex")
        );
    }
}
