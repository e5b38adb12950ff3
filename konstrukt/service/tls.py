"""HTTPS for ``konstrukt serve``: a phone's motion sensors work only on a secure page.

A browser gives a page its sensors (``DeviceMotionEvent``, the Generic Sensor API) only in a
*secure context*: ``https://``, or the computer's own loopback address. A phone on the same network
reaches the server by its LAN address, so the server must speak TLS: with the user's certificate
(``--tls-cert/--tls-key``) or with a self-signed one made here (``--tls-self-signed``) for the LAN
addresses, this host's name and localhost. The generated pair is kept in the data dir (the key
readable by its owner only) and reused across restarts while it covers the same addresses.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

CERT_DAYS = 397  # the longest validity browsers accept for a server certificate
RENEW_DAYS = 30  # made again once less than this is left
BROWSER_WARNING = (
    "The certificate is self-signed, so the browser warns the first time (\"Your connection is not "
    "private\" / \"This connection is not private\"). The connection is still encrypted; the warning "
    "says no authority vouches for this computer. Tap Advanced → Proceed (Safari: Show Details → visit "
    "this website) once per device.")


@dataclass(frozen=True)
class TlsFiles:
    """A certificate and its private key (PEM files), as uvicorn takes them."""

    cert: Path
    key: Path
    self_signed: bool = False

    def uvicorn_options(self) -> dict:
        """The keyword arguments of ``uvicorn.run`` that make it serve HTTPS."""
        return {"ssl_certfile": str(self.cert), "ssl_keyfile": str(self.key)}


def lan_addresses() -> list[str]:
    """This computer's non-loopback IPv4 addresses (the ones a phone on the same network can reach).

    The address of the default route is found by *connecting* a UDP socket, which sends nothing."""
    found: list[str] = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.254.254.254", 1))
            found.append(s.getsockname()[0])
    except OSError:
        pass  # no route: no network, or only loopback
    try:
        found += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        pass
    return [a for a in dict.fromkeys(found) if not ipaddress.ip_address(a).is_loopback
            and not ipaddress.ip_address(a).is_unspecified]


def cert_hosts(host: str) -> list[str]:
    """Names and addresses the certificate must name for ``--host host``: localhost, this computer's
    name, its LAN addresses (when it listens on all of them) or the one address it is bound to."""
    hosts = ["localhost", "127.0.0.1", socket.gethostname()]
    if host in ("0.0.0.0", "::", ""):
        hosts += lan_addresses()
    else:
        hosts.append(host)
    return list(dict.fromkeys(h for h in hosts if h))


def user_files(cert: str | os.PathLike, key: str | os.PathLike) -> TlsFiles:
    """The user's own certificate and key (``--tls-cert/--tls-key``), checked to exist and to match."""
    import ssl

    cert_path, key_path = Path(cert), Path(key)
    for flag, path in (("--tls-cert", cert_path), ("--tls-key", key_path)):
        if not path.is_file():
            raise ConfigError(f"{flag}: {path.name} is not a file", [f"Fix: give {flag} the PEM file's path."])
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_path, key_path)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"--tls-cert/--tls-key: {cert_path.name} and {key_path.name} are not a PEM "
                          f"certificate and its private key ({exc.__class__.__name__})",
                          ["Fix: give the certificate (PEM) and the unencrypted key that belongs to it, "
                           "or use --tls-self-signed."]) from None
    return TlsFiles(cert_path, key_path)


def _names(hosts: list[str]):
    from cryptography import x509

    names = []
    for h in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    return names


def _covers(cert_pem: bytes, hosts: list[str]) -> bool:
    """Whether a stored certificate still names every host and has over RENEW_DAYS left."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    left = cert.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)
    return set(_names(hosts)) <= set(san) and left > dt.timedelta(days=RENEW_DAYS)


def _load_or_make_key(path: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if path.is_file():
        try:
            return serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError):
            pass  # not a key we can use: a new one replaces it
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others, not even briefly
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key


def _make_cert(key, hosts: list[str]) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "konstrukt on this network"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "konstrukt (self-signed)")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=CERT_DAYS))
            .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def self_signed(data_dir: Path, hosts: list[str]) -> TlsFiles:
    """A self-signed certificate for ``hosts`` in ``data_dir/tls/`` — the stored one while it covers
    them and is not about to expire, else a new one (with the same key)."""
    folder = Path(data_dir) / "tls"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    if key_path.is_file() and cert_path.is_file() and _covers(cert_path.read_bytes(), hosts):
        os.chmod(key_path, 0o600)
        return TlsFiles(cert_path, key_path, self_signed=True)
    key = _load_or_make_key(key_path)
    os.chmod(key_path, 0o600)
    cert_path.write_bytes(_make_cert(key, hosts))
    return TlsFiles(cert_path, key_path, self_signed=True)


def phone_urls(host: str, port: int, scheme: str) -> list[str]:
    """The addresses a phone on the same network opens: the LAN addresses when the server listens on
    all of them, the bound address when it is not loopback, none when it listens on loopback only."""
    if host in ("0.0.0.0", "::", ""):
        addresses = lan_addresses()
    elif _is_loopback(host):
        addresses = []
    else:
        addresses = [host]
    return [f"{scheme}://{a}:{port}/" for a in addresses]


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name
        return host == "localhost"


def resolve_tls(options: dict | None, data_dir: Path, host: str, port: int) -> TlsFiles | None:
    """``serve``'s TLS options → the files uvicorn loads (None: plain HTTP), and what to open, printed."""
    if not options:
        return None
    if options.get("self_signed"):
        files = self_signed(Path(data_dir), cert_hosts(host))
    else:
        files = user_files(options["cert"], options["key"])
    urls = phone_urls(host, port, "https")
    if urls:
        print("konstrukt: on a phone on this network open " + "  or  ".join(urls)
              + " (the project page shows it as a QR code)", flush=True)
    else:
        print("konstrukt: listening on this computer only; for a phone start with --host 0.0.0.0", flush=True)
    if files.self_signed:
        print(f"konstrukt: {BROWSER_WARNING}", flush=True)
    return files
