"""Pipelines: a named recipe per task = backbone + default strategy + default head + defaults.

``--pipeline NAME`` picks one; ``auto`` picks the task's recommended pipeline. A pipeline's
``defaults`` sit between the built-in config defaults and the user's config file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .registry import Registry
from .tasks import TASKS


@dataclass(frozen=True)
class PipelineSpec:
    name: str
    tasks: tuple[str, ...]
    backbone: str
    strategy: str = "probe"  # probe | head | partial | full
    head: str = "linear"  # head preset (see models.heads.HEADS)
    pretrained: str = "default"
    defaults: dict[str, Any] = field(default_factory=dict)
    description: str = ""


PIPELINES: Registry[PipelineSpec] = Registry("pipeline")


def register_pipeline(spec: PipelineSpec) -> PipelineSpec:
    return PIPELINES.add(spec.name, spec)


def resolve_pipeline(task: str, name: str) -> PipelineSpec:
    """The pipeline for ``name`` (``auto`` → the task's recommended one), checked against the task."""
    if name == "auto":
        name = TASKS.get(task).default_pipeline
    spec = PIPELINES.get(name)
    if task not in spec.tasks:
        usable = [n for n, p in PIPELINES.items() if task in p.tasks]
        raise ConfigError(
            f"pipeline {name!r} does not work on task {task!r}",
            [f"pipelines for {task}: {', '.join(usable)}"],
        )
    return spec


for _name in ["efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
              "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
              "resnet18", "resnet50", "mobilenet_v3_small", "mobilenet_v3_large"]:
    register_pipeline(PipelineSpec(
        name=_name, tasks=("image",), backbone=_name, strategy="probe", head="linear",
        pretrained="imagenet",
        description=f"{_name} with ImageNet weights, frozen; new classifier on (cached) embeddings",
    ))

register_pipeline(PipelineSpec(
    name="scratch_cnn", tasks=("image",), backbone="scratch_cnn", strategy="full", head="linear",
    pretrained="none",
    defaults={"learning_rate": 3e-3, "num_epochs": 30, "batch_size": 16,
              "early_stopping": {"patience": 8}},
    description="small CNN trained from scratch: offline, seconds on a CPU",
))
