"""The package against a running `mock-enclave serve`: invocations, streaming, and every refusal with
its exact exception, raised before any input reached the enclave."""

import hashlib
import io

import pytest


def test_several_functions_on_one_session_each(client):
    cases = {
        "echo": [(b"one", b"one"), (b"", b""), (b"\x00\xff", b"\x00\xff")],
        "uppercase": [(b"hello world", b"HELLO WORLD")],
        "sha256": [(b"abc", hashlib.sha256(b"abc").hexdigest().encode())],
        "word-count": [(b"a b  c", b"3")],
    }
    for function, pairs in cases.items():
        with client.connect(function) as session:
            assert session.function_id == function
            for given, want in pairs:
                assert session.invoke(given) == want
            assert session.invocations == len(pairs)
        assert session.closed


def test_the_session_exposes_the_document_that_verified(client, mock):
    with client.connect("echo") as session:
        doc = session.attestation
        assert {i: v.hex() for i, v in doc.pcrs.items() if i in mock.pcrs} == mock.pcrs
        assert doc.digest == "SHA384"
        assert len(doc.nonce) == 32 and len(doc.public_key) == 32
        assert doc.claimed_checksum == mock.checksums["echo"]


def test_bytearray_and_memoryview_inputs(client):
    with client.connect("echo") as session:
        assert session.invoke(bytearray(b"abc")) == b"abc"


def test_function_error_keeps_the_session(es, client):
    with client.connect("fail") as session:
        with pytest.raises(es.FunctionError) as info:
            session.invoke(b"x")
        assert info.value.function_id == "fail"
        assert info.value.message == "function fail failed: the fail function always fails"
        assert info.value.kind == "function"
        # Not in the message: a function may echo its input.
        assert "always fails" not in str(info.value)
        with pytest.raises(es.FunctionError):
            session.invoke(b"y")


def test_invoke_after_close_is_a_session_error(es, client):
    session = client.connect("echo")
    session.close()
    with pytest.raises(es.SessionError) as info:
        session.invoke(b"late")
    assert info.value.kind == "closed"
    session.close()  # a second close is harmless


def test_streamed_16_mib_input(client):
    data = bytes((i * 131 + 7) % 256 for i in range(256)) * (16 * 4096)
    assert len(data) == 16 << 20
    seen = []
    with client.connect("sha256") as session:
        sink = io.BytesIO()
        written = session.invoke_stream(io.BytesIO(data), sink, lambda sent, received: seen.append(sent))
    assert sink.getvalue() == hashlib.sha256(data).hexdigest().encode()
    assert written == 64
    assert seen and seen[-1] == len(data)
    with client.connect("echo") as session:
        sink = io.BytesIO()
        assert session.invoke_stream(io.BytesIO(data), sink) == len(data)
    assert sink.getvalue() == data


def test_a_failing_source_raises_its_own_exception(client):
    class Broken(io.RawIOBase):
        def read(self, n=-1):
            raise OSError("disk on fire")

    with client.connect("echo") as session:
        with pytest.raises(OSError, match="disk on fire"):
            session.invoke_stream(Broken(), io.BytesIO())


def test_wrong_pcr_is_refused(es, mock):
    pcrs = dict(mock.pcrs)
    pcrs[0] = "00" * 47 + "01"
    client = es.Client(mock.url, es.Policy(measurements=[pcrs], root_pem=mock.root_pem))
    with pytest.raises(es.AttestationError) as info:
        client.connect("echo")
    e = info.value
    assert (e.check, e.kind, e.index, e.found, e.expected) == ("pcr_not_allowed", "pcr_not_allowed", 0,
                                                               mock.pcrs[0], pcrs[0])
    assert e.values == {"index": 0, "found": mock.pcrs[0], "expected": pcrs[0]}
    assert str(e) == f"attestation refused: PCR0 is {mock.pcrs[0]}; the policy allows {pcrs[0]}"


def test_two_releases_are_never_mixed(es, mock):
    other = {i: "11" * 48 for i in mock.pcrs}
    mixed_a = {**mock.pcrs, 2: other[2]}
    client = es.Client(mock.url, es.Policy(measurements=[mixed_a, other], root_pem=mock.root_pem))
    with pytest.raises(es.AttestationError) as info:
        client.connect("echo")
    assert info.value.check == "measurements_not_allowed"
    assert len(info.value.mismatches) == 2


def test_wrong_checksum_is_refused(es, mock):
    policy = es.Policy(measurements=[mock.pcrs], root_pem=mock.root_pem,
                       function_checksums={"echo": mock.checksums["uppercase"]})
    with pytest.raises(es.AttestationError) as info:
        es.Client(mock.url, policy).connect("echo")
    e = info.value
    assert (e.check, e.expected, e.found) == ("checksum_mismatch", mock.checksums["uppercase"], mock.checksums["echo"])


def test_a_function_the_policy_pins_no_checksum_for_is_refused(es, mock):
    policy = es.Policy(measurements=[mock.pcrs], root_pem=mock.root_pem,
                       function_checksums={"uppercase": mock.checksums["uppercase"]})
    with pytest.raises(es.AttestationError) as info:
        es.Client(mock.url, policy).connect("echo")
    assert (info.value.check, info.value.function_id) == ("no_checksum_for_function", "echo")


def test_another_root_is_refused(es, mock):
    # The default root is AWS Nitro Enclaves Root-G1: the mock's chain does not lead there.
    client = es.Client(mock.url, es.Policy(measurements=[mock.pcrs]))
    with pytest.raises(es.AttestationError) as info:
        client.connect("echo")
    assert info.value.check == "chain"
    assert info.value.detail == "unknown_root"


def test_debug_enclave_is_refused(es, mock, debug_mock):
    # The debug mock has the same root; pinning the real image's PCRs cannot let its zeros through.
    client = es.Client(debug_mock.url, es.Policy(measurements=[mock.pcrs], root_pem=debug_mock.root_pem))
    with pytest.raises(es.AttestationError) as info:
        client.connect("echo")
    assert info.value.check == "debug_mode"
    # Only with both waivers, said by name.
    loose = es.Policy(root_pem=debug_mock.root_pem, accept_any_enclave=True, allow_debug=True)
    with es.Client(debug_mock.url, loose).connect("echo") as session:
        assert session.invoke(b"hi") == b"hi"


def test_nothing_pinned_is_refused_when_the_policy_is_built(es, mock):
    with pytest.raises(es.PolicyError) as info:
        es.Policy(root_pem=mock.root_pem)
    assert (info.value.kind, info.value.set, info.value.checksum_pinned) == ("image_not_pinned", None, False)
    with pytest.raises(es.PolicyError) as info:
        es.Policy(root_pem=mock.root_pem, function_checksums={"echo": mock.checksums["echo"]})
    assert (info.value.kind, info.value.checksum_pinned) == ("image_not_pinned", True)
    assert "pins only a function checksum" in str(info.value)
    # PCR1, PCR3, PCR4 do not identify the image; an all-zero PCR8 is every unsigned image's.
    with pytest.raises(es.PolicyError) as info:
        es.Policy(measurements=[{1: mock.pcrs[1], 3: mock.pcrs[3]}], root_pem=mock.root_pem)
    assert (info.value.set, info.value.pins, info.value.zeroed) == (1, [1, 3], [])
    with pytest.raises(es.PolicyError) as info:
        es.Policy(measurements=[{8: "00" * 48}])
    assert (info.value.set, info.value.zeroed) == (1, [8])
    assert isinstance(info.value, es.ConfigError) and isinstance(info.value, es.EnclaveError)


def test_pins_that_do_not_parse(es):
    with pytest.raises(es.PolicyError) as info:
        es.Policy(measurements=["0=abc"])
    assert str(info.value).startswith("measurements[0]: ")
    with pytest.raises(es.PolicyError):
        es.Policy(measurements=[{0: "zz" * 48}])
    with pytest.raises(es.PolicyError):
        es.Policy(measurements=[{99: "ab" * 48}])
    with pytest.raises(es.PolicyError):
        es.Policy(measurements=[{0: "ab" * 48}], function_checksum="12")
    with pytest.raises(TypeError):
        es.Policy(measurements=[42])


def test_policy_file_from_the_mock(es, mock, tmp_path):
    policy = es.Policy.from_file(mock.policy_file(tmp_path))
    assert len(policy.measurement_sets) == 1
    assert policy.function_checksums["echo"] == mock.checksums["echo"]
    with es.Client(mock.url, policy).connect("uppercase") as session:
        assert session.invoke(b"abc") == b"ABC"


def test_policy_file_errors_name_the_line(es, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("max_document_age = 5\n")
    with pytest.raises(es.PolicyError) as info:
        es.Policy.from_file(bad)
    assert (info.value.kind, info.value.line) == ("invalid", 1)
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    with pytest.raises(es.PolicyError) as info:
        es.Policy.from_file(empty)
    assert info.value.kind == "image_not_pinned"
    with pytest.raises(es.PolicyError) as info:
        es.Policy.from_file(tmp_path / "missing.toml")
    assert info.value.kind == "read"


def test_connect_and_invoke_reads_the_environment(es, mock, tmp_path, monkeypatch):
    for name in ("ENCLAVE_POLICY", "ENCLAVE_PCRS", "ENCLAVE_ROOT_PEM", "ENCLAVE_FUNCTION_CHECKSUM", "ENCLAVE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENCLAVE_URL", mock.url)
    monkeypatch.setenv("ENCLAVE_FUNCTION_CHECKSUM", mock.checksums["uppercase"])
    with pytest.raises(es.PolicyError) as info:
        es.connect_and_invoke("uppercase", b"abc")
    assert info.value.kind == "image_not_pinned"
    monkeypatch.setenv("ENCLAVE_PCRS", ",".join(f"{i}={v}" for i, v in mock.pcrs.items()))
    monkeypatch.setenv("ENCLAVE_ROOT_PEM", mock.root_path)
    assert es.connect_and_invoke("uppercase", b"abc") == b"ABC"
    assert len(es.Policy.from_env().measurement_sets) == 1
    monkeypatch.setenv("ENCLAVE_POLICY", str(mock.policy_file(tmp_path)))
    with pytest.raises(es.ConfigError) as info:
        es.Client.from_env()
    assert info.value.kind == "env_conflict"


def test_configuration_errors(es, policy):
    with pytest.raises(es.ConfigError) as info:
        es.Client("ws://enclave.example:8443", policy)
    assert info.value.kind == "plaintext_transport"
    with pytest.raises(es.ConfigError) as info:
        es.Client("http://127.0.0.1:1", policy)
    assert info.value.kind == "endpoint"
    with pytest.raises(es.ConfigError) as info:
        es.Client("ws://127.0.0.1:1", policy, token="line\nbreak")
    assert info.value.kind == "token"
    client = es.Client("ws://127.0.0.1:1", policy)
    with pytest.raises(es.ConfigError) as info:
        client.connect("not a function id!")
    assert info.value.kind == "function_id"


def test_nothing_listening_is_a_connect_error(es, policy):
    with pytest.raises(es.ConnectError) as info:
        es.Client("ws://127.0.0.1:1", policy).connect("echo")
    assert info.value.kind == "io"


def test_unknown_function_is_http_404(es, client):
    with pytest.raises(es.ConnectError) as info:
        client.connect("no-such-function")
    assert (info.value.kind, info.value.status) == ("http", 404)


def test_fetch_attestation_sends_no_input(client, mock):
    doc = client.fetch_attestation("echo")
    assert doc.pcrs[0].hex() == mock.pcrs[0]
