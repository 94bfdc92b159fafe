//! The mock's built-in functions (the table is in the [module docs](super)).
//!
//! Input: an invocation's input stream (the client's bytes: untrusted, already opened and bounded per
//! chunk). Output: the function's output, or a [`FunctionError`] naming what it expected. Never
//! displays input.

use std::io::Read as _;
use std::time::Duration;

use enclave_protocol::FunctionId;
use enclave_runtime::{FunctionError, FunctionInput, FunctionOutput, GatheredInput};
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
                send(mean(id, all.reader())?.into_bytes()).await
            }
            Self::SleepMs => {
                let all = buffer(id, limits, &mut input).await?;
                // A number of milliseconds is a few digits: a longer input is not one.
                let mut text = String::new();
                let _ = all.reader().take(64).read_to_string(&mut text);
                let ms = Some(text)
                    .filter(|_| all.len() <= 64)
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

/// The whole input, refused past [`Limits::max_buffered_input`]. It stays charged to the enclave's
/// memory budget for as long as the function holds it (`FunctionInput::gather`).
async fn buffer(id: &FunctionId, limits: &Limits, input: &mut FunctionInput) -> Result<GatheredInput, FunctionError> {
    input
        .gather(limits.max_buffered_input)
        .await
        .map_err(|e| FunctionError::InputTooLarge { function: id.clone(), limit: e.max })
}

/// The mean of a JSON array of numbers, summed as the array is parsed: holding the numbers as well
/// would be memory (eight bytes for each two of input) the budget does not see.
fn mean(function: &FunctionId, input: impl std::io::Read) -> Result<String, FunctionError> {
    struct Sum(f64, u64);
    impl<'de> serde::Deserialize<'de> for Sum {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = Sum;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an array of numbers")
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Sum, A::Error> {
                    let mut sum = Sum(0.0, 0);
                    while let Some(v) = seq.next_element::<f64>()? {
                        sum.0 += v;
                        sum.1 += 1;
                    }
                    Ok(sum)
                }
            }
            d.deserialize_seq(Visit)
        }
    }
    let invalid =
        || FunctionError::InvalidInput { function: function.clone(), expected: "a non-empty JSON array of numbers" };
    let Sum(sum, n) = serde_json::from_reader(input).map_err(|_| invalid())?;
    if n == 0 {
        return Err(invalid());
    }
    serde_json::to_string(&(sum / n as f64)).map_err(|_| invalid())
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
        assert_eq!(mean(&id, &b"[1, 2, 3.5]"[..]).unwrap(), "2.1666666666666665");
        for bad in [&b"[]"[..], b"{}", b"[\"a\"]", b"nope"] {
            assert!(matches!(mean(&id, bad), Err(FunctionError::InvalidInput { .. })));
        }
    }
}
