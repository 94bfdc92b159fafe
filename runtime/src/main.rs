//! `enclave-runtime`: the enclave side, for a real Nitro enclave (`serve`: the runtime on `/dev/nsm`
//! behind vsock) and for its parent instance (`relay`: TCP to the enclave's vsock port).
//!
//! The mock enclave is another binary (`mock-enclave serve`): the same runtime with a software NSM.
//! The attester is what differs, chosen at start; sessions, functions and limits are the library's
//! either way.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use enclave_runtime::{
    AddrConnector, Attester, Confinement, DirectoryFunction, FunctionLimits, Functions, ListenAddr, Relay, RelayLimits,
    Server, ServerLimits, ShutdownSignals, TlsIdentity,
};

/// The enclave runtime: serve attested sessions inside a Nitro enclave, or relay to one.
#[derive(Debug, Parser)]
#[command(name = "enclave-runtime", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inside the enclave: serve the functions directory over vsock (or TCP), attested by /dev/nsm.
    Serve(ServeArgs),
    /// On the parent instance: accept TCP connections and forward each to the enclave's vsock port.
    Relay(RelayArgs),
}

/// Arguments of `enclave-runtime serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples (inside the enclave image; see README, \"Deploying to a Nitro enclave\"):
  enclave-runtime serve --functions /app/functions                 # vsock port 5005, attested by /dev/nsm
  enclave-runtime serve --functions /app/functions --tls --listen vsock:5005")]
struct ServeArgs {
    /// Where to listen: vsock:PORT (any CID, inside an enclave), vsock:CID:PORT, or ADDR:PORT for TCP.
    #[arg(long, value_name = "ADDR", default_value = "vsock:5005")]
    listen: ListenAddr,
    /// The attester. `nsm` is the Nitro Secure Module (/dev/nsm); the software NSM is the mock's
    /// (`mock-enclave serve`), never this binary's.
    #[arg(long, value_enum, default_value_t = AttesterKind::Nsm)]
    attester: AttesterKind,
    /// Directory of functions: one subdirectory with an executable `main` per function, sealed and
    /// measured at start.
    #[arg(long, value_name = "DIR")]
    functions: PathBuf,
    /// Serve wss://: TLS with a fresh self-signed key whose hash every attestation document binds.
    #[arg(long)]
    tls: bool,
    /// Require `Authorization: Bearer TOKEN` on every connection.
    #[arg(long, value_name = "TOKEN", env = "ENCLAVE_RUNTIME_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Sessions at once.
    #[arg(long, value_name = "N", default_value_t = ServerLimits::default().max_sessions)]
    max_sessions: usize,
    /// Wall time of one invocation, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = FunctionLimits::default().timeout.as_secs())]
    function_timeout: u64,
    /// Output bytes of one invocation.
    #[arg(long, value_name = "BYTES", default_value_t = FunctionLimits::default().max_output)]
    max_output: usize,
    /// Run functions unconfined where the kernel has no Landlock (AWS's enclave kernel has none):
    /// every function can then read whatever this process can and open /dev/nsm (mode 0666) to get
    /// documents in another function's name. Only when every function in the image is equally trusted.
    #[arg(long)]
    dangerous_unconfined_functions: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum AttesterKind {
    /// The Nitro Secure Module, /dev/nsm (needs the `nsm` feature; works only inside an enclave).
    Nsm,
}

/// Arguments of `enclave-runtime relay`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example (on the parent instance; the CID from `nitro-cli describe-enclaves`):
  enclave-runtime relay --listen 0.0.0.0:8443 --to vsock:16:5005")]
struct RelayArgs {
    /// TCP address clients connect to.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8443")]
    listen: std::net::SocketAddr,
    /// The enclave: vsock:CID:PORT (or ADDR:PORT for a runtime reachable over TCP).
    #[arg(long, value_name = "ADDR")]
    to: ListenAddr,
    /// Connections relayed at once.
    #[arg(long, value_name = "N", default_value_t = RelayLimits::default().max_connections)]
    max_connections: usize,
    /// Seconds a client may take to send its first byte.
    #[arg(long, value_name = "SECONDS", default_value_t = RelayLimits::default().handshake_timeout.as_secs())]
    handshake_timeout: u64,
    /// Seconds the connect to the enclave may take.
    #[arg(long, value_name = "SECONDS", default_value_t = RelayLimits::default().connect_timeout.as_secs())]
    connect_timeout: u64,
    /// Seconds without a byte either way before a connection is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = RelayLimits::default().idle_timeout.as_secs())]
    idle_timeout: u64,
    /// Seconds open connections may go on after SIGINT/SIGTERM.
    #[arg(long, value_name = "SECONDS", default_value_t = RelayLimits::default().drain_timeout.as_secs())]
    drain_timeout: u64,
}

/// Exit code for unusable arguments or a start that cannot succeed here.
const EXIT_USAGE: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Colour codes only for a terminal: the enclave's console and the parent's journal stay plain.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .try_init();
    let (name, result) = match cli.command {
        Command::Serve(args) => ("serve", serve(args).await),
        Command::Relay(args) => ("relay", relay(args).await),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            eprintln!("enclave-runtime {name}: {e}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Run(e)) => {
            eprintln!("enclave-runtime {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    /// Nothing was started: the arguments or this build cannot work.
    Usage(String),
    /// Starting or running failed.
    Run(String),
}

async fn serve(args: ServeArgs) -> Result<(), Failure> {
    let mut limits = FunctionLimits::default();
    limits.timeout = Duration::from_secs(args.function_timeout);
    limits.max_output = args.max_output;
    let confinement =
        if args.dangerous_unconfined_functions { Confinement::DangerousNone } else { Confinement::Landlock };
    let loaded =
        DirectoryFunction::load_all(&args.functions, limits, confinement).map_err(|e| Failure::Usage(e.to_string()))?;
    let mut functions = Functions::new();
    for f in loaded {
        tracing::info!(function_id = f.id().as_str(), checksum = %f.checksum(), "function sealed");
        functions.add(Arc::new(f)).map_err(|e| Failure::Usage(e.to_string()))?;
    }
    // After the functions: a start that fails on them says so before it needs the device.
    let attester = open_attester(args.attester)?;
    let mut server_limits = ServerLimits::default();
    server_limits.max_sessions = args.max_sessions;
    let mut server = Server::builder(attester).listen_on(args.listen).functions(functions).limits(server_limits);
    if args.tls {
        server = server.tls(TlsIdentity::generate().map_err(|e| Failure::Run(e.to_string()))?);
    }
    if let Some(token) = args.token {
        server = server.token(token);
    }
    let signals = ShutdownSignals::install().map_err(|e| Failure::Run(e.to_string()))?;
    let server = server.spawn().await.map_err(|e| Failure::Run(e.to_string()))?;
    println!("listening on {}", server.url());
    signals.recv().await;
    tracing::info!("signal received; draining");
    server.shutdown().await;
    Ok(())
}

#[cfg(feature = "nsm")]
fn open_attester(kind: AttesterKind) -> Result<Arc<dyn Attester>, Failure> {
    match kind {
        AttesterKind::Nsm => Ok(Arc::new(enclave_runtime::NitroNsm::open().map_err(|e| Failure::Run(e.to_string()))?)),
    }
}

#[cfg(not(feature = "nsm"))]
fn open_attester(kind: AttesterKind) -> Result<Arc<dyn Attester>, Failure> {
    match kind {
        AttesterKind::Nsm => Err(Failure::Usage(
            "this build has no NSM attester: build with `--features nsm` (and `vsock`) for an enclave, or run `mock-enclave serve` to develop against the software NSM".into(),
        )),
    }
}

async fn relay(args: RelayArgs) -> Result<(), Failure> {
    let mut limits = RelayLimits::default();
    limits.max_connections = args.max_connections;
    limits.handshake_timeout = Duration::from_secs(args.handshake_timeout);
    limits.connect_timeout = Duration::from_secs(args.connect_timeout);
    limits.idle_timeout = Duration::from_secs(args.idle_timeout);
    limits.drain_timeout = Duration::from_secs(args.drain_timeout);
    if matches!(args.to, ListenAddr::Vsock { .. }) && !cfg!(feature = "vsock") {
        return Err(Failure::Usage("this build has no vsock: build with `--features vsock`".into()));
    }
    let signals = ShutdownSignals::install().map_err(|e| Failure::Run(e.to_string()))?;
    let relay = Relay::builder(AddrConnector::new(args.to))
        .listen(args.listen)
        .limits(limits)
        .spawn()
        .await
        .map_err(|e| Failure::Run(e.to_string()))?;
    println!("relaying {} to {}", relay.local_addr(), args.to);
    signals.recv().await;
    tracing::info!("signal received; draining");
    relay.shutdown().await;
    Ok(())
}
