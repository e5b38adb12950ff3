"""A tiny name → entry registry used for tasks, backbones, heads, pipelines and augmentations.

Small registries (heads, augmentations) are filled by decorators in the module that defines their
entries. The task, modality, backbone and pipeline registries are *explicit*: the modalities fill
them when an entry point (the CLI, the service app, ``import konstrukt``'s functions, a worker)
calls :func:`konstrukt.modalities.register_all`. This module imports no modality; looking up an
explicit registry before that call raises :class:`RegistrationError` instead of answering from an
empty list. Heavy entries (backbones: model code, torch) may be left by ``register_all`` as a
filler that runs on the registry's first lookup (:func:`fill_on_first_lookup`), so
listing tasks stays light. Looking up an unknown name lists what exists.
"""
from __future__ import annotations

import threading
from typing import Callable, Generic, Iterator, TypeVar

from .errors import ConfigError

T = TypeVar("T")
_FILLING = threading.RLock()
_REGISTERED = threading.Event()  # set by konstrukt.modalities.register_all()
_FILLERS: dict[str, list[Callable[[], None]]] = {}  # registry kind -> fillers left for its first lookup


class RegistrationError(RuntimeError):
    """An explicit registry was looked up before ``konstrukt.modalities.register_all()`` ran: a
    programming error of the caller (an entry point that forgot it), not bad user input."""


def mark_registered() -> None:
    """Called once by ``konstrukt.modalities.register_all()``, before it registers anything, so a
    lookup made while registering sees the entries so far."""
    _REGISTERED.set()


def fill_on_first_lookup(kind: str, filler: Callable[[], None]) -> None:
    """Run ``filler`` (which adds entries) on the first lookup of the registry named ``kind``
    instead of now: by kind, so the caller need not import the registry's (heavy) module."""
    with _FILLING:
        _FILLERS.setdefault(kind, []).append(filler)


class Registry(Generic[T]):
    """Maps names to entries (specs or factories)."""

    def __init__(self, kind: str, explicit: bool = False):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._explicit = explicit  # filled by register_all(): a lookup before it is an error
        self._unavailable: dict[str, tuple[str, str]] = {}  # name -> (why, fix): its optional extra is missing

    def _filled(self) -> dict[str, T]:
        if self._explicit and not _REGISTERED.is_set():
            raise RegistrationError(
                f"the {self.kind} registry was looked up before konstrukt.modalities.register_all() was "
                "called; every entry point calls it once (the CLI, the service app, konstrukt.train …) — "
                "a script that uses konstrukt's modules directly calls it first")
        if _FILLERS.get(self.kind):
            with _FILLING:  # service threads may look up for the first time at once
                while _FILLERS.get(self.kind):
                    _FILLERS[self.kind].pop(0)()  # a lookup made by the filler sees the entries so far
        return self._entries

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise KeyError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def wrap(entry: T) -> T:
            return self.add(name, entry)

        return wrap

    def add_unavailable(self, name: str, why: str, fix: str) -> None:
        """Name an entry that exists only with an optional extra that is not installed: looking it
        up (a saved run, a config) then says ``why`` and ``fix`` instead of "unknown". It is not
        listed among the entries."""
        self._unavailable[name] = (why, fix)

    def get(self, name: str) -> T:
        entries = self._filled()
        try:
            return entries[name]
        except KeyError:
            if name in self._unavailable:
                why, fix = self._unavailable[name]
                raise ConfigError(f"{self.kind} {name!r} {why}", [fix]) from None
            raise ConfigError(
                f"unknown {self.kind} {name!r}; available: {', '.join(sorted(entries))}"
            ) from None

    __getitem__ = get

    def names(self) -> list[str]:
        return sorted(self._filled())

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(sorted(self._filled().items()))

    def __contains__(self, name: object) -> bool:
        return name in self._filled()

    def __len__(self) -> int:
        return len(self._filled())
