"""wss:// against `mock-enclave serve --tls`: the TLS key must be the one the document binds; Cape mode,
whose documents bind none, needs a CA for the certificate."""

import ssl

import pytest

from enclave_sdk.cape import Cape


def test_native_session_over_attested_tls(es, tls_mock):
    assert tls_mock.url.startswith("wss://")
    policy = es.Policy(measurements=[tls_mock.pcrs], root_pem=tls_mock.root_pem)
    # No CA: the self-signed certificate is accepted only because the verified document binds its key.
    with es.Client(tls_mock.url, policy).connect("echo") as session:
        assert session.invoke(b"over tls") == b"over tls"
    # With WebPKI validation on top, against the certificate itself as the anchor.
    with es.Client(tls_mock.url, policy, tls_root=tls_mock.tls_cert_der).connect("echo") as session:
        assert session.invoke(b"and webpki") == b"and webpki"


def test_a_tls_anchor_that_is_not_the_servers_is_refused(es, tls_mock, mock):
    policy = es.Policy(measurements=[tls_mock.pcrs], root_pem=tls_mock.root_pem)
    with pytest.raises(es.ConnectError) as info:
        es.Client(tls_mock.url, policy, tls_root=mock.root_pem).connect("echo")
    assert info.value.kind == "tls"


def test_cape_over_wss_needs_a_ca(es, tls_mock, tmp_path, monkeypatch):
    pcrs = {str(i): [v] for i, v in tls_mock.pcrs.items()}
    empty = tmp_path / "no-cas.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    cape = Cape(url=tls_mock.url.replace("wss://", "https://"), root_pem=tls_mock.root_pem)
    with pytest.raises(es.ConfigError) as info:
        cape.connect(cape.function("alice/echo"), "tok", pcrs=pcrs)
    assert info.value.kind == "cape_needs_web_pki"
    # As pycape is run against this mock: its certificate made the trust anchor through SSL_CERT_FILE.
    anchor = tmp_path / "mock-tls.pem"
    anchor.write_text(ssl.DER_cert_to_PEM_cert(tls_mock.tls_cert_der))
    monkeypatch.setenv("SSL_CERT_FILE", str(anchor))
    cape = Cape(url=tls_mock.url, root_pem=tls_mock.root_pem)
    assert cape.run(cape.function("alice/echo", checksum=tls_mock.checksums["echo"]), "tok", b"cape tls",
                    pcrs=pcrs) == b"cape tls"
