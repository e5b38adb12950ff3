"""Training on a frozen front end's features: computed once per recording, not every epoch.

A front end marked ``frozen`` (e.g. the speech embedding) gets no gradient, so its output for a
recording never changes while the rest trains: :func:`on_features` turns each example into its
(F, T') features once and hands :func:`konstrukt.sequences.training.fit` a view of the network that
starts after the front end (SpecAugment still masks the cached features, per batch).
"""
from __future__ import annotations

from dataclasses import replace

from torch import nn


class AfterFrontEnd(nn.Module):
    """The network seen from its front end's output: (B, F, T') features → (B, T'', V).

    It holds the network itself, so training it trains the network (same parameters)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def frames(self, length: int) -> int:  # length: front-end frames
        return self.net.tail_frames(int(length))

    def forward(self, h):  # (B, F, T')
        return self.net.tail(h)


def on_features(model: nn.Module, *splits: list) -> tuple:
    """(the view, each split's items with the features as ``x``): one front-end pass per recording."""
    front = model.frontend
    return (AfterFrontEnd(model), *[[replace(it, x=front.features(it.x)) for it in items] for items in splits])
