"""Every modality konstrukt knows, in one explicit list.

Each module below is one modality's home: it registers its tasks, file types, preprocessor,
augmentations, window cutting, input record, UI capabilities and pipelines in ``register()``
(light: no torch import), and its backbones in ``register_backbones()`` (imports the model code).
Nothing registers at import time: the registries call :func:`register_all` /
:func:`register_all_backbones` on their first lookup (see :mod:`konstrukt.registry`), so the
order in which other modules are imported never matters and there is no import cycle.

Adding a modality: write ``konstrukt/modalities/<name>.py`` with those two functions and add it
to ``MODALITY_MODULES`` (see docs/modalities.md).
"""
from __future__ import annotations

from . import audio, image, signal

MODALITY_MODULES = (image, audio, signal)

_done: set[str] = set()


def register_all() -> None:
    """Register every modality's tasks, pipelines and UI capabilities (once)."""
    if "modalities" in _done:
        return
    _done.add("modalities")  # first: a lookup made while registering must not register again
    for module in MODALITY_MODULES:
        module.register()


def register_all_backbones() -> None:
    """Register every modality's backbones (once)."""
    if "backbones" in _done:
        return
    _done.add("backbones")
    for module in MODALITY_MODULES:
        module.register_backbones()
