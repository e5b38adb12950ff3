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

Some settings are chosen from the data once the splits are made, and saved with the run:
``fit(raws, labels)`` sees the train+val examples and returns config overrides (audio length,
whether images may be flipped), with its reasons in ``reasons``; ``fit_split(raws, train_idx)``
learns from the training split alone (signals: rate, channel count, per-channel statistics),
``state()`` saves that as JSON and ``load_state`` restores it; ``backbone_options()`` tells the
backbone what the data decided (its channel count). The defaults below do nothing.
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

    reasons: dict[str, str] = {}  # setting ("augment.hflip") -> why fit chose it, in words

    def fit(self, raws: list[Any], labels=None) -> dict[str, Any]:
        """Settle data-dependent settings from the train+val samples (and their labels); return
        them as config overrides (saved with the run, so a reloaded run preprocesses the same way)."""
        return {}

    def load_sample(self, sample) -> Any:
        """Decode a :class:`~konstrukt.data.Sample` (a file, or a window of a long recording)."""
        return self.load(sample.path)

    def fit_split(self, raws: list, train_idx: list[int]) -> list[str]:
        """Learn what the training split decides; return notes for the user (none by default)."""
        return []

    def state(self) -> dict | None:
        """What ``fit`` learned, as JSON (None: nothing to save)."""
        return None

    def load_state(self, state: dict) -> None:
        """Restore what ``fit`` learned from a saved run."""

    def backbone_options(self) -> dict:
        """Backbone sizes the data decides (e.g. a signal's channel count); none by default."""
        return {}


def build_preprocessor(spec, config) -> Preprocessor:
    """The preprocessor of a backbone spec's modality, configured by a TrainConfig."""
    from ..tasks import MODALITIES

    return MODALITIES.get(spec.modality).preprocessor(spec, config)
