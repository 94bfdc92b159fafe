"""`enclave_sdk.cape`: pycape's interface, this SDK's verification, against the mock's Cape mode."""

import asyncio
import os
import pathlib
import subprocess
import sys

import pytest

from enclave_sdk.cape import Cape, FunctionRef, Token

EXAMPLE = pathlib.Path(__file__).parent / "examples" / "echo_example.py"


def pycape_pcrs(mock):
    """pycape's form: index text -> list of allowed values."""
    return {str(i): [v] for i, v in mock.pcrs.items()}


def cape_for(mock):
    return Cape(url=mock.url, root_pem=mock.root_pem)


def test_connect_invoke_close_with_pycape_arguments(mock):
    cape = cape_for(mock)
    f = cape.function("alice/uppercase", checksum=mock.checksums["uppercase"])
    cape.connect(f, "tok", pcrs=pycape_pcrs(mock))
    try:
        assert cape.invoke(b"abc") == b"ABC"
        assert cape.invoke(b"hello world") == b"HELLO WORLD"
    finally:
        cape.close()
    cape.close()


def test_run_and_function_context(mock):
    cape = cape_for(mock)
    f = cape.function("alice/echo", checksum=mock.checksums["echo"])
    assert cape.run(f, Token("tok"), b"once", pcrs=pycape_pcrs(mock)) == b"once"
    with cape.function_context(f, "tok", pycape_pcrs(mock)):
        assert cape.invoke(b"twice") == b"twice"


def test_awaitable_inside_an_event_loop(mock):
    cape = cape_for(mock)
    f = cape.function("alice/echo", checksum=mock.checksums["echo"])

    async def main():
        out = await cape.run(f, "tok", b"async", pcrs=pycape_pcrs(mock))
        async with cape.function_context(f, "tok", pycape_pcrs(mock)):
            again = await cape.invoke(b"again")
        return out, again

    assert asyncio.run(main()) == (b"async", b"again")


def test_function_error(es, mock):
    cape = cape_for(mock)
    f = cape.function("alice/fail", checksum=mock.checksums["fail"])
    with cape.function_context(f, "tok", pycape_pcrs(mock)):
        with pytest.raises(es.FunctionError) as info:
            cape.invoke(b"x")
    assert info.value.message == "function fail failed: the fail function always fails"


def test_wrong_pcr(es, mock):
    pcrs = pycape_pcrs(mock)
    pcrs["0"] = ["00" * 47 + "01"]
    cape = cape_for(mock)
    with pytest.raises(es.AttestationError) as info:
        cape.connect(cape.function("alice/echo", checksum=mock.checksums["echo"]), "tok", pcrs=pcrs)
    assert (info.value.check, info.value.index) == ("pcr_not_allowed", 0)


def test_wrong_checksum(es, mock):
    cape = cape_for(mock)
    with pytest.raises(es.AttestationError) as info:
        cape.connect(cape.function("alice/echo", checksum=mock.checksums["uppercase"]), "tok", pcrs=pycape_pcrs(mock))
    assert (info.value.check, info.value.found) == ("checksum_mismatch", mock.checksums["echo"])


def test_another_root(es, mock):
    cape = Cape(url=mock.url)  # AWS Root-G1, the default
    with pytest.raises(es.AttestationError) as info:
        cape.connect(cape.function("alice/echo"), "tok", pcrs=pycape_pcrs(mock))
    assert info.value.check == "chain"


def test_debug_enclave(es, mock, debug_mock):
    cape = Cape(url=debug_mock.url, root_pem=debug_mock.root_pem)
    with pytest.raises(es.AttestationError) as info:
        cape.connect(cape.function("alice/echo"), "tok", pcrs=pycape_pcrs(mock))
    assert info.value.check == "debug_mode"


def test_what_pycape_allowed_and_this_refuses(es, mock, monkeypatch):
    for name in ("ENCLAVE_POLICY", "ENCLAVE_PCRS"):
        monkeypatch.delenv(name, raising=False)
    cape = cape_for(mock)
    f = cape.function("alice/echo", checksum=mock.checksums["echo"])
    # No pcrs: pycape connected to any enclave.
    with pytest.raises(es.PolicyError) as info:
        cape.connect(f, "tok")
    assert info.value.kind == "image_not_pinned"
    assert "pycape connected to any enclave" in str(info.value)
    # PCRs that do not identify the image (and the checksum beside them does not help).
    with pytest.raises(es.PolicyError) as info:
        cape.connect(f, "tok", pcrs={"1": [mock.pcrs[1]], "3": [mock.pcrs[3]]})
    assert (info.value.kind, info.value.pins) == ("image_not_pinned", [1, 3])
    # Two values for one PCR: pycape accepted either with either of the others.
    pcrs = pycape_pcrs(mock)
    pcrs["2"] = [mock.pcrs[2], "11" * 48]
    with pytest.raises(es.PolicyError) as info:
        cape.connect(f, "tok", pcrs=pcrs)
    assert info.value.kind == "per_index_allow_list"


def test_a_policy_object_or_the_environment_supplies_the_pins(es, mock, tmp_path, monkeypatch):
    policy = es.Policy(measurements=[mock.pcrs], root_pem=mock.root_pem, function_checksums=mock.checksums)
    cape = Cape(url=mock.url, policy=policy)
    assert cape.run(cape.function("alice/echo"), "tok", b"pinned") == b"pinned"
    # A FunctionRef checksum that the policy does not carry is refused, not dropped.
    with pytest.raises(es.PolicyError) as info:
        cape.run(cape.function("alice/echo", checksum="00" * 32), "tok", b"x")
    assert info.value.kind == "checksum_conflict"
    monkeypatch.setenv("ENCLAVE_POLICY", str(mock.policy_file(tmp_path)))
    cape = Cape(url=mock.url)
    assert cape.run(cape.function("alice/echo", checksum=mock.checksums["echo"]), "tok", b"env") == b"env"


def test_function_ref_and_token_as_pycape_has_them(tmp_path):
    ref = FunctionRef(name="alice/echo", checksum="ab" * 32)
    assert (ref.user, ref.name, ref.full_name, ref.id) == ("alice", "echo", "alice/echo", None)
    path = tmp_path / "f.json"
    ref.to_json(path)
    back = Cape(url="ws://127.0.0.1:1").function(str(path))
    assert (back.full_name, back.checksum) == ("alice/echo", "ab" * 32)
    with pytest.raises(ValueError):
        FunctionRef()
    with pytest.raises(ValueError):
        FunctionRef(name="no-slash")
    tok = tmp_path / "t"
    Token("secret").to_disk(tok)
    assert Cape(url="ws://127.0.0.1:1").token(tok).raw == "secret"
    assert "secret" not in repr(Token("secret"))


def run_example(mock, tmp_path, policy_path):
    token = tmp_path / "user.token"
    token.write_text("tok")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    env.update(CAPE_ENCLAVE_HOST=mock.url, TOKEN_FILE=str(token))
    if policy_path is not None:
        env["ENCLAVE_POLICY"] = str(policy_path)
    return subprocess.run([sys.executable, str(EXAMPLE)], env=env, capture_output=True, text=True, timeout=60)


def test_the_pycape_example_runs_with_only_its_import_changed(mock, tmp_path):
    source = EXAMPLE.read_text()
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert imports == ["import os", "import pathlib", "from enclave_sdk.cape import Cape  # with pycape: from pycape import Cape"]
    done = run_example(mock, tmp_path, mock.policy_file(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "The result is: Welcome to Cape",
        "The result is: Hello Cape",
        "The result is: Hello again",
        "The result is: In a context",
    ]


def test_the_pycape_example_without_pins_fails_by_name(mock, tmp_path):
    done = run_example(mock, tmp_path, None)
    assert done.returncode == 1
    assert "enclave_sdk.PolicyError: no PCR is pinned" in done.stderr
    assert done.stdout == ""
