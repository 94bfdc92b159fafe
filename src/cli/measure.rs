//! `enclave measure`: the PCRs an enclave image will attest, computed from the image file itself.
//!
//! Input: EIF files the user names (untrusted bytes: measured by [`enclave_eif`], which refuses any
//! malformed or ambiguous image), an IAM role ARN or instance ID (the user's). Output: PCR0, PCR1, PCR2
//! and, for a signed image whose signature verifies, PCR8 and the signer; PCR3/PCR4 for a role or an
//! instance; or which sections two images differ in. Text read from an image (command line,
//! certificate names) is escaped before it is printed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use enclave_eif::{Diff, EifError, Image, Measure, Pcr, PcrIndex, SectionKind};
use enclave_sdk::attestation::UnixTime;
use serde_json::{json, Value};

const EXIT_DIFFERENT: u8 = 1;
const EXIT_REFUSED: u8 = 1;
const EXIT_USAGE: u8 = 2;

const HELP: &str = "\
Computes, from the image file, the PCRs an enclave booted from it attests (as nitro-cli build-enclave
reports them): PCR0 (kernel, command line, all ramdisks), PCR1 (kernel, command line, first ramdisk),
PCR2 (the other ramdisks) and, when the image is signed and its COSE_Sign1 over PCR0 verifies under
its certificate, PCR8 (the certificate) and who signed. A malformed image is refused, naming the
problem and the offsets. --iam-role and --instance-id print the PCR3 and PCR4 a parent instance with
that role or ID produces. --diff names the sections two images differ in and the PCRs they move.

Exit codes: 0 measured (for --diff: the images are the same), 1 an image was refused (for --diff: the
images differ), 2 usage error (including a file that cannot be opened).

Examples:
  enclave measure app.eif
  enclave measure app.eif --iam-role arn:aws:iam::123456789012:role/enclave-host --format json
  enclave measure --diff expected.eif built.eif";

/// Arguments of `enclave measure`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["image", "diff", "iam_role", "instance_id"])))]
pub(crate) struct Args {
    /// The enclave image file (.eif).
    #[arg(value_name = "IMAGE.eif", conflicts_with = "diff")]
    image: Option<PathBuf>,
    /// Compare two images section by section.
    #[arg(long, num_args = 2, value_names = ["A.eif", "B.eif"], conflicts_with_all = ["iam_role", "instance_id"])]
    diff: Option<Vec<PathBuf>>,
    /// Print the PCR3 of a parent instance with this IAM role (the role's ARN, arn:aws:iam::ACCOUNT:role/NAME).
    #[arg(long, value_name = "ARN")]
    iam_role: Option<String>,
    /// Print the PCR4 of a parent instance with this instance ID (i-...).
    #[arg(long, value_name = "ID")]
    instance_id: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// For people.
    Text,
    /// One JSON object on stdout (README, "enclave measure").
    Json,
}

pub(crate) async fn run(args: Args) -> ExitCode {
    if let Some(paths) = &args.diff {
        return match paths.as_slice() {
            [a, b] => diff(a, b, args.format),
            _ => fail(args.format, EXIT_USAGE, "usage", None, &"--diff takes two images"),
        };
    }
    let mut extra = Vec::new();
    if let Some(arn) = &args.iam_role {
        if let Err(e) = check_role_arn(arn) {
            return fail(args.format, EXIT_USAGE, "usage", None, &e);
        }
        extra.push((Pcr::new(PcrIndex::PARENT_ROLE, enclave_eif::pcr3_for_iam_role(arn)), format!("IAM role {arn}")));
    }
    if let Some(id) = &args.instance_id {
        if let Err(e) = check_instance_id(id) {
            return fail(args.format, EXIT_USAGE, "usage", None, &e);
        }
        extra.push((
            Pcr::new(PcrIndex::PARENT_INSTANCE, enclave_eif::pcr4_for_instance_id(id)),
            format!("instance {id}"),
        ));
    }
    let image = match &args.image {
        Some(path) => match measure(path, false) {
            Ok(image) => Some((path.as_path(), image)),
            Err((code, e)) => return fail(args.format, code, kind(code), Some(path), &e),
        },
        None => None,
    };
    match args.format {
        Format::Text => print!("{}", text(image.as_ref().map(|(p, i)| (*p, i)), &extra)),
        Format::Json => println!("{}", json(image.as_ref().map(|(p, i)| (*p, i)), &extra)),
    }
    ExitCode::SUCCESS
}

fn kind(code: u8) -> &'static str {
    if code == EXIT_USAGE {
        "usage"
    } else {
        "image_refused"
    }
}

/// Measures `path`; an image that cannot be opened is a usage error, one that fails a check is refused.
fn measure(path: &Path, section_digests: bool) -> Result<Image, (u8, EifError)> {
    Measure::new().section_digests(section_digests).file(path).map_err(|e| match e {
        EifError::Open { .. } => (EXIT_USAGE, e),
        e => (EXIT_REFUSED, e),
    })
}

/// One line on stderr naming the file, and for JSON an error object on stdout.
fn fail(format: Format, code: u8, kind: &str, file: Option<&Path>, error: &dyn std::fmt::Display) -> ExitCode {
    let message = match file {
        Some(f) => format!("{}: {error}", f.display()),
        None => error.to_string(),
    };
    eprintln!("error: {message}");
    if format == Format::Json {
        println!("{}", json!({ "ok": false, "error": { "kind": kind, "message": message } }));
    }
    ExitCode::from(code)
}

/// `arn:PARTITION:iam::ACCOUNT:role/NAME`: the role's ARN, which PCR3 is computed from. An instance
/// profile's ARN (the other ARN a user is shown) would give a PCR3 no enclave ever has.
fn check_role_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = matches!(parts.as_slice(), ["arn", partition, "iam", "", account, resource]
        if !partition.is_empty()
            && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
            && resource.strip_prefix("role/").is_some_and(|name| !name.is_empty()));
    if ok {
        return Ok(());
    }
    let hint = if arn.contains(":instance-profile/") {
        " (this is an instance profile's ARN; PCR3 is computed from the ARN of the role in the profile)"
    } else {
        ""
    };
    Err(format!(
        "--iam-role {}: not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME){hint}",
        enclave_eif::escape(arn.as_bytes())
    ))
}

/// `i-` and 8 or 17 lowercase hex digits.
fn check_instance_id(id: &str) -> Result<(), String> {
    let ok = id.strip_prefix("i-").is_some_and(|h| {
        matches!(h.len(), 8 | 17) && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--instance-id {}: not an EC2 instance ID (i-0123456789abcdef0)",
            enclave_eif::escape(id.as_bytes())
        ))
    }
}

fn text(image: Option<(&Path, &Image)>, extra: &[(Pcr, String)]) -> String {
    let mut out = String::new();
    if let Some((path, image)) = image {
        let h = image.header();
        out.push_str(&format!(
            "image    {}: {} bytes, EIF version {}, {}\n",
            path.display(),
            image.file_len(),
            h.version(),
            h.arch().name()
        ));
        for p in image.measurements().pcrs() {
            out.push_str(&format!("PCR{}     {}\n", p.index().get(), p.value()));
        }
        match image.signer() {
            Some(s) => {
                out.push_str(&format!(
                    "signer   {} ({})\n",
                    enclave_eif::escape(s.subject().as_bytes()),
                    s.algorithm().name()
                ));
                out.push_str(&format!("         issuer {}\n", enclave_eif::escape(s.issuer().as_bytes())));
                out.push_str(&format!("         sha384 {}\n", hex::encode(s.fingerprint_sha384())));
                out.push_str(&format!(
                    "         valid {} to {}\n",
                    UnixTime::from_secs(s.not_before()).to_rfc3339(),
                    UnixTime::from_secs(s.not_after()).to_rfc3339()
                ));
            }
            None => out.push_str("signer   none (unsigned image: no PCR8)\n"),
        }
        out.push_str("sections\n");
        for s in image.sections() {
            out.push_str(&format!("  {:<2} {:<10} at {:<10} {} bytes\n", s.index(), s.label(), s.offset(), s.size()));
        }
        out.push_str(&format!("cmdline  {}\n", cmdline(image)));
    }
    for (p, what) in extra {
        out.push_str(&format!(
            "PCR{}     {}  ({})\n",
            p.index().get(),
            p.value(),
            enclave_eif::escape(what.as_bytes())
        ));
    }
    out
}

/// The command line as kept, escaped, marked when it was cut.
fn cmdline(image: &Image) -> String {
    let total = image.sections().iter().find(|s| s.kind() == SectionKind::Cmdline).map_or(0, |s| s.size());
    let kept = image.cmdline();
    let mut s = enclave_eif::escape(kept);
    if (kept.len() as u64) < total {
        s.push_str(&format!(" ... ({total} bytes in all)"));
    }
    s
}

fn json(image: Option<(&Path, &Image)>, extra: &[(Pcr, String)]) -> Value {
    let mut pcrs = serde_json::Map::new();
    let mut out = serde_json::Map::new();
    out.insert("ok".into(), true.into());
    if let Some((path, image)) = image {
        for p in image.measurements().pcrs() {
            pcrs.insert(p.index().get().to_string(), p.value().to_string().into());
        }
        let h = image.header();
        out.insert("file".into(), path.display().to_string().into());
        out.insert("size".into(), image.file_len().into());
        out.insert("version".into(), h.version().into());
        out.insert("arch".into(), h.arch().name().into());
        let signer = image.signer().map(|s| {
            json!({
                "subject": enclave_eif::escape(s.subject().as_bytes()),
                "issuer": enclave_eif::escape(s.issuer().as_bytes()),
                "sha384": hex::encode(s.fingerprint_sha384()),
                "algorithm": s.algorithm().name(),
                "not_before": s.not_before(),
                "not_after": s.not_after(),
            })
        });
        out.insert("signer".into(), signer.unwrap_or(Value::Null));
        let sections: Vec<Value> = image
            .sections()
            .iter()
            .map(|s| {
                json!({ "index": s.index(), "kind": s.kind().name(), "ramdisk": s.ramdisk(), "offset": s.offset(), "size": s.size() })
            })
            .collect();
        out.insert("sections".into(), sections.into());
        out.insert("cmdline".into(), enclave_eif::escape(image.cmdline()).into());
    }
    for (p, _) in extra {
        pcrs.insert(p.index().get().to_string(), p.value().to_string().into());
    }
    out.insert("pcrs".into(), pcrs.into());
    Value::Object(out)
}

fn diff(a: &Path, b: &Path, format: Format) -> ExitCode {
    let measured = |p: &Path| measure(p, true).map_err(|(code, e)| fail(format, code, kind(code), Some(p), &e));
    let (ia, ib) = match (measured(a), measured(b)) {
        (Ok(ia), Ok(ib)) => (ia, ib),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let d = Diff::between(&ia, &ib);
    match format {
        Format::Text => print!("{}", diff_text(a, b, &d)),
        Format::Json => println!("{}", diff_json(a, b, &d)),
    }
    if d.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DIFFERENT)
    }
}

fn pcr_list(pcrs: &[u8]) -> String {
    pcrs.iter().map(|i| format!("PCR{i}")).collect::<Vec<_>>().join(", ")
}

fn size(s: Option<u64>) -> String {
    s.map_or_else(|| "absent".to_owned(), |n| format!("{n} bytes"))
}

fn diff_text(a: &Path, b: &Path, d: &Diff) -> String {
    let (a, b) = (a.display(), b.display());
    if d.is_empty() {
        return format!("{a} and {b} have the same sections and the same PCRs\n");
    }
    let mut out = format!("{a} and {b} differ\n");
    if d.pcrs().is_empty() {
        out.push_str("same PCRs\n");
    } else {
        out.push_str(&format!("PCRs that differ: {}\n", pcr_list(d.pcrs())));
    }
    for s in d.sections() {
        let sizes = if s.size_a() == s.size_b() {
            format!("{} in both, contents differ", size(s.size_a()))
        } else {
            format!("{} vs {}", size(s.size_a()), size(s.size_b()))
        };
        let measured = match (s.kind(), s.pcrs()) {
            (SectionKind::Signature, []) => "same certificate: PCR8 unchanged".to_owned(),
            (_, []) => "not measured".to_owned(),
            (_, pcrs) => format!("in {}", pcr_list(pcrs)),
        };
        out.push_str(&format!("  {:<10} {sizes} ({measured})\n", s.label()));
    }
    out
}

fn diff_json(a: &Path, b: &Path, d: &Diff) -> Value {
    let sections: Vec<Value> = d
        .sections()
        .iter()
        .map(|s| json!({ "section": s.label(), "kind": s.kind().name(), "size_a": s.size_a(), "size_b": s.size_b(), "pcrs": s.pcrs() }))
        .collect();
    json!({
        "ok": true,
        "a": a.display().to_string(),
        "b": b.display().to_string(),
        "identical": d.is_empty(),
        "pcrs": d.pcrs(),
        "sections": sections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_are_checked_before_hashing() {
        assert_eq!(check_role_arn("arn:aws:iam::123456789012:role/Webserver"), Ok(()));
        assert_eq!(check_role_arn("arn:aws-cn:iam::123456789012:role/path/to/name"), Ok(()));
        let e = check_role_arn("arn:aws:iam::123456789012:instance-profile/web").unwrap_err();
        assert!(e.contains("instance profile's ARN"), "{e}");
        for bad in [
            "",
            "Webserver",
            "arn:aws:iam::12345678901:role/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:s3::123456789012:role/x",
        ] {
            assert!(check_role_arn(bad).is_err(), "{bad}");
        }
        let e = check_role_arn("arn:\x1b[2J").unwrap_err();
        assert!(!e.contains('\x1b'), "{e}");
    }

    #[test]
    fn instance_ids_are_checked() {
        assert_eq!(check_instance_id("i-1234567890abcdef0"), Ok(()));
        assert_eq!(check_instance_id("i-12345678"), Ok(()));
        for bad in ["i-", "1234567890abcdef0", "i-1234567890ABCDEF0", "i-123456789"] {
            assert!(check_instance_id(bad).is_err(), "{bad}");
        }
    }
}
