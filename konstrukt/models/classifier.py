"""The trainable model: a registered backbone followed by a head built from layer specs."""
from __future__ import annotations

import torch
from torch import nn

from .backbones import Backbone
from .portable import heads as portable


class Classifier(portable.Classifier):
    """``backbone`` (input → (B, D)) then ``head`` ((B, D) → (B, C) logits).

    When the backbone is fully frozen its forward runs without autograd and in eval mode, so
    batch-norm statistics stay those of the pretrained weights.
    """

    def __init__(self, backbone: Backbone, head: nn.Sequential):
        super().__init__(backbone, head)

    @property
    def backbone_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.backbone.parameters())

    def train(self, mode: bool = True) -> "Classifier":
        super().train(mode)
        if self.backbone_frozen:
            self.backbone.eval()
        elif mode:
            # Partly frozen backbones: frozen batch-norm layers keep their pretrained statistics.
            for m in self.backbone.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and not any(
                        p.requires_grad for p in m.parameters(recurse=False)):
                    m.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.backbone_frozen:
            with torch.no_grad():
                features = self.backbone(x)  # (B, D)
        else:
            features = self.backbone(x)  # (B, D)
        return self.head(features)  # (B, C)


def set_trainable(model: Classifier, strategy: str, partial_blocks: int = 2) -> None:
    """Freeze/unfreeze the backbone for ``probe``/``head`` (frozen), ``partial`` (last N), ``full``."""
    model.backbone.requires_grad_(strategy == "full")
    # A backbone may name exactly what trains for a strategy (resnet18_melspec: only conv1).
    parts = model.backbone.trainable_parts(strategy) if hasattr(model.backbone, "trainable_parts") else None
    if parts is not None:
        for part in parts:
            part.requires_grad_(True)
    elif strategy == "partial":
        for block in model.backbone.blocks()[-partial_blocks:]:
            block.requires_grad_(True)
    model.head.requires_grad_(True)
    model.train()


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
