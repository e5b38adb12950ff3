"""The blob store interface every storage backend implements."""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Iterator

from ..errors import StorageError

# Keys are made by konstrukt (ids, stored names, digests), never taken from a client as they are.
_KEY = re.compile(r"[A-Za-z0-9._\-]+(/[A-Za-z0-9._\-]+)*")


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative POSIX path (no ``..``, no absolute path), else raise."""
    if not isinstance(key, str) or not _KEY.fullmatch(key) or any(p in (".", "..") for p in key.split("/")):
        raise StorageError(f"not a valid storage key: {key!r}")
    return key


class BlobStore(ABC):
    """Files addressed by keys. Implementations must make ``put_*`` atomic: a reader sees the old
    object or the whole new one, never half of it."""

    url: str  # what ``open_store`` takes to reopen this store (shipped to remote workers)

    @abstractmethod
    def put_file(self, key: str, path: Path) -> None:
        """Store the file at ``path`` under ``key`` (replacing what was there)."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``."""

    @abstractmethod
    def get_file(self, key: str, dest: Path) -> Path:
        """Write the object ``key`` to ``dest`` (parents created); return ``dest``."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The content of ``key``; StorageError if it does not exist."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""

    @abstractmethod
    def list(self, prefix: str) -> Iterator[str]:
        """Every key under the folder ``prefix`` (recursive), in no particular order."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> None:
        """Remove every key under the folder ``prefix``."""

    def check(self) -> None:
        """Raise StorageError (StorageUnavailable) unless the store can be used now."""

    def move(self, src: str, dest: str) -> None:
        """Store ``src``'s content under ``dest`` and remove ``src``."""
        self.put_bytes(dest, self.get_bytes(src))
        self.delete(src)

    def local_path(self, key: str) -> Path | None:
        """A path on this machine holding ``key``'s content, if the store has one (local folder),
        so readers can link instead of copy; None for remote stores."""
        return None

    def put_tree(self, prefix: str, folder: Path) -> list[str]:
        """Store every file under ``folder`` as ``prefix/<relative path>``; return the keys."""
        keys = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = f"{prefix}/{path.relative_to(folder).as_posix()}"
            self.put_file(key, path)
            keys.append(key)
        return keys

    def get_tree(self, prefix: str, folder: Path) -> Path:
        """Fetch every key under ``prefix`` into ``folder`` (the reverse of :meth:`put_tree`)."""
        check_key(prefix)
        for key in self.list(prefix):
            self.get_file(key, folder / key[len(prefix) + 1:])
        return folder
