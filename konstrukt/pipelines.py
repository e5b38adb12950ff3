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


# --------------------------------------------------------------------------- audio pipelines

_AUDIO = ("sound", "speech")
_WAVEFORM_ONLY = {"augment": {"time_mask": 0, "freq_mask": 0}}  # embedding pipelines: no SpecAugment

register_pipeline(PipelineSpec(
    name="panns_cnn14_mlp", tasks=_AUDIO, backbone="cnn14", strategy="probe", head="mlp",
    pretrained="audioset", defaults={**_WAVEFORM_ONLY, "optimizer": "adamw", "learning_rate": 1e-3,
                                     "num_epochs": 60, "batch_size": 16},
    description="PANNs CNN14 (AudioSet) frozen → cached 2048-d clip embeddings → MLP head",
))
register_pipeline(PipelineSpec(
    name="resnet18_melspec", tasks=_AUDIO, backbone="resnet18_melspec", strategy="partial",
    head="linear", pretrained="imagenet",
    defaults={"optimizer": "adamw", "learning_rate": 1e-3, "num_epochs": 30, "batch_size": 16},
    description="ResNet18 (ImageNet) on a 1-channel log-mel; conv1 and the new fc train, rest frozen",
))
register_pipeline(PipelineSpec(
    name="ast_finetune", tasks=_AUDIO, backbone="ast", strategy="full", head="linear",
    pretrained="audioset",
    defaults={"optimizer": "adamw", "learning_rate": 5e-5, "weight_decay": 1e-2, "num_epochs": 10,
              "batch_size": 4, "augment": {"gain_db": (0.0, 0.0)}},  # stretch, pitch, noise
    description="Audio Spectrogram Transformer (AudioSet) fully fine-tuned with AdamW",
))
register_pipeline(PipelineSpec(
    name="wav2vec2_linear", tasks=_AUDIO, backbone="wav2vec2_base", strategy="probe", head="linear",
    pretrained="base", defaults={**_WAVEFORM_ONLY, "learning_rate": 1e-3, "num_epochs": 60},
    description="wav2vec2-base frozen → mean-pooled 768-d embedding → linear head (baseline)",
))
register_pipeline(PipelineSpec(
    name="wav2vec2_mlp", tasks=_AUDIO, backbone="wav2vec2_base", strategy="probe", head="mlp",
    pretrained="base",
    defaults={**_WAVEFORM_ONLY, "optimizer": "adamw", "learning_rate": 1e-4, "weight_decay": 1e-2,
              "num_epochs": 100, "early_stopping": {"enabled": True, "patience": 10}},
    description="wav2vec2-base frozen → mean-pooled 768-d → MLP 768→256→C (ReLU, dropout 0.5)",
))
# `auto` for speech: the orchestrator trains both candidates on the same CV folds and keeps the
# MLP only when it wins clearly (see keep_candidate); on its own this spec is the linear baseline.
register_pipeline(PipelineSpec(
    name="wav2vec2_auto", tasks=("speech",), backbone="wav2vec2_base", strategy="probe", head="linear",
    pretrained="base", defaults={**_WAVEFORM_ONLY, "learning_rate": 1e-3, "num_epochs": 60},
    description="wav2vec2-base probe: linear head, or the MLP when it beats it by > 1 fold std",
))
AUTO_CANDIDATES: dict[str, tuple[str, str]] = {"wav2vec2_auto": ("wav2vec2_linear", "wav2vec2_mlp")}
register_pipeline(PipelineSpec(
    name="scratch_melcnn", tasks=_AUDIO, backbone="scratch_melcnn", strategy="full", head="linear",
    pretrained="none",
    defaults={"optimizer": "adamw", "learning_rate": 3e-3, "num_epochs": 30, "batch_size": 16,
              "early_stopping": {"patience": 8}},
    description="small log-mel CNN trained from scratch: offline, seconds on a CPU",
))


def keep_candidate(baseline: str, baseline_scores: list[float],
                   candidate: str, candidate_scores: list[float]) -> tuple[str, str]:
    """Pick between a baseline and a richer candidate scored on the same CV folds.

    The candidate is kept only when its mean beats the baseline's by more than one standard
    deviation of the candidate's fold scores; returns (kept pipeline name, reason in words).
    """
    import numpy as np

    b, c = np.asarray(baseline_scores, float), np.asarray(candidate_scores, float)
    margin = float(c.std())
    gain = float(c.mean() - b.mean())
    summary = (f"{candidate} {c.mean():.3f} ± {c.std():.3f} vs {baseline} {b.mean():.3f} ± "
               f"{b.std():.3f} over {len(c)} folds")
    if gain > margin:
        return candidate, f"kept {candidate}: it beats {baseline} by {gain:.3f} > one fold std ({margin:.3f}); {summary}"
    return baseline, f"kept {baseline}: {candidate} does not beat it by more than one fold std ({gain:.3f} ≤ {margin:.3f}); {summary}"
