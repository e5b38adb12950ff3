"""Pipelines: a named recipe per task = backbone + default strategy + default head + defaults.

``--pipeline NAME`` picks one; ``auto`` picks the task's recommended pipeline. A pipeline's
``defaults`` sit between the built-in config defaults and the user's config file. Each modality
registers its pipelines (``konstrukt/modalities/``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .registry import Registry, load_modalities
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


PIPELINES: Registry[PipelineSpec] = Registry("pipeline", populate=load_modalities)
# `auto` pipelines that choose between two candidates trained on the same CV folds (baseline,
# richer candidate); see keep_candidate.
AUTO_CANDIDATES: Registry[tuple[str, str]] = Registry("auto pipeline", populate=load_modalities)


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


# From-scratch models on a few dozen examples: a fixed cosine schedule with warm-up (the tiny
# validation split cannot choose epochs, see experiment.epoch_policy), light label smoothing.
SCRATCH_RECIPE: dict[str, Any] = {
    "optimizer": "adamw", "learning_rate": 3e-3, "weight_decay": 1e-2, "num_epochs": 30,
    "batch_size": 16, "lr_schedule": {"name": "cosine", "warmup_epochs": 2}, "label_smoothing": 0.1,
    "early_stopping": {"patience": 8}}

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
