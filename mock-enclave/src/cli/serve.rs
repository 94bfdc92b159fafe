//! `mock-enclave serve`: run the mock enclave until SIGINT/SIGTERM, then drain.
//!
//! Input: command-line flags (trusted: the operator). Output: exactly one line on stdout,
//! `listening on ws://ADDR` (or `wss://`), then logs on stderr (tracing; `RUST_LOG` filters), never plaintext.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use enclave_protocol::Pcr;
use enclave_runtime::ShutdownSignals;
use mock_enclave::functions::FunctionRegistry;
use mock_enclave::MockEnclave;

/// Arguments of `mock-enclave serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Serve wss://: TLS with a self-signed certificate (kept in the state dir) whose key every
    /// attestation document binds.
    #[arg(long)]
    tls: bool,
    /// Keep the software NSM's CA keys and root.pem here (created on first use), so the root a client
    /// pins survives restarts. Without it, the root is new on every start.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Directory of user functions (one subdirectory with an executable `main` per function).
    #[arg(long, value_name = "DIR")]
    functions: Option<PathBuf>,
    /// Report debug-mode measurements (PCR0..2 all zero), as an enclave started with --debug-mode.
    #[arg(long)]
    debug_mode: bool,
    /// Report this value for PCR3, PCR4 or PCR8 (48 bytes hex), as a parent instance's IAM role,
    /// instance id or a signing certificate would set it. Repeatable.
    #[arg(long = "pcr", value_name = "IDX=HEX")]
    pcrs: Vec<Pcr>,
    /// Require `Authorization: Bearer TOKEN` on every connection.
    #[arg(long, value_name = "TOKEN", env = "MOCK_ENCLAVE_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

pub(crate) async fn run(args: Args) -> ExitCode {
    // Colour codes only for a terminal: a log redirected to a file (CI, systemd) stays plain text.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .try_init();
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-enclave serve: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> Result<(), String> {
    let mut functions = FunctionRegistry::builtins();
    if let Some(dir) = &args.functions {
        functions.load_dir(dir).map_err(|e| e.to_string())?;
    }
    let mut builder =
        MockEnclave::builder().listen(args.listen).debug_mode(args.debug_mode).functions(functions).tls(args.tls);
    for pcr in args.pcrs {
        builder = builder.pcr(pcr);
    }
    if let Some(dir) = args.state_dir {
        builder = builder.state_dir(dir);
    }
    if let Some(token) = args.token {
        builder = builder.token(token);
    }
    // Caught before the address is announced: a SIGTERM sent as soon as the line is read drains
    // instead of killing the process with the default action.
    let signals = ShutdownSignals::install().map_err(|e| e.to_string())?;
    let mock = builder.spawn().await.map_err(|e| e.to_string())?;
    println!("listening on {}", mock.url());
    signals.recv().await;
    tracing::info!("signal received; draining");
    mock.shutdown().await;
    Ok(())
}
