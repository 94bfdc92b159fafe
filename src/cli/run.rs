//! `enclave run`: invoke a function in an attested enclave.
//!
//! Input: flags (trusted: the user), the input file or stdin. Output: the function's output on stdout
//! or in a file, exit 0; or exit 1 and one line on stderr naming the check or limit that failed
//! (exit 2 for unusable flags or files: every local argument is checked before connecting). The policy
//! comes only from the flags; nothing is sent before the enclave's document verified against it.

use std::io::{ErrorKind, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use enclave_sdk::attestation::UnixTime;
use enclave_sdk::{Client, Error, FunctionId};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};

use super::in_place::InPlace;
use super::pins::PinArgs;
use super::progress::Progress;
use super::summary;

const HELP: &str = "\
Nothing of the input is sent before the enclave's attestation document verified against the pins: the root
(--root-pem, default AWS Nitro Enclaves Root-G1), one allowed measurement set per --pcrs (each must pin PCR0,
PCR2 or PCR8), and the function's checksum (--checksum); or --policy FILE. A checksum alone pins nothing: the
enclave's own code writes it.

Exit codes: 0 the function ran, 1 the enclave was refused or the invocation failed (one line on stderr),
2 usage error (including pins that do not identify the image, and input or output files that cannot be used).

Examples:
  echo hello | enclave run uppercase --url ws://127.0.0.1:8443 --root-pem mock-state/root.pem \\
      --pcrs 0=<PCR0>,1=<PCR1>,2=<PCR2> --checksum <uppercase checksum>
  enclave run echo --url ws://127.0.0.1:8443 --policy policy.toml --input in.bin --output out.bin -v";

/// Arguments of `enclave run`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub(crate) struct Args {
    /// The function to invoke.
    #[arg(value_name = "FN_ID")]
    function_id: String,
    /// The enclave's base URL, ws://host:port or wss://host[:port] (the SDK adds /v1/run/FN_ID).
    #[arg(long, env = "ENCLAVE_URL", value_name = "URL")]
    url: String,
    /// Input file, or - for stdin.
    #[arg(long, default_value = "-", value_name = "FILE|-")]
    input: PathBuf,
    /// Output file, or - for stdout.
    // `--out` is the spelling `attest` and `policy init` used; accepted here too, hidden.
    #[arg(long, default_value = "-", value_name = "FILE|-", alias = "out")]
    output: PathBuf,
    #[command(flatten)]
    pins: PinArgs,
    /// Bearer token for the enclave's front door.
    #[arg(long, env = "ENCLAVE_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    token: Option<String>,
    /// Print what was verified (document age, debug mode, certificates, pinned PCRs) on stderr before
    /// the output.
    #[arg(short, long)]
    verbose: bool,
}

/// Inputs at least this large get a progress line when stderr is a terminal (stdin always: its size is
/// unknown).
const PROGRESS_THRESHOLD: u64 = 1 << 20;

/// A local problem found before connecting: exit 2.
struct Usage(String);

pub(crate) async fn run(args: Args) -> ExitCode {
    let prepared = match prepare(&args) {
        Ok(prepared) => prepared,
        Err(Usage(e)) => {
            eprintln!("enclave run: {e}");
            return ExitCode::from(2);
        }
    };
    match invoke(prepared, &args).await {
        Ok(()) => ExitCode::SUCCESS,
        // The function's message is the enclave's text: escaped, so it cannot drive the terminal.
        Err(Error::Function { function_id, code, message }) => {
            eprintln!("{}", function_failed(&function_id, code, &message));
            ExitCode::FAILURE
        }
        Err(Error::LocalIo { kind: ErrorKind::BrokenPipe }) if args.output == Path::new("-") => {
            crate::exit_broken_pipe()
        }
        Err(e) => {
            eprintln!("enclave run: {e}{}", args.pins.hint(&e));
            ExitCode::FAILURE
        }
    }
}

/// The line for a function's error. Its message is the enclave's text: escaped, so it cannot move the
/// cursor, clear the screen or add lines.
fn function_failed(function_id: &FunctionId, code: u16, message: &str) -> String {
    format!("enclave run: function {function_id} failed with code {code}: {}", message.escape_debug())
}

/// Everything local, checked before the network is touched: the function id, the pins, the URL, the
/// input and the output.
struct Prepared {
    client: Client,
    function_id: FunctionId,
    input: Box<dyn AsyncRead + Unpin + Send>,
    size: Option<u64>,
    output: Output,
}

enum Output {
    Stdout,
    File(std::fs::File),
}

fn prepare(args: &Args) -> Result<Prepared, Usage> {
    let function_id: FunctionId = args.function_id.parse().map_err(|e| Usage(format!("FN_ID: {e}")))?;
    let policy = args.pins.policy(Some(&function_id), |b| b).map_err(Usage)?;
    let mut builder = Client::builder().endpoint(args.url.clone()).policy(policy);
    if let Some(t) = &args.token {
        builder = builder.token(t.clone());
    }
    let client = builder.build().map_err(|e| Usage(format!("--url: {e}")))?;
    // A regular file is read in place (see `in_place`); stdin and other inputs (a FIFO, a device) can
    // keep a read waiting, and are read on tokio's thread. Their size is unknown (a FIFO says 0).
    let (input, size): (Box<dyn AsyncRead + Unpin + Send>, _) = if args.input == Path::new("-") {
        (Box::new(tokio::io::stdin()), None)
    } else {
        let file = std::fs::File::open(&args.input).map_err(|e| io_usage("--input", &args.input, "open", &e))?;
        let meta = file.metadata().map_err(|e| io_usage("--input", &args.input, "read", &e))?;
        if meta.is_dir() {
            return Err(Usage(format!("--input {}: is a directory", args.input.display())));
        }
        if meta.is_file() {
            (Box::new(InPlace(file)), Some(meta.len()))
        } else {
            (Box::new(tokio::fs::File::from_std(file)), None)
        }
    };
    let output = if args.output == Path::new("-") {
        Output::Stdout
    } else {
        // Opened (created if need be) now, so a bad path fails before anything is sent; emptied only
        // once the enclave is verified, so a refusal leaves an existing file as it was.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&args.output)
            .map_err(|e| io_usage("--output", &args.output, "create", &e))?;
        Output::File(file)
    };
    Ok(Prepared { client, function_id, input, size, output })
}

/// Whether stdout is a regular file (`> out.bin`), the one kind of output whose writes never wait for a
/// reader.
#[cfg(unix)]
fn stdout_is_regular_file() -> bool {
    use std::os::fd::AsFd as _;
    let stdout = std::io::stdout().as_fd().try_clone_to_owned().map(std::fs::File::from);
    stdout.and_then(|f| f.metadata()).is_ok_and(|m| m.is_file())
}

#[cfg(not(unix))]
fn stdout_is_regular_file() -> bool {
    false
}

fn io_usage(flag: &str, path: &Path, what: &str, e: &std::io::Error) -> Usage {
    Usage(format!("{flag} {}: cannot {what}: {e}", path.display()))
}

async fn invoke(prepared: Prepared, args: &Args) -> Result<(), Error> {
    let Prepared { client, function_id, input, size, output } = prepared;
    let session = client.connect(&function_id).await?;
    if args.verbose {
        eprint!("{}", summary::verified(session.attestation(), client.policy(), &function_id, UnixTime::now()));
    }
    // A regular file is written in place (see `in_place`). Anything else (a pipe, a terminal, a
    // FIFO) can keep a write waiting on its reader, and is written on tokio's thread: a write waiting
    // in place would stop the whole session, its input and its reader, until the enclave ended it
    // for a stalled input or the reader's idle timer fired.
    let (mut output, same_terminal): (Box<dyn AsyncWrite + Unpin + Send>, bool) = match output {
        Output::Stdout if stdout_is_regular_file() => (Box::new(InPlace(std::io::stdout())), false),
        Output::Stdout => (Box::new(tokio::io::stdout()), std::io::stdout().is_terminal()),
        Output::File(file) => {
            // Only a regular file has old contents to drop: /dev/null, a FIFO or a terminal refuse
            // `ftruncate` (EINVAL), and `--output /dev/null` is a common way to discard the output.
            let regular = file.metadata().map_err(|e| Error::LocalIo { kind: e.kind() })?.is_file();
            if regular {
                file.set_len(0).map_err(|e| Error::LocalIo { kind: e.kind() })?;
                (Box::new(InPlace(file)), false)
            } else {
                (Box::new(tokio::fs::File::from_std(file)), false)
            }
        }
    };
    let progress = size.is_none_or(|n| n >= PROGRESS_THRESHOLD).then(|| Progress::new(size));
    let result = match &progress {
        Some(line) => {
            let output = line.clear_before(&mut output, same_terminal);
            session.invoke_stream(input, output, |p| line.update(p.sent)).await
        }
        None => session.invoke_stream(input, &mut output, |_| {}).await,
    };
    if let Some(line) = &progress {
        line.finish();
    }
    // What arrived before a failure (a function's error, a broken session) reaches the output before
    // the error line does; a success has flushed already.
    if result.is_err() {
        let _ = output.flush().await;
    }
    let _ = session.close().await;
    result.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_error_reaches_the_terminal_escaped() {
        let id: FunctionId = "fail".parse().unwrap();
        assert_eq!(
            function_failed(&id, 7, "bad input\n\x1b[2J\rroot# "),
            "enclave run: function fail failed with code 7: bad input\\n\\u{1b}[2J\\rroot# "
        );
    }
}
