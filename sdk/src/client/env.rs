//! A client's configuration from the environment (see [`Client::from_env`](crate::Client::from_env)).
//!
//! Input: environment variables set by whoever deploys the application (trusted configuration).
//! Output: the endpoint, the policy and the token they give, or the [`ConfigError`] naming the variable
//! at fault. This module decides no verification and no rule about what must be pinned: it parses the
//! variables with the measurement vocabulary's parsers and hands the pins to
//! [`Policy::builder`], which decides.

use enclave_protocol::{FunctionChecksum, MeasurementError, MeasurementSet};

use crate::attestation::{Policy, PolicyError, PolicyFile, TrustRoot};
use crate::error::ConfigError;

/// Base URL of the enclave, `ws://host:port` (required).
pub(crate) const ENV_URL: &str = "ENCLAVE_URL";
/// Path to a PEM file with the root certificate to trust instead of AWS Nitro Root-G1 (optional).
pub(crate) const ENV_ROOT_PEM: &str = "ENCLAVE_ROOT_PEM";
/// The allowed measurement sets: `IDX=HEX,IDX=HEX,...` for one release, several releases separated by
/// `;` (e.g. `0=ab12..,1=cd34..,2=ef56..`). Each set must pin PCR0, PCR2 or PCR8.
pub(crate) const ENV_PCRS: &str = "ENCLAVE_PCRS";
/// The function checksum to pin, 64 hex digits.
pub(crate) const ENV_FUNCTION_CHECKSUM: &str = "ENCLAVE_FUNCTION_CHECKSUM";
/// `1`, `true` or `yes` (any case) to accept debug-mode enclaves (their PCRs are all zero; anyone can run
/// them); `0`, `false` or `no` to refuse them; anything else is an error.
pub(crate) const ENV_ALLOW_DEBUG: &str = "ENCLAVE_ALLOW_DEBUG";
/// A bearer token for the enclave's front door (optional).
pub(crate) const ENV_TOKEN: &str = "ENCLAVE_TOKEN";

/// What the environment configures.
#[derive(Debug)]
pub(crate) struct FromEnv {
    pub(crate) url: String,
    pub(crate) policy: Policy,
    pub(crate) token: Option<String>,
}

/// Reads the variables through `get` (the process environment, or a map in tests).
pub(crate) fn read(get: impl Fn(&str) -> Option<String>) -> Result<FromEnv, ConfigError> {
    // An empty variable is an unset one, as shells make it easy to export NAME= by accident.
    let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
    let url = get(ENV_URL).ok_or(ConfigError::EnvMissing { name: ENV_URL })?;
    let policy = match get(PolicyFile::ENV_VAR) {
        Some(path) => {
            let pins = [ENV_ROOT_PEM, ENV_PCRS, ENV_FUNCTION_CHECKSUM, ENV_ALLOW_DEBUG];
            if let Some(also) = pins.into_iter().find(|name| get(name).is_some()) {
                return Err(ConfigError::EnvConflict { name: PolicyFile::ENV_VAR, also });
            }
            Policy::from_file(&path).map_err(ConfigError::EnvPolicyFile)?
        }
        None => policy_from_vars(&get)?,
    };
    Ok(FromEnv { url, policy, token: get(ENV_TOKEN) })
}

fn policy_from_vars(get: &impl Fn(&str) -> Option<String>) -> Result<Policy, ConfigError> {
    let value_err = |name: &'static str| move |source: MeasurementError| ConfigError::EnvValue { name, source };
    let mut policy = Policy::builder();
    if let Some(path) = get(ENV_ROOT_PEM) {
        let pem = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::EnvRootUnreadable { path: path.clone().into(), kind: e.kind() })?;
        let root = TrustRoot::from_pem(&pem).map_err(|source| ConfigError::EnvRoot { source })?;
        policy = policy.trust_root(root);
    }
    if let Some(sets) = get(ENV_PCRS) {
        for set in MeasurementSet::parse_list(&sets).map_err(value_err(ENV_PCRS))? {
            policy = policy.allow_measurements(set);
        }
    }
    if let Some(sum) = get(ENV_FUNCTION_CHECKSUM) {
        policy = policy.function_checksum(sum.parse::<FunctionChecksum>().map_err(value_err(ENV_FUNCTION_CHECKSUM))?);
    }
    if let Some(value) = get(ENV_ALLOW_DEBUG) {
        if yes_or_no(ENV_ALLOW_DEBUG, &value)? {
            policy = policy.dangerous_allow_debug();
        }
    }
    policy.build().map_err(|source| {
        if matches!(source, PolicyError::ImageNotPinned { .. }) {
            ConfigError::EnvImageNotPinned { source }
        } else {
            ConfigError::Policy(source)
        }
    })
}

/// A yes-or-no variable. Anything but the listed spellings is refused: `TRUE` read as "no" once turned
/// a request for debug enclaves silently into a refusal, and a typo the other way must not allow them.
fn yes_or_no(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(ConfigError::EnvBool { name, value: value.to_owned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use enclave_protocol::HexField;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
    }

    const URL: (&str, &str) = (ENV_URL, "ws://127.0.0.1:1");

    #[test]
    fn env_requires_url_and_an_image_pin() {
        assert_eq!(read(vars(&[])).unwrap_err(), ConfigError::EnvMissing { name: ENV_URL });
        let image = |set, checksum_pinned| ConfigError::EnvImageNotPinned {
            source: PolicyError::ImageNotPinned { set, pins: vec![], zeroed: vec![], checksum_pinned },
        };
        assert_eq!(read(vars(&[URL])).unwrap_err(), image(None, false));
        // The checksum alone: the leak of issue 12, refused before any connection.
        let sum = "11".repeat(32);
        assert_eq!(read(vars(&[URL, (ENV_FUNCTION_CHECKSUM, &sum)])).unwrap_err(), image(None, true));
        // An empty ENCLAVE_PCRS is unset, not a way around the rule.
        assert_eq!(read(vars(&[URL, (ENV_PCRS, " "), (ENV_FUNCTION_CHECKSUM, &sum)])).unwrap_err(), image(None, true));
    }

    #[test]
    fn env_sets_must_each_identify_the_image() {
        let (pcr0, pcr3) = (format!("0={}", "aa".repeat(48)), format!("3={}", "33".repeat(48)));
        let both = format!("{pcr0};{pcr3}");
        let err = read(vars(&[URL, (ENV_PCRS, &both)])).unwrap_err();
        assert_eq!(
            err,
            ConfigError::EnvImageNotPinned {
                source: PolicyError::ImageNotPinned {
                    set: Some(2),
                    pins: vec![enclave_protocol::PcrIndex::PARENT_ROLE],
                    zeroed: vec![],
                    checksum_pinned: false
                },
            }
        );
        // The message names the variables to set, not a Rust method.
        let text = err.to_string();
        assert!(text.contains("set ENCLAVE_PCRS") && text.contains("ENCLAVE_POLICY"), "{text}");
        assert!(!text.contains("dangerous_"), "{text}");
        let env = read(vars(&[URL, (ENV_PCRS, &pcr0)])).unwrap();
        assert_eq!(env.policy.measurement_sets().len(), 1);
    }

    #[test]
    fn env_values_are_parsed_by_the_vocabulary() {
        assert_eq!(
            read(vars(&[URL, (ENV_FUNCTION_CHECKSUM, "12")])).unwrap_err(),
            ConfigError::EnvValue { name: ENV_FUNCTION_CHECKSUM, source: MeasurementError::ChecksumLength { len: 1 } }
        );
        let odd = format!("0={}a", "aa".repeat(47));
        assert_eq!(
            read(vars(&[URL, (ENV_PCRS, &odd)])).unwrap_err(),
            ConfigError::EnvValue {
                name: ENV_PCRS,
                source: MeasurementError::Value {
                    index: enclave_protocol::PcrIndex::IMAGE,
                    source: Box::new(MeasurementError::OddLength { field: HexField::PcrValue, digits: 95 })
                }
            }
        );
    }

    /// `ENCLAVE_ALLOW_DEBUG=TRUE` means yes, and a value that is neither yes nor no is refused, never
    /// read as no.
    #[test]
    fn allow_debug_is_yes_no_or_an_error() {
        let pcr0 = format!("0={}", "aa".repeat(48));
        for yes in ["TRUE", "true", "Yes", "1", " yes "] {
            let env = read(vars(&[URL, (ENV_PCRS, &pcr0), (ENV_ALLOW_DEBUG, yes)])).unwrap();
            assert!(env.policy.allows_debug(), "{yes}");
        }
        for no in ["FALSE", "0", "No"] {
            let env = read(vars(&[URL, (ENV_PCRS, &pcr0), (ENV_ALLOW_DEBUG, no)])).unwrap();
            assert!(!env.policy.allows_debug(), "{no}");
        }
        let err = read(vars(&[URL, (ENV_PCRS, &pcr0), (ENV_ALLOW_DEBUG, "ture")])).unwrap_err();
        assert_eq!(err, ConfigError::EnvBool { name: ENV_ALLOW_DEBUG, value: "ture".into() });
        assert_eq!(
            err.to_string(),
            "environment variable ENCLAVE_ALLOW_DEBUG is \"ture\"; set it to 1, true or yes (any case) to allow, or 0, \
             false, no or unset to refuse"
        );
    }

    /// A policy file excludes the pin variables instead of merging with them, and each file problem
    /// keeps its own type.
    #[test]
    fn a_policy_file_excludes_the_pin_variables() {
        let sum = "11".repeat(32);
        assert_eq!(
            read(vars(&[URL, ("ENCLAVE_POLICY", "/p.toml"), (ENV_FUNCTION_CHECKSUM, &sum)])).unwrap_err(),
            ConfigError::EnvConflict { name: "ENCLAVE_POLICY", also: ENV_FUNCTION_CHECKSUM }
        );
        let missing = "/nonexistent/enclave-policy.toml";
        assert!(matches!(
            read(vars(&[URL, ("ENCLAVE_POLICY", missing)])).unwrap_err(),
            ConfigError::EnvPolicyFile(crate::attestation::PolicyFileError::Read { .. })
        ));
        let pcr0 = format!("0={}", "aa".repeat(48));
        assert_eq!(
            read(vars(&[URL, (ENV_PCRS, &pcr0), (ENV_ROOT_PEM, missing)])).unwrap_err(),
            ConfigError::EnvRootUnreadable { path: missing.into(), kind: std::io::ErrorKind::NotFound }
        );
    }
}
