"""Backbones fitted on training data rather than trained (MiniRocket's biases and statistics).

A backbone with a ``fit_data(x, seed) -> embeddings`` method is fitted on the clean, preprocessed
windows of the training split after the preprocessor has learned its own state from the same split; a CV fold
fits it again on the fold's training part (and puts the run's state back afterwards), so no
validation, held-out or test example shapes its features. Probe embeddings of such a backbone
depend on what it was fitted on: :func:`fitted_id` is part of their cache key. Fitting computes
the training windows' embeddings anyway (for the feature statistics); they are handed back, so
the probe does not compute them again.
"""
from __future__ import annotations

import contextlib
import hashlib

import torch


def is_data_fitted(backbone) -> bool:
    return callable(getattr(backbone, "fit_data", None))


def fit_backbone(backbone, pre, raws: list, indices: list[int], seed: int) -> torch.Tensor | None:
    """Fit ``backbone`` (if it is fitted on data) on the clean inputs of ``raws[indices]``; their
    embeddings (N, D) as the fitted backbone gives them, or None when there was nothing to fit."""
    if not is_data_fitted(backbone) or not indices:
        return None
    x = torch.stack([pre.tensor(raws[i]) for i in indices])  # (N, C, L), no augmentation
    return backbone.fit_data(x, seed)


def fitted_id(backbone) -> str:
    """A digest of everything the backbone holds (its fitted buffers): equal digests, equal features."""
    h = hashlib.sha1()
    for name, tensor in sorted(backbone.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def refitted(backbone, pre, raws: list, indices: list[int], seed: int):
    """``backbone`` fitted on ``raws[indices]`` inside the block, which gets their embeddings (or
    None: nothing fitted); the backbone's previous state is restored after."""
    if not is_data_fitted(backbone):
        yield None
        return
    saved = {k: v.clone() for k, v in backbone.state_dict().items()}
    try:
        yield fit_backbone(backbone, pre, raws, indices, seed)
    finally:
        backbone.load_state_dict(saved)
