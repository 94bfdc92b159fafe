//! Stream a large file through a function with bounded memory, reporting progress.
//!
//! `cargo run --example stream_file -- [FILE]` (without FILE, streams 8 MiB of generated data).

use enclave_sdk::attestation::{Policy, TrustRoot};
use enclave_sdk::Client;
use mock_enclave::MockEnclave;
use std::io::IsTerminal;

use tokio::io::AsyncWriteExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockEnclave::builder().spawn().await?;
    let mut policy = Policy::builder().trust_root(TrustRoot::from_pem(&mock.root_pem())?);
    // One allowed release: every PCR the mock reports.
    policy = policy.allow_measurements(enclave_sdk::MeasurementSet::new(
        mock.measurements().pcrs().iter().map(|(i, v)| enclave_sdk::Pcr::new(*i, v.clone())),
    )?);
    let sha256: enclave_sdk::FunctionId = "sha256".parse()?;
    let sum = mock.function_checksum(&sha256).ok_or("sha256")?;
    let policy = policy.function_checksum_for(sha256, sum).build()?;
    let client = Client::builder().endpoint(mock.url()).policy(policy).build()?;
    let session = client.connect("sha256").await?;

    let dir = tempfile::tempdir()?;
    let path = match std::env::args().nth(1) {
        Some(p) => std::path::PathBuf::from(p),
        None => {
            let p = dir.path().join("input.bin");
            let mut f = tokio::fs::File::create(&p).await?;
            let block: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
            for _ in 0..8 {
                f.write_all(&block).await?;
            }
            p
        }
    };
    let size = tokio::fs::metadata(&path).await?.len();
    let input = tokio::fs::File::open(&path).await?;
    let mut digest = Vec::new();
    // Drawn only when stderr is a terminal; sent, total, rate and ETA; cleared before the result is
    // printed, so it can never overwrite the digest.
    let target = if std::io::stderr().is_terminal() {
        indicatif::ProgressDrawTarget::stderr()
    } else {
        indicatif::ProgressDrawTarget::hidden()
    };
    let bar = indicatif::ProgressBar::with_draw_target(Some(size), target);
    bar.set_style(indicatif::ProgressStyle::with_template(
        "sent {bytes} of {total_bytes} ({binary_bytes_per_sec}, ETA {eta}) {wide_bar}",
    )?);
    session
        .invoke_stream(input, &mut digest, |p| {
            // The file may have grown since its size was read.
            if p.sent > bar.length().unwrap_or(0) {
                bar.set_length(p.sent);
            }
            bar.set_position(p.sent);
        })
        .await?;
    bar.finish_and_clear();
    println!("sha256({}) computed in the enclave = {}", path.display(), String::from_utf8_lossy(&digest));
    Ok(())
}
