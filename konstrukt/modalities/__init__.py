"""Every modality konstrukt knows, in one explicit list, and the one call that registers them.

Each package below is one modality's home (``konstrukt/modalities/<name>/``): its ``__init__``
registers its tasks, file types, preprocessor, augmentations, window cutting, input record, UI
capabilities and pipelines in ``register()`` (light: no torch import), and its backbones in
``register_backbones()`` (imports the model code); beside it live its preprocessing, augmentations
and models. Nothing registers at import time: the entry points (the CLI, the service app, the
service worker, ``import konstrukt``'s functions, a Ray or forked worker) call :func:`register_all`
once. Looking up a registry before that raises :class:`konstrukt.registry.RegistrationError`.

Adding a modality: write the package ``konstrukt/modalities/<name>/`` with those two functions and
add it to ``MODALITY_PACKAGES``; a modality from outside konstrukt (a plug-in, a test) is one
package passed to :func:`register_package` (see docs/modalities.md).
"""
from __future__ import annotations

import threading
from types import ModuleType

from ..registry import fill_on_first_lookup, mark_registered
from . import audio, image, signal

MODALITY_PACKAGES = (image, audio, signal)

_LOCK = threading.RLock()
_registered: list[ModuleType] = []


def register_package(package: ModuleType) -> None:
    """Register one modality package: its ``register()`` now (tasks, pipelines — light) and its
    ``register_backbones()`` on the backbone registry's first lookup (model code, torch). Once per
    package; the lock makes a second thread wait until the first has registered everything."""
    with _LOCK:
        if package in _registered:
            return
        mark_registered()  # first: a lookup made while registering must see the entries so far
        package.register()
        fill_on_first_lookup("backbone", package.register_backbones)
        _registered.append(package)


def register_all() -> None:
    """Register every built-in modality (once; safe to call from every entry point and thread)."""
    for package in MODALITY_PACKAGES:
        register_package(package)
