//! A user's own Rust enclave app (`examples/handler_app.rs`) served by the runtime with the software
//! attester over TCP, called through the SDK: its answers, its errors and the runtime's limits reach
//! the client exactly as a functions directory's would, and a client pinned to it refuses another.

// Test helpers outside #[test] functions may fail loudly: a broken fixture is a broken test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/handler_app.rs"]
mod app;

use std::sync::Arc;
use std::time::Duration;

use enclave_runtime::{Function as _, FunctionError, FunctionLimits, Functions, Handler, Server};
use enclave_sdk::attestation::{AttestationError, Policy, TrustRoot};
use enclave_sdk::checksum::builtin_checksum;
use enclave_sdk::{Client, Error, FunctionChecksum, FunctionId, MeasurementSet, Pcr, PcrIndex};
use mock_enclave::attester::SoftwareNsm;
use mock_enclave::measurements::Measurements;

fn manifest(functions: &Functions) -> Vec<(FunctionId, FunctionChecksum)> {
    functions.iter().map(|f| (f.id().clone(), f.checksum())).collect()
}

/// The app served with a software NSM that measures it, and a client pinning that image and the
/// handler's checksum.
async fn served(functions: Functions) -> (Server, Client) {
    let nsm = Arc::new(SoftwareNsm::ephemeral(Measurements::for_image("app", "1", manifest(&functions))).unwrap());
    let server = Server::builder(nsm.clone()).functions(functions).spawn().await.unwrap();
    let client = client_for(&nsm, &server, &app::functions().unwrap());
    (server, client)
}

/// A client pinning `pinned`'s image and checksums (what the user built), connecting to `server`.
fn client_for(nsm: &SoftwareNsm, server: &Server, pinned: &Functions) -> Client {
    let image = Measurements::for_image("app", "1", manifest(pinned));
    let pins = [PcrIndex::IMAGE, PcrIndex::APPLICATION].map(|i| Pcr::new(i, image.pcrs()[&i].clone()));
    let mut policy = Policy::builder()
        .trust_root(TrustRoot::from_der(nsm.root_der().to_vec()).unwrap())
        .allow_measurements(MeasurementSet::new(pins).unwrap());
    for (id, checksum) in manifest(pinned) {
        policy = policy.function_checksum_for(id, checksum);
    }
    Client::builder().endpoint(server.url()).policy(policy.build().unwrap()).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apps_handler_answers_through_the_sdk() {
    let (server, client) = served(app::functions().unwrap()).await;
    let session = client.connect(app::WORD_STATS).await.unwrap();
    assert_eq!(session.invoke(b"one two\nthree\n").await.unwrap(), br#"{"bytes":14,"lines":2,"words":3}"#);
    // Streamed in 64 KiB chunks, with words spanning chunk boundaries: counted as one text.
    let text = "lorem ipsum ".repeat(20_000);
    let mut out = Vec::new();
    session.invoke_stream(text.as_bytes(), &mut out, |_| {}).await.unwrap();
    assert_eq!(out, format!(r#"{{"bytes":{},"lines":0,"words":40000}}"#, text.len()).into_bytes());
    // The handler's own error travels sealed, with its code; the session goes on.
    let err = session.invoke(b"nul\0byte").await.unwrap_err();
    assert!(matches!(&err, Error::Function { code: 2, function_id, .. } if function_id.as_str() == app::WORD_STATS));
    assert_eq!(session.invoke(b"still here").await.unwrap(), br#"{"bytes":10,"lines":0,"words":2}"#);
    session.close().await.unwrap();
    assert_eq!(server.stats().invocations, 4);
    server.shutdown().await;
}

/// The runtime's limits hold for a handler as for a directory: one that runs too long is stopped
/// (code 5), one that writes too much is cut off (code 4), and the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_limits_a_handler_like_any_function() {
    let id: FunctionId = app::WORD_STATS.parse().unwrap();
    let limits = FunctionLimits::new(Duration::from_millis(200), 1024, 1 << 20);
    // The checksum the client pins (the app's), with a body that misbehaves on request.
    let misbehaving =
        Handler::new(id.clone(), builtin_checksum(&id, app::APP_VERSION), |mut input, output| async move {
            let mut all = Vec::new();
            while let Some(chunk) = input.recv().await {
                all.extend_from_slice(&chunk);
            }
            if all == b"hang" {
                std::future::pending::<()>().await;
            }
            let _ = output.send(vec![b'x'; 4096]).await;
            Ok(())
        })
        .limits(limits);
    let mut functions = Functions::new();
    functions.add(Arc::new(misbehaving)).unwrap();
    let (server, client) = served(functions).await;
    let session = client.connect(app::WORD_STATS).await.unwrap();
    let hang = session.invoke(b"hang").await.unwrap_err();
    assert!(matches!(hang, Error::Function { code: 5, .. }), "{hang:?}");
    let flood = session.invoke(b"flood").await.unwrap_err();
    assert!(matches!(flood, Error::Function { code: 4, .. }), "{flood:?}");
    session.close().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn a_handler_past_its_limits_reports_the_limit() {
    let id: FunctionId = "h".parse().unwrap();
    let limits = FunctionLimits::new(Duration::from_millis(100), 8, 1 << 20);
    let slow = Handler::new(id.clone(), builtin_checksum(&id, "1"), |_, _| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    })
    .limits(limits);
    assert_eq!(
        slow.invoke_bytes(Vec::new()).await,
        Err(FunctionError::TimedOut { function: id.clone(), limit_ms: 100 })
    );
    let chatty = Handler::new(id.clone(), builtin_checksum(&id, "1"), |_, output| async move {
        for _ in 0..3 {
            let _ = output.send(b"1234".to_vec()).await;
        }
        Ok(())
    })
    .limits(limits);
    assert_eq!(chatty.invoke_bytes(Vec::new()).await, Err(FunctionError::OutputTooLarge { function: id, limit: 8 }));
}

/// Another build of the app (another handler under the same id): its image and its checksum differ,
/// so a client pinned to the user's build refuses the document and sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_build_of_the_app_gets_nothing() {
    let id: FunctionId = app::WORD_STATS.parse().unwrap();
    let other =
        Handler::new(id.clone(), builtin_checksum(&id, "word-stats 1.0.1-keeps-a-copy"), |_, _| async { Ok(()) });
    let mut functions = Functions::new();
    functions.add(Arc::new(other)).unwrap();
    let (server, client) = served(functions).await;
    let err = client.connect(app::WORD_STATS).await.unwrap_err();
    assert!(
        matches!(&err, Error::Attestation(AttestationError::PcrNotAllowed { index, .. }) if *index == PcrIndex::IMAGE),
        "{err:?}"
    );
    let seen = server.stats();
    assert_eq!((seen.documents, seen.key_shares, seen.invocations), (1, 0, 0));
}
