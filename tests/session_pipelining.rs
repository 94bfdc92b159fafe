//! Pipelining at the enclave's own limit: a client that keeps as many invocations in flight as the
//! enclave allows never trips the enclave's limit, because the enclave frees an invocation's slot as
//! it queues the invocation's last record, before the client can see it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use futures_util::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_at_the_enclaves_in_flight_limit_is_never_refused() {
    let mock = mock().await;
    let limit = mock.limits().max_in_flight;
    let client = enclave_sdk::Client::builder()
        .endpoint(mock.url())
        .policy(pinned(&mock, "echo").build().unwrap())
        .max_in_flight(limit)
        .build()
        .unwrap();
    let session = client.connect("echo").await.unwrap();
    let input = vec![0x5a; 1024];
    let mut results = futures_util::stream::iter(0..2000).map(|_| session.invoke(&input)).buffer_unordered(limit);
    while let Some(out) = results.next().await {
        assert_eq!(out.unwrap(), input);
    }
    drop(results);
    session.close().await.unwrap();
    assert_eq!(mock.stats().completed, 2000);
}
