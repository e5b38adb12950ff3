"""Waveform augmentation of sequence training batches (training passes only): a random gain per
example and channel, a random time shift (up to ``time_shift`` seconds cut from the start) and a
random time stretch (the example resampled to 1 ± ``stretch`` of its length: slower or faster).

Both keep the text valid: a gain changes no event, and the cut is short next to an event (CTC
needs no alignment, so the shift only moves where the events fall). SpecAugment's time / feature
stripes are the model's own (:class:`~konstrukt.sequences.models.SequenceNet`'s mask). A frozen
front end's cached features are not waveforms: they are left as they are.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from .training import Item

BatchAugment = Callable[[list[Item], list[int]], list[Item]]


def waveform_augment(settings, rate: float, frontend) -> Optional[BatchAugment]:
    """The batch augmentation of ``settings`` (``gain``, ``time_shift``), or None when off or when
    the model runs on precomputed features."""
    gain, shift, stretch = float(settings.gain), int(round(settings.time_shift * rate)), float(settings.stretch)
    if (gain <= 0 and shift <= 0 and stretch <= 0) or getattr(frontend, "precomputed", False):
        return None
    rng = np.random.default_rng(settings.seed + 1)

    def augment(items: list[Item], idx: list[int]) -> list[Item]:
        out = []
        for i in idx:
            x = items[i].x
            if shift > 0:  # never more than a quarter of the example
                x = x[:, int(rng.integers(0, min(shift, x.shape[1] // 4) + 1)):]
            if stretch > 0:
                x = _resample(x, max(1, int(round(x.shape[1] * rng.uniform(1 - stretch, 1 + stretch)))))
            if gain > 0:
                x = x * rng.uniform(1 - gain, 1 + gain, (x.shape[0], 1)).astype(np.float32)
            out.append(Item(np.ascontiguousarray(x, dtype=np.float32), items[i].ids))
        return out

    return augment


def _resample(x: np.ndarray, length: int) -> np.ndarray:
    """(C, T) linearly interpolated to (C, length), the same span of time."""
    if length == x.shape[1] or x.shape[1] < 2:
        return x
    at = np.linspace(0, x.shape[1] - 1, length)
    return np.stack([np.interp(at, np.arange(x.shape[1]), row) for row in x]).astype(np.float32)


def augmented_views(items: list[Item], augment: Optional[BatchAugment], views: int) -> list[Item]:
    """``items`` and ``views - 1`` augmented copies of each (a frozen front end's features are
    computed once per copy, so its training still sees varied waveforms)."""
    if augment is None or views <= 1:
        return items
    idx = list(range(len(items)))
    return items + [it for _ in range(views - 1) for it in augment(items, idx)]
