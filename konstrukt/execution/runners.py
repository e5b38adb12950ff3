"""How the parts of one job run: its cross-validation folds and the pipelines of a comparison.

A :class:`Runners` record is passed in explicitly (``train(..., runners=)``, ``compare(...,
runners=)``) by whoever runs the job: the default (both ``None``) runs folds one after another and
a comparison's pipelines on this machine (:func:`konstrukt.execution.forked.run_local`); the Ray
executor passes runners that spread them as Ray tasks (:mod:`.ray_executor`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .folds import FoldRunner
    from .pipelines import PipelineRunner


@dataclass(frozen=True)
class Runners:
    folds: FoldRunner | None = None  # None: execution.folds.run_folds (one after another, here)
    pipelines: PipelineRunner | None = None  # None: execution.forked.run_local (this machine)
