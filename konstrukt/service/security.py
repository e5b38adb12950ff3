"""Passwords, sessions, CSRF and API tokens.

* Passwords: bcrypt.
* Browser sessions: a signed, HttpOnly, ``SameSite=Strict`` cookie (Secure over https) holding the
  user id and a CSRF token. Unsafe methods authenticated by the cookie must echo that token in the
  ``X-CSRF-Token`` header (the pages hand it to the JS in a ``<meta>`` tag).
* Scripts: ``Authorization: Bearer kt_…`` tokens; only their sha256 is stored; no CSRF needed.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Optional

import bcrypt
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .db import ApiToken, User, utcnow

SESSION_COOKIE = "konstrukt_session"
CSRF_HEADER = "x-csrf-token"
TOKEN_PREFIX = "kt_"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def hash_password(password: str, rounds: int = 12) -> str:
    return bcrypt.hashpw(password.encode("utf-8")[:72], bcrypt.gensalt(rounds=rounds)).decode()


def check_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8")[:72], hashed.encode())
    except ValueError:
        return False


# A hash to compare against when the e-mail is unknown, so timing does not reveal which exist.
_DUMMY_HASH = "$2b$12$SM.x8gTH7uVPAtHqpSAIXuJ2rg9Q2C5Rre73XXJlc1aIp3XyMYZNO"


@dataclass
class Session:
    user_id: int
    csrf: str


class SessionSigner:
    """Signs and reads the session cookie."""

    def __init__(self, secret: str, max_age_seconds: int):
        self._s = URLSafeTimedSerializer(secret, salt="konstrukt-session")
        self.max_age = max_age_seconds

    def dumps(self, user_id: int) -> str:
        return self._s.dumps({"uid": user_id, "csrf": secrets.token_urlsafe(24)})

    def loads(self, value: str | None) -> Optional[Session]:
        if not value:
            return None
        try:
            data = self._s.loads(value, max_age=self.max_age)
            return Session(int(data["uid"]), str(data["csrf"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None


def csrf_ok(session: Session, header_value: str | None) -> bool:
    return bool(header_value) and hmac.compare_digest(session.csrf, header_value)


def new_api_token() -> tuple[str, str]:
    """A fresh token (shown once) and the hash that is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TTLCache:
    """A small thread-safe cache whose entries expire; used to skip the database on hot paths."""

    def __init__(self, ttl: float = 10.0, size: int = 4096):
        self.ttl, self.size = ttl, size
        self._data: dict = {}
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            hit = self._data.get(key)
        return hit[1] if hit and hit[0] > time.monotonic() else None

    def put(self, key, value) -> None:
        with self._lock:
            if len(self._data) >= self.size:
                self._data.clear()
            self._data[key] = (time.monotonic() + self.ttl, value)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def user_for_token(db, token: str) -> Optional[User]:
    row = db.query(ApiToken).filter_by(token_hash=token_hash(token)).one_or_none()
    if row is None:
        return None
    if row.last_used_at is None or (utcnow() - row.last_used_at).total_seconds() > 60:
        row.last_used_at = utcnow()  # coarse, so hot loops do not write on every request
        db.commit()
    return db.get(User, row.user_id)
