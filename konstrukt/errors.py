"""Domain exceptions.

Every user-facing error subclasses :class:`KonstruktError` (a ``ValueError``) and carries the
context a person needs to fix it (file, class, config key). The CLI prints them without a
traceback and exits with code 2; the service maps them to HTTP 4xx in one handler.

Some errors read differently for someone who uses konstrukt through a server: a CLI user is told
the cache folder and the ``--weights`` flag; a web user can do neither and must not see the
server's folders. Such an error carries both texts: ``message``/``problems`` for the person at
the machine, ``service`` (:meth:`KonstruktError.for_service`) for the person behind the service.
"""
from __future__ import annotations


class KonstruktError(ValueError):
    """Base class for errors caused by user input, with a list of problems."""

    exit_code = 2

    def __init__(self, message: str, problems: list[str] | None = None, *,
                 service: tuple[str, list[str]] | None = None):
        self.problems = list(problems or [])
        full = message
        if self.problems:
            full += "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(full)
        self.message = message
        self.service = (service[0], list(service[1])) if service else None

    def for_service(self) -> tuple[str, list[str]]:
        """(message, problems) for a user of the web service: no server folders, no CLI flags."""
        return self.service or (self.message, self.problems)


class DataError(KonstruktError):
    """The examples given cannot be used (missing, corrupt, too few, wrong format)."""


class ConfigError(KonstruktError):
    """A config file or flag has invalid values; ``problems`` names every bad key."""


class WeightsUnavailableError(KonstruktError):
    """Pretrained weights are needed but are neither cached nor reachable.

    ``weights`` names them (``backbone.tag``) so each face can explain the failure in its own
    terms: the CLI's flags and cache folders, or the web app's recipes (``for_service``)."""

    def __init__(self, message: str, problems: list[str] | None = None, *,
                 service: tuple[str, list[str]] | None = None, weights: str = ""):
        # Behind a service the weights are the server's business: say which, and what the user can do.
        service = service or (
            f"this recipe needs pretrained weights{f' ({weights})' if weights else ''} that are not "
            "available on this server, and they could not be downloaded here",
            ["Fix: train with “auto”: it uses what this server has (recipes marked “weights not on "
             "this server” cannot train here), or ask the server's administrator to install the weights."])
        super().__init__(message, problems, service=service)
        self.weights = weights


class RunError(KonstruktError):
    """A run directory cannot be written or read."""


class StorageError(KonstruktError):
    """The blob store (a local folder or S3-compatible object storage) cannot be read or written."""


class StorageUnavailable(StorageError):
    """The object storage cannot be reached or refuses us (endpoint down, bucket missing, bad
    credentials): the server's configuration, not the user's data — the service answers 503."""


def brief(exc: BaseException, limit: int = 90) -> str:
    """One short line for a table cell (a leaderboard's skipped row): what went wrong, without the
    details (folders, flags, tracebacks), which go with :func:`explain`."""
    if isinstance(exc, WeightsUnavailableError):
        return "pretrained weights not available here"
    text = exc.for_service()[0] if isinstance(exc, KonstruktError) else f"failed ({type(exc).__name__})"
    text = text.split("\n")[0].split("; ")[0]
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def explain(exc: BaseException, service: bool = False) -> str:
    """The whole reason: message and problems, for the person at the machine, or (``service``) for a
    web user (no server folders, no CLI flags)."""
    if not isinstance(exc, KonstruktError):
        return f"{type(exc).__name__}: {exc}"
    message, problems = exc.for_service() if service else (exc.message, exc.problems)
    return "; ".join([message, *problems])
