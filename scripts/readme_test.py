#!/usr/bin/env python3
"""Runs README.md's shell blocks as written, top to bottom, in one bash, against built binaries.

Usage: scripts/readme_test.py [--keep]    (from anywhere; CI runs it after `cargo build --workspace`)

Every block fenced as ```sh runs, in order, as if typed into one shell (`set -euo pipefail`, so any
failing line fails the test; lines that show a refusal say `|| echo "exit $?"` themselves). Blocks
fenced ```sh skip are not run: release builds, pip installs, Docker, nitro-cli and AWS calls (CI runs the
benchmark and Python steps itself). The working directory is a fresh temporary directory holding symlinks to the
repository's `sdk` and `eif` (for their testdata), so `demo/` and the mock's state never land in the
checkout. Four substitutions, and no others, keep the run lean and parallel-safe:

  * port 8443 becomes a free port picked now;
  * `cargo build --release` becomes `cargo build` and `target/release` the repository's `target/debug`
    (the binaries CI already built);
  * `cargo run`/`cargo build` get `--manifest-path` to the repository (the directory is elsewhere);
  * `cargo test --workspace` is skipped (CI's own step runs it).

Background jobs the blocks start (the mock enclave) are stopped when the run ends, passing or failing.
"""
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def blocks(markdown):
    """The ```sh blocks, in order, each with the line its fence is on."""
    out, inside, run, lines, start = [], False, False, [], 0
    for number, line in enumerate(markdown.splitlines(), 1):
        if line.startswith("```"):
            if not inside:
                inside, run, lines, start = True, line[3:].strip() == "sh", [], number
            else:
                if run:
                    out.append((start, "\n".join(lines)))
                inside = False
        elif inside and run:
            lines.append(line)
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def substitute(text, port):
    manifest = shlex.quote(os.path.join(REPO, "Cargo.toml"))
    text = re.sub(r"^cargo test --workspace.*$", ": cargo test --workspace runs in its own CI step", text, flags=re.M)
    text = text.replace("cargo build --release", "cargo build")
    text = text.replace("$PWD/target/release", shlex.quote(os.path.join(REPO, "target", "debug")))
    text = re.sub(r"\bcargo (run|build)\b", lambda m: f"cargo {m.group(1)} --manifest-path {manifest}", text)
    return text.replace("8443", str(port))


def main():
    keep = "--keep" in sys.argv[1:]
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        found = blocks(f.read())
    if not found:
        sys.exit("README.md has no ```sh blocks")
    port = free_port()
    script = ["set -euo pipefail", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"]
    for start, text in found:
        script.append(f"echo '--- README.md line {start}' >&2")
        script.append(substitute(text, port))
    work = tempfile.mkdtemp(prefix="readme-test-")
    for name in ("sdk", "eif"):
        os.symlink(os.path.join(REPO, name), os.path.join(work, name))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    try:
        result = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, env=env, timeout=600)
    finally:
        if keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", work], check=False)
    if result.returncode != 0:
        sys.exit(f"README.md's shell blocks failed (exit {result.returncode}); the last '--- README.md line N' names the block")
    print(f"README.md: {len(found)} shell blocks ran as written", file=sys.stderr)


if __name__ == "__main__":
    main()
