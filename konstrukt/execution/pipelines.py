"""One pipeline of a comparison as a step: fit, evaluate, write its run folder, time one prediction.

A comparison hands the pipelines of one group (one shared :class:`~konstrukt.prepare.Prepared`)
to a *pipeline runner*: :func:`konstrukt.execution.forked.run_local` on this machine (side by side
in forked processes where that helps), :func:`run_sequential` one after another, or the Ray
executor's parallel tasks. Every runner returns, per job, ``(report, latency ms, seconds)`` or the
exception that stopped it.
"""
from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .. import artifacts
from ..errors import WeightsUnavailableError
from ..progress import Progress

log = logging.getLogger("konstrukt.compare")


@dataclass
class PipelineJob:
    """One pipeline of a comparison: its Prepared (the group's shared decode and split, its own
    config), the run folder to write, and its progress."""

    prepared: Any
    folder: Path
    progress: Progress
    title: str  # the progress event that announces it
    line: str  # … and the line people see
    fold_runner: Any = None  # how its CV folds run (see execution.folds; None: one after another)


# A pipeline runner: jobs in, per job (report, latency ms, seconds) or its exception out, in order.
PipelineRunner = Callable[[list[PipelineJob]], list]


def train_pipeline(job: PipelineJob):
    """Fit, evaluate and write one pipeline's run folder; return (model, report, seconds)."""
    from ..config import config_dict
    from ..experiment import run_experiment
    from ..runtime import reset_peak_memory

    prepared, progress = job.prepared, job.progress
    progress.event("compare", job.title)
    progress.say(job.line)
    started = time.perf_counter()
    reset_peak_memory(prepared.device)
    model, results = run_experiment(prepared, progress, job.fold_runner)
    report = artifacts.build_report(prepared, results)
    job.folder.mkdir(parents=True)
    artifacts.write_run(job.folder, report, config_dict(prepared.config), model, prepared.dataset.root)
    return model, report, time.perf_counter() - started


def pipeline_latency(model, prepared) -> float:
    """The leaderboard's latency of a fitted pipeline: timed on test examples (else train/val)."""
    pool = prepared.splits["train"] + prepared.splits["val"]
    return latency_ms(model, prepared, prepared.splits["test"] or pool)


def fit_pipeline(job: PipelineJob) -> tuple[dict, float, float]:
    """One pipeline as a step: fit, evaluate, write its run folder; return (report, latency ms, seconds)."""
    model, report, seconds = train_pipeline(job)
    return report, pipeline_latency(model, job.prepared), seconds


def run_sequential(jobs: list[PipelineJob]) -> list[tuple[dict, float, float] | Exception]:
    """The pipelines one after another in this process; a failing pipeline gives its exception
    in its place (its row says why; the others go on)."""
    results: list[tuple[dict, float, float] | Exception] = []
    for job in jobs:
        try:
            results.append(fit_pipeline(job))
        except Exception as exc:  # noqa: BLE001 — one pipeline failing must not stop the others
            if not isinstance(exc, WeightsUnavailableError):
                log.exception("pipeline failed")
            results.append(exc)
    return results


def _median_ms(call, inputs: list, repeats: int, budget_s: float = 0.25) -> float:
    """Median wall time (ms) of ``call`` after two warm-up calls: ``repeats`` timed calls, or as
    many (at least 5) as fit in ``budget_s`` when one call is slow (a big backbone at batch 1)."""
    for n in range(2):
        call(inputs[n % len(inputs)])
    times: list[float] = []
    while len(times) < repeats and (len(times) < 5 or sum(times) < budget_s):
        start = time.perf_counter()
        call(inputs[len(times) % len(inputs)])
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def latency_ms(model, prepared, indices: list[int], repeats: int = 10) -> float:
    """Median wall time (ms) to classify one example, batch 1, preprocessing included, this machine.

    With a frozen backbone, pipelines that share it (``compare`` of several heads) share its part
    of the time: preprocessing + backbone is measured once per group, and each head on its own.
    """
    import torch

    device = prepared.device
    model.eval().to(device)
    raws = [prepared.raws[i] for i in indices[:3]] or prepared.raws[:1]
    with torch.inference_mode():
        def features(raw):
            return model.backbone(prepared.pre.tensor(raw)[None].to(device))

        if not getattr(model, "backbone_frozen", False):
            return _median_ms(lambda raw: model.head(features(raw)).float().cpu(), raws, repeats)
        # A group's Prepared (one memo) means one backbone, its weights and preprocessing; frozen, it
        # is the same network in every pipeline of the group.
        if "frozen_backbone_latency" not in prepared.memo:
            embedded: dict[int, Any] = {}  # the timed calls' outputs feed the heads' timing

            def embed(k: int):
                embedded[k] = features(raws[k])

            backbone_ms = _median_ms(embed, list(range(len(raws))), repeats)
            prepared.memo["frozen_backbone_latency"] = (backbone_ms, [embedded[k] for k in range(len(raws))])
        backbone_ms, embedded = prepared.memo["frozen_backbone_latency"]
        return backbone_ms + _median_ms(lambda f: model.head(f).float().cpu(), embedded, repeats)


def why_failed(exc: BaseException) -> str:
    """A pipeline's failure in one line, for its row: the message and problems of our own errors."""
    from ..errors import explain

    return explain(exc)
