//! Configuration from the environment, and the one-call entry point [`connect_and_invoke`].
//!
//! Input: environment variables set by whoever deploys the application (trusted configuration).
//! Output: a [`Client`] whose policy pins what the variables say. This module decides no verification
//! and no rule about what must be pinned: it parses the variables with the measurement vocabulary's
//! parsers and hands the pins to [`Policy::builder`], which decides.

use std::time::Duration;

use enclave_protocol::{FunctionChecksum, FunctionId, MeasurementError, MeasurementSet};

use crate::attestation::{Policy, PolicyError, TrustRoot, POLICY_ENV_VAR};
use crate::error::{ConfigError, Error};
use crate::session::client::Client;

/// Base URL of the enclave, `ws://host:port` (required).
pub const ENV_URL: &str = "ENCLAVE_URL";
/// Path to a PEM file with the root certificate to trust instead of AWS Nitro Root-G1 (optional).
pub const ENV_ROOT_PEM: &str = "ENCLAVE_ROOT_PEM";
/// The allowed measurement sets: `IDX=HEX,IDX=HEX,...` for one release, several releases separated by
/// `;` (e.g. `0=ab12..,1=cd34..,2=ef56..`). Each set must pin PCR0, PCR2 or PCR8.
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
    /// | `ENCLAVE_PCRS` | the allowed measurement sets: `IDX=HEX,IDX=HEX,...`, releases separated by `;` |
    /// | `ENCLAVE_FUNCTION_CHECKSUM` | 64 hex digits: the function checksum to pin |
    /// | `ENCLAVE_ALLOW_DEBUG` | `1`/`true`: accept debug-mode enclaves (**insecure**) |
    /// | `ENCLAVE_TOKEN` | bearer token (optional) |
    ///
    /// Either `ENCLAVE_POLICY`, or `ENCLAVE_PCRS` with every set pinning PCR0, PCR2 or PCR8, must be
    /// set: a function checksum alone is the enclave's own claim, and PCR1, PCR3 and PCR4 do not identify
    /// the image. Setting `ENCLAVE_POLICY` together with a pin variable is refused rather than merged, so
    /// no pin is silently ignored.
    ///
    /// # Errors
    /// [`ConfigError::Env`] naming the variable that is missing or unusable, [`ConfigError::EnvValue`]
    /// for a pin that does not parse, or [`ConfigError::EnvImageNotPinned`] when the pins do not
    /// identify the image.
    ///
    /// # Examples
    /// ```
    /// use enclave_sdk::{error::ConfigError, Client, Error};
    /// let vars = |name: &str| match name {
    ///     "ENCLAVE_URL" => Some("ws://127.0.0.1:8443".to_owned()),
    ///     "ENCLAVE_FUNCTION_CHECKSUM" => Some("11".repeat(32)),
    ///     _ => None,
    /// };
    /// // A checksum without ENCLAVE_PCRS would trust any enclave that claims it.
    /// assert!(matches!(Client::from_vars(vars), Err(Error::Config(ConfigError::EnvImageNotPinned { .. }))));
    /// ```
    pub fn from_env() -> Result<Client, Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// As [`from_env`](Self::from_env), reading variables through `get` (tests pass a map).
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Client, Error> {
        let env_err = |name: &'static str, problem: &str| ConfigError::Env { name, problem: problem.to_owned() };
        // An empty variable is an unset one, as shells make it easy to export NAME= by accident.
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let url = get(ENV_URL).ok_or_else(|| env_err(ENV_URL, "not set"))?;
        let policy = match get(POLICY_ENV_VAR) {
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
        let value_err = |name: &'static str| move |source: MeasurementError| ConfigError::EnvValue { name, source };
        let mut policy = Policy::builder();
        if let Some(path) = get(ENV_ROOT_PEM) {
            let pem = std::fs::read_to_string(&path)
                .map_err(|e| env_err(ENV_ROOT_PEM, &format!("cannot read {path}: {:?}", e.kind())))?;
            let root = TrustRoot::from_pem(&pem).map_err(|e| env_err(ENV_ROOT_PEM, &e.to_string()))?;
            policy = policy.trust_root(root);
        }
        if let Some(sets) = get(ENV_PCRS) {
            for set in MeasurementSet::parse_list(&sets).map_err(value_err(ENV_PCRS))? {
                policy = policy.allow_measurements(set);
            }
        }
        if let Some(sum) = get(ENV_FUNCTION_CHECKSUM) {
            policy =
                policy.function_checksum(sum.parse::<FunctionChecksum>().map_err(value_err(ENV_FUNCTION_CHECKSUM))?);
        }
        if matches!(get(ENV_ALLOW_DEBUG).as_deref(), Some("1" | "true" | "yes")) {
            policy = policy.dangerous_allow_debug();
        }
        Ok(policy.build().map_err(|source| {
            if matches!(source, PolicyError::ImageNotPinned { .. }) {
                ConfigError::EnvImageNotPinned { source }
            } else {
                ConfigError::Policy(source)
            }
        })?)
    }
}

/// Connects to the enclave named by the environment (see [`Client::from_env`]), verifies it, invokes
/// `function_id` on `input`, and returns the output.
///
/// # Errors
/// Any [`Error`]: configuration, connection, attestation (nothing was sent), session, or the function's.
pub async fn connect_and_invoke(
    function_id: impl TryInto<FunctionId, Error = MeasurementError>,
    input: &[u8],
) -> Result<Vec<u8>, Error> {
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
    use enclave_protocol::HexField;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
    }

    const URL: (&str, &str) = (ENV_URL, "ws://127.0.0.1:1");

    #[test]
    fn env_requires_url_and_an_image_pin() {
        assert!(matches!(Client::from_vars(vars(&[])), Err(Error::Config(ConfigError::Env { name: ENV_URL, .. }))));
        let image = |set, checksum_pinned| {
            Err(Error::Config(ConfigError::EnvImageNotPinned {
                source: PolicyError::ImageNotPinned { set, pins: vec![], zeroed: vec![], checksum_pinned },
            }))
        };
        assert_eq!(Client::from_vars(vars(&[URL])).map(|_| ()), image(None, false));
        // The checksum alone: the leak of issue 12, refused before any connection.
        let sum = "11".repeat(32);
        assert_eq!(Client::from_vars(vars(&[URL, (ENV_FUNCTION_CHECKSUM, &sum)])).map(|_| ()), image(None, true));
        // An empty ENCLAVE_PCRS is unset, not a way around the rule.
        assert_eq!(
            Client::from_vars(vars(&[URL, (ENV_PCRS, " "), (ENV_FUNCTION_CHECKSUM, &sum)])).map(|_| ()),
            image(None, true)
        );
    }

    #[test]
    fn env_sets_must_each_identify_the_image() {
        let (pcr0, pcr3) = (format!("0={}", "aa".repeat(48)), format!("3={}", "33".repeat(48)));
        let both = format!("{pcr0};{pcr3}");
        let err = Client::from_vars(vars(&[URL, (ENV_PCRS, &both)])).unwrap_err();
        assert_eq!(
            err,
            Error::Config(ConfigError::EnvImageNotPinned {
                source: PolicyError::ImageNotPinned {
                    set: Some(2),
                    pins: vec![enclave_protocol::PcrIndex::PARENT_ROLE],
                    zeroed: vec![],
                    checksum_pinned: false
                },
            })
        );
        // The message names the variables to set, not a Rust method.
        let text = err.to_string();
        assert!(text.contains("set ENCLAVE_PCRS") && text.contains("ENCLAVE_POLICY"), "{text}");
        assert!(!text.contains("dangerous_"), "{text}");
        let client = Client::from_vars(vars(&[URL, (ENV_PCRS, &pcr0)])).unwrap();
        assert_eq!(client.policy().measurement_sets().len(), 1);
    }

    #[test]
    fn env_values_are_parsed_by_the_vocabulary() {
        assert_eq!(
            Client::from_vars(vars(&[URL, (ENV_FUNCTION_CHECKSUM, "12")])).map(|_| ()),
            Err(Error::Config(ConfigError::EnvValue {
                name: ENV_FUNCTION_CHECKSUM,
                source: MeasurementError::ChecksumLength { len: 1 }
            }))
        );
        let odd = format!("0={}a", "aa".repeat(47));
        assert_eq!(
            Client::from_vars(vars(&[URL, (ENV_PCRS, &odd)])).map(|_| ()),
            Err(Error::Config(ConfigError::EnvValue {
                name: ENV_PCRS,
                source: MeasurementError::Value {
                    index: enclave_protocol::PcrIndex::IMAGE,
                    source: Box::new(MeasurementError::OddLength { field: HexField::PcrValue, digits: 95 })
                }
            }))
        );
    }
}
