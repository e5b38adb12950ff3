"""The image backbones' code: torchvision classifiers with their classifier removed, and the small
CNN trained from scratch. Registered with their defaults by :func:`konstrukt.modalities.image.register_backbones`.
"""
from __future__ import annotations

import torch
from torch import nn

from ...models.backbones import Backbone, BackboneSpec, with_pretrained
from ...models.weights import WeightSource


# --------------------------------------------------------------------------- torchvision backbones


class TorchvisionBackbone(Backbone):
    """A torchvision classifier with its final classifier removed; normalisation built in.

    The wrapped model keeps torchvision's own module names, so official checkpoints load with
    ``strict=True`` before the classifier is dropped.
    """

    def __init__(self, model: nn.Module, classifier_attr: str, num_features: int,
                 block_names: list[str], mean, std):
        super().__init__()
        self.model = model
        setattr(self.model, classifier_attr, nn.Identity())
        self.num_features = num_features
        self._block_names = block_names
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, 3, H, W) in [0, 1]
        return self.model((x - self.mean) / self.std)  # (B, D)

    def blocks(self) -> list[nn.Module]:
        out: list[nn.Module] = []
        for name in self._block_names:
            mod = self.model.get_submodule(name)
            # Sequential stages (EfficientNet/MobileNet features) count block by block.
            out.extend(mod.children() if name == "features" else [mod])
        return out


def _torchvision_factory(arch: str, classifier_attr: str, block_names: list[str]):
    def factory(spec: BackboneSpec, pretrained: str) -> Backbone:
        import torchvision

        model = with_pretrained(getattr(torchvision.models, arch)(weights=None), spec, pretrained,
                                f"torchvision {arch}")
        return TorchvisionBackbone(model, classifier_attr, spec.num_features, block_names,
                                   spec.input.mean, spec.input.std)

    return factory


def _tv_weights(arch: str, enum_name: str, tag: str = "IMAGENET1K_V1") -> dict[str, WeightSource]:
    """Read the real weight URL from torchvision's weight enum (no network needed)."""
    import torchvision

    entry = getattr(torchvision.models, enum_name)[tag]
    return {"imagenet": WeightSource(url=entry.url, description=f"torchvision {enum_name}.{tag}")}


# --------------------------------------------------------------------------- from scratch


class ScratchCNN(Backbone):
    """A small 4-stage CNN that trains from scratch on a CPU in seconds (the offline default)."""

    def __init__(self, in_channels: int = 3, widths: tuple[int, ...] = (16, 32, 64, 128)):
        super().__init__()
        stages, prev = [], in_channels
        for w in widths:
            stages.append(nn.Sequential(
                nn.Conv2d(prev, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ))
            prev = w
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, H, W) in [0, 1]
        x = (x - 0.5) / 0.25  # (B, C, H, W), roughly centred
        return self.pool(self.stages(x)).flatten(1)  # (B, D)

    def blocks(self) -> list[nn.Module]:
        return list(self.stages)


def _scratch_factory(spec: BackboneSpec, pretrained: str) -> Backbone:
    model = ScratchCNN(**spec.extra.get("config_overrides", {}))
    return with_pretrained(model, spec, pretrained, "scratch_cnn")
