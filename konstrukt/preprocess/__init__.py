"""Per-modality preprocessing: a file becomes a model input tensor, with optional augmentation.

A :class:`Preprocessor` is built for one (backbone, config) pair and has two steps, split so that
decoding happens once per file while augmentation varies:

* ``load(path)`` decodes and normalises the file (RGB image, mono waveform at the right rate…),
  raising :class:`~konstrukt.errors.DataError` naming the file when it cannot;
* ``tensor(raw, augment, seed)`` turns the decoded sample into the backbone's input tensor,
  applying the train-time augmentations when ``augment`` is true; with a ``seed`` the
  augmentation is deterministic, so an augmented *view* can be cached and recomputed identically.

``signature`` is a string that changes whenever the output for a given file would change; it is
part of the embedding-cache key.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


class Preprocessor:
    """Base class: subclasses implement ``load`` and ``tensor``."""

    signature: str = ""

    def load(self, path: Path) -> Any:
        raise NotImplementedError

    def tensor(self, raw: Any, augment: bool = False, seed: int | None = None) -> torch.Tensor:
        raise NotImplementedError

    def to_config(self) -> dict[str, Any]:
        """The settings that decide the model input, as plain JSON (``kind`` names the class)."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Preprocessor":
        """Rebuild an inference preprocessor (no augmentation) from :meth:`to_config`'s output."""
        raise NotImplementedError

    def fit(self, raws: list[Any]) -> dict[str, Any]:
        """Settle data-dependent settings from the training samples; return them as config
        overrides (saved with the run, so a reloaded run preprocesses the same way)."""
        return {}


def build_preprocessor(spec, config) -> Preprocessor:
    """The preprocessor of a backbone spec's modality, configured by a TrainConfig."""
    from ..tasks import MODALITIES

    return MODALITIES.get(spec.modality).preprocessor(spec, config)
