//! `enclave policy`: write a policy file from a document or an enclave image, or check one.
//!
//! Also the small helpers the pinning commands share (output format, exit codes, bounded reads,
//! loading `--policy FILE`). Input: files the user names. Output: a policy file, or a report.

use enclave_protocol::{cape_function_checksum, UserDataError};
use enclave_sdk::attestation::{
    AttestationError, EnclaveUserData, Policy, PolicyFile, PolicyFileError, TrustRoot, UnixTime, UnverifiedDocument,
};
use enclave_sdk::{MeasurementSet, Pcr, PcrIndex, PcrValue};
use std::collections::BTreeMap;
use std::fmt::Display;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code when the check or the operation failed.
pub(crate) const EXIT_CHECK_FAILED: u8 = 1;
/// Exit code for a usage error: bad arguments or an unusable input file.
pub(crate) const EXIT_USAGE: u8 = 2;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// For people.
    Text,
    /// One JSON object on stdout.
    Json,
}

/// Prints one line on stderr (and, for `--format json`, an error object on stdout) and returns `code`.
pub(crate) fn fail(format: Format, code: u8, kind: &str, error: &dyn Display) -> ExitCode {
    eprintln!("error: {error}");
    if format == Format::Json {
        println!("{}", serde_json::json!({ "ok": false, "error": { "kind": kind, "message": error.to_string() } }));
    }
    ExitCode::from(code)
}

/// Reads at most `max` bytes of UTF-8 text from `path`, refusing larger files.
pub(crate) fn read_bounded(path: &Path, max: usize) -> Result<String, String> {
    read_bytes_bounded(path, max)
        .and_then(|bytes| String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display())))
}

/// Reads at most `max` bytes from `path`, refusing larger files.
pub(crate) fn read_bytes_bounded(path: &Path, max: usize) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    file.take(limit).read_to_end(&mut bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() > max {
        return Err(format!("{}: larger than {max} bytes", path.display()));
    }
    Ok(bytes)
}

/// Subcommands of `enclave policy`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Write a policy file pinning a trusted document's or an enclave image's measurements.
    #[command(after_help = INIT_HELP)]
    Init(InitArgs),
    /// Check a policy file: parse it, apply its rules, and print what it pins.
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
}

const INIT_HELP: &str = "\
Writes one [[pcrs]] set (one allowed release) pinning PCR0, PCR1 and PCR2, plus PCR3, PCR4 and PCR8 when
they are not zero, and the function checksum the document's user data claims (under [functions] when it
names a function, else as function_checksum). To allow the next release too, add its own [[pcrs]] table.
--from-document verifies the document first (signature and certificate chain at --at, default now; any
enclave accepted) and refuses a debug-mode document. --from-eif measures an enclave image file (enclave measure)
and pins its PCR0, PCR1 and PCR2, and PCR8 when the image is signed and its signature verifies; it refuses
an image that does not measure, and pins no function (add [functions] with enclave checksum). For the mock
enclave, `mock-enclave policy --state-dir DIR` writes the policy that pins it.

Exit codes: 0 the policy was written, 1 the document did not verify (or is debug-mode) or the image was
refused, 2 usage error
(including an existing --output file without --force).

Examples:
  enclave attest echo --url ws://127.0.0.1:8443 --root-pem mock-state/root.pem --any-enclave --output doc.cbor
  enclave policy init --from-document doc.cbor --root-pem mock-state/root.pem --output policy.toml
  enclave policy init --from-document archived.cbor --at 1764374400 --output policy.toml
  enclave policy init --from-eif app.eif --output policy.toml";

const CHECK_HELP: &str = "\
A file is valid when it parses and its pins identify the enclave image: every [[pcrs]] table pins \"0\", \"2\"
or \"8\" and there is at least one, unless accept_any_enclave = true.

Exit codes: 0 the file is valid, 1 it is not (the error names the line and the key, or the rule), 2 usage error.

Examples:
  enclave policy check policy.toml
  enclave policy check policy.toml --format json";

/// Arguments of `enclave policy check`.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// The policy file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Arguments of `enclave policy init`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["from_document", "from_eif"])))]
pub(crate) struct InitArgs {
    /// A raw attestation document (COSE_Sign1 CBOR) from the enclave you trust.
    #[arg(long, value_name = "DOC")]
    from_document: Option<PathBuf>,
    /// Verify the document as of this time (seconds since the epoch) instead of now, for archived documents.
    #[arg(long, value_name = "UNIX_SECONDS", requires = "from_document")]
    at: Option<u64>,
    /// Trust root the document chains to, when it is not AWS (e.g. the mock's state-dir/root.pem);
    /// written into the policy as root_pem.
    #[arg(long, value_name = "FILE", requires = "from_document")]
    root_pem: Option<PathBuf>,
    /// An enclave image file (.eif) whose PCRs to pin, as `enclave measure` computes them.
    #[arg(long, value_name = "IMAGE.eif")]
    from_eif: Option<PathBuf>,
    /// Where to write the policy file (default: stdout).
    // `--out` was this flag's spelling; kept, hidden, for scripts written then.
    #[arg(long, value_name = "FILE", alias = "out")]
    output: Option<PathBuf>,
    /// Overwrite --output if it exists.
    #[arg(long, requires = "output")]
    force: bool,
    /// Output format of the report (the policy file itself is TOML).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub(crate) async fn run(command: Command) -> ExitCode {
    match command {
        Command::Init(args) => init(args),
        Command::Check(args) => check(args),
    }
}

fn init(args: InitArgs) -> ExitCode {
    let built = match (&args.from_document, &args.from_eif) {
        (Some(doc), None) => from_document(doc, args.at, args.root_pem.as_deref(), args.output.as_deref()),
        (None, Some(image)) => from_eif(image),
        // clap's ArgGroup makes exactly one source required.
        _ => Err(InitError::Usage("give exactly one of --from-document and --from-eif".into())),
    };
    let (file, source) = match built {
        Ok(built) => built,
        Err(InitError::Usage(e)) => return fail(args.format, EXIT_USAGE, "usage", &e),
        Err(InitError::Refused(e)) => return fail(args.format, EXIT_CHECK_FAILED, "document", &e),
        Err(InitError::Image(e)) => return fail(args.format, EXIT_CHECK_FAILED, "image_refused", &e),
        Err(InitError::Policy(e)) => return fail(args.format, EXIT_CHECK_FAILED, "policy_file", &e),
    };
    let text = format!("# Pinned from {source}.\n{}", file.to_toml_string());
    if let Some(out) = &args.output {
        if let Err(e) = write_new(out, &text, args.force) {
            return fail(args.format, EXIT_USAGE, "write", &e);
        }
    }
    match (args.format, &args.output) {
        (Format::Json, out) => {
            let mut summary = summary_json(&file);
            if let Some(fields) = summary.as_object_mut() {
                fields.insert("source".into(), source.into());
                fields.insert("written_to".into(), out.as_ref().map(|p| p.display().to_string()).into());
                fields.insert("policy_toml".into(), out.is_none().then_some(text).into());
            }
            println!("{summary}");
        }
        (Format::Text, None) => print!("{text}"),
        (Format::Text, Some(out)) => {
            println!("wrote {} (pinned from {source})", out.display());
            print!("{}", summary_text(&file));
        }
    }
    ExitCode::SUCCESS
}

enum InitError {
    /// Exit 2: the inputs are unusable.
    Usage(String),
    /// Exit 1: the document does not verify, or must not be pinned.
    Refused(String),
    /// Exit 1: the image does not measure (malformed, or its signature does not verify).
    Image(String),
    /// Exit 1: the pins make no policy the SDK accepts.
    Policy(PolicyFileError),
}

/// PCRs pinned whatever their value: image, kernel and bootstrap, application.
const ALWAYS_PINNED: [PcrIndex; 3] = [PcrIndex::IMAGE, PcrIndex::KERNEL, PcrIndex::APPLICATION];
/// PCRs pinned when not all zero: parent IAM role, parent instance id, signing certificate.
const PINNED_WHEN_SET: [PcrIndex; 3] =
    [PcrIndex::PARENT_ROLE, PcrIndex::PARENT_INSTANCE, PcrIndex::SIGNING_CERTIFICATE];

/// The one measurement set (release) that `pcrs` describe.
fn release(pcrs: &BTreeMap<PcrIndex, PcrValue>) -> Result<MeasurementSet, InitError> {
    let pinned = ALWAYS_PINNED.into_iter().chain(PINNED_WHEN_SET).filter_map(|index| {
        let value = pcrs.get(&index)?;
        (ALWAYS_PINNED.contains(&index) || !value.is_zero()).then(|| Pcr::new(index, value.clone()))
    });
    MeasurementSet::new(pinned).map_err(|e| InitError::Refused(format!("no PCR to pin: {e}")))
}

fn from_document(
    doc: &Path,
    at: Option<u64>,
    root_pem: Option<&Path>,
    out: Option<&Path>,
) -> Result<(PolicyFile, String), InitError> {
    let raw = read_bytes_bounded(doc, UnverifiedDocument::MAX_LEN).map_err(InitError::Usage)?;
    let (root, root_pem) = match root_pem {
        Some(path) => {
            let pem = read_bounded(path, 64 * 1024).map_err(InitError::Usage)?;
            let root = TrustRoot::from_pem(&pem).map_err(|e| InitError::Usage(format!("{}: {e}", path.display())))?;
            (root, Some((path_for_policy(path, out), pem)))
        }
        None => (TrustRoot::aws_nitro_root_g1(), None),
    };
    let now = at.map_or_else(UnixTime::now, UnixTime::from_secs);
    let refused = |e: AttestationError| InitError::Refused(format!("{}: {e}", doc.display()));
    // Signature and chain only: the document is what the user trusts, so no pin applies yet.
    let verified = UnverifiedDocument::parse(&raw)
        .map_err(refused)?
        .verify(&[root], now, Policy::DEFAULT_CLOCK_SKEW)
        .map_err(refused)?;
    let fields = verified.fields();
    if fields.is_debug_mode() {
        return Err(InitError::Refused(format!(
            "{}: a debug-mode enclave (PCR0..2 all zero); its memory is readable by the parent instance, refusing to pin it",
            doc.display()
        )));
    }
    let mut file = PolicyFile::pinning([release(fields.pcrs())?]).map_err(InitError::Policy)?;
    if let Some((path, pem)) = root_pem {
        file = file.with_root_pem(path, pem).map_err(InitError::Policy)?;
    }
    match fields.user_data().map(|u| EnclaveUserData::decode(u).map_err(AttestationError::from)) {
        Some(Ok(claim)) => {
            file = file.with_function_checksum_for(claim.function_id().clone(), claim.function_checksum());
        }
        // Cape's claim names no function: pin its checksum for whatever function is attested (the
        // policy is then for Cape-mode connections, the only ones that read that claim).
        Some(Err(AttestationError::UserData(UserDataError::CapeForm))) => {
            if let Some(sum) = fields.user_data().and_then(|u| cape_function_checksum(u).ok()) {
                file = file.with_function_checksum(sum);
            }
        }
        // Said on stderr so a missing [functions] pin is a visible choice, not a silent gap.
        Some(Err(e)) => eprintln!("note: no function checksum pinned: {e}"),
        None => eprintln!("note: no function checksum pinned: the document carries no user data"),
    }
    // Escaped: the text goes into a comment line of the written file, where a newline would add keys.
    Ok((file, format!("document {} ({}, verified at {now})", doc.display(), fields.module_id().escape_debug())))
}

/// One [[pcrs]] set with the image's PCR0, PCR1, PCR2 and, for a signed image, PCR8, exactly as
/// `enclave_eif` measured them (it reports PCR8 only once the signature verified over this PCR0).
/// The trust root stays AWS Root-G1: an image runs on real Nitro hardware.
fn from_eif(path: &Path) -> Result<(PolicyFile, String), InitError> {
    let image = enclave_eif::measure_file(path).map_err(|e| match e {
        enclave_eif::EifError::Open { .. } => InitError::Usage(format!("{}: {e}", path.display())),
        e => InitError::Image(format!("{}: {e}", path.display())),
    })?;
    let set = MeasurementSet::new(image.measurements().pcrs())
        .map_err(|e| InitError::Image(format!("no PCR to pin: {e}")))?;
    eprintln!(
        "note: no function checksum pinned: an image does not say which functions it serves (add them under [functions], from enclave checksum)"
    );
    let signed = match image.signer() {
        Some(s) => format!("signed by {}, PCR8 pinned", enclave_eif::escape(s.subject().as_bytes())),
        None => "unsigned".to_owned(),
    };
    let file = PolicyFile::pinning([set]).map_err(InitError::Policy)?;
    Ok((file, format!("image {} ({signed})", enclave_eif::escape(path.display().to_string().as_bytes()))))
}

/// How to write `path` in a policy file saved as `out`: policy files resolve `root_pem` against their
/// own directory, so a relative path stays as given only when the file lands in the current directory.
fn path_for_policy(path: &Path, out: Option<&Path>) -> PathBuf {
    let out_dir = out.and_then(Path::parent).map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p });
    let same_dir = match (out_dir.map(std::fs::canonicalize), std::env::current_dir()) {
        (Some(Ok(a)), Ok(b)) => a == b,
        (None, _) => true,
        _ => false,
    };
    if path.is_relative() && same_dir {
        return path.to_owned();
    }
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// Writes `text` to `path`, refusing to replace an existing file unless `force`.
pub(crate) fn write_new(path: &Path, bytes: impl AsRef<[u8]>, force: bool) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            format!("{} exists; pass --force to replace it", path.display())
        }
        _ => format!("{}: {e}", path.display()),
    })?;
    file.write_all(bytes.as_ref()).map_err(|e| format!("{}: {e}", path.display()))
}

fn check(args: CheckArgs) -> ExitCode {
    let file = match PolicyFile::from_file(&args.file) {
        Ok(file) => file,
        Err(e) => return fail(args.format, EXIT_CHECK_FAILED, "policy_file", &e),
    };
    match args.format {
        Format::Json => println!("{}", summary_json(&file)),
        Format::Text => {
            println!("OK: {}", args.file.display());
            print!("{}", summary_text(&file));
        }
    }
    ExitCode::SUCCESS
}

/// What a policy file pins, for people.
pub(crate) fn summary_text(file: &PolicyFile) -> String {
    let mut out = format!("  trust root: {}\n", file.trust_root());
    if file.accepts_any_enclave() {
        out.push_str("  accepts ANY enclave (accept_any_enclave = true)\n");
    }
    for (n, set) in file.measurement_sets().iter().enumerate() {
        out.push_str(&format!("  measurement set {} (one allowed release):\n", n + 1));
        for (index, value) in set.iter() {
            out.push_str(&format!("    {index}: {value}\n"));
        }
    }
    if let Some(sum) = file.function_checksum() {
        out.push_str(&format!("  any function: checksum {sum}\n"));
    }
    for (id, sum) in file.function_checksums() {
        out.push_str(&format!("  function {id}: checksum {sum}\n"));
    }
    if file.allows_debug() {
        out.push_str("  allows DEBUG-mode enclaves\n");
    }
    out
}

/// What a policy file pins, as JSON: `pcrs` is a list of sets, each an object from index to value.
pub(crate) fn summary_json(file: &PolicyFile) -> serde_json::Value {
    let pcrs: Vec<serde_json::Value> = file
        .measurement_sets()
        .iter()
        .map(|set| {
            set.iter()
                .map(|(i, v)| (i.get().to_string(), serde_json::Value::from(v.to_string())))
                .collect::<serde_json::Map<_, _>>()
                .into()
        })
        .collect();
    let functions: serde_json::Map<String, serde_json::Value> =
        file.function_checksums().iter().map(|(id, sum)| (id.to_string(), sum.to_string().into())).collect();
    serde_json::json!({
        "ok": true,
        "trust_root": file.trust_root().to_string(),
        "pcrs": pcrs,
        "functions": functions,
        "function_checksum": file.function_checksum().map(|s| s.to_string()),
        "max_document_age_secs": file.max_document_age().map(|d| d.as_secs()),
        "clock_skew_secs": file.clock_skew().map(|d| d.as_secs()),
        "allow_debug": file.allows_debug(),
        "accept_any_enclave": file.accepts_any_enclave(),
    })
}
