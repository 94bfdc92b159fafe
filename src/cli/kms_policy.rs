//! `enclave kms-policy`: generate an AWS KMS key policy from a policy file's pins, or check one.
//!
//! Input: a policy file (trusted: the caller's own pins) and, for `check`, a key policy document
//! (untrusted JSON, read bounded). Output: the key policy on stdout, or a report naming each
//! offending statement. The IAM reasoning lives in the `enclave-kms` crate; this file only does I/O.

use super::policy::{fail, read_bounded, Format, EXIT_CHECK_FAILED, EXIT_USAGE};
use enclave_kms::{check_key_policy, generate_key_policy, KeyAdmin, KmsPolicyError};
use enclave_sdk::attestation::{Policy, PolicyFileError};
use std::path::PathBuf;
use std::process::ExitCode;

const GENERATE_HELP: &str = "\
Exit codes: 0 the key policy was printed, 2 usage error (bad policy file, nothing pinned, principal not an ARN,
key administrator not an account or IAM principal).

Each enclave statement allows kms:Decrypt, kms:GenerateDataKey, kms:GenerateRandom and kms:DeriveSharedSecret
only when the request's attestation document carries every PCR of one [[pcrs]] set (StringEqualsIgnoreCase on
kms:RecipientAttestation:ImageSha384 for PCR0 and kms:RecipientAttestation:PCR<n>, one value each). KMS
conditions are per key and cannot say \"one of these sets\", so a policy file with several sets gets one
statement per set. The key-administration statement names the --key-admin principals and grants no
cryptographic use (and no kms:CreateGrant, ReplicateKey or ImportKeyMaterial); it does grant kms:PutKeyPolicy, so
an administrator can rewrite the policy and release the key without attestation: administrators are as trusted
as the enclave. The policy goes to stdout; an account of what it allows, the admin statement included, goes to
stderr. Without --principal / --key-admin the policy carries placeholders that AWS KMS refuses.

Examples:
  enclave kms-policy generate --policy policy.toml \\
      --principal arn:aws:iam::111122223333:role/enclave-instance \\
      --key-admin arn:aws:iam::111122223333:role/key-admin > key-policy.json 2> key-policy.README
  aws kms put-key-policy --key-id $KEY --policy-name default --policy file://key-policy.json";

const CHECK_HELP: &str = "\
Exit codes: 0 the key policy passed, 1 it did not (or it is malformed), 2 usage error.

It passes when (1) every Allow statement granting kms:Decrypt, GenerateDataKey(Pair), GenerateRandom,
DeriveSharedSecret, ReEncryptFrom or CreateGrant (directly, by wildcard or through NotAction) requires every PCR
of one [[pcrs]] set with that set's value only (a list of values for one PCR is not credited: KMS ORs them, so a
document could mix two releases), or is covered by Deny statements that, evaluated with their conditions, deny
every request matching no set (a mixture included); and (2) every principal allowed kms:PutKeyPolicy,
ReplicateKey, UpdatePrimaryRegion or ImportKeyMaterial, which can release the key without attestation, is named
with --key-admin (an account id or :root ARN, or a role, user or session ARN; \"*\" never). Every such principal
is listed, named or not.

Examples:
  aws kms get-key-policy --key-id $KEY --policy-name default --query Policy --output text > key-policy.json
  enclave kms-policy check key-policy.json --policy policy.toml --key-admin arn:aws:iam::111122223333:role/key-admin
  enclave kms-policy check key-policy.json --policy policy.toml --format json | jq '.findings[].statement'";

/// Subcommands of `enclave kms-policy`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Print an AWS KMS key policy that releases keys only to enclaves matching the pinned PCRs.
    #[command(after_help = GENERATE_HELP)]
    Generate(GenerateArgs),
    /// Check that every cryptographic grant of a key policy requires the pinned PCRs, and that only named
    /// administrators can rewrite the policy or replicate the key.
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
}

/// Arguments of `enclave kms-policy generate`.
#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// The policy file whose [[pcrs]] sets the key policy requires.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// The IAM role (ARN) of the instance running the enclave: the only principal allowed to use the key.
    #[arg(long, value_name = "ARN")]
    principal: Option<String>,
    /// A principal allowed to administer the key (and so to rewrite its policy), without cryptographic
    /// use; repeat for several. An account id, an account's :root ARN, or an IAM role, user or session ARN.
    #[arg(long, value_name = "ARN")]
    key_admin: Vec<String>,
    /// Output format (the key policy is JSON either way; `json` prints it compact).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Arguments of `enclave kms-policy check`.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// The key policy document (JSON), as `aws kms get-key-policy` prints it.
    #[arg(value_name = "KEY_POLICY.json")]
    key_policy: PathBuf,
    /// The policy file one of whose [[pcrs]] sets every cryptographic grant must require.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// A principal trusted to rewrite the key policy or replicate the key, i.e. as trusted as the enclave;
    /// repeat for several. An account id, an account's :root ARN, or an IAM role, user or session ARN.
    #[arg(long, value_name = "ARN")]
    key_admin: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub(crate) async fn run(command: Command) -> ExitCode {
    match command {
        Command::Generate(args) => generate(args),
        Command::Check(args) => check(args),
    }
}

/// The policy the file describes, built (and so judged) by the SDK's policy builder.
fn load(path: &std::path::Path) -> Result<Policy, PolicyFileError> {
    Policy::from_file(path)
}

fn key_admins(given: &[String]) -> Result<Vec<KeyAdmin>, KmsPolicyError> {
    given.iter().map(|a| a.parse()).collect()
}

fn generate(args: GenerateArgs) -> ExitCode {
    let policy = match load(&args.policy) {
        Ok(policy) => policy,
        Err(e) => return fail(args.format, EXIT_USAGE, "policy_file", &e),
    };
    let admins = match key_admins(&args.key_admin) {
        Ok(admins) => admins,
        Err(e) => return fail(args.format, EXIT_USAGE, "kms_policy", &e),
    };
    let generated = match generate_key_policy(&policy, args.principal.as_deref(), &admins) {
        Ok(generated) => generated,
        Err(e) => return fail(args.format, EXIT_USAGE, "kms_policy", &e),
    };
    let text = match args.format {
        Format::Text => serde_json::to_string_pretty(generated.document()),
        Format::Json => serde_json::to_string(generated.document()),
    };
    match text {
        Ok(text) => {
            println!("{text}");
            // What the policy allows, the admin statement included, for whoever applies it.
            eprint!("{}", generated.readme());
            ExitCode::SUCCESS
        }
        Err(e) => fail(args.format, EXIT_USAGE, "json", &e),
    }
}

/// How much of a key policy file is read: twice what KMS accepts.
const READ_LIMIT: usize = 64 * 1024;

fn check(args: CheckArgs) -> ExitCode {
    let policy = match load(&args.policy) {
        Ok(policy) => policy,
        Err(e) => return fail(args.format, EXIT_USAGE, "policy_file", &e),
    };
    let admins = match key_admins(&args.key_admin) {
        Ok(admins) => admins,
        Err(e) => return fail(args.format, EXIT_USAGE, "kms_policy", &e),
    };
    // Read more than KMS allows (32 KiB), so that an oversized policy gets the checker's own error,
    // which names both sizes.
    let text = match read_bounded(&args.key_policy, READ_LIMIT) {
        Ok(text) => text,
        Err(e) => return fail(args.format, EXIT_USAGE, "read", &e),
    };
    let report = match check_key_policy(&text, &policy, &admins) {
        Ok(report) => report,
        Err(e) => return fail(args.format, EXIT_CHECK_FAILED, "kms_policy", &e),
    };
    match args.format {
        Format::Json => {
            let out = serde_json::json!({
                "passed": report.passed(),
                "statements": report.statements,
                "granting_statements": report.granting_statements,
                "findings": report.findings.iter().map(|f| serde_json::json!({
                    "statement": f.statement,
                    "actions": f.actions,
                    "granted_through": f.granted_through,
                    "set": f.set,
                    "problem": f.problem,
                    "message": f.to_string(),
                })).collect::<Vec<_>>(),
                "key_control": report.key_control,
            });
            println!("{out}");
        }
        Format::Text => {
            if report.passed() {
                println!(
                    "OK: {} of {} statements grant cryptographic use, and each requires every PCR of one allowed set",
                    report.granting_statements, report.statements
                );
            } else {
                println!("FAILED: {} problem(s) in {}", report.findings.len(), args.key_policy.display());
                for finding in &report.findings {
                    println!("  {finding}");
                }
            }
            if report.key_control.is_empty() {
                println!("No principal can rewrite the key policy, replicate the key or import key material.");
            } else {
                println!("Can release the key without attestation (as trusted as the enclave):");
                for grant in &report.key_control {
                    println!("  {grant}");
                }
            }
        }
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CHECK_FAILED)
    }
}
