"""A toy modality in one package: "value lists" (task ``values``), to prove that adding a modality
touches nothing outside its package.

A file ``*.vals`` holds numbers separated by spaces, commas or new lines; the preprocessor pads or
crops them to ``length`` values; the one backbone is a two-layer MLP trained from scratch; one
pipeline puts a linear head on it. ``register()`` and ``register_backbones()`` are the two
functions :func:`konstrukt.modalities.register_package` calls, as for a built-in modality.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from konstrukt.errors import DataError
from konstrukt.models.backbones import Backbone, BackboneSpec, register_backbone, with_pretrained
from konstrukt.pipelines import PipelineSpec, register_pipeline
from konstrukt.preprocess import Preprocessor
from konstrukt.registry import Registry
from konstrukt.tasks import Modality, TaskSpec, UICapabilities, register_modality

EXTENSIONS = frozenset({".vals"})
AUGMENTATIONS: Registry = Registry("values augmentation")  # none: a toy trains on its files as they are


@dataclass(frozen=True)
class ValuesInput:
    """What a values backbone takes: (B, length) floats."""

    length: int = 16


class ValuesPreprocessor(Preprocessor):
    """A ``.vals`` file → (length,) float tensor: the numbers, zero-padded or cropped."""

    def __init__(self, length: int):
        self.length = length
        self.signature = f"values:{length}"

    def load(self, path: Path) -> np.ndarray:
        text = Path(path).read_text(encoding="utf-8")
        try:
            values = np.array([float(v) for v in re.split(r"[\s,]+", text.strip()) if v], dtype=np.float32)
        except ValueError as exc:
            raise DataError(f"{Path(path).name}: not a list of numbers ({exc})",
                            ["Fix: write numbers separated by spaces, commas or new lines"]) from None
        if values.size == 0:
            raise DataError(f"{Path(path).name}: holds no numbers", ["Fix: remove the empty file"])
        return values

    def tensor(self, raw: np.ndarray, augment: bool = False, seed: int | None = None) -> torch.Tensor:
        out = np.zeros(self.length, dtype=np.float32)
        out[:min(self.length, raw.size)] = raw[:self.length]
        return torch.from_numpy(out)  # (L,)

    def state(self) -> dict:
        return {"kind": "values", "length": self.length, "layout": "(length,), zero-padded or cropped"}

    @classmethod
    def from_state(cls, config: dict) -> "ValuesPreprocessor":
        return cls(config["length"])


class ValuesMLP(Backbone):
    """Two linear layers with ReLU: (B, L) → (B, 16)."""

    def __init__(self, length: int = 16, width: int = 32, num_features: int = 16):
        super().__init__()
        self.layer1 = nn.Sequential(nn.Linear(length, width), nn.ReLU())
        self.layer2 = nn.Sequential(nn.Linear(width, num_features), nn.ReLU())
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, L)
        return self.layer2(self.layer1(x))  # (B, D)

    def blocks(self) -> list[nn.Module]:
        return [self.layer1, self.layer2]


def _mlp_factory(spec: BackboneSpec, pretrained: str) -> Backbone:
    return with_pretrained(ValuesMLP(spec.input.length, num_features=spec.num_features), spec, pretrained,
                           "values_mlp")


MODALITY = Modality(
    name="values", extensions=EXTENSIONS,
    preprocessor=lambda spec, config: ValuesPreprocessor(spec.input.length),
    restore_preprocessor=ValuesPreprocessor.from_state,
    augmentations=lambda: AUGMENTATIONS,
    example_input=lambda spec, batch=1, small=False: torch.randn(batch, spec.input.length),  # (B, L)
    ui=UICapabilities(accept=tuple(sorted(EXTENSIONS))),
    description="lists of numbers (.vals)",
)


def register() -> None:
    """The modality, its task and its pipeline."""
    register_modality(MODALITY, (TaskSpec("values", "values", EXTENSIONS, default_pipeline="values_mlp",
                                          offline_pipeline="values_mlp", description="value lists"),))
    register_pipeline(PipelineSpec(
        name="values_mlp", tasks=("values",), backbone="values_mlp", strategy="full", head="linear",
        pretrained="none", defaults={"optimizer": "adamw", "learning_rate": 1e-2, "num_epochs": 15,
                                     "batch_size": 8, "augment": {"enabled": False}},
        description="a two-layer MLP on the values, from scratch"))


def register_backbones() -> None:
    register_backbone(BackboneSpec(name="values_mlp", modality="values", factory=_mlp_factory, num_features=16,
                                   input=ValuesInput(), default_weights="none",
                                   description="two-layer MLP on a value list (from scratch)"))
