"""Passwords, sessions, CSRF and API tokens.

* Passwords: bcrypt over a SHA-256 pre-hash (bcrypt reads only 72 bytes; the pre-hash makes every
  byte of a long password count). At least 10 characters and not one of the most common ones.
* Browser sessions: a signed, HttpOnly, ``SameSite=Strict`` cookie (Secure over https) holding the
  user id and a CSRF token. Unsafe methods authenticated by the cookie must echo that token in the
  ``X-CSRF-Token`` header (the pages hand it to the JS in a ``<meta>`` tag).
* Scripts: ``Authorization: Bearer kt_…`` tokens; only their sha256 is stored; no CSRF needed.
"""
from __future__ import annotations

import base64
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


PREHASH = "sha256$"  # marks hashes of the pre-hashed password (older hashes have no prefix)
MIN_PASSWORD = 10
# The most used passwords that are at least MIN_PASSWORD long (shorter ones fail on length anyway).
COMMON_PASSWORDS = frozenset("""
1234567890 0123456789 0987654321 1122334455 1234512345 1234554321 12345678910 123456789a
123456789q 1234567890q a123456789 q1234567890 qwertyuiop qwertyuiop1 qwerty1234 qwerty12345
qwerty123456 1q2w3e4r5t 1q2w3e4r5t6y 1qaz2wsx3edc qazwsxedcrfv zaq12wsxcde asdfghjkl1 asdfghjkl;
password12 password123 password1234 password12345 passw0rd123 password!! mypassword mypassword1
iloveyou12 iloveyou123 letmein123 welcome123 welcome1234 administrator admin12345 admin123456
changeme123 trustno1234 football123 baseball123 sunshine123 princess123 dragon1234 monkey1234
abcdefghij abcd123456 abc1234567 aaaaaaaaaa 1111111111 0000000000 2222222222 9999999999
11111111111 123123123123 123321123321 987654321a michael123 superman123 starwars123 computer123
internet123 correcthorsebatterystaple
""".split())


def password_problem(password: str, email: str = "") -> str | None:
    """Why ``password`` is too weak, or None: short, very common, one character, or the e-mail."""
    low = password.lower()
    if len(password) < MIN_PASSWORD:
        return f"use at least {MIN_PASSWORD} characters (a few words make a strong, memorable password)"
    if low in COMMON_PASSWORDS or len(set(low)) == 1:
        return "this password is one of the most common ones; choose another"
    if email and low in {email.lower(), email.split("@")[0].lower()}:
        return "the password must not be your e-mail address"
    return None


def _prehash(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())  # 44 bytes < 72


def hash_password(password: str, rounds: int = 12) -> str:
    return PREHASH + bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds=rounds)).decode()


def check_password(password: str, hashed: str) -> bool:
    try:
        if hashed.startswith(PREHASH):
            return bcrypt.checkpw(_prehash(password), hashed[len(PREHASH):].encode())
        return bcrypt.checkpw(password.encode("utf-8")[:72], hashed.encode())  # made before pre-hashing
    except ValueError:
        return False


# A hash to compare against when the e-mail is unknown, so timing does not reveal which exist.
_DUMMY_HASH = PREHASH + "$2b$12$SM.x8gTH7uVPAtHqpSAIXuJ2rg9Q2C5Rre73XXJlc1aIp3XyMYZNO"


@dataclass
class Session:
    user_id: int
    csrf: str
    version: int = 0  # the user's session_version when signed in; signing out bumps it


class SessionSigner:
    """Signs and reads the session cookie."""

    def __init__(self, secret: str, max_age_seconds: int):
        self._s = URLSafeTimedSerializer(secret, salt="konstrukt-session")
        self.max_age = max_age_seconds

    def dumps(self, user_id: int, version: int = 0) -> str:
        return self._s.dumps({"uid": user_id, "csrf": secrets.token_urlsafe(24), "sv": version})

    def loads(self, value: str | None) -> Optional[Session]:
        if not value:
            return None
        try:
            data = self._s.loads(value, max_age=self.max_age)
            return Session(int(data["uid"]), str(data["csrf"]), int(data.get("sv", 0)))
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
