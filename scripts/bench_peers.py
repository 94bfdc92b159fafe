#!/usr/bin/env python3
"""Peer comparison (issue 7): pycape 3.1.1, the SDK and `enclave run` doing the same thing against one
`mock-enclave serve --tls`, on this machine, in one run.

Run it (from the repository root; pip needs the network once):

    cargo build --release --locked -p enclave -p mock-enclave -p enclave-bench && python3 -m venv /tmp/pycape-venv \
      && /tmp/pycape-venv/bin/pip install -q -r scripts/requirements-pycape.txt ./python \
      && /tmp/pycape-venv/bin/python scripts/bench_peers.py target/release/enclave target/release/mock-enclave

Usage: bench_peers.py ENCLAVE_BINARY MOCK_ENCLAVE_BINARY [--bench ENCLAVE_BENCH_BINARY] [--iterations N]
                      [--batch B] [--input-bytes K] [--wait-quiet SECONDS]

(--bench defaults to the enclave-bench binary beside ENCLAVE_BINARY.)

What one sample is, for every method: open a fresh connection to the mock, receive its attestation
document and verify it fully (signature, chain to the mock's pinned root, all 16 PCRs pinned, the
`echo` function's checksum pinned, our nonce), invoke `echo` once on a K-byte input (default 1024),
check the output, close. Timed with a monotonic clock around exactly that.

  pycape         Cape's published client in this Python process, its normal synchronous API:
                 `Cape.run(function(alice/echo, checksum=...), token, input, pcrs=...)` (connect, invoke,
                 close). TLS is verified as pycape always does it: the mock's self-signed certificate is
                 the only trust anchor through SSL_CERT_FILE (as scripts/pycape_interop.py does).
  sdk_cape_*     `enclave-bench peer --mode cape`: the SDK in-process (`Client::connect_cape`), the same
                 protocol as pycape, TLS validated against the same certificate (WebPKI), same pins.
  sdk_native_*   `enclave-bench peer --mode native`: the SDK's own protocol (`Client::connect`,
                 enclave-session.v3, TLS key bound by the attestation), also WebPKI-validated.
                 *_warm: one client for all samples, so its path cache is warm after the warm-up
                 (each sample still verifies the document's signature); *_cold: a
                 new client per sample, taken interleaved with the warm ones.
  enclave_run    `enclave run echo --url ... --root ... --pcrs ... --checksum ... --input FILE` as a new
                 process per sample: what a shell user pays, process start included.
  process_floor  `enclave --version` as a new process per sample: the process-start share of the above
                 (clap and the binary's start; since c9faccf it builds no tokio runtime, which
                 enclave_run's share now includes).
  python_native_* The Python package (`enclave_sdk`, python/) in this Python process:
                 `Client(url, policy, tls_root=...)`, `connect("echo")`, `invoke`, `close`, the same pins
                 and the same WebPKI anchor as sdk_native_*. *_warm: one Client for all samples (as
                 sdk_native_warm); *_cold: a new Client (and Policy) per sample (as sdk_native_cold).
  python_cape    `enclave_sdk.cape.Cape.run(...)` with pycape's arguments: the pycape-compatible module,
                 Cape's protocol, this SDK's verification.
                 Both are skipped (and named in "skipped") when enclave_sdk is not installed.

Then, through `enclave-bench relay` (a TCP relay holding every byte --relay-one-way-ms each way, default
5 ms), the fresh calls of pycape and of the SDK's own protocol (`enclave-bench peer --mode native`, warm),
each as a multiple of the relay's round trip (a 1-byte echo through a second relay, sampled in turn),
plus one for TCP's handshake, which a relay cannot delay (the kernel completes it): round trips from
connect to the output, TCP included. And `enclave_run_over_floor_ms`: enclave_run's median minus
process_floor's.

pycape warms up once; every `enclave-bench peer` process warms up once (not measured); `enclave run`
warms up once. Methods are interleaved in batches of B samples (default 5), in a rotating order, so
noise from other work on the machine hits them alike. Prints one JSON object on stdout (times in
milliseconds: median, p90 by nearest rank, min, max; the ratios pycape / each method, and each Python
method / its Rust counterpart) and a table on stderr. Exits non-zero if any sample fails or returns a wrong output.
"""
import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import socket
import tempfile
import threading
import time

import tls_mock

FUNCTION = "echo"
# Cape addresses functions as user/name; the mock serves any user.
CAPE_FUNCTION = f"alice/{FUNCTION}"
BUSY = "enclave-bench|cargo fuzz|criterion"


def median(samples):
    """The middle sample, or the mean of the two middle ones (as `enclave-bench peer`)."""
    v = sorted(samples)
    n = len(v)
    if n == 0:
        return float("nan")
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def p90(samples):
    """Nearest rank: the smallest sample with at least 90% of them at or below it (integer rank, so
    0.9 * 30 cannot round up to 28)."""
    v = sorted(samples)
    if not v:
        return float("nan")
    return v[max(-(-9 * len(v) // 10), 1) - 1]


def summary(samples_ms):
    return {
        "n": len(samples_ms),
        "median_ms": round(median(samples_ms), 3),
        "p90_ms": round(p90(samples_ms), 3),
        "min_ms": round(min(samples_ms), 3),
        "max_ms": round(max(samples_ms), 3),
    }


def busy_processes():
    """Other benchmarks and fuzzers running now (this script's own children excluded)."""
    out = subprocess.run(["pgrep", "-af", BUSY], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "bench_peers.py" not in line]


def cpu_busy_percent(seconds=1.0):
    """Share of all CPUs busy over `seconds` before the run (Linux /proc/stat), whoever uses them: a
    fuzzer started directly or a build shows here though pgrep does not name it. None elsewhere."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle
    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    dt = total1 - total0
    return round(100.0 * (dt - (idle1 - idle0)) / dt, 1) if dt > 0 else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("enclave")
    ap.add_argument("mock_enclave")
    ap.add_argument("--bench", help="the enclave-bench binary (default: beside ENCLAVE_BINARY)")
    ap.add_argument("--iterations", type=int, default=30, help="measured samples per method (default 30)")
    ap.add_argument("--batch", type=int, default=5, help="samples per method per round (default 5)")
    ap.add_argument("--input-bytes", type=int, default=1024)
    ap.add_argument("--relay-one-way-ms", type=int, default=5, help="the relay's one-way delay (default 5)")
    ap.add_argument("--relay-iterations", type=int, default=None,
                    help="samples per method through the relay (default: --iterations, at most 30)")
    ap.add_argument("--wait-quiet", type=float, default=0.0,
                    help=f"wait up to this many seconds for no '{BUSY}' process before starting")
    args = ap.parse_args()
    if args.iterations < 1 or args.batch < 1:
        raise SystemExit("--iterations and --batch must be at least 1")
    enclave = os.path.abspath(args.enclave)
    mock = os.path.abspath(args.mock_enclave)
    bench = os.path.abspath(args.bench or os.path.join(os.path.dirname(enclave), "enclave-bench"))

    # A CI timeout or Ctrl-C must still stop the server: turn SIGTERM into an exception so the
    # `finally` below runs (SIGINT already is one).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = tempfile.mkdtemp(prefix="bench-peers-")
    state = os.path.join(work, "state")
    info = json.loads(subprocess.run([mock, "measurements", "--state-dir", state, "--format", "json"],
                                     check=True, capture_output=True, text=True).stdout)
    pcrs = {k: [v] for k, v in info["pcrs"].items()}
    checksum = next(f["checksum"] for f in info["functions"] if f["id"] == FUNCTION)
    root_path = info["root"]["pem"]
    with open(root_path, "rb") as f:
        root_pem = f.read()
    # Deterministic, not all one byte value, and `echo` returns it unchanged.
    data = bytes((i * 131 + 7) % 256 for i in range(args.input_bytes))
    input_path = os.path.join(work, "input")
    with open(input_path, "wb") as f:
        f.write(data)

    waited = wait_quiet(args.wait_quiet)
    busy_before = busy_processes()
    cpu_before = cpu_busy_percent()
    load_before = os.getloadavg()

    try:
        with tls_mock.serving(mock, state, work) as port:
            anchor = os.environ["SSL_CERT_FILE"]
            # The address, not localhost: a resolver trying ::1 first for one client and not another
            # would skew the comparison.
            url = f"wss://127.0.0.1:{port}"
            # Every PCR the mock reports, as one allowed measurement set (one release).
            pins = ["--root", root_path, "--checksum", checksum,
                    "--pcrs", ",".join(f"{k}={v}" for k, v in info["pcrs"].items())]
            methods = Methods(enclave, bench, url, pins, anchor, input_path, data, root_pem, pcrs, checksum)
            samples = methods.run(args.iterations, args.batch)
            relay_iterations = args.relay_iterations or min(args.iterations, 30)
            relayed = relay_figures(methods, port, args.relay_one_way_ms, relay_iterations)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    report = {
        "what": "connect + attestation (root, 16 PCRs and checksum pinned) + one echo invocation + close, "
                "fresh connection per sample, one mock-enclave serve --tls on 127.0.0.1",
        "iterations": args.iterations,
        "batch": args.batch,
        "input_bytes": args.input_bytes,
        "methods": {name: summary(s) for name, s in samples.items()},
        "ratios": ratios(samples),
        "enclave_run_over_floor_ms": round(median(samples["enclave_run"]) - median(samples["process_floor"]), 3),
        "relay": relayed,
        "python_over_rust": python_over_rust(samples),
        "skipped": methods.skipped,
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "cpu_busy_after_pct": cpu_busy_percent(),
            "cpu_busy_before_pct": cpu_before,
            "quiet_before": not busy_before,
            "busy_before": busy_before[:5],
            "busy_after": busy_processes()[:5],
            "waited_for_quiet_s": round(waited, 1),
        },
        "versions": {
            "pycape": importlib.metadata.version("pycape"),
            "python": platform.python_version(),
            "enclave": subprocess.run([enclave, "--version"], capture_output=True, text=True).stdout.strip(),
        },
    }
    print(json.dumps(report))
    table(report)


@contextlib.contextmanager
def relaying(bench, upstream, one_way_ms):
    """Runs `enclave-bench relay` to `upstream`; yields its port."""
    proc = subprocess.Popen([bench, "relay", "--upstream", upstream, "--one-way-ms", str(one_way_ms)],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        if not line.startswith("relaying "):
            raise SystemExit(f"enclave-bench relay did not start: {line!r}")
        yield int(line.rsplit(":", 1)[1])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def byte_echo():
    """A 1-byte TCP echo server on 127.0.0.1 in a thread; returns its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=echo_conn, args=(conn,), daemon=True).start()

    def echo_conn(conn):
        with conn:
            while (b := conn.recv(1)):
                conn.sendall(b)

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def relay_figures(methods, port, one_way_ms, iterations):
    """Fresh calls through the relay as round trips (TCP's handshake counted as one)."""
    echo_port = byte_echo()
    with relaying(methods.bench, f"127.0.0.1:{port}", one_way_ms) as rport, \
            relaying(methods.bench, f"127.0.0.1:{echo_port}", one_way_ms) as eport:
        ping = socket.create_connection(("127.0.0.1", eport))
        ping.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def rtt_once():
            ping.sendall(b"x")
            if ping.recv(1) != b"x":
                raise SystemExit("the relay's echo answered something else")

        relayed = methods.relayed(f"wss://127.0.0.1:{rport}")
        relayed.pycape_once()
        rtt_once()
        samples = {"rtt": [], "pycape": [], "sdk_native": []}
        done = 0
        while done < iterations:
            k = min(5, iterations - done)
            samples["rtt"] += [Methods.timed(rtt_once) for _ in range(k)]
            samples["pycape"] += [Methods.timed(relayed.pycape_once) for _ in range(k)]
            samples["sdk_native"] += relayed.sdk("native", k)[0]
            done += k
        ping.close()
    rtt = median(samples["rtt"])
    return {
        "one_way_ms": one_way_ms,
        "iterations": iterations,
        "rtt_ms": round(rtt, 3),
        "pycape_fresh_call_ms": summary(samples["pycape"]),
        "sdk_native_fresh_call_ms": summary(samples["sdk_native"]),
        "pycape_fresh_call_rtts": round(median(samples["pycape"]) / rtt + 1, 2),
        "sdk_native_fresh_call_rtts": round(median(samples["sdk_native"]) / rtt + 1, 2),
    }


def wait_quiet(limit):
    start = time.monotonic()
    while busy_processes() and time.monotonic() - start < limit:
        time.sleep(5)
    return time.monotonic() - start


class Methods:
    def __init__(self, enclave, bench, url, pins, anchor, input_path, data, root_pem, pcrs, checksum):
        self.enclave = enclave
        self.bench = bench
        self.url = url
        self.pins = pins
        self.anchor = anchor
        self.input_path = input_path
        self.data = data
        self.root_pem = root_pem
        self.pcrs = pcrs
        self.checksum = checksum
        self.skipped = []

    def relayed(self, url):
        """The same methods against `url` (a relay in front of the same mock), pycape ready."""
        from pycape import Cape

        other = Methods(self.enclave, self.bench, url, self.pins, self.anchor, self.input_path, self.data,
                        self.root_pem, self.pcrs, self.checksum)
        other.cape = Cape(url=url)
        other.cape._root_cert = self.root_pem
        other.fref = other.cape.function(CAPE_FUNCTION, checksum=self.checksum)
        return other

    def run(self, iterations, batch):
        from pycape import Cape

        self.cape = Cape(url=self.url)
        # What pycape verifies the chain against (it would download AWS's root otherwise).
        self.cape._root_cert = self.root_pem
        self.fref = self.cape.function(CAPE_FUNCTION, checksum=self.checksum)
        # Warm-ups, not measured: pycape's imports and first connection, the binary in the page cache.
        self.pycape_once()
        self.enclave_run_once()

        names = ["pycape", "sdk_cape", "sdk_native", "enclave_run", "process_floor"]
        samples = {n: [] for n in ["pycape", "sdk_cape_warm", "sdk_cape_cold", "sdk_native_warm",
                                   "sdk_native_cold", "enclave_run", "process_floor"]}
        if self.python_setup():
            names += ["python_native", "python_cape"]
            samples.update({n: [] for n in ["python_native_warm", "python_native_cold", "python_cape"]})
        done = 0
        round_no = 0
        while done < iterations:
            k = min(batch, iterations - done)
            # Rotate the order so no method always runs right after the same other one.
            order = names[round_no % len(names):] + names[:round_no % len(names)]
            for name in order:
                if name == "pycape":
                    samples["pycape"] += [self.timed(self.pycape_once) for _ in range(k)]
                elif name in ("sdk_cape", "sdk_native"):
                    warm, cold = self.sdk(name.removeprefix("sdk_"), k)
                    samples[f"{name}_warm"] += warm
                    samples[f"{name}_cold"] += cold
                elif name == "enclave_run":
                    samples["enclave_run"] += [self.timed(self.enclave_run_once) for _ in range(k)]
                elif name == "python_native":
                    # Interleaved like enclave-bench peer's warm and cold samples.
                    for _ in range(k):
                        samples["python_native_warm"].append(self.timed(self.python_warm_once))
                        samples["python_native_cold"].append(self.timed(self.python_cold_once))
                elif name == "python_cape":
                    samples["python_cape"] += [self.timed(self.python_cape_once) for _ in range(k)]
                else:
                    samples["process_floor"] += [self.timed(self.version_once) for _ in range(k)]
            done += k
            round_no += 1
        return samples

    @staticmethod
    def timed(fn):
        t = time.perf_counter_ns()
        fn()
        return (time.perf_counter_ns() - t) / 1e6

    def pycape_once(self):
        out = self.cape.run(self.fref, "tok", self.data, pcrs=self.pcrs, use_serdio=False)
        if out != self.data:
            raise SystemExit(f"pycape: echo returned {len(out)} bytes that differ from the input")

    def python_setup(self):
        """Imports enclave_sdk and warms each Python method up once; False (and named in `skipped`)
        when the package is not installed in this interpreter."""
        try:
            import enclave_sdk
            from enclave_sdk import cape as sdk_cape
        except ImportError:
            self.skipped += ["python_native", "python_cape"]
            return False
        self.es = enclave_sdk
        with open(self.anchor) as f:
            self.tls_anchor = f.read()
        self.py_client = self.python_client()
        self.py_cape = sdk_cape.Cape(url=self.url, root_pem=self.root_pem)
        self.py_fref = self.py_cape.function(CAPE_FUNCTION, checksum=self.checksum)
        self.python_warm_once()
        self.python_cold_once()
        self.python_cape_once()
        return True

    def python_client(self):
        es = self.es
        policy = es.Policy(measurements=[{int(k): v[0] for k, v in self.pcrs.items()}],
                           root_pem=self.root_pem.decode(), function_checksums={FUNCTION: self.checksum})
        return es.Client(self.url, policy, tls_root=self.tls_anchor)

    def python_invoke(self, client):
        with client.connect(FUNCTION) as session:
            out = session.invoke(self.data)
        if out != self.data:
            raise SystemExit(f"enclave_sdk: echo returned {len(out)} bytes that differ from the input")

    def python_warm_once(self):
        self.python_invoke(self.py_client)

    def python_cold_once(self):
        self.python_invoke(self.python_client())

    def python_cape_once(self):
        out = self.py_cape.run(self.py_fref, "tok", self.data, pcrs=self.pcrs)
        if out != self.data:
            raise SystemExit(f"enclave_sdk.cape: echo returned {len(out)} bytes that differ from the input")

    def enclave_run_once(self):
        out = subprocess.run([self.enclave, "run", FUNCTION, "--url", self.url, *self.pins, "--input", self.input_path],
                             capture_output=True, env=self.cli_env())
        if out.returncode != 0 or out.stdout != self.data:
            raise SystemExit(f"enclave run failed ({out.returncode}): {out.stderr.decode(errors='replace')}")

    def version_once(self):
        subprocess.run([self.enclave, "--version"], check=True, capture_output=True)

    def sdk(self, mode, k):
        function = CAPE_FUNCTION if mode == "cape" else FUNCTION
        out = subprocess.run([self.bench, "peer", "--url", self.url, *self.pins, "--tls-root", self.anchor,
                              "--function", function, "--input", self.input_path, "--expect", self.input_path,
                              "--iterations", str(k), "--mode", mode, "--cold", "--format", "json"],
                             capture_output=True, text=True, env=self.cli_env())
        if out.returncode != 0:
            raise SystemExit(f"enclave-bench peer --mode {mode} failed ({out.returncode}): {out.stderr}")
        r = json.loads(out.stdout)
        return [us / 1000 for us in r["warm_samples_us"]], [us / 1000 for us in r["cold_samples_us"]]

    @staticmethod
    def cli_env():
        # Pins come only from the flags.
        return {k: v for k, v in os.environ.items() if k not in ("ENCLAVE_URL", "ENCLAVE_POLICY", "ENCLAVE_TOKEN")}


def ratios(samples):
    """pycape / method, of medians and of p90s: above 1 means the method is faster than pycape."""
    py = samples["pycape"]
    out = {}
    for name, s in samples.items():
        if name in ("pycape", "process_floor"):
            continue
        out[f"pycape_over_{name}"] = {
            "median": round(median(py) / median(s), 2),
            "p90": round(p90(py) / p90(s), 2),
        }
    return out


def python_over_rust(samples):
    """Each Python method / its Rust counterpart, of medians and of p90s: 1.0 means no cost for
    crossing into Python."""
    pairs = {"python_native_warm": "sdk_native_warm", "python_native_cold": "sdk_native_cold",
             "python_cape": "sdk_cape_cold"}
    return {f"{py}_over_{rust}": {"median": round(median(samples[py]) / median(samples[rust]), 2),
                                  "p90": round(p90(samples[py]) / p90(samples[rust]), 2)}
            for py, rust in pairs.items() if samples.get(py)}


def table(report):
    m = report["methods"]
    lines = [f"bench_peers: {report['iterations']} samples per method, batches of {report['batch']}, "
             f"{report['input_bytes']}-byte echo; load {report['machine']['loadavg_before']} -> "
             f"{report['machine']['loadavg_after']}, CPU busy before/after: {report['machine']['cpu_busy_before_pct']}%/"
             f"{report['machine']['cpu_busy_after_pct']}%, "
             f"no other benchmark before: {report['machine']['quiet_before']}",
             f"{'method':<17} {'median ms':>10} {'p90 ms':>10}   pycape / method (median, p90)"]
    for name, s in m.items():
        r = report["ratios"].get(f"pycape_over_{name}")
        ratio = f"{r['median']:.2f}x, {r['p90']:.2f}x" if r else ""
        lines.append(f"{name:<17} {s['median_ms']:>10.3f} {s['p90_ms']:>10.3f}   {ratio}")
    lines.append(f"enclave_run over process_floor: {report['enclave_run_over_floor_ms']:.3f} ms (median minus median)")
    r = report["relay"]
    lines.append(f"through a relay adding {r['one_way_ms']} ms each way (RTT {r['rtt_ms']:.3f} ms), fresh call in RTTs "
                 f"(TCP's handshake counted): pycape {r['pycape_fresh_call_rtts']:.2f}, "
                 f"sdk_native {r['sdk_native_fresh_call_rtts']:.2f}")
    for name, r in report["python_over_rust"].items():
        lines.append(f"{name}: {r['median']:.2f}x median, {r['p90']:.2f}x p90")
    print("\n".join(lines), file=sys.stderr)


if __name__ == "__main__":
    main()
