"""Pipelines: a named recipe per task = backbone + default strategy + default head + defaults.

``--pipeline NAME`` picks one; ``auto`` decides by what is on this machine and by the data
(:mod:`konstrukt.auto`). A pipeline's
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
# richer candidate), chosen by the general rule of `recommend`.
AUTO_CANDIDATES: Registry[tuple[str, str]] = Registry("auto pipeline", populate=load_modalities)


def register_pipeline(spec: PipelineSpec) -> PipelineSpec:
    return PIPELINES.add(spec.name, spec)


def resolve_pipeline(task: str, name: str, pretrained: str | None = None) -> PipelineSpec:
    """The pipeline for ``name``, checked against the task; ``auto`` → the one it starts from on
    this machine (see :mod:`konstrukt.auto`; ``pretrained``: the user's choice of weights)."""
    if name == "auto":
        from .auto import auto_plan  # lazy: auto imports this module

        name = auto_plan(task, pretrained).start
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


def recommend(candidates: list[dict]) -> tuple[str, str]:
    """The pipeline to recommend from cross-validation alone, and why, in words.

    ``candidates``: ``{"name", "scores" (per-fold accuracy, the same folds for all), "params"
    (total parameters), "latency_ms" (or None)}``. Rule: find the best CV mean; every candidate
    within one fold standard deviation (of the best's folds) of it is as good as far as this data
    can tell, and of those the smallest (then fastest) one is recommended. The test split is
    never looked at.
    """
    import numpy as np

    if not candidates:
        raise ValueError("recommend() needs at least one candidate")
    stats = {c["name"]: (float(np.mean(c["scores"])), float(np.std(c["scores"]))) for c in candidates}

    def cost(c: dict) -> tuple:
        lat = c.get("latency_ms")
        return (c.get("params") or 0, float("inf") if lat is None else lat)

    best = max(candidates, key=lambda c: (stats[c["name"]][0], tuple(-x for x in cost(c))))
    best_mean, best_std = stats[best["name"]]
    near = [c for c in candidates if stats[c["name"]][0] >= best_mean - best_std - 1e-12]
    pick = min(near, key=lambda c: (*cost(c), -stats[c["name"]][0]))
    folds = len(best["scores"])
    pc = lambda m, sd: f"{100 * m:.1f} % ± {100 * sd:.1f}"  # one unit throughout: percentage points
    if len(candidates) == 1:
        return pick["name"], (f"recommended {pick['name']}: the only one with a cross-validated accuracy "
                              f"({pc(best_mean, best_std)} over {folds} folds)")
    summary = "; ".join(f"{c['name']} {pc(*stats[c['name']])}" for c in candidates)
    if pick is best:
        why = (f"{pick['name']}: the best cross-validated accuracy ({pc(best_mean, best_std)} "
               f"over {folds} folds), and no smaller pipeline is within one fold std of it")
        return pick["name"], f"recommended {why}; {summary}"
    return pick["name"], (
        f"recommended {pick['name']}: within one fold std ({100 * best_std:.1f} points) of the best, "
        f"{best['name']} ({100 * best_mean:.1f} %), and smaller or faster ({pick.get('params') or 0:,} vs "
        f"{best.get('params') or 0:,} parameters), so the difference is within what {folds} folds of this "
        f"data can tell apart; {summary}")


def recommend_runs(runs: dict[str, dict]) -> tuple[str | None, str]:
    """Which of several trained runs (``name`` → ``report.json``) to recommend, and why.

    The rule of :func:`recommend`, on each run's cross-validation folds only (never the test split,
    which differs between runs and is touched once); runs without CV cannot be ranked and are said
    to be so. Used wherever runs are set side by side (the web app's "Compare selected").
    """
    scored = [{"name": name, "scores": [f["accuracy"] for f in r["cv"]["per_fold"]],
               "params": r.get("params_total"), "latency_ms": None}
              for name, r in runs.items() if (r.get("cv") or {}).get("per_fold")]
    unranked = [name for name in runs if name not in {c["name"] for c in scored}]
    note = (f" ({', '.join(unranked)}: no cross-validation, so not ranked)" if unranked else "")
    if not scored:
        return None, "none of these runs has a cross-validation figure to rank them by" + note
    if len(scored) == 1:
        return scored[0]["name"], (f"{scored[0]['name']}: the only run with a cross-validation figure"
                                   + note)
    name, why = recommend(scored)
    return name, why + note
