"""Backbone registry and the image backbones.

Every backbone honours one contract (checked by a registry-wide test):

* ``forward(x) -> (B, D)`` — a clip/image embedding; preprocessing that can live inside the module
  (normalisation, waveform → log-mel) does, so exported graphs take raw input;
* ``num_features`` — D;
* ``blocks()`` — the trainable stages from input to output, so ``partial`` fine-tuning can unfreeze
  the last N of them.

A :class:`BackboneSpec` records a backbone's defaults: modality, embedding size, the named
pretrained weight sources (``arch.tag``) and, in ``input``, the modality's own input settings
(image size and mean/std, or sample rate). The modalities register them
(``konstrukt/modalities/``); this module holds the registry and the image backbones' code.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import Registry, load_backbones
from .weights import WeightSource, fetch_checkpoint, load_strict, read_state_dict


class Backbone(nn.Module):
    """Base for registered backbones: ``forward(x) -> (B, num_features)``."""

    num_features: int

    def blocks(self) -> list[nn.Module]:
        """Trainable stages, input → output (for partial fine-tuning)."""
        return [self]


@dataclass(frozen=True)
class BackboneSpec:
    """Defaults of a registered backbone."""

    name: str
    modality: str  # a registered modality: "image" | "audio" | …
    factory: Callable[["BackboneSpec", str], Backbone]
    num_features: int
    input: Any = None  # the modality's input record (ImageInput, AudioInput, …)
    weights: Mapping[str, WeightSource] = field(default_factory=dict)
    default_weights: str = "none"
    extra: dict[str, Any] = field(default_factory=dict)
    description: str = ""


BACKBONES: Registry[BackboneSpec] = Registry("backbone", populate=load_backbones)


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    return BACKBONES.add(spec.name, spec)


def build_backbone(name: str, pretrained: str = "default", **options: Any) -> Backbone:
    """Build backbone ``name`` with ``pretrained`` = ``none``, ``default``, a weight tag or a file.

    ``options`` are sizes the data decides (a signal model's channel count, from its
    preprocessor's ``backbone_options()``); backbones without such options take none.
    """
    spec = BACKBONES.get(name)
    resolved = resolve_pretrained(spec, pretrained)
    return spec.factory(spec, resolved, **options) if options else spec.factory(spec, resolved)


def resolve_pretrained(spec: BackboneSpec, pretrained: str) -> str:
    """Normalise the user's choice to ``none``, a known weight tag, or an existing file path."""
    pretrained = str(pretrained)
    if pretrained == "default":
        return spec.default_weights
    if pretrained == "none" or pretrained in spec.weights:
        return pretrained
    if Path(pretrained).expanduser().is_file():
        return str(Path(pretrained).expanduser())
    tags = ", ".join(["none", *spec.weights]) or "none"
    raise ConfigError(
        f"--pretrained {pretrained!r} is neither a weight name of {spec.name} nor an existing file",
        [f"choose one of: {tags}, or give the path of a state_dict file"],
    )


def pretrained_state(spec: BackboneSpec, pretrained: str) -> dict[str, torch.Tensor] | None:
    """The state dict for ``pretrained`` (already resolved), or None for random init."""
    if pretrained == "none":
        return None
    if pretrained in spec.weights:
        path = fetch_checkpoint(spec.weights[pretrained], f"{spec.name}.{pretrained}")
        return read_state_dict(path)
    return read_state_dict(pretrained)


def with_pretrained(model: nn.Module, spec: BackboneSpec, pretrained: str, what: str) -> nn.Module:
    """Load ``pretrained`` (resolved: none, a tag or a file) into ``model`` strictly; return it."""
    state = pretrained_state(spec, pretrained)
    if state is not None:
        load_strict(model, state, what)
    return model


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


class _TorchvisionWeights(Mapping):
    """``{"imagenet": WeightSource}`` whose URL is read from torchvision's weight enum on first use:
    importing torchvision costs seconds and ~150 MB, which a sound, signal or Lite0 run never needs."""

    def __init__(self, enum_name: str, tag: str):
        self.enum_name, self.tag = enum_name, tag

    def __getitem__(self, key: str) -> WeightSource:
        if key != "imagenet":
            raise KeyError(key)
        return _tv_weight_source(self.enum_name, self.tag)

    def __iter__(self):
        return iter(("imagenet",))

    def __len__(self) -> int:
        return 1


@functools.lru_cache(maxsize=None)
def _tv_weight_source(enum_name: str, tag: str) -> WeightSource:
    import torchvision

    entry = getattr(torchvision.models, enum_name)[tag]
    return WeightSource(url=entry.url, description=f"torchvision {enum_name}.{tag}")


def _tv_weights(arch: str, enum_name: str, tag: str = "IMAGENET1K_V1") -> Mapping[str, WeightSource]:
    """The real weight URL from torchvision's weight enum (no network needed), read when asked for."""
    return _TorchvisionWeights(enum_name, tag)


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
