"""Domain exceptions.

Every user-facing error subclasses :class:`KonstruktError` (a ``ValueError``) and carries the
context a person needs to fix it (file, class, config key). The CLI prints them without a
traceback and exits with code 2; the service maps them to HTTP 4xx in one handler.
"""
from __future__ import annotations


class KonstruktError(ValueError):
    """Base class for errors caused by user input, with a list of problems."""

    exit_code = 2

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = list(problems or [])
        full = message
        if self.problems:
            full += "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(full)
        self.message = message


class DataError(KonstruktError):
    """The examples given cannot be used (missing, corrupt, too few, wrong format)."""


class ConfigError(KonstruktError):
    """A config file or flag has invalid values; ``problems`` names every bad key."""


class WeightsUnavailableError(KonstruktError):
    """Pretrained weights are needed but are neither cached nor reachable.

    ``weights`` names them (``backbone.tag``) so each face can explain the failure in its own
    terms (the CLI's flags, the web app's recipes)."""

    def __init__(self, message: str, problems: list[str] | None = None, weights: str = ""):
        super().__init__(message, problems)
        self.weights = weights


class RunError(KonstruktError):
    """A run directory cannot be written or read."""


class StorageError(KonstruktError):
    """The blob store (a local folder or S3-compatible object storage) cannot be read or written."""


class StorageUnavailable(StorageError):
    """The object storage cannot be reached or refuses us (endpoint down, bucket missing, bad
    credentials): the server's configuration, not the user's data — the service answers 503."""
