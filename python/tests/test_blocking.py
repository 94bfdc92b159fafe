"""Blocking calls release the GIL while they wait, and let Ctrl-C through."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time


def test_other_threads_run_during_a_blocking_invoke(client):
    counted = 0
    stop = threading.Event()

    def count():
        nonlocal counted
        while not stop.is_set():
            counted += 1

    with client.connect("sleep-ms") as session:
        worker = threading.Thread(target=count)
        worker.start()
        time.sleep(0.05)
        before = counted
        assert session.invoke(b"300") == b""
        during = counted - before
        stop.set()
        worker.join()
    # Had the call held the GIL, the counter could not move at all while it waited; released, it
    # counts millions of times in 300 ms on an idle core (the bound leaves room for a loaded one).
    assert during > 10_000


def test_ctrl_c_interrupts_a_blocking_invoke(mock):
    program = textwrap.dedent(f"""
        import sys, time
        import enclave_sdk as es
        policy = es.Policy(measurements=[{mock.pcrs!r}], root_pem={mock.root_pem!r})
        session = es.Client({mock.url!r}, policy).connect("sleep-ms")
        print("ready", flush=True)
        start = time.monotonic()
        try:
            session.invoke(b"20000")
        except KeyboardInterrupt:
            print(f"interrupted after {{time.monotonic() - start:.1f}} s", flush=True)
            sys.exit(7)
    """)
    child = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    os.kill(child.pid, signal.SIGINT)
    out, _ = child.communicate(timeout=10)
    assert child.returncode == 7
    seconds = float(out.split()[2])
    assert seconds < 2.0
