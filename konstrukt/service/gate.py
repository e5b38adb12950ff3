"""The request gate: a request is judged by its head — method, path, headers, Content-Length and
credentials — before a byte of its body is read, and its body is counted while it streams.

Why here and not in the routes: FastAPI reads (and multipart-spools to a temporary file) the whole
body before any dependency runs, so a route's 415 or 401 came after the server had taken in all of
it (300 MB of ``text/plain`` to the sign-in route; a 300 MB upload without a login). The gate knows
the few routes that take files (:data:`UPLOADS`); every other body is JSON of at most
``max_json_bytes``, whatever Content-Type it claims.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from .settings import Settings

MULTIPART_OVERHEAD = 1 << 20  # part headers and boundaries around one Try it file


@dataclass(frozen=True)
class BodyRule:
    """What a route accepts as its body: one media type, a size limit, and whether the sender
    must be signed in before the body is read."""

    pattern: re.Pattern | None
    media: str
    limit: Callable[[Settings], int]
    signed_in: bool

    def matches(self, method: str, path: str) -> bool:
        return method == "POST" and self.pattern is not None and bool(self.pattern.match(path))


UPLOADS = (
    BodyRule(re.compile(r"^/api/projects/[^/]+/classes/[^/]+/samples/?$"), "multipart/form-data",
             lambda s: s.max_request_bytes, signed_in=True),
    BodyRule(re.compile(r"^/api/projects/[^/]+/recordings/?$"), "multipart/form-data",  # with their text
             lambda s: s.max_request_bytes, signed_in=True),
    BodyRule(re.compile(r"^/api/jobs/[^/]+/predict/?$"), "multipart/form-data",
             lambda s: s.max_file_bytes + MULTIPART_OVERHEAD, signed_in=True),
    BodyRule(re.compile(r"^/api/projects/import/?$"), "multipart/form-data",  # a project file
             lambda s: s.max_zip_bytes + MULTIPART_OVERHEAD, signed_in=True),
)
JSON_BODY = BodyRule(None, "application/json", lambda s: s.max_json_bytes, signed_in=False)
BODYLESS = frozenset({"GET", "HEAD", "OPTIONS"})


def rule_for(method: str, path: str) -> BodyRule:
    return next((r for r in UPLOADS if r.matches(method, path)), JSON_BODY)


def mib(n: int) -> str:
    return f"{n / 1024**2:.0f} MiB" if n >= 1024**2 else f"{n // 1024} KiB"


class RequestGate:
    """ASGI middleware: 415 / 413 / 401 / 403 from the request's head, 413 while a body streams
    past its limit (chunked bodies without Content-Length too)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in BODYLESS:
            return await self.app(scope, receive, send)
        rule = rule_for(scope["method"], scope["path"])
        limit = rule.limit(scope["app"].state.settings)
        refusal = _refusal_by_head(scope, rule, limit)
        if refusal is None and rule.signed_in:
            refusal = await run_in_threadpool(_identity_refusal, scope)
        if refusal is not None:
            status, detail, headers = refusal
            response = JSONResponse({"detail": detail}, status, headers={**headers, "Connection": "close"})
            return await response(scope, receive, send)
        seen = 0

        async def counted_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, f"request body is larger than the limit of {mib(limit)}",
                                    headers={"Connection": "close"})
            return message

        return await self.app(scope, counted_receive, send)


def _refusal_by_head(scope, rule: BodyRule, limit: int) -> tuple[int, str, dict] | None:
    headers = dict(scope["headers"])
    length = headers.get(b"content-length", b"").strip()
    has_body = (length not in (b"", b"0")) or b"transfer-encoding" in headers
    if length and (not length.isdigit() or int(length) > limit):
        return 413, f"request body is larger than the limit of {mib(limit)}", {}
    media = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
    if has_body and media != rule.media:
        return 415, f"send {rule.media}, not {media or 'no content type'}", {}
    return None


def _identity_refusal(scope) -> tuple[int, str, dict] | None:
    """None when the request carries a valid session (with its CSRF token) or API token; else the
    answer the route would give — now, before the upload is read. Tokens seen recently are
    remembered (the same short memory the Try it path uses; revoking a token clears it)."""
    from .deps import current_user_or_none
    from .security import token_hash

    request = Request(scope)
    state = scope["app"].state
    auth = request.headers.get("authorization", "")
    key = ("gate", token_hash(auth[7:].strip())) if auth[:7].lower() == "bearer " else None
    if key and state.access_cache.get(key):
        return None
    try:
        with state.sessions() as db:
            user = current_user_or_none(request, db)
    except HTTPException as exc:
        return exc.status_code, exc.detail, dict(exc.headers or {})
    if user is None:
        return 401, "sign in, or send `Authorization: Bearer <API token>`", {"WWW-Authenticate": "Bearer"}
    if key:
        state.access_cache.put(key, True)
    return None
