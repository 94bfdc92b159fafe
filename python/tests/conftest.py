"""Fixtures: `mock-enclave serve` started per test session on a free port, its state in a temporary
directory, and the pins for it from the mock's own commands (`measurements`, `policy`).

The binary is $MOCK_ENCLAVE, or target/debug/mock-enclave of this checkout (`cargo build -p
mock-enclave --bin mock-enclave`).
"""

import json
import os
import pathlib
import signal
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
NITRO = REPO / "sdk" / "testdata" / "nitro"


def mock_binary():
    path = os.environ.get("MOCK_ENCLAVE") or str(REPO / "target" / "debug" / "mock-enclave")
    if not os.access(path, os.X_OK):
        pytest.exit(f"mock-enclave binary not found at {path}: cargo build -p mock-enclave --bin mock-enclave "
                    "or set MOCK_ENCLAVE", returncode=2)
    return path


class Mock:
    """One running `mock-enclave serve`: its URL, state directory and pins."""

    def __init__(self, binary, state, *extra):
        self.binary = binary
        self.state = state
        info = json.loads(subprocess.run([binary, "measurements", "--state-dir", str(state), "--format", "json"]
                                         + [a for a in extra if a == "--debug-mode"],
                                         check=True, capture_output=True, text=True).stdout)
        self.pcrs = {int(k): v for k, v in info["pcrs"].items()}
        self.checksums = {f["id"]: f["checksum"] for f in info["functions"]}
        self.root_path = info["root"]["pem"]
        self.root_pem = pathlib.Path(self.root_path).read_text()
        self.server = subprocess.Popen([binary, "serve", "--state-dir", str(state), "--listen", "127.0.0.1:0", *extra],
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.server.stdout.readline().strip()
        if not line.startswith(("listening on ws://", "listening on wss://")):
            self.stop()
            raise RuntimeError(f"mock-enclave did not start: {line!r}")
        self.url = line.removeprefix("listening on ")

    def policy_file(self, directory):
        """The policy file `mock-enclave policy` writes for this state directory."""
        text = subprocess.run([self.binary, "policy", "--state-dir", str(self.state)], check=True,
                              capture_output=True, text=True).stdout
        path = pathlib.Path(directory) / "policy.toml"
        path.write_text(text)
        return path

    def stop(self):
        if self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()


@pytest.fixture(scope="session")
def mock(tmp_path_factory):
    m = Mock(mock_binary(), tmp_path_factory.mktemp("mock-state"))
    yield m
    m.stop()


@pytest.fixture(scope="session")
def debug_mock(tmp_path_factory):
    m = Mock(mock_binary(), tmp_path_factory.mktemp("debug-mock-state"), "--debug-mode")
    yield m
    m.stop()


@pytest.fixture(scope="session")
def tls_mock(tmp_path_factory):
    """`serve --tls`: a self-signed certificate whose key every document binds."""
    m = Mock(mock_binary(), tmp_path_factory.mktemp("tls-mock-state"), "--tls")
    m.tls_cert_der = (pathlib.Path(m.state) / "tls-cert.der").read_bytes()
    yield m
    m.stop()


@pytest.fixture(scope="session")
def nitro_manifest():
    return json.loads((NITRO / "manifest.json").read_text())


@pytest.fixture
def es():
    import enclave_sdk

    return enclave_sdk


@pytest.fixture
def policy(es, mock):
    """Every PCR the mock reports as one release, its root, and every built-in's checksum."""
    return es.Policy(measurements=[mock.pcrs], root_pem=mock.root_pem, function_checksums=mock.checksums)


@pytest.fixture
def client(es, mock, policy):
    return es.Client(mock.url, policy)


# The example programs in tests/examples import their SDK; make them runnable as subprocesses.
sys.path.insert(0, str(pathlib.Path(__file__).parent))
