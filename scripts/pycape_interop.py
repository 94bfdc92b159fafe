#!/usr/bin/env python3
"""Interop: Cape Privacy's published client, pycape 3.1.1, against `mock-enclave serve --tls`.

Usage: pycape_interop.py MOCK_ENCLAVE_BINARY

Starts the mock with a fresh state directory, pins its root, PCRs and function checksums in pycape,
invokes several functions several times on one connection each, and checks that pycape refuses a
wrong checksum, a wrong PCR and a wrong root. pycape always verifies TLS (ssl.create_default_context);
the mock's self-signed certificate is made a trust anchor through SSL_CERT_FILE, so neither pycape's
TLS checks nor its attestation checks are disabled. Exits non-zero on any failure; the last line is
"N passed, M failed".
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import traceback

import tls_mock

results = {"passed": 0, "failed": 0}


def check(name, fn):
    try:
        fn()
        results["passed"] += 1
        print(f"ok   {name}")
    except Exception:  # noqa: BLE001 - every failure is reported and counted
        results["failed"] += 1
        print(f"FAIL {name}")
        traceback.print_exc()


def refused(fn, needle):
    """fn must raise, with `needle` in its message."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        if needle not in str(e):
            raise AssertionError(f"refused for the wrong reason: {e!r}, expected {needle!r}") from e
        return
    raise AssertionError("pycape accepted what it must refuse")


def main():
    binary = sys.argv[1]
    # A CI timeout or Ctrl-C must still stop the server: turn the signal into an exception so the
    # `finally` below runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = tempfile.mkdtemp(prefix="pycape-interop-")
    state = os.path.join(work, "state")
    info = json.loads(
        subprocess.run(
            [binary, "measurements", "--state-dir", state, "--format", "json"], check=True, capture_output=True, text=True
        ).stdout
    )
    pcrs = {k: [v] for k, v in info["pcrs"].items()}
    checksums = {f["id"]: f["checksum"] for f in info["functions"]}
    with open(info["root"]["pem"], "rb") as f:
        root_pem = f.read()

    with tls_mock.serving(binary, state, work) as port:
        run_checks(f"wss://localhost:{port}", root_pem, pcrs, checksums)
    print(f"{results['passed']} passed, {results['failed']} failed")
    sys.exit(1 if results["failed"] else 0)


def run_checks(url, root_pem, pcrs, checksums):
    from pycape import Cape

    def client(root=root_pem):
        cape = Cape(url=url)
        cape._root_cert = root  # what pycape verifies the chain against (it would download AWS's)
        return cape

    def several(function, inputs):
        def go():
            cape = client()
            cape.connect(cape.function(f"alice/{function}", checksum=checksums[function]), "tok", pcrs=pcrs)
            try:
                for given, want in inputs:
                    got = cape.invoke(given, use_serdio=False)
                    assert got == want, f"{function}({given!r}) = {got!r}, expected {want!r}"
            finally:
                cape.close()

        return go

    check("uppercase three times on one connection",
          several("uppercase", [(b"abc", b"ABC"), (b"hello world", b"HELLO WORLD"), (b"x", b"X")]))
    check("echo three times on one connection", several("echo", [(b"one", b"one"), (b"", b""), (b"\x00\xff", b"\x00\xff")]))
    check("sha256 twice on one connection", several("sha256", [
        (b"abc", b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (b"", b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ]))
    check("word-count twice on one connection", several("word-count", [(b"a b  c", b"3"), (b"one", b"1")]))
    # pycape sends an invocation's whole input as one WebSocket message (issue 14: 100 KB used to fail
    # at the enclave's 64 KiB frame limit; Cape inputs now go up to 16 MiB by default).
    big = bytes(range(256)) * (4 * 1024 * 1024 // 256)
    check("echo of 100 KB and of 4 MiB on one connection", several("echo", [(big[:100_000], big[:100_000]), (big, big)]))

    def function_error():
        cape = client()
        cape.connect(cape.function("alice/fail", checksum=checksums["fail"]), "tok", pcrs=pcrs)
        try:
            refused(lambda: cape.invoke(b"x", use_serdio=False), "the fail function always fails")
            # The connection survives a function error.
            refused(lambda: cape.invoke(b"y", use_serdio=False), "the fail function always fails")
        finally:
            cape.close()

    check("a function error reaches pycape as an exception", function_error)

    def wrong_checksum():
        cape = client()
        refused(lambda: cape.connect(cape.function("alice/echo", checksum="00" * 32), "tok", pcrs=pcrs),
                "Returned checksum did not match")

    def wrong_checksum_of_other_function():
        cape = client()
        refused(lambda: cape.connect(cape.function("alice/echo", checksum=checksums["uppercase"]), "tok", pcrs=pcrs),
                "Returned checksum did not match")

    def wrong_pcr():
        cape = client()
        bad = dict(pcrs)
        bad["0"] = ["00" * 48]
        refused(lambda: cape.connect(cape.function("alice/echo", checksum=checksums["echo"]), "tok", pcrs=bad),
                "PCR 0")

    def wrong_root():
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, "..", "sdk", "testdata", "nitro", "AWS_NitroEnclaves_Root-G1.pem"), "rb") as f:
            aws = f.read()
        cape = client(root=aws)
        refused(lambda: cape.connect(cape.function("alice/echo", checksum=checksums["echo"]), "tok", pcrs=pcrs),
                "self-signed certificate in certificate chain")

    check("pycape refuses a wrong checksum", wrong_checksum)
    check("pycape refuses another function's checksum", wrong_checksum_of_other_function)
    check("pycape refuses a wrong PCR", wrong_pcr)
    check("pycape refuses a chain under another root", wrong_root)


if __name__ == "__main__":
    main()
