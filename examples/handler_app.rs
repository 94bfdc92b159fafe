//! Your own enclave application: a Rust `async` handler served by the enclave runtime, with the
//! same sessions, limits and errors as a functions directory, and attested like it.
//!
//! ```sh
//! cargo run --example handler_app
//! ```
//!
//! Here the runtime attests with the mock's software NSM and listens on TCP, and the example then
//! calls its own function through the SDK, pinning what it serves. Inside a Nitro enclave the same
//! [`serve`] takes `enclave_runtime::NitroNsm::open()?` and `ListenAddr::Vsock { cid: VSOCK_CID_ANY,
//! port: 5005 }` (features `nsm` and `vsock` of `enclave-runtime`), and clients arrive through the
//! parent's relay (README, "Deploying to a Nitro enclave").

use std::sync::Arc;
use std::time::Duration;

use enclave_protocol::{FunctionId, MeasurementError};
use enclave_runtime::{
    Attester, FunctionError, FunctionInput, FunctionLimits, FunctionOutput, Functions, Handler, ListenAddr, Server,
    StartError,
};
use enclave_sdk::checksum::builtin_checksum;

/// The application's name and version: what its handler's checksum names.
pub const APP_VERSION: &str = "word-stats 1.0.0";

/// The one function: `{"bytes":B,"lines":L,"words":W}` of a text, counted as it streams in.
pub const WORD_STATS: &str = "word-stats";

/// The application's functions, each under the limits every invocation gets.
///
/// # Errors
/// Never for these ids; the type is the id rule's.
pub fn functions() -> Result<Functions, MeasurementError> {
    let id: FunctionId = WORD_STATS.parse()?;
    let limits = FunctionLimits::new(Duration::from_secs(10), 1024, 1 << 20);
    let handler = {
        let id = id.clone();
        move |input, output| word_stats(id.clone(), input, output)
    };
    let mut functions = Functions::new();
    // One function, so no id is taken twice.
    let _ =
        functions.add(Arc::new(Handler::new(id.clone(), builtin_checksum(&id, APP_VERSION), handler).limits(limits)));
    Ok(functions)
}

/// Counts without buffering the input: a word split across two chunks is counted once.
async fn word_stats(id: FunctionId, mut input: FunctionInput, output: FunctionOutput) -> Result<(), FunctionError> {
    let (mut bytes, mut lines, mut words, mut in_word) = (0u64, 0u64, 0u64, false);
    while let Some(chunk) = input.recv().await {
        if chunk.contains(&0) {
            return Err(FunctionError::InvalidInput { function: id, expected: "text without NUL bytes" });
        }
        bytes += chunk.len() as u64;
        for b in chunk {
            lines += u64::from(b == b'\n');
            let space = b.is_ascii_whitespace();
            words += u64::from(in_word && space);
            in_word = !space;
        }
    }
    words += u64::from(in_word);
    let answer = format!("{{\"bytes\":{bytes},\"lines\":{lines},\"words\":{words}}}");
    output.send(answer.into_bytes()).await.map_err(|_| FunctionError::OutputClosed { function: id })
}

/// Serves the application with `attester` on `listen`: the same call inside an enclave and here.
///
/// # Errors
/// [`StartError`] when the address cannot be bound.
pub async fn serve(attester: Arc<dyn Attester>, listen: ListenAddr) -> Result<Server, Box<dyn std::error::Error>> {
    let server: Result<Server, StartError> =
        Server::builder(attester).listen_on(listen).functions(functions()?).spawn().await;
    Ok(server?)
}

#[allow(dead_code)] // the tests include this file for `serve` and `functions`, not for `main`
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use enclave_sdk::attestation::{Policy, TrustRoot};
    use enclave_sdk::{Client, MeasurementSet, Pcr, PcrIndex};
    use mock_enclave::attester::SoftwareNsm;
    use mock_enclave::measurements::Measurements;

    // The software NSM measures the application as the mock measures its own: name, version, and
    // the functions it serves (in a real enclave, PCR0 and PCR2 of the EIF, from `enclave measure`).
    let manifest = functions()?.iter().map(|f| (f.id().clone(), f.checksum())).collect::<Vec<_>>();
    let image = Measurements::for_image("word-stats-app", APP_VERSION, manifest.clone());
    let nsm = Arc::new(SoftwareNsm::ephemeral(image.clone())?);
    let server = serve(nsm.clone(), "127.0.0.1:0".parse()?).await?;
    println!("serving {WORD_STATS} at {}/v1/run/{WORD_STATS}", server.url());

    let pins =
        [PcrIndex::IMAGE, PcrIndex::KERNEL, PcrIndex::APPLICATION].map(|i| Pcr::new(i, image.pcrs()[&i].clone()));
    let (id, checksum) = manifest.into_iter().next().ok_or("no function")?;
    let policy = Policy::builder()
        .trust_root(TrustRoot::from_der(nsm.root_der().to_vec())?)
        .allow_measurements(MeasurementSet::new(pins)?)
        .function_checksum_for(id, checksum)
        .build()?;
    let client = Client::builder().endpoint(server.url()).policy(policy).build()?;
    let session = client.connect(WORD_STATS).await?;
    let answer = session.invoke(b"the quick brown fox\njumps over the lazy dog\n").await?;
    println!("{}", String::from_utf8_lossy(&answer));
    session.close().await?;
    server.shutdown().await;
    Ok(())
}
