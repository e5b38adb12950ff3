"""Heads are data: a list of :class:`~konstrukt.config.HeadBlock` specs built into nn.Sequential.

The same list is what the config file, the UI's layer editor and the saved run describe. Presets
are registered by name; the final Linear to the number of classes is always appended.
"""
from __future__ import annotations

from torch import nn

from ..config import HeadBlock
from ..registry import Registry
from .portable.heads import build_head as portable_head

HEADS: Registry[list[HeadBlock]] = Registry("head")
HEADS.add("linear", [])
HEADS.add("ridge", [])  # one Linear layer fitted in closed form on a probe (models/ridge.py)
HEADS.add("mlp", [HeadBlock(units=256, activation="relu", dropout=0.5)])
HEADS.add("mlp_bn", [HeadBlock(units=256, activation="relu", dropout=0.5, batchnorm=True)])

def head_blocks(head: str | list[HeadBlock]) -> list[HeadBlock]:
    """Resolve a preset name or an explicit block list."""
    return list(HEADS.get(head)) if isinstance(head, str) else list(head)


def build_head(blocks: list[HeadBlock], in_features: int, num_classes: int) -> nn.Sequential:
    """Linear(units) → [BatchNorm1d] → activation → [Dropout] per block, then Linear(C)
    (:func:`.portable.heads.build_head`, which bundles carry too)."""
    return portable_head([b.model_dump() for b in blocks], in_features, num_classes)
