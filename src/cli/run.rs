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

use enclave_sdk::attestation::Policy;
use enclave_sdk::{Client, Error, FunctionId};
use tokio::io::{AsyncRead, AsyncWrite};

use super::pins;

const HELP: &str = "\
Nothing of the input is sent before the enclave's attestation document verified against the pins: the root
(--root, default AWS Nitro Enclaves Root-G1), one allowed measurement set per --pcrs (each must pin PCR0, PCR2
or PCR8), and the function's checksum (--checksum). A checksum alone pins nothing: the enclave's own code
writes it.

Exit codes: 0 the function ran, 1 the enclave was refused or the invocation failed (one line on stderr),
2 usage error (including pins that do not identify the image).

Examples:
  echo hello | enclave run uppercase --url ws://127.0.0.1:8443 --root mock-state/root.pem \\
      --pcrs 0=<PCR0>,1=<PCR1>,2=<PCR2> --checksum <uppercase checksum>
  enclave run echo --url ws://127.0.0.1:8443 --policy policy.toml --input in.bin --output out.bin";

/// Arguments of `enclave run`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
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
    #[doc = "One allowed release: IDX=HEX[,IDX=HEX...]; repeat to allow another. Must pin PCR0, PCR2 or PCR8."]
    #[arg(long = "pcrs", value_name = "IDX=HEX[,IDX=HEX...]", long_help = pins::PCRS_HELP)]
    pcrs: Vec<String>,
    /// The function checksum to require (64 hex digits), as `enclave checksum` prints it.
    #[arg(long, value_name = "HEX")]
    checksum: Option<String>,
    /// Accept a debug-mode enclave (INSECURE: its memory is readable by the host).
    #[arg(long)]
    allow_debug: bool,
    /// Waive the rule that the pins must identify the image: any enclave whose document chains to the
    /// root is accepted (INSECURE; for exploration).
    #[arg(long)]
    any_enclave: bool,
    /// Bearer token for the enclave's front door.
    #[arg(long, env = "ENCLAVE_TOKEN", hide_env_values = true, value_name = "T")]
    token: Option<String>,
}

/// Inputs at least this large get a progress line when stderr is a terminal.
const PROGRESS_THRESHOLD: u64 = 8 << 20;

pub(crate) async fn run(args: Args) -> ExitCode {
    let (client, function_id) = match build_client(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("enclave run: {e}");
            return ExitCode::from(2);
        }
    };
    match invoke(&client, &function_id, &args).await {
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

fn build_client(args: &Args) -> Result<(Client, FunctionId), String> {
    let function_id: FunctionId = args.function_id.parse().map_err(|e| format!("FN_ID: {e}"))?;
    let policy = match &args.policy {
        Some(path) => Policy::from_file(path).map_err(|e| format!("--policy: {e}"))?,
        None => policy_from_flags(args, &function_id)?,
    };
    let mut builder = Client::builder().endpoint(args.url.clone()).policy(policy);
    if let Some(t) = &args.token {
        builder = builder.token(t.clone());
    }
    Ok((builder.build().map_err(|e| e.to_string())?, function_id))
}

fn policy_from_flags(args: &Args, function_id: &FunctionId) -> Result<Policy, String> {
    let mut policy = Policy::builder();
    if let Some(path) = &args.root {
        policy = policy.trust_root(pins::trust_root("--root", path)?);
    }
    for set in pins::measurement_sets(&args.pcrs)? {
        policy = policy.allow_measurements(set);
    }
    if let Some(sum) = &args.checksum {
        policy = policy.function_checksum_for(function_id.clone(), pins::checksum(sum)?);
    }
    if args.allow_debug {
        policy = policy.dangerous_allow_debug();
    }
    if args.any_enclave {
        policy = policy.dangerous_accept_any_enclave();
    }
    pins::build(policy)
}

async fn invoke(client: &Client, function_id: &FunctionId, args: &Args) -> Result<(), Error> {
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
    let session = client.connect(function_id).await?;
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
