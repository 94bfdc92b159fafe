//! Configuration from the environment, and the one-call entry point [`connect_and_invoke`].
//!
//! Input: environment variables set by whoever deploys the application (trusted configuration).
//! Output: a [`Client`] whose policy pins what the variables say. This module decides no verification
//! itself; it only builds the [`Policy`] and refuses to build one that pins nothing.

use std::time::Duration;

use crate::attestation::{Policy, TrustRoot, POLICY_ENV_VAR};
use crate::error::{ConfigError, Error};
use crate::session::client::Client;

/// Base URL of the enclave, `ws://host:port` (required).
pub const ENV_URL: &str = "ENCLAVE_URL";
/// Path to a PEM file with the root certificate to trust instead of AWS Nitro Root-G1 (optional).
pub const ENV_ROOT_PEM: &str = "ENCLAVE_ROOT_PEM";
/// PCR pins, `IDX=HEX` separated by commas, e.g. `0=ab12..,1=cd34..` (repeat an index to allow two values).
pub const ENV_PCRS: &str = "ENCLAVE_PCRS";
/// The function checksum to pin, 64 hex digits.
pub const ENV_FUNCTION_CHECKSUM: &str = "ENCLAVE_FUNCTION_CHECKSUM";
/// `1` or `true` to accept debug-mode enclaves (their PCRs are all zero; anyone can run them).
pub const ENV_ALLOW_DEBUG: &str = "ENCLAVE_ALLOW_DEBUG";
/// A bearer token for the enclave's front door (optional).
pub const ENV_TOKEN: &str = "ENCLAVE_TOKEN";

impl Client {
    /// A client configured from the environment:
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `ENCLAVE_URL` | base URL, `ws://host:port` (required) |
    /// | `ENCLAVE_POLICY` | path to a policy file (TOML, see [`Policy::from_file`]); excludes the four pin variables below |
    /// | `ENCLAVE_ROOT_PEM` | path to the trust root's PEM (default: AWS Nitro Root-G1, built in) |
    /// | `ENCLAVE_PCRS` | `IDX=HEX,IDX=HEX,...` PCR pins |
    /// | `ENCLAVE_FUNCTION_CHECKSUM` | 64 hex digits: the function checksum to pin |
    /// | `ENCLAVE_ALLOW_DEBUG` | `1`/`true`: accept debug-mode enclaves (**insecure**) |
    /// | `ENCLAVE_TOKEN` | bearer token (optional) |
    ///
    /// Either `ENCLAVE_POLICY`, or at least one of `ENCLAVE_PCRS` and `ENCLAVE_FUNCTION_CHECKSUM`, must be
    /// set: a policy that pins nothing would trust any enclave. Setting `ENCLAVE_POLICY` together with a pin
    /// variable is refused rather than merged, so no pin is silently ignored.
    ///
    /// # Errors
    /// [`ConfigError::Env`] naming the variable that is missing or malformed, or
    /// [`ConfigError::Policy`] when the pins do not make a policy.
    pub fn from_env() -> Result<Client, Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// As [`from_env`](Self::from_env), reading variables through `get` (tests pass a map).
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Client, Error> {
        let env_err = |name: &'static str, problem: &str| ConfigError::Env { name, problem: problem.to_owned() };
        let url = get(ENV_URL).ok_or_else(|| env_err(ENV_URL, "not set"))?;
        let policy = match get(POLICY_ENV_VAR).filter(|p| !p.is_empty()) {
            Some(path) => {
                let pins = [ENV_ROOT_PEM, ENV_PCRS, ENV_FUNCTION_CHECKSUM, ENV_ALLOW_DEBUG];
                if let Some(also) = pins.into_iter().find(|name| get(name).is_some()) {
                    return Err(
                        env_err(POLICY_ENV_VAR, &format!("set together with {also}; use one or the other")).into()
                    );
                }
                Policy::from_file(&path).map_err(|e| env_err(POLICY_ENV_VAR, &e.to_string()))?
            }
            None => Self::policy_from_vars(&get)?,
        };
        let mut builder = Client::builder().endpoint(url).policy(policy);
        if let Some(token) = get(ENV_TOKEN) {
            builder = builder.token(token);
        }
        builder.build()
    }

    fn policy_from_vars(get: &impl Fn(&str) -> Option<String>) -> Result<Policy, Error> {
        let env_err = |name: &'static str, problem: &str| ConfigError::Env { name, problem: problem.to_owned() };
        let mut policy = Policy::builder();
        if let Some(path) = get(ENV_ROOT_PEM) {
            let pem = std::fs::read_to_string(&path)
                .map_err(|e| env_err(ENV_ROOT_PEM, &format!("cannot read {path}: {:?}", e.kind())))?;
            let root = TrustRoot::from_pem(&pem).map_err(|e| env_err(ENV_ROOT_PEM, &e.to_string()))?;
            policy = policy.trust_root(root);
        }
        if let Some(pcrs) = get(ENV_PCRS) {
            for (index, value) in parse_pcrs(&pcrs).map_err(|p| env_err(ENV_PCRS, &p))? {
                policy = policy.allow_pcr(index, value);
            }
        }
        if let Some(sum) = get(ENV_FUNCTION_CHECKSUM) {
            policy = policy.function_checksum(parse_checksum(&sum).map_err(|p| env_err(ENV_FUNCTION_CHECKSUM, &p))?);
        }
        if matches!(get(ENV_ALLOW_DEBUG).as_deref(), Some("1" | "true" | "yes")) {
            policy = policy.dangerous_allow_debug();
        }
        Ok(policy.build().map_err(|e| ConfigError::Policy(e.to_string()))?)
    }
}

/// Parses `IDX=HEX[,IDX=HEX...]`, as in `ENCLAVE_PCRS` and the CLI's repeated `--pcr IDX=HEX`.
///
/// # Errors
/// A message naming the malformed item.
pub fn parse_pcrs(s: &str) -> Result<Vec<(u8, Vec<u8>)>, String> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(parse_pcr).collect()
}

/// Parses one `IDX=HEX` PCR pin.
///
/// # Errors
/// A message naming what is malformed.
pub fn parse_pcr(item: &str) -> Result<(u8, Vec<u8>), String> {
    let (idx, hex_value) = item.split_once('=').ok_or_else(|| format!("{item:?} is not IDX=HEX"))?;
    let index: u8 = idx.trim().parse().map_err(|_| format!("PCR index {idx:?} is not 0..=255"))?;
    let value = hex::decode(hex_value.trim()).map_err(|_| format!("PCR{index} value is not hex"))?;
    if !matches!(value.len(), 32 | 48 | 64) {
        return Err(format!("PCR{index} value is {} bytes; expected 48 (SHA-384)", value.len()));
    }
    Ok((index, value))
}

/// Parses a 64-hex-digit function checksum.
///
/// # Errors
/// A message saying what is wrong.
pub fn parse_checksum(s: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(s.trim()).map_err(|_| "not hex".to_owned())?;
    bytes.try_into().map_err(|b: Vec<u8>| format!("{} bytes; expected 32", b.len()))
}

/// Connects to the enclave named by the environment (see [`Client::from_env`]), verifies it, invokes
/// `function_id` on `input`, and returns the output.
///
/// # Errors
/// Any [`Error`]: configuration, connection, attestation (nothing was sent), session, or the function's.
pub async fn connect_and_invoke(function_id: &str, input: &[u8]) -> Result<Vec<u8>, Error> {
    let client = Client::from_env()?;
    let session = client.connect(function_id).await?;
    let output = session.invoke(input).await?;
    // The output is complete; a failure to close cleanly does not change it.
    let _ = tokio::time::timeout(Duration::from_secs(5), session.close()).await;
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcr_parsing() {
        let h = "ab".repeat(48);
        assert_eq!(parse_pcrs(&format!("0={h}, 8={h}")).unwrap().len(), 2);
        assert!(parse_pcr("0").unwrap_err().contains("IDX=HEX"));
        assert!(parse_pcr("300=00").unwrap_err().contains("0..=255"));
        assert!(parse_pcr("1=zz").unwrap_err().contains("not hex"));
        assert!(parse_pcr("1=abcd").unwrap_err().contains("2 bytes"));
        assert_eq!(parse_checksum(&"00".repeat(32)).unwrap(), [0; 32]);
        assert!(parse_checksum("00").unwrap_err().contains("1 bytes"));
    }

    #[test]
    fn env_requires_url_and_a_pin() {
        let none = |_: &str| None;
        assert!(matches!(Client::from_vars(none), Err(Error::Config(ConfigError::Env { name: ENV_URL, .. }))));
        let url_only = |n: &str| (n == ENV_URL).then(|| "ws://127.0.0.1:1".to_owned());
        assert!(matches!(Client::from_vars(url_only), Err(Error::Config(ConfigError::Policy(_)))));
        let bad = |n: &str| match n {
            ENV_URL => Some("ws://127.0.0.1:1".to_owned()),
            ENV_FUNCTION_CHECKSUM => Some("12".to_owned()),
            _ => None,
        };
        assert!(matches!(
            Client::from_vars(bad),
            Err(Error::Config(ConfigError::Env { name: ENV_FUNCTION_CHECKSUM, .. }))
        ));
    }
}
