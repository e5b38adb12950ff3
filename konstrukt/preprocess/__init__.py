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

What the data decides is learned by one hook and kept in one state:

* ``fit(raws, labels, train_idx, pool_idx)`` learns from the training split (signals: rate, channel
  count, per-channel statistics) and, given the run's train+val examples ``pool_idx``, chooses the
  settings left to the data (audio length, whether images may be flipped). Those choices come back
  as config overrides (saved in the run's config.json; ``reasons`` says why, ``notes`` what the
  readers assumed). A CV fold calls it again with its own training part and no pool.
* ``state()`` is everything that decides the model input, learned values included, as plain JSON
  (``kind`` names the class): saved once per run (report.json's ``architecture.preprocessing``,
  and a bundle's config.json), held per CV fold in memory. ``from_state`` builds an inference
  preprocessor from it; ``load_state`` puts one back in place (after a fold).
* ``backbone_options()`` tells the backbone what the data decided (a signal's channel count).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


class Preprocessor:
    """Base class: subclasses implement ``load`` and ``tensor``."""

    signature: str = ""
    # True where fit learns only augmentation settings, never what a clean input (view 0) looks
    # like: its embeddings can then be computed before fit (prepare.embed_originals_early)
    fit_keeps_clean_view: bool = False

    @property
    def clean_signature(self) -> str:
        """The part of ``signature`` that decides the clean input (view 0): the embedding cache
        keeps clean embeddings under it, so a change of augmentation alone does not redo them."""
        return self.signature

    def load(self, path: Path) -> Any:
        raise NotImplementedError

    def tensor(self, raw: Any, augment: bool = False, seed: int | None = None) -> torch.Tensor:
        raise NotImplementedError

    reasons: dict[str, str] = {}  # setting ("augment.hflip") -> why fit chose it, in words
    notes: list[str] = []  # what fit noticed about the data, for the user

    def fit(self, raws: list[Any], labels, train_idx: list[int], pool_idx: list[int] | None = None) -> dict[str, Any]:
        """Learn what the data decides (see the module docstring); return the settings chosen from
        the pool as config overrides. Nothing to learn by default."""
        return {}

    def state(self) -> dict[str, Any]:
        """The one saved state: the settings and learned values that decide the model input."""
        raise NotImplementedError

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Preprocessor":
        """An inference preprocessor (no augmentation) from :meth:`state`'s output."""
        raise NotImplementedError

    def load_state(self, state: dict[str, Any]) -> None:
        """Put a saved state back in place (what a CV fold's ``fit`` changed); nothing by default."""

    def load_sample(self, sample) -> Any:
        """Decode a :class:`~konstrukt.data.Sample` (a file, or a window of a long recording)."""
        return self.load(sample.path)

    def backbone_options(self) -> dict:
        """Backbone sizes the data decides (e.g. a signal's channel count); none by default."""
        return {}


def build_preprocessor(spec, config) -> Preprocessor:
    """The preprocessor of a backbone spec's modality, configured by a TrainConfig."""
    from ..tasks import MODALITIES

    return MODALITIES.get(spec.modality).preprocessor(spec, config)
