//! The pin flags every command that verifies an enclave shares (`run`, `attest`, `verify`), and the one
//! way they become a policy: `Policy::builder()`, whose `build` alone decides whether the pins identify
//! the enclave image.
//!
//! One vocabulary (README, "One vocabulary"): each concept has one flag, spelled and parsed the same in
//! every command, and the same syntax as its environment variable and policy-file key. Input: flag
//! values (trusted: the user), parsed with the measurement vocabulary's parsers. Output: a `Policy`, or
//! one line saying which flag is wrong or what the builder refused and which flags would satisfy it.
//! This module decides nothing itself.

use std::path::{Path, PathBuf};

use enclave_sdk::attestation::{AttestationError, ChainError, Policy, PolicyBuilder, PolicyError, TrustRoot};
use enclave_sdk::{Error, FunctionChecksum, FunctionId, MeasurementSet};

/// `--pcrs` help, shared so every command says the same thing.
pub(crate) const PCRS_HELP: &str = "One allowed release: IDX=HEX[,IDX=HEX...] with 96 hex digits per PCR. Repeat the \
flag to allow another release; a document must match every PCR of one. Each set must pin PCR0, PCR2 or PCR8 (PCR1 is \
the same for every image of one nitro-cli version, PCR3 and PCR4 describe the parent instance, and a checksum is the \
enclave's own claim). Same syntax as ENCLAVE_PCRS and a [[pcrs]] table";

/// The pins, as flags. Flattened into each command, so the names, syntax and help are one.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct PinArgs {
    /// Take what the enclave must prove from this policy file (TOML; README, "Pinning what you trust").
    /// Excludes the other pin flags. Default: $ENCLAVE_POLICY.
    #[arg(long, value_name = "FILE", env = "ENCLAVE_POLICY",
          conflicts_with_all = ["root_pem", "pcrs", "checksum", "allow_debug", "any_enclave"])]
    pub(crate) policy: Option<PathBuf>,
    /// The root certificate (PEM file) documents must chain to, instead of the built-in AWS Nitro
    /// Enclaves Root-G1; for the mock enclave, <state-dir>/root.pem. As ENCLAVE_ROOT_PEM and root_pem.
    // `--root` was this flag's name in `run` and `verify`; kept, hidden, for scripts written then.
    #[arg(long, value_name = "PEM_FILE", alias = "root")]
    pub(crate) root_pem: Option<PathBuf>,
    #[doc = "One allowed release: IDX=HEX[,IDX=HEX...]; repeat to allow another. Must pin PCR0, PCR2 or PCR8."]
    #[arg(long = "pcrs", value_name = "IDX=HEX[,IDX=HEX...]", long_help = PCRS_HELP)]
    pub(crate) pcrs: Vec<String>,
    /// The function checksum to require (64 hex digits), as `enclave checksum` prints it. As
    /// ENCLAVE_FUNCTION_CHECKSUM and [functions] in a policy file.
    #[arg(long, value_name = "HEX")]
    pub(crate) checksum: Option<String>,
    /// Accept a debug-mode enclave (INSECURE: its memory is readable by the host; PCR0..2 are zero).
    #[arg(long)]
    pub(crate) allow_debug: bool,
    /// Waive the rule that the pins must identify the image: any enclave whose document chains to the
    /// root passes, plus whatever else is pinned (INSECURE; for exploration and for fetching a document
    /// to pin).
    #[arg(long)]
    pub(crate) any_enclave: bool,
}

impl PinArgs {
    /// The policy these flags give. `function`: the function a checksum pin is for (`None`: whatever
    /// function the document claims). `extra` adds a command's own settings before the build.
    pub(crate) fn policy(
        &self,
        function: Option<&FunctionId>,
        extra: impl FnOnce(PolicyBuilder) -> PolicyBuilder,
    ) -> Result<Policy, String> {
        if let Some(path) = &self.policy {
            return Policy::from_file(path).map_err(|e| format!("--policy: {e}"));
        }
        let mut builder = Policy::builder();
        if let Some(path) = &self.root_pem {
            builder = builder.trust_root(trust_root(path)?);
        }
        for set in measurement_sets(&self.pcrs)? {
            builder = builder.allow_measurements(set);
        }
        if let Some(sum) = &self.checksum {
            let sum = checksum(sum)?;
            builder = match function {
                Some(id) => builder.function_checksum_for(id.clone(), sum),
                None => builder.function_checksum(sum),
            };
        }
        if self.allow_debug {
            builder = builder.dangerous_allow_debug();
        }
        if self.any_enclave {
            builder = builder.dangerous_accept_any_enclave();
        }
        build(extra(builder))
    }

    /// What to add to a refusal so it says the likely fix.
    pub(crate) fn hint(&self, error: &Error) -> &'static str {
        match error {
            Error::Attestation(e) => self.root_hint(e),
            _ => "",
        }
    }

    /// A document that chains to another root, when the root pinned is the built-in AWS one, most often
    /// comes from the mock enclave: say so, and which flag pins the mock's root.
    pub(crate) fn root_hint(&self, error: &AttestationError) -> &'static str {
        let unknown_root = matches!(error, AttestationError::Chain(ChainError::UnknownRoot { .. }));
        if unknown_root && self.policy.is_none() && self.root_pem.is_none() {
            "; the pinned root is the built-in AWS Nitro Enclaves Root-G1 (no --root-pem given); for the mock \
             enclave pass --root-pem <state-dir>/root.pem"
        } else {
            ""
        }
    }
}

/// Parses each `--pcrs` value as one measurement set.
pub(crate) fn measurement_sets(values: &[String]) -> Result<Vec<MeasurementSet>, String> {
    values.iter().map(|v| v.parse::<MeasurementSet>().map_err(|e| format!("--pcrs: {e}"))).collect()
}

/// Parses `--checksum`.
pub(crate) fn checksum(value: &str) -> Result<FunctionChecksum, String> {
    value.parse().map_err(|e| format!("--checksum: {e}"))
}

/// Reads the `--root-pem` file; the error names the flag and the path.
pub(crate) fn trust_root(path: &Path) -> Result<TrustRoot, String> {
    TrustRoot::from_pem_file(path).map_err(|e| format!("--root-pem: {e}"))
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
