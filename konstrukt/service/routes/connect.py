"""``GET /api/connect``: the addresses a phone on the same network opens, each with its QR code.

A phone's motion sensors work only on a secure page, so the answer also says whether this server
speaks HTTPS and, when its certificate is self-signed, what the browser's warning means. The server
knows where it listens from ``app.state.listen`` (set by ``konstrukt serve``); an app started another
way (tests, an embedding program) falls back to the address the request came to.
"""
from __future__ import annotations

import io

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from ..deps import current_user
from ..tls import BROWSER_WARNING, phone_urls

router = APIRouter(prefix="/api", tags=["connect"])


class Address(BaseModel):
    url: str
    qr_svg: str = Field(description="The URL as a QR code (an SVG document).")


class ConnectOut(BaseModel):
    secure: bool = Field(description="Whether this server speaks HTTPS (phones give sensors only then).")
    addresses: list[Address]
    note: str = Field("", description="What to do when a phone cannot use these addresses, in words.")


def qr_svg(text: str) -> str:
    """``text`` as a QR code: a small standalone SVG document (segno; error correction M)."""
    import segno

    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="svg", scale=4, border=2, xmldecl=False,
                                      title="Scan to open konstrukt on your phone")
    return buf.getvalue().decode("utf-8")


def _where(request: Request) -> tuple[str, int, str]:
    """(host it listens on, port, scheme) of this server."""
    listen = getattr(request.app.state, "listen", None)
    scheme = request.url.scheme
    if listen:
        return listen[0], listen[1], scheme
    server = request.scope.get("server") or ("127.0.0.1", 80)
    return server[0], server[1], scheme


@router.get("/connect", response_model=ConnectOut)
def connect(request: Request, _user=Depends(current_user),
            path: str = Query("/", pattern=r"^/((projects|jobs)/\d{1,12})?$",
                              description="the page the codes open: `/`, `/projects/ID` or `/jobs/ID`")):
    """Where to open this server from a phone on the same network, with QR codes to scan."""
    host, port, scheme = _where(request)
    urls = [u.rstrip("/") + path for u in phone_urls(host, port, scheme)]
    secure = scheme == "https"
    note = ""
    if not urls:
        note = ("This server listens on this computer only, so a phone cannot reach it. Start it with "
                "konstrukt serve --host 0.0.0.0 --tls-self-signed")
    elif not secure:
        note = ("Phones give motion sensors only to secure (https) pages. Start the server with "
                "konstrukt serve --host 0.0.0.0 --tls-self-signed, then scan the code again.")
    elif getattr(request.app.state, "tls_self_signed", False):
        note = BROWSER_WARNING
    return ConnectOut(secure=secure, addresses=[Address(url=u, qr_svg=qr_svg(u)) for u in urls], note=note)
