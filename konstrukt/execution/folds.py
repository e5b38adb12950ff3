"""Cross-validation folds as steps: one fold in, its out-of-fold probabilities and metrics out.

A *fold runner* takes (recipe, pool, folds, epochs) and returns the folds' :class:`FoldResult` in
fold order; :func:`run_folds` runs them one after another here, the Ray executor's
(``ray_executor.fold_runner``) as parallel tasks. :func:`konstrukt.experiment.run_experiment` is
given the runner explicitly (:class:`konstrukt.execution.runners.Runners`).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..models.data_fit import refitted
from ..preprocess import Preprocessor
from ..recipe import Recipe


@contextlib.contextmanager
def fold_preprocessing(pre: Preprocessor, raws: list, train_idx: list[int]):
    """What the preprocessor learns from data (signals: per-channel mean/std) refitted on one CV
    fold's training part, so the held-out part is standardised with statistics it did not shape;
    the run's own state is restored afterwards."""
    saved = pre.state()
    pre.fit(raws, None, train_idx)  # no pool: the settings chosen from the data stay the run's
    try:
        yield
    finally:
        pre.load_state(saved)


@dataclass
class FoldResult:
    """What one CV fold hands back: plain data, so a fold can run anywhere (a Ray task)."""

    n: int
    held: list[int]  # sample indices the fold held out
    proba: np.ndarray  # (len(held), C) their out-of-fold probabilities
    metrics: dict


def fit_fold(recipe: Recipe, pool: list[int], train: list[int], held_out: list[int], n: int, k: int,
             epochs: int) -> FoldResult:
    """One CV fold as a step: fit on ``pool[train]`` for ``epochs``, score on ``pool[held_out]``."""
    recipe.progress.event("cv", f"fold {n}/{k}", fold=n, folds=k)
    held = [pool[i] for i in held_out]
    fold_train = [pool[i] for i in train]
    with fold_preprocessing(recipe.p.pre, recipe.p.raws, fold_train), \
            refitted(recipe.p.initial_backbone, recipe.p.pre, recipe.p.raws, fold_train, recipe.config.seed) as fitted:
        if fitted is not None and recipe.probe:
            recipe.remember([(i, 0) for i in fold_train], fitted)
        model, _ = recipe.fit(fold_train, [], epochs=epochs, label=f"fold {n}/{k}",
                              fold=n, folds=k)
        proba = recipe.proba(model, held)
    return FoldResult(n, held, proba, recipe.score(model, held, proba))


def run_folds(recipe: Recipe, pool: list[int], folds: list[tuple[list[int], list[int]]],
              epochs: int) -> list[FoldResult]:
    """The folds one after another in this process (the default fold runner)."""
    return [fit_fold(recipe, pool, tr, te, n, len(folds), epochs) for n, (tr, te) in enumerate(folds, start=1)]


FoldRunner = Callable[[Recipe, list[int], list[tuple[list[int], list[int]]], int], list[FoldResult]]
