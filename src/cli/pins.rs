//! The pin flags of the commands that verify an enclave (`run`, `verify`, `attest`, `bench peer`), and
//! the one way they become a policy: `Policy::builder()`, whose `build` alone decides whether the pins
//! identify the enclave image.
//!
//! Input: flag values (trusted: the user), parsed with the measurement vocabulary's parsers. Output: a
//! `Policy`, or one line saying which flag is wrong or what the builder refused and which flags would
//! satisfy it. This module decides nothing itself.

use std::path::Path;

use enclave_sdk::attestation::{Policy, PolicyBuilder, PolicyError, TrustRoot};
use enclave_sdk::{FunctionChecksum, MeasurementSet};

/// `--pcrs` help, shared so every command says the same thing.
pub(crate) const PCRS_HELP: &str = "One allowed release: IDX=HEX[,IDX=HEX...] with 96 hex digits per PCR. Repeat the \
flag to allow another release; a document must match every PCR of one. Each set must pin PCR0, PCR2 or PCR8 (PCR1 is \
the same for every image of one nitro-cli version, PCR3 and PCR4 describe the parent instance, and a checksum is the \
enclave's own claim)";

/// Parses each `--pcrs` value as one measurement set.
pub(crate) fn measurement_sets(values: &[String]) -> Result<Vec<MeasurementSet>, String> {
    values.iter().map(|v| v.parse::<MeasurementSet>().map_err(|e| format!("--pcrs: {e}"))).collect()
}

/// Parses `--checksum`.
pub(crate) fn checksum(value: &str) -> Result<FunctionChecksum, String> {
    value.parse().map_err(|e| format!("--checksum: {e}"))
}

/// Reads a PEM trust root named by `flag`.
pub(crate) fn trust_root(flag: &str, path: &Path) -> Result<TrustRoot, String> {
    let pem = std::fs::read_to_string(path).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
    TrustRoot::from_pem(&pem).map_err(|e| format!("{flag} {}: {e}", path.display()))
}

/// Builds the policy; a refusal says which flags would give the builder what it needs.
pub(crate) fn build(builder: PolicyBuilder) -> Result<Policy, String> {
    builder.build().map_err(|e| match e {
        e @ PolicyError::ImageNotPinned { .. } => format!(
            "{e}; pin the image with --pcrs IDX=HEX,... (PCR0, PCR2 or PCR8; one --pcrs per allowed release), or \
             pass --policy FILE, or --any-enclave to trust any enclave"
        ),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_names_flags_and_the_rule() {
        let only_checksum = Policy::builder().function_checksum(FunctionChecksum::from_bytes([1; 32]));
        let message = build(only_checksum).unwrap_err();
        assert!(message.starts_with("the policy pins only a function checksum"), "{message}");
        assert!(message.contains("--pcrs") && message.contains("--any-enclave"), "{message}");
        assert!(!message.contains("--pcr ") && !message.contains("pin --pcr or --checksum"), "{message}");
        let sets = measurement_sets(&[format!("0={}", "ab".repeat(48))]).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(
            measurement_sets(&["0=ab".into()]).unwrap_err(),
            "--pcrs: PCR0: PCR values are 48 bytes (96 hex digits; 32 or 64 for other banks); this is 1 bytes"
        );
    }
}
