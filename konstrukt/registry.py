"""A tiny name → entry registry used for tasks, backbones, heads, pipelines and augmentations.

Small registries (heads, augmentations) are filled by decorators in the module that defines their
entries. The task, modality, backbone and pipeline registries are filled by the modalities
(``konstrukt/modalities/``, one explicit list): such a registry is built with a ``populate``
function that runs once, on the first lookup, so whichever module asks first gets every entry and
no import order matters. Looking up an unknown name lists what exists.
"""
from __future__ import annotations

import threading
from typing import Callable, Generic, Iterator, TypeVar

from .errors import ConfigError

T = TypeVar("T")
_POPULATING = threading.RLock()


class Registry(Generic[T]):
    """Maps names to entries (specs or factories)."""

    def __init__(self, kind: str, populate: Callable[[], None] | None = None):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._populate = populate  # fills the registry on first lookup (see the module docstring)

    def _filled(self) -> dict[str, T]:
        if self._populate is not None:
            with _POPULATING:  # service threads may look up for the first time at once
                if self._populate is not None:
                    self._populate()  # a lookup made by the populate itself sees the entries so far
                    self._populate = None
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

    def get(self, name: str) -> T:
        entries = self._filled()
        try:
            return entries[name]
        except KeyError:
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


def load_modalities() -> None:
    """Register every modality's tasks, pipelines and UI capabilities (light: no torch import)."""
    from .modalities import register_all  # lazy: the modalities import the registries' modules

    register_all()


def load_backbones() -> None:
    """Register every modality's backbones (imports torch and the model code)."""
    from .modalities import register_all_backbones

    register_all_backbones()
