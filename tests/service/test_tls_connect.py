"""HTTPS for phones (``konstrukt serve --tls-self-signed`` / ``--tls-cert --tls-key``) and
``GET /api/connect`` (the LAN addresses as QR codes): a phone's motion sensors need a secure page."""
from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from argparse import Namespace

import pytest
from service_helpers import Api

from konstrukt.errors import ConfigError
from konstrukt.service import tls
from konstrukt.service.routes.connect import qr_svg


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_speaks_https_with_a_generated_certificate(tmp_path):
    data, port = tmp_path / "data", _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "konstrukt", "serve", "--port", str(port), "--data-dir",
                             str(data), "--tls-self-signed"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "KONSTRUKT_OFFLINE": "1"})
    try:
        cert = data / "tls" / "cert.pem"
        ctx = ssl.create_default_context(cafile=None)
        deadline, body = time.monotonic() + 90, None
        while body is None:
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the server did not answer over https"
            try:
                if cert.exists():
                    ctx = ssl.create_default_context(cafile=str(cert))  # verified: the cert names 127.0.0.1
                    with urllib.request.urlopen(f"https://127.0.0.1:{port}/login", context=ctx, timeout=5) as r:
                        body = r.read().decode()
            except (OSError, ssl.SSLError):
                time.sleep(0.3)
        assert "konstrukt" in body
        assert (data / "tls" / "key.pem").stat().st_mode & 0o777 == 0o600
        with pytest.raises(urllib.error.URLError):  # an unknown self-signed cert is refused without it
            urllib.request.urlopen(f"https://127.0.0.1:{port}/login", context=ssl.create_default_context(), timeout=5)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert f"https://127.0.0.1:{port}/" in out and "Advanced" in out  # the browser warning, explained


def test_self_signed_certificate_is_kept_and_renewed_for_new_addresses(tmp_path):
    first = tls.self_signed(tmp_path, ["localhost", "127.0.0.1", "192.168.1.20"])
    cert, key = first.cert.read_bytes(), first.key.read_bytes()
    again = tls.self_signed(tmp_path, ["localhost", "192.168.1.20"])  # a restart: the same pair
    assert again.cert.read_bytes() == cert and again.key.read_bytes() == key
    moved = tls.self_signed(tmp_path, ["localhost", "10.0.0.5"])  # the laptop joined another network
    assert moved.cert.read_bytes() != cert and moved.key.read_bytes() == key
    from cryptography import x509

    san = x509.load_pem_x509_certificate(moved.cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert moved.key.stat().st_mode & 0o777 == 0o600


def test_tls_flags_are_checked(tmp_path):
    from konstrukt.cli.tls import tls_options

    flags = lambda **kw: Namespace(**{"tls_cert": None, "tls_key": None, "tls_self_signed": False, **kw})  # noqa: E731
    assert tls_options(flags()) is None
    assert tls_options(flags(tls_self_signed=True)) == {"self_signed": True}
    with pytest.raises(ConfigError, match="go together"):
        tls_options(flags(tls_cert="c.pem"))
    with pytest.raises(ConfigError, match="cannot be combined"):
        tls_options(flags(tls_cert="c.pem", tls_key="k.pem", tls_self_signed=True))
    made = tls.self_signed(tmp_path / "a", ["localhost"])
    other = tls.self_signed(tmp_path / "b", ["localhost"])
    assert tls.user_files(made.cert, made.key).cert == made.cert
    with pytest.raises(ConfigError, match="not a PEM certificate and its private key") as err:
        tls.user_files(made.cert, other.key)  # a key of another certificate
    assert str(tmp_path) not in str(err.value)
    with pytest.raises(ConfigError, match="--tls-key: missing.pem is not a file"):
        tls.user_files(made.cert, tmp_path / "missing.pem")


def test_connect_gives_the_lan_address_as_a_qr_code(app, client, monkeypatch):
    assert client.get("/api/connect").status_code == 401
    Api(client, "pat@example.com")
    monkeypatch.setattr(tls, "lan_addresses", lambda: ["192.168.1.20"])
    app.state.listen = ("0.0.0.0", 8443)
    r = client.get("/api/connect", params={"path": "/projects/3"})
    assert r.status_code == 200, r.text
    body = r.json()
    url = "http://192.168.1.20:8443/projects/3"
    assert [a["url"] for a in body["addresses"]] == [url] and not body["secure"]
    svg = body["addresses"][0]["qr_svg"]
    assert svg.startswith("<svg") and svg == qr_svg(url)  # the code of exactly this URL (the browser test decodes it)
    assert "--tls-self-signed" in body["note"]  # plain http: says how to get a secure page
    for bad in ("/etc/passwd", "//evil.example/x", "/projects/1/../../x", "/projects/abc"):
        assert client.get("/api/connect", params={"path": bad}).status_code == 422, bad

    app.state.listen = ("127.0.0.1", 8000)  # loopback only: a phone cannot reach it, and is told why
    body = client.get("/api/connect").json()
    assert body["addresses"] == [] and "--host 0.0.0.0" in body["note"]

    app.state.listen, app.state.tls_self_signed = ("0.0.0.0", 8443), True
    secure = Api(type(client)(app, base_url="https://testserver"), "sam@example.com")
    body = secure.get("/api/connect").json()
    assert body["secure"] and body["addresses"][0]["url"] == "https://192.168.1.20:8443/"
    assert body["note"] == tls.BROWSER_WARNING
