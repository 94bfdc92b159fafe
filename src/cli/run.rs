//! `enclave run`: invoke a function in an attested enclave.
//!
//! Input: flags (trusted: the user), the input file or stdin. Output: the function's output on stdout
//! or in a file, exit 0; or exit 1 and one line on stderr naming the check or limit that failed
//! (exit 2 for unusable flags). The policy comes only from the flags; nothing is sent before the
//! enclave's document verified against it.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use enclave_sdk::attestation::{Policy, TrustRoot};
use enclave_sdk::{Client, Error};
use tokio::io::{AsyncRead, AsyncWrite};

/// Arguments of `enclave run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The function to invoke.
    #[arg(value_name = "FN_ID")]
    function_id: String,
    /// The enclave's base URL, ws://host:port (the SDK adds /v1/run/FN_ID).
    #[arg(long, env = "ENCLAVE_URL", value_name = "URL")]
    url: String,
    /// Input file, or - for stdin.
    #[arg(long, default_value = "-", value_name = "FILE|-")]
    input: String,
    /// Output file, or - for stdout.
    #[arg(long, default_value = "-", value_name = "FILE|-")]
    output: String,
    /// Take what the enclave must prove from this policy file (TOML; see README, "Pinning what you
    /// trust"). Excludes the individual pinning flags. Default: $ENCLAVE_POLICY.
    #[arg(long, value_name = "FILE", env = "ENCLAVE_POLICY",
          conflicts_with_all = ["root", "pcrs", "checksum", "allow_debug", "any_enclave"])]
    policy: Option<PathBuf>,
    /// PEM file of the root certificate to trust instead of AWS Nitro Root-G1.
    #[arg(long, value_name = "PEM")]
    root: Option<PathBuf>,
    /// Allow this value for a PCR (48 bytes hex). Repeatable; repeat an index to allow several values.
    #[arg(long = "pcr", value_name = "IDX=HEX")]
    pcrs: Vec<String>,
    /// The function checksum to require (64 hex digits), as `enclave checksum` prints it.
    #[arg(long, value_name = "HEX")]
    checksum: Option<String>,
    /// Accept a debug-mode enclave (INSECURE: its memory is readable by the host).
    #[arg(long)]
    allow_debug: bool,
    /// Pin nothing: accept any enclave whose document chains to the root (INSECURE; for exploration).
    #[arg(long)]
    any_enclave: bool,
    /// Bearer token for the enclave's front door.
    #[arg(long, env = "ENCLAVE_TOKEN", hide_env_values = true, value_name = "T")]
    token: Option<String>,
}

/// Inputs at least this large get a progress line when stderr is a terminal.
const PROGRESS_THRESHOLD: u64 = 8 << 20;

pub(crate) async fn run(args: Args) -> ExitCode {
    let client = match build_client(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("enclave run: {e}");
            return ExitCode::from(2);
        }
    };
    match invoke(&client, &args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Function { function_id, code, message }) => {
            eprintln!("enclave run: function {function_id} failed with code {code}: {message}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("enclave run: {e}");
            ExitCode::FAILURE
        }
    }
}

fn build_client(args: &Args) -> Result<Client, String> {
    let policy = match &args.policy {
        Some(path) => Policy::from_file(path).map_err(|e| format!("--policy: {e}"))?,
        None => policy_from_flags(args)?,
    };
    let mut builder = Client::builder().endpoint(args.url.clone()).policy(policy);
    if let Some(t) = &args.token {
        builder = builder.token(t.clone());
    }
    builder.build().map_err(|e| e.to_string())
}

fn policy_from_flags(args: &Args) -> Result<Policy, String> {
    let mut policy = Policy::builder();
    if let Some(path) = &args.root {
        let pem = std::fs::read_to_string(path).map_err(|e| format!("--root {}: {e}", path.display()))?;
        policy = policy.trust_root(TrustRoot::from_pem(&pem).map_err(|e| format!("--root {}: {e}", path.display()))?);
    }
    for item in &args.pcrs {
        let (index, value) = enclave_sdk::parse_pcr(item).map_err(|e| format!("--pcr: {e}"))?;
        policy = policy.allow_pcr(index, value);
    }
    if let Some(sum) = &args.checksum {
        let sum = enclave_sdk::parse_checksum(sum).map_err(|e| format!("--checksum: {e}"))?;
        policy = policy.function_checksum_for(&args.function_id, sum);
    }
    if args.allow_debug {
        policy = policy.dangerous_allow_debug();
    }
    if args.any_enclave {
        policy = policy.dangerous_accept_any_enclave();
    }
    policy.build().map_err(|e| format!("policy: {e} (pin --pcr or --checksum, pass --policy, or --any-enclave)"))
}

async fn invoke(client: &Client, args: &Args) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::LocalIo { kind: e.kind() };
    let (input, size): (Box<dyn AsyncRead + Unpin + Send>, Option<u64>) = if args.input == "-" {
        (Box::new(tokio::io::stdin()), None)
    } else {
        let f = tokio::fs::File::open(&args.input).await.map_err(io)?;
        let len = f.metadata().await.map_err(io)?.len();
        (Box::new(f), Some(len))
    };
    let output: Box<dyn AsyncWrite + Unpin + Send> = if args.output == "-" {
        Box::new(tokio::io::stdout())
    } else {
        Box::new(tokio::fs::File::create(&args.output).await.map_err(io)?)
    };
    let session = client.connect(&args.function_id).await?;
    let show = std::io::stderr().is_terminal() && size.is_none_or(|n| n >= PROGRESS_THRESHOLD);
    let mut last = Instant::now();
    let started = last;
    let result = session
        .invoke_stream(input, output, |p| {
            if show && last.elapsed() >= Duration::from_millis(200) {
                last = Instant::now();
                let total = size.map(|n| format!(" of {:.1} MiB", mib(n))).unwrap_or_default();
                eprint!("\rsent {:.1} MiB{total}, received {:.1} MiB   ", mib(p.sent), mib(p.received));
            }
        })
        .await;
    if show {
        eprintln!("\r{:?} elapsed{:40}", started.elapsed(), "");
    }
    let _ = session.close().await;
    result.map(|_| ())
}

fn mib(n: u64) -> f64 {
    n as f64 / (1024.0 * 1024.0)
}
