//! Pinned measurements against a separately started `mock-enclave serve`, configured like a
//! deployed application: from the environment (see `enclave_sdk::Client::from_env`).
//!
//! ```sh
//! mock-enclave serve --state-dir demo/mock-state --listen 127.0.0.1:8443 &   # prints: listening on ws://127.0.0.1:8443
//! mock-enclave policy --state-dir demo/mock-state > demo/policy.toml       # its root, PCRs and checksums
//! ENCLAVE_URL=ws://127.0.0.1:8443 ENCLAVE_POLICY=demo/policy.toml cargo run --example pinned -- echo "hello"
//! ```
//!
//! Or, instead of `ENCLAVE_POLICY`, the pins one by one: `ENCLAVE_ROOT_PEM=demo/mock-state/root.pem`,
//! `ENCLAVE_PCRS=0=<hex>,1=<hex>,2=<hex>` and `ENCLAVE_FUNCTION_CHECKSUM=<hex>`, with the values
//! `mock-enclave measurements --state-dir demo/mock-state` prints (README, "One vocabulary").

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let function = args.next().unwrap_or_else(|| "echo".to_owned());
    let input = args.next().unwrap_or_else(|| "hello from a pinned client".to_owned());
    if std::env::var_os("ENCLAVE_URL").is_none() {
        eprintln!("set ENCLAVE_URL and the pins first; see the header of examples/pinned.rs");
        return std::process::ExitCode::from(2);
    }
    match enclave_sdk::connect_and_invoke(&function, input.as_bytes()).await {
        Ok(output) => {
            println!("{}", String::from_utf8_lossy(&output));
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("refused: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
