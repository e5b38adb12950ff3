"""Backbone registry: the contract every backbone honours, its spec record and the weight helpers.

Every backbone honours one contract (checked by a registry-wide test):

* ``forward(x) -> (B, D)`` — a clip/image embedding; preprocessing that can live inside the module
  (normalisation, waveform → log-mel) does, so exported graphs take raw input;
* ``num_features`` — D;
* ``blocks()`` — the trainable stages from input to output, so ``partial`` fine-tuning can unfreeze
  the last N of them.

A :class:`BackboneSpec` records a backbone's defaults: modality, embedding size, the named
pretrained weight sources (``arch.tag``) and, in ``input``, the modality's own input settings
(image size and mean/std, or sample rate). The modalities register them
(``konstrukt/modalities/``), whose packages hold the backbones' code.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import Registry
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
    packages: tuple[str, ...] = ()  # distributions its code comes from, beyond konstrukt's own (run versions)


BACKBONES: Registry[BackboneSpec] = Registry("backbone", explicit=True)


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
