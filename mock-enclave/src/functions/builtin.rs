//! The mock's built-in functions (the table is in the [module docs](super)).
//!
//! Input: an invocation's input stream (the client's bytes: untrusted, already opened and bounded per
//! chunk). Output: the function's output, or a [`FunctionError`] naming what it expected. Never
//! displays input.

use std::time::Duration;

use enclave_protocol::FunctionId;
use enclave_runtime::{FunctionError, FunctionInput, FunctionOutput};
use sha2::{Digest, Sha256};

use enclave_runtime::FunctionLimits as Limits;

/// The version built-in checksums are bound to.
pub const MOCK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The ids of the built-in functions.
pub const BUILTINS: [&str; 7] = ["echo", "sha256", "uppercase", "word-count", "mean", "sleep-ms", "fail"];

/// One built-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builtin {
    Echo,
    Sha256,
    Uppercase,
    WordCount,
    Mean,
    SleepMs,
    Fail,
}

/// Every built-in with its id, in [`BUILTINS`] order.
pub(crate) const TABLE: [(&str, Builtin); 7] = [
    ("echo", Builtin::Echo),
    ("sha256", Builtin::Sha256),
    ("uppercase", Builtin::Uppercase),
    ("word-count", Builtin::WordCount),
    ("mean", Builtin::Mean),
    ("sleep-ms", Builtin::SleepMs),
    ("fail", Builtin::Fail),
];

impl Builtin {
    /// Runs the built-in as function `id` under `limits`.
    pub(crate) async fn run(
        self,
        id: &FunctionId,
        limits: &Limits,
        mut input: FunctionInput,
        output: FunctionOutput,
    ) -> Result<(), FunctionError> {
        let send = |chunk: Vec<u8>| {
            let output = output.clone();
            async move { output.send(chunk).await.map_err(|_| FunctionError::OutputClosed { function: id.clone() }) }
        };
        match self {
            Self::Echo => {
                while let Some(chunk) = input.recv().await {
                    send(chunk).await?;
                }
                Ok(())
            }
            Self::Uppercase => {
                while let Some(mut chunk) = input.recv().await {
                    chunk.make_ascii_uppercase();
                    send(chunk).await?;
                }
                Ok(())
            }
            Self::Sha256 => {
                let mut h = Sha256::new();
                while let Some(chunk) = input.recv().await {
                    h.update(&chunk);
                }
                send(hex::encode(h.finalize()).into_bytes()).await
            }
            Self::WordCount => {
                // A word may span chunks: carry "inside a word" across chunk boundaries.
                let (mut words, mut in_word) = (0u64, false);
                while let Some(chunk) = input.recv().await {
                    for b in chunk {
                        let space = b.is_ascii_whitespace();
                        if !space && !in_word {
                            words += 1;
                        }
                        in_word = !space;
                    }
                }
                send(words.to_string().into_bytes()).await
            }
            Self::Mean => {
                let all = buffer(id, limits, &mut input).await?;
                send(mean(id, &all)?.into_bytes()).await
            }
            Self::SleepMs => {
                let all = buffer(id, limits, &mut input).await?;
                let ms = std::str::from_utf8(&all)
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .filter(|ms| u128::from(*ms) <= limits.timeout.as_millis())
                    .ok_or_else(|| FunctionError::InvalidInput {
                        function: id.clone(),
                        expected: "a decimal number of milliseconds within the time limit",
                    })?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(())
            }
            Self::Fail => {
                Err(FunctionError::Failed { function: id.clone(), message: "the fail function always fails" })
            }
        }
    }
}

/// The whole input, refused past [`Limits::max_buffered_input`].
async fn buffer(id: &FunctionId, limits: &Limits, input: &mut FunctionInput) -> Result<Vec<u8>, FunctionError> {
    let mut all = Vec::new();
    while let Some(chunk) = input.recv().await {
        if all.len().saturating_add(chunk.len()) > limits.max_buffered_input {
            return Err(FunctionError::InputTooLarge { function: id.clone(), limit: limits.max_buffered_input });
        }
        all.extend_from_slice(&chunk);
    }
    Ok(all)
}

fn mean(function: &FunctionId, input: &[u8]) -> Result<String, FunctionError> {
    let invalid =
        || FunctionError::InvalidInput { function: function.clone(), expected: "a non-empty JSON array of numbers" };
    let values: Vec<f64> = serde_json::from_slice(input).map_err(|_| invalid())?;
    if values.is_empty() {
        return Err(invalid());
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    serde_json::to_string(&mean).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_every_builtin_in_order() {
        assert_eq!(TABLE.map(|(name, _)| name), BUILTINS);
        for (name, _) in TABLE {
            assert!(FunctionId::new(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn mean_rejects_non_arrays_and_empty() {
        let id = FunctionId::new("mean").unwrap();
        assert_eq!(mean(&id, b"[1, 2, 3.5]").unwrap(), "2.1666666666666665");
        for bad in [&b"[]"[..], b"{}", b"[\"a\"]", b"nope"] {
            assert!(matches!(mean(&id, bad), Err(FunctionError::InvalidInput { .. })));
        }
    }
}
