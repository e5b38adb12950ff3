"""Frozen front ends during training: their output computed once per example, not every epoch.

A front end that learns nothing (a :class:`~konstrukt.models.portable.sequence_nets.FrozenFrontEnd`:
fixed or pretrained features, e.g. MiniRocket's) gives the same features at every epoch, so the
training loop can run on those features directly. Each example's features come from the front
end's ``cached_features(array)`` hook: its forward pass once per example, or the front end's own
cache (the speech embedding's, keyed by content so CV folds share it).
:func:`frozen_features` swaps the model's front end for a pass-through while the fit runs and puts
the real one back after, so what is saved, scored and exported is the whole network.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Optional

import torch
from torch import nn

from ..models.portable.sequence_nets import FrozenFrontEnd
from .training import Item


def is_frozen(frontend: nn.Module) -> bool:
    """Does ``frontend`` learn nothing (a :class:`FrozenFrontEnd`), so its output may be cached?"""
    return isinstance(frontend, FrozenFrontEnd)


class Precomputed(nn.Module):
    """Stands in for a frozen front end whose output the examples already hold: a pass-through
    with the front end's ``out_channels`` and ``fps``; its input is already in frames."""

    precomputed = True  # waveform augmentation does not apply to these inputs

    def __init__(self, frontend: nn.Module):
        super().__init__()
        self.out_channels, self.fps = frontend.out_channels, frontend.fps

    def frames(self, length: int) -> int:
        return int(length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@torch.inference_mode()
def features_of(frontend: FrozenFrontEnd, items: list[Item], device) -> list[Item]:
    """Each example's front-end output (F, T') with its targets (one recording at a time: no padding)."""
    frontend.eval().to(device)
    return [Item(frontend.cached_features(it.x), it.ids) for it in items]


@contextmanager
def frozen_features(model: nn.Module, *splits: list[Item], device,
                    views: Optional[Callable[[list[Item]], list[Item]]] = None) -> Iterator[tuple[list[Item], ...]]:
    """``with frozen_features(model, train, val, device=d) as (train, val):`` — when the model's
    front end is frozen, the splits hold its features and the model a pass-through in its place
    until the block ends; otherwise the splits as given. ``views``: the first (training) split →
    the examples to cache for it (e.g. with augmented copies)."""
    if not is_frozen(model.frontend):
        yield splits
        return
    real = model.frontend
    splits = ((views(splits[0]) if views else splits[0]), *splits[1:]) if splits else splits
    cached = tuple(features_of(real, items, device) for items in splits)
    model.frontend = Precomputed(real)
    try:
        yield cached
    finally:
        model.frontend = real
