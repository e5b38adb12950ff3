"""``konstrukt serve``'s HTTPS flags: a phone's motion sensors need a secure (https) page."""
from __future__ import annotations

import argparse


def add_tls_flags(p: argparse.ArgumentParser) -> None:
    """``--tls-cert/--tls-key`` (your certificate) or ``--tls-self-signed`` (one made for the LAN)."""
    g = p.add_argument_group("HTTPS (phones give motion sensors to secure pages only)")
    g.add_argument("--tls-cert", default=None, metavar="PEM", help="serve HTTPS with this certificate "
                   "(with --tls-key)")
    g.add_argument("--tls-key", default=None, metavar="PEM", help="the certificate's private key (unencrypted PEM)")
    g.add_argument("--tls-self-signed", action="store_true",
                   help="serve HTTPS with a self-signed certificate for this computer's LAN addresses, "
                        "made once and kept in the data dir (browsers warn once per device; the page "
                        "explains it)")


def tls_options(args) -> dict | None:
    """The flags as ``serve``'s ``tls`` option; a half-given pair is an error naming the fix."""
    from ..errors import ConfigError

    cert, key, generated = args.tls_cert, args.tls_key, args.tls_self_signed
    if generated and (cert or key):
        raise ConfigError("--tls-self-signed cannot be combined with --tls-cert/--tls-key",
                          ["Fix: give either your certificate and key, or --tls-self-signed."])
    if bool(cert) != bool(key):
        raise ConfigError("--tls-cert and --tls-key go together",
                          ["Fix: give both files, or use --tls-self-signed."])
    if generated:
        return {"self_signed": True}
    return {"cert": cert, "key": key} if cert else None
