"""The training run: config → prepared data (:mod:`.prepare`) → fit (+ CV) → evaluate → run directory.

``train`` is what the CLI's ``konstrukt train``, the service's worker and ``konstrukt.train``
all call. It validates everything it can before the long work starts (config, data, weights,
output folder), so a mistake costs seconds, not a training run.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from . import artifacts
from .auto import ContestSteps, auto_plan, offline_fix, resolve_pipeline, run_auto
from .config import TrainConfig, build_config, config_dict, read_config_file
from .data.split import stratified_folds
from .evaluation import summarize_folds
from .execution import forked_pictures
from .execution.folds import FoldRunner, run_folds
from .models.classifier import Classifier, count_parameters
from .models.data_fit import is_data_fitted
from .models.heads import head_blocks
from .pipelines import PipelineSpec
from .prepare import Prepared, prepare, prepare_sibling
from .progress import Progress, ProgressCallback, with_overall
from .errors import WeightsUnavailableError
from .recipe import Recipe
from .reference import evaluate_reference
from .review import review
from .runtime import peak_memory_mb, torch_threads, use_all_cores
from .words import count

if TYPE_CHECKING:
    from .execution.runners import Runners


# --------------------------------------------------------------------------- configuration


def resolve_config(task: str | None = None, pipeline: str | None = None,
                   config: TrainConfig | dict | str | Path | None = None,
                   overrides: dict[str, Any] | None = None) -> tuple[TrainConfig, PipelineSpec]:
    """Merge defaults < pipeline defaults < config file/dict < overrides, and validate."""
    if isinstance(config, TrainConfig):
        file_layer = config.model_dump(exclude_unset=True)
    elif isinstance(config, (str, Path)):
        file_layer = read_config_file(config)
    else:
        file_layer = dict(config or {})
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if task:
        overrides.setdefault("task", task)
    if pipeline:
        overrides.setdefault("pipeline", pipeline)
    early = build_config(file_layer, overrides)  # validates task/pipeline names early
    spec = resolve_pipeline(early.task, early.pipeline, early.pretrained)
    pipeline_layer = {"strategy": spec.strategy, "head": spec.head, "pretrained": spec.pretrained,
                      **spec.defaults}
    user = {**file_layer, **overrides}
    if user.get("pretrained") == "default":
        user.pop("pretrained")
    final = build_config(pipeline_layer, user, {"pipeline": spec.name})
    head_blocks(final.head)  # an unknown head preset fails here, before any data is read
    return final, spec


def _user_layer(pipeline: str | None, config, overrides: dict | None) -> dict[str, Any]:
    """What the user set, config file below flags (no validation: resolve_config did that)."""
    if isinstance(config, TrainConfig):
        layer = config.model_dump(exclude_unset=True)
    elif isinstance(config, (str, Path)):
        layer = read_config_file(config)
    else:
        layer = dict(config or {})
    layer.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if pipeline:
        layer.setdefault("pipeline", pipeline)
    return layer


def wants_auto(pipeline: str | None, config, overrides: dict | None) -> bool:
    """Whether the user asked for ``auto`` (or left the pipeline to konstrukt)."""
    return _user_layer(pipeline, config, overrides).get("pipeline", "auto") == "auto"


def requested_pretrained(config, overrides: dict | None) -> str | None:
    """The user's ``pretrained`` choice, or None when left to the pipeline."""
    return _user_layer(None, config, overrides).get("pretrained")


def overrides_without_pipeline(overrides: dict | None) -> dict:
    return {k: v for k, v in (overrides or {}).items() if k != "pipeline"}


# --------------------------------------------------------------------------- the whole run


def cv_folds(prepared: Prepared, pool: list[int], k: int) -> list[tuple[list[int], list[int]]]:
    """Stratified K folds (indices into ``pool``), seeded: the deep model and the reference share them.

    Copies found by the health check (exact or near duplicates) stay in one fold.
    """
    groups = prepared.health.groups(pool) if prepared.health is not None else None
    recordings = prepared.dataset.groups()  # windows of long recordings: whole recordings/subjects
    if recordings is not None:
        groups = [recordings[i] for i in pool]
        k = min(k, len(set(groups)))
    return stratified_folds([prepared.classes[i] for i in prepared.y[pool]], k, prepared.config.seed,
                            groups)


def folds_fingerprint(prepared: Prepared, pool: list[int], folds: list[tuple[list[int], list[int]]]) -> str:
    """A digest of which examples each fold holds out: equal digests mean the same folds."""
    import hashlib

    held_out = [sorted(prepared.digests[pool[i]] for i in te) for _, te in folds]
    return hashlib.sha1(repr(held_out).encode()).hexdigest()[:16]




def cross_validate(recipe: Recipe, pool: list[int], k: int, epochs: int,
                   folds: list[tuple[list[int], list[int]]] | None = None,
                   oof: np.ndarray | None = None, runner: FoldRunner | None = None) -> dict | None:
    """Stratified K-fold on the train+val pool (test untouched), ``epochs`` per fold.

    ``folds`` (from :func:`cv_folds`) when the caller already has them; ``oof`` (N, C), when given,
    receives each held-out example's out-of-fold probabilities. ``runner`` fits the folds
    (default: one after another, here; see :mod:`konstrukt.execution.folds`).
    """
    p = recipe.p
    folds = cv_folds(p, pool, k) if folds is None else folds
    if not folds:
        return None
    results = (runner or run_folds)(recipe, pool, folds, epochs)
    scores = []
    for result in results:  # the folds meet again here, in fold order
        if oof is not None:
            oof[result.held] = result.proba
        scores.append(result.metrics)
    summary = summarize_folds(scores)
    summary["epochs_per_fold"] = epochs
    summary["folds_fingerprint"] = folds_fingerprint(recipe.p, pool, folds)
    return summary


def epoch_policy(prepared: Prepared) -> str | None:
    """Why the validation split cannot choose the number of epochs, or None when it can.

    Early stopping on 2–3 examples per class stops on noise (the loss of six clips). Below
    ``early_stopping.min_val_per_class`` the model trains on train+val for the full schedule.
    """
    es, val = prepared.config.early_stopping, prepared.splits["val"]
    if not es.enabled or not val:
        return None
    fewest = min(np.bincount(prepared.y[val], minlength=len(prepared.classes)))
    if fewest >= es.min_val_per_class:
        return None
    return (f"the validation split has {count(fewest, 'example')} of some class (fewer than "
            f"{es.min_val_per_class}), too few to choose epochs: trained on train+val for the fixed "
            f"schedule of {prepared.config.num_epochs} epochs")


@dataclass
class Plan:
    """What :func:`run_experiment` fits: the final split (train+val when the validation split
    cannot choose epochs), the CV pool (train+val, the test split untouched) and its folds."""

    policy: str | None  # why the validation split does not choose epochs, or None
    splits: dict[str, list[int]]
    pool: list[int]
    k: int
    folds: list[tuple[list[int], list[int]]]  # one set of folds: CV, reference, compare


def plan_experiment(prepared: Prepared) -> Plan:
    """The splits and folds a run of ``prepared`` uses (no training)."""
    config, splits = prepared.config, prepared.splits
    policy = epoch_policy(prepared)
    if policy:
        splits = {**splits, "train": splits["train"] + splits["val"], "val": []}
    pool = splits["train"] + splits["val"]
    k = config.cv if config.cv is not None else (5 if len(pool) < config.small_data else 0)
    return Plan(policy, splits, pool, k, cv_folds(prepared, pool, k) if k >= 2 else [])


def embed_ahead(prepared: Prepared, progress: Progress, plan: Plan | None = None) -> None:
    """A head on a frozen backbone: embed every (sample, view) that the run's fits and scores
    read, in one pass (one progress bar; with a warm cache, only reads). Pipelines that share the
    backbone then find them all in the cache — also when they train in other processes."""
    recipe = Recipe(prepared, progress)
    if not recipe.probe:
        return
    plan = plan or plan_experiment(prepared)
    items = recipe.fit_items(plan.splits["train"])
    # A backbone fitted on data is refitted per fold: its fold embeddings are computed there.
    for train, _ in [] if is_data_fitted(prepared.initial_backbone) else plan.folds:
        items += recipe.fit_items([plan.pool[i] for i in train])
    items += [(i, 0) for i in plan.splits["val"] + plan.splits["test"]]
    recipe.embeddings(list(dict.fromkeys(items)))


def folds_ahead(recipe: Recipe, plan: Plan, fold_runner: FoldRunner | None):
    """The CV folds started in forked processes before the final fit, where that is possible and
    useful (:mod:`konstrukt.execution.forked_folds`): no other runner given, and no validation
    split, so every fit runs the fixed schedule and the folds' epochs are known now."""
    from .execution import forked_folds

    if fold_runner is not None or plan.splits["val"] or not forked_folds.useful(recipe, plan.folds):
        return None
    epochs = 1 if recipe.closed_form else recipe.config.num_epochs
    return forked_folds.ForkedFolds(recipe, plan.pool, plan.folds, epochs, parent_fits=True)


def run_experiment(prepared: Prepared, progress: Progress, fold_runner: FoldRunner | None = None,
                   on_scored: Callable[[dict, Prepared], None] | None = None) -> tuple[Classifier, dict]:
    """Fit on train (early stopping on val), score on test once, cross-validate small data (its
    folds fitted by ``fold_runner``; default: one after another, here). ``on_scored`` is called
    with the results once the final model is scored, before the folds (the pictures start there)."""
    recipe = Recipe(prepared, progress)
    plan = plan_experiment(prepared)
    policy, splits, pool, k, folds = plan.policy, plan.splits, plan.pool, plan.k, plan.folds
    if policy:
        progress.say(policy)
    progress.event("plan", f"{1 + len(folds)} fits: the final model" + (f" and {len(folds)} cross-validation folds" if folds else ""),
                   fits=1 + len(folds))
    embed_ahead(prepared, progress, plan)
    ahead = folds_ahead(recipe, plan, fold_runner)
    started = time.perf_counter()
    try:
        # while folds fitted ahead hold the other cores, the final fit here takes one thread
        with torch_threads(1) if ahead else contextlib.nullcontext():
            model, result = recipe.fit(splits["train"], splits["val"])
    except BaseException:
        if ahead:
            ahead.stop()
        raise
    if ahead:
        ahead.parent_done()
    train_seconds = time.perf_counter() - started
    report: dict[str, Any] = {"history": result.history, "best_epoch": result.best_epoch,
                              "stopped_early": result.stopped_early, "train_seconds": train_seconds,
                              "epoch_policy": policy}
    if splits["val"]:
        report["val"] = recipe.score(model, splits["val"])
    if splits["test"]:
        progress.event("evaluate", "scoring the test split")
        report["test"] = recipe.score(model, splits["test"])
    if on_scored:
        on_scored(report, prepared)
    report["cv"] = None
    oof = np.full((len(prepared.y), len(prepared.classes)), np.nan)
    if folds:
        t0 = time.perf_counter()
        epochs = max(1, result.best_epoch)
        if ahead and ahead.epochs != epochs:  # not the schedule they were started with: fit again
            ahead.stop()
            ahead = None
        runner = (lambda *_: ahead.results()) if ahead else fold_runner
        report["cv"] = cross_validate(recipe, pool, k, epochs=epochs, folds=folds, oof=oof, runner=runner)
        if report["cv"]:
            report["cv"]["seconds"] = time.perf_counter() - t0
    try:
        report["reference"] = reference(prepared, pool, splits["test"], folds if report["cv"] else [],
                                        progress)
    except Exception as exc:  # a broken optional library must not throw away the trained model
        report["reference"] = None
        progress.warn(f"the simple reference model could not be fitted ({type(exc).__name__}: {exc}); "
                      "the run has no baseline comparison")
    if prepared.health is not None:
        review(prepared.health, prepared.y, oof if report["cv"] else None, pool, prepared.classes,
               report.get("test"), prepared.config.health.mislabelled_top, prepared.config.task)
    report["params_total"], report["params_trainable"] = count_parameters(model)
    report["peak_memory_mb"] = peak_memory_mb(prepared.device)
    return model, report


def reference(prepared: Prepared, pool: list[int], test: list[int],
              folds: list[tuple[list[int], list[int]]], progress: Progress) -> dict | None:
    """The modality's reference model on the same split and folds (once per data and split)."""
    key = repr(("reference", pool, test, folds))
    if key not in prepared.memo:
        progress.event("reference", "fitting the simple reference model on the same split")
        prepared.memo[key] = evaluate_reference(
            prepared.backbone_spec.modality, prepared.raws, prepared.pre, prepared.y, prepared.classes,
            pool, test, folds or None)
        ref = prepared.memo[key]
        if ref and ref.get("cv"):
            ref["cv"]["folds_fingerprint"] = folds_fingerprint(prepared, pool, folds)
    return copy.deepcopy(prepared.memo[key])


def train(data: str | Path, *, task: str | None = None, out: str | Path, pipeline: str | None = None,
          config: TrainConfig | dict | str | Path | None = None, overrides: dict | None = None,
          progress: ProgressCallback | None = None, overwrite: bool = False, verbose: bool = True,
          runners: Runners | None = None):
    """Train a model on ``data`` and write a run directory to ``out``; return the loaded Run.

    ``config`` is a TrainConfig, a dict or a JSON/YAML file; ``overrides`` (e.g. CLI flags) win
    over it. ``progress`` receives event dicts (see :mod:`konstrukt.progress`). ``runners``: how
    the CV folds run (default: here, one after another; the Ray executor passes its own).
    """
    from .inference import Run
    from .sequences.data import is_text_csv

    if is_text_csv(data):  # a labels CSV with text: a sequence run (konstrukt/sequences/, CTC)
        from .sequences.run import train_sequences

        return train_sequences(data, out=out, config=config, overrides=overrides, task=task,
                               pipeline=pipeline, overwrite=overwrite, verbose=verbose, progress=progress)
    reporter = Progress(with_overall(progress), verbose)  # one progress over every stage and fold
    started = time.perf_counter()
    fold_runner = runners.folds if runners else None
    cfg, spec = resolve_config(task, pipeline, config, overrides)
    plan = auto_plan(cfg.task, requested_pretrained(config, overrides)) if wants_auto(
        pipeline, config, overrides) else None
    staging = artifacts.start_run_dir(Path(out), overwrite)  # unwritable → error before any work
    # each candidate's pictures are drawn in a forked process while its folds run
    ahead: list[forked_pictures.PicturesAhead] = []
    try:
        use_all_cores()
        prepared = prepare(data, cfg, spec, reporter)
        reporter.say(f"training {spec.name} ({prepared.config.strategy}) on {len(prepared.raws)} examples, "
                     f"{len(prepared.classes)} classes, device {prepared.device}")
        selection = None

        def draw_ahead(results: dict, scored: Prepared) -> None:
            if pictures := forked_pictures.draw_ahead(results, scored.classes, scored.device):
                ahead.append(pictures)

        experiment = functools.partial(run_experiment, on_scored=draw_ahead)
        if plan is not None:  # auto: a quick CV contest, then the kept pipeline's model as it is
            prepared, model, report, selection = run_auto(
                prepared, plan, (config, overrides_without_pipeline(overrides)), reporter,
                ContestSteps(resolve_config, prepare_sibling, experiment), fold_runner)
        else:
            model, report = experiment(prepared, reporter, fold_runner)
        cfg = prepared.config  # with the settings prepare chose from the data
        report = artifacts.build_report(prepared, report, selection=selection)
        report["wall_seconds"] = round(time.perf_counter() - started, 3)  # the whole run, beside train_seconds
        drawn = forked_pictures.drawn_from(report, report["classes"])
        kept = next((p for p in ahead if p.what == drawn), None)
        for other in ahead:
            if other is not kept:
                other.discard()
        artifacts.write_run(staging, report, config_dict(cfg), model, prepared.dataset.root, pictures=kept)
        final = artifacts.finish_run_dir(staging, Path(out), overwrite)
    except BaseException as exc:
        for pictures in ahead:  # a failed run leaves no drawing process behind
            pictures.stop()
        artifacts.abandon_run_dir(staging)
        if isinstance(exc, WeightsUnavailableError):  # the fix that works here first
            raise offline_fix(exc, cfg.task) from None
        raise
    reporter.event("done", f"run written to {final}", run_dir=str(final))
    return Run.load(final)
