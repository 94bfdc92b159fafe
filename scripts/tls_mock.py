"""Starting `mock-enclave serve --tls` for a Python client, shared by pycape_interop.py and
bench_peers.py.

pycape always verifies TLS with ssl.create_default_context(); the mock's self-signed certificate is
made the only trust anchor through SSL_CERT_FILE, so host name checks stay on and nothing is disabled.
"""
import contextlib
import os
import ssl
import subprocess


@contextlib.contextmanager
def serving(binary, state, work):
    """Runs the mock on 127.0.0.1 with `state` as its state dir; yields its port. On entry the mock's
    certificate becomes the only trust anchor (SSL_CERT_FILE, written under `work`); on exit, however
    the block ends, the mock is stopped."""
    server = subprocess.Popen(
        [binary, "serve", "--tls", "--state-dir", state, "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = server.stdout.readline().strip()
        if not line.startswith("listening on wss://"):
            raise SystemExit(f"mock-enclave did not start: {line!r}")
        with open(os.path.join(state, "tls-cert.der"), "rb") as f:
            cert_pem = ssl.DER_cert_to_PEM_cert(f.read())
        anchor = os.path.join(work, "mock-tls.pem")
        with open(anchor, "w") as f:
            f.write(cert_pem)
        # OpenSSL reads this when pycape builds its default context. The certificate names localhost
        # and 127.0.0.1.
        os.environ["SSL_CERT_FILE"] = anchor
        yield line.rsplit(":", 1)[1]
    finally:
        server.terminate()
        server.wait(timeout=10)
