//! `enclave-bench peer`: the SDK's side of the peer comparison (`scripts/bench_peers.py`): connect,
//! attest and verify, one invocation, close, N times against an enclave that is already running.
//!
//! Input: flags (trusted: the user) naming the endpoint, the pins and the input file; then whatever
//! the enclave sends (untrusted, handled by the SDK exactly as in `enclave run`). Every sample is a
//! fresh connection verified against a pinned root, pinned PCRs and a pinned function checksum; there
//! is no accept-any path. Output: one JSON object (`--format json`) or a table on stdout: the samples
//! in microseconds, their median and 90th percentile; exit 1 when any sample fails or an output
//! differs from the expected bytes, 2 for unusable flags. This module does not compare the figures
//! with anything: the script does, with pycape and `enclave run` measured on the same server.
//!
//! "Warm" samples share one [`Client`], so its verifier's path cache holds webpki's verdict on the
//! enclave's certificate path after the warm-up (only the document signature is verified each time); "cold"
//! samples build a new `Client` inside the timed region, so every link is verified, as in a process
//! that connects once. Cold samples are taken interleaved with warm ones, so both see the same machine.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use enclave_sdk::attestation::{Policy, TrustRoot};
use enclave_sdk::{Client, FunctionChecksum, FunctionId};

/// `--pcrs` help.
const PCRS_HELP: &str = "One allowed release: IDX=HEX[,IDX=HEX...] with 96 hex digits per PCR. Repeat the flag to \
allow another release; a document must match every PCR of one. Each set must pin PCR0, PCR2 or PCR8.";

/// Subcommands of `enclave-bench`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Connect + attestation + one invocation + close against a running enclave, N times, each on a
    /// fresh connection (the SDK's figures for scripts/bench_peers.py).
    Peer(Args),
    /// A TCP relay to a running server that holds every byte for a fixed time each way (the round
    /// trips of scripts/bench_peers.py); prints `relaying ADDR` and runs until killed.
    Relay(super::relay::Args),
}

/// Which protocol the SDK speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    /// Cape Privacy's `cape.runtime` protocol (`Client::connect_cape`), as pycape speaks it.
    Cape,
    /// This project's `enclave-session.v3` (`Client::connect`), as `enclave run` speaks it.
    Native,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Cape => "cape",
            Mode::Native => "native",
        }
    }
}

/// Arguments of `enclave-bench peer`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The enclave's base URL, ws://host:port or wss://host:port.
    #[arg(long, value_name = "URL")]
    url: String,
    /// PEM file of the attestation root to trust instead of AWS Nitro Root-G1.
    #[arg(long, value_name = "PEM")]
    root: PathBuf,
    #[doc = "One allowed release: IDX=HEX[,IDX=HEX...]; repeat to allow another. Must pin PCR0, PCR2 or PCR8."]
    #[arg(long = "pcrs", value_name = "IDX=HEX[,IDX=HEX...]", long_help = PCRS_HELP, required = true)]
    pcrs: Vec<String>,
    /// The function checksum to require (64 hex digits).
    #[arg(long, value_name = "HEX")]
    checksum: String,
    /// Certificate (PEM or DER) to validate the server's TLS certificate against, the ordinary WebPKI
    /// way, in addition to the attestation's own checks. Cape mode over wss:// requires it.
    #[arg(long, value_name = "FILE")]
    tls_root: Option<PathBuf>,
    /// The function: `name`, or `user/name` in Cape mode (the checksum is pinned for `name`).
    #[arg(long, value_name = "ID")]
    function: String,
    /// File whose bytes are the input of every invocation.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// File holding the output every invocation must return. Default: the warm-up's output.
    #[arg(long, value_name = "FILE")]
    expect: Option<PathBuf>,
    /// Measured iterations, after one warm-up that is not measured.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    iterations: u32,
    /// Protocol to speak.
    #[arg(long, value_enum)]
    mode: Mode,
    /// Also take a cold sample (a new client, so an empty path cache) beside every warm one.
    #[arg(long)]
    cold: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: super::Format,
}

pub(crate) async fn run(args: Args) -> ExitCode {
    let setup = match Setup::new(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("enclave-bench peer: {e}");
            return ExitCode::from(2);
        }
    };
    match measure(&args, &setup).await {
        Ok(report) => {
            match args.format {
                super::Format::Json => println!("{}", report.json(&args, setup.input.len())),
                super::Format::Table => print!("{}", report.table(&args, setup.input.len())),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("enclave-bench peer: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Everything read from the flags before anything is timed.
struct Setup {
    policy: Policy,
    tls_root: Option<Vec<u8>>,
    input: Vec<u8>,
    expect: Option<Vec<u8>>,
}

impl Setup {
    fn new(args: &Args) -> Result<Self, String> {
        let pem = std::fs::read_to_string(&args.root).map_err(|e| format!("--root {}: {e}", args.root.display()))?;
        let root = TrustRoot::from_pem(&pem).map_err(|e| format!("--root {}: {e}", args.root.display()))?;
        let mut policy = Policy::builder().trust_root(root);
        for set in &args.pcrs {
            policy = policy.allow_measurements(set.parse().map_err(|e| format!("--pcrs: {e}"))?);
        }
        let sum: FunctionChecksum = args.checksum.parse().map_err(|e| format!("--checksum: {e}"))?;
        // Cape addresses functions as `user/name`; its documents name no function, and the SDK looks
        // the checksum pin up under `name`.
        let name = args.function.rsplit('/').next().unwrap_or(&args.function);
        let name: FunctionId = name.parse().map_err(|e| format!("--function: {e}"))?;
        // Every sample is verified against these pins: the builder refuses pins that do not identify
        // the image, and so does this command.
        let policy = policy.function_checksum_for(name, sum).build().map_err(|e| format!("--pcrs: {e}"))?;
        let tls_root = args.tls_root.as_deref().map(certificate_der).transpose()?;
        let input = read(&args.input, "--input")?;
        let expect = args.expect.as_deref().map(|p| read(p, "--expect")).transpose()?;
        Ok(Self { policy, tls_root, input, expect })
    }

    fn client(&self, url: &str) -> Result<Client, String> {
        let mut builder = Client::builder().endpoint(url).policy(self.policy.clone());
        if let Some(der) = &self.tls_root {
            builder = builder.tls_webpki_root(der.clone());
        }
        builder.build().map_err(|e| e.to_string())
    }
}

fn read(path: &Path, flag: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{flag} {}: {e}", path.display()))
}

/// A certificate file as DER: PEM (RFC 7468 section 5, one CERTIFICATE block) or DER as is.
fn certificate_der(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = read(path, "--tls-root")?;
    let Ok(text) = std::str::from_utf8(&bytes) else { return Ok(bytes) };
    let Some((_, rest)) = text.split_once("-----BEGIN CERTIFICATE-----") else {
        return Ok(bytes);
    };
    let body = rest
        .split_once("-----END CERTIFICATE-----")
        .map(|(body, _)| body)
        .ok_or_else(|| format!("--tls-root {}: PEM block has no END line", path.display()))?;
    let body: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    B64.decode(body).map_err(|_| format!("--tls-root {}: PEM body is not base64", path.display()))
}

/// Microseconds of each measured sample.
struct Report {
    warm: Vec<f64>,
    cold: Vec<f64>,
}

async fn measure(args: &Args, setup: &Setup) -> Result<Report, String> {
    let warm_client = setup.client(&args.url)?;
    // The warm-up connects once (filling the path cache) and, without --expect, fixes the output
    // every sample must return.
    let first = once(&warm_client, args.mode, &args.function, &setup.input).await?;
    let (expect, source) = match &setup.expect {
        Some(e) => (e.clone(), "--expect"),
        None => (first.clone(), "the warm-up"),
    };
    let check = |out: &[u8]| {
        if out == expect.as_slice() {
            Ok(())
        } else {
            Err(format!(
                "{} returned {} bytes that differ from the {} bytes of {source}",
                args.function,
                out.len(),
                expect.len()
            ))
        }
    };
    check(&first)?;
    let mut report = Report { warm: Vec::new(), cold: Vec::new() };
    for _ in 0..args.iterations {
        let t = Instant::now();
        let out = once(&warm_client, args.mode, &args.function, &setup.input).await?;
        report.warm.push(t.elapsed().as_secs_f64() * 1e6);
        check(&out)?;
        if args.cold {
            let t = Instant::now();
            let client = setup.client(&args.url)?;
            let out = once(&client, args.mode, &args.function, &setup.input).await?;
            report.cold.push(t.elapsed().as_secs_f64() * 1e6);
            check(&out)?;
        }
    }
    Ok(report)
}

/// One sample: a fresh connection, the document verified against the policy, one invocation, close.
async fn once(client: &Client, mode: Mode, function: &str, input: &[u8]) -> Result<Vec<u8>, String> {
    match mode {
        Mode::Cape => {
            let mut session = client.connect_cape(function).await.map_err(|e| format!("connect (cape): {e}"))?;
            let out = session.invoke(input).await.map_err(|e| format!("invoke (cape): {e}"))?;
            session.close().await.map_err(|e| format!("close (cape): {e}"))?;
            Ok(out)
        }
        Mode::Native => {
            let session = client.connect(function).await.map_err(|e| format!("connect (native): {e}"))?;
            let out = session.invoke(input).await.map_err(|e| format!("invoke (native): {e}"))?;
            session.close().await.map_err(|e| format!("close (native): {e}"))?;
            Ok(out)
        }
    }
}

fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// The middle sample, or the mean of the two middle samples of an even count; NaN for none.
fn median(samples: &[f64]) -> f64 {
    let v = sorted(samples);
    let half = v.len() / 2;
    match (v.len() % 2, half.checked_sub(1).and_then(|i| v.get(i)), v.get(half)) {
        (0, Some(a), Some(b)) => (a + b) / 2.0,
        (1, _, Some(m)) => *m,
        _ => f64::NAN,
    }
}

/// The 90th percentile by nearest rank: the smallest sample with at least 90% of them at or below it.
fn p90(samples: &[f64]) -> f64 {
    let v = sorted(samples);
    let rank = (v.len() * 9).div_ceil(10).max(1);
    v.get(rank - 1).copied().unwrap_or(f64::NAN)
}

fn number(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64((x * 10.0).round() / 10.0).map_or(serde_json::Value::Null, Into::into)
}

impl Report {
    fn json(&self, args: &Args, input_bytes: usize) -> String {
        let mut map = serde_json::Map::new();
        map.insert("mode".into(), args.mode.name().into());
        map.insert("function".into(), args.function.clone().into());
        map.insert("input_bytes".into(), input_bytes.into());
        map.insert("iterations".into(), args.iterations.into());
        map.insert("warmup".into(), 1.into());
        map.insert("tls_webpki".into(), args.tls_root.is_some().into());
        for (name, samples) in [("warm", &self.warm), ("cold", &self.cold)] {
            if samples.is_empty() {
                continue;
            }
            map.insert(format!("{name}_median_us"), number(median(samples)));
            map.insert(format!("{name}_p90_us"), number(p90(samples)));
            let all: Vec<serde_json::Value> = samples.iter().map(|s| number(*s)).collect();
            map.insert(format!("{name}_samples_us"), all.into());
        }
        serde_json::Value::Object(map).to_string()
    }

    fn table(&self, args: &Args, input_bytes: usize) -> String {
        let mut out = format!(
            "enclave-bench peer ({} mode, {}, {input_bytes}-byte input, {} iterations after 1 warm-up; connect + attest + invoke + close)\n",
            args.mode.name(),
            args.function,
            args.iterations
        );
        out.push_str(&format!("{:<16} {:>12} {:>12}\n", "path cache", "median_us", "p90_us"));
        for (name, samples) in [("warm", &self.warm), ("cold", &self.cold)] {
            if !samples.is_empty() {
                out.push_str(&format!("{name:<16} {:>12.1} {:>12.1}\n", median(samples), p90(samples)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{median, p90};

    #[test]
    fn median_and_p90_by_nearest_rank() {
        let v: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        assert_eq!(median(&v), 5.5);
        assert_eq!(p90(&v), 9.0);
        let v: Vec<f64> = (1..=30).map(f64::from).collect();
        assert_eq!(p90(&v), 27.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(p90(&[3.0, 1.0, 2.0]), 3.0);
        assert_eq!(p90(&[4.0]), 4.0);
        assert!(median(&[]).is_nan() && p90(&[]).is_nan());
    }
}
