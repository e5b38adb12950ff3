"""Per-user and per-address limits kept in the server process: open event streams, failed sign-ins.

They live in memory (one server process owns a data directory, see ``worker_process.claim_lock``); a
restart forgets them, which only ever makes the server more lenient for a moment.
"""
from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque

from fastapi import HTTPException


class StreamSlots:
    """At most ``per_user`` open Server-Sent Event streams per user: a page left open in many tabs
    (or a script) cannot take the server's threads and connections from everyone else."""

    def __init__(self, per_user: int):
        self.per_user = per_user
        self._open: dict[int, int] = defaultdict(int)
        self._lock = threading.Lock()

    def acquire(self, user_id: int) -> None:
        with self._lock:
            if self._open[user_id] >= self.per_user:
                raise HTTPException(429, f"you already follow {self.per_user} jobs live; close some "
                                         "pages or streams and try again", headers={"Retry-After": "5"})
            self._open[user_id] += 1

    def release(self, user_id: int) -> None:
        with self._lock:
            self._open[user_id] -= 1
            if self._open[user_id] <= 0:
                del self._open[user_id]

    def open_count(self, user_id: int) -> int:
        with self._lock:
            return self._open.get(user_id, 0)


class FailureWindow:
    """Counts failures per key over a sliding window; ``check`` answers 429 with Retry-After once a
    key has ``limit`` failures inside ``window`` seconds (sign-in guessing, per account and address)."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 100_000):
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._hits: dict[str, deque] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque:
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:  # a flood of keys must not grow memory without end
                self._hits.clear()
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return hits

    def check(self, *keys: str, what: str = "failed sign-ins") -> None:
        """429 with Retry-After when any of ``keys`` is at its limit."""
        if wait := self.wait(*keys):
            raise HTTPException(429, f"too many {what}; try again in {wait} s",
                                headers={"Retry-After": str(wait)})

    def wait(self, *keys: str) -> int:
        """Seconds until every one of ``keys`` is under its limit again (0: they are now)."""
        now = time.monotonic()
        with self._lock:
            waits = [max(1, math.ceil(hits[0] + self.window - now)) for key in keys
                     if len(hits := self._recent(key, now)) >= self.limit]
        return max(waits, default=0)

    def fail(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)
