"""The training recipe: data → split → pipeline → fit (+ CV) → evaluate → run directory.

``train`` is what the CLI's ``konstrukt train``, the service's worker and ``konstrukt.train``
all call. It validates everything it can before the long work starts (config, data, weights,
output folder), so a mistake costs seconds, not a training run.
"""
from __future__ import annotations

import contextlib
import copy
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset as TorchDataset, TensorDataset

from . import artifacts
from .auto import auto_plan, run_auto
from .config import TrainConfig, build_config, check_train_items, config_dict, read_config_file
from .data import Dataset, discover, stratified_folds, stratified_split
from .data.health import check_data, enforce
from .embeddings import EmbeddingCache, default_cache_dir, embed_views
from .errors import DataError
from .evaluation import classification_metrics, summarize_folds
from .models.backbones import BACKBONES, Backbone, BackboneSpec, build_backbone, resolve_pretrained
from .models.classifier import Classifier, count_parameters, set_trainable
from .models.data_fit import fit_backbone, fitted_id, is_data_fitted, refitted
from .models.heads import build_head, head_blocks
from .pipelines import PipelineSpec, resolve_pipeline
from .preprocess import Preprocessor, build_preprocessor
from .progress import Progress, ProgressCallback, with_overall
from .reference import evaluate_reference
from .review import review
from .runtime import cores, peak_memory_mb, seed_everything, select_device, torch_threads, use_all_cores
from .training import FitResult, fit, predict_proba


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


# --------------------------------------------------------------------------- prepared data


@dataclass
class Prepared:
    """Everything a fit needs: decoded samples, integer labels, the model parts and their inputs."""

    config: TrainConfig
    pipeline: PipelineSpec
    backbone_spec: BackboneSpec
    dataset: Dataset
    classes: list[str]
    y: np.ndarray  # (N,) class index per sample
    raws: list[Any]  # decoded samples, aligned with dataset.samples
    pre: Preprocessor
    initial_backbone: Backbone
    device: torch.device
    splits: dict[str, list[int]] = field(default_factory=dict)
    health: Any = None  # data.health.HealthReport: findings before (and after) training
    fitted: dict[str, dict] = field(default_factory=dict)  # config overrides chosen from the data
    # Results that depend only on the data and the split (the reference model), shared by the
    # pipelines that `compare` runs on one Prepared (dataclasses.replace keeps the same dict).
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def digests(self) -> list[str]:
        return [s.digest for s in self.dataset.samples]


def decode_all(samples, pre: Preprocessor, progress: Progress) -> list[Any]:
    """Decode every file once; collect every failure and raise them together."""
    raws, problems = [], []
    bar = progress.bar(len(samples), "reading files", "file")
    for s in samples:
        try:
            raws.append(pre.load_sample(s))
        except DataError as exc:
            problems.append(exc.message)
        bar.update()
    bar.close()
    if problems:
        raise DataError(f"{len(problems)} file(s) cannot be read — fix or remove them and run again",
                        problems)
    return raws


def make_splits(dataset: Dataset, config: TrainConfig) -> dict[str, list[int]]:
    """Given splits when the data came pre-split (carving val from train if missing), else seeded."""
    labels = dataset.labels()
    if not dataset.presplit:
        tr, va, te = stratified_split(labels, config.split.val, config.split.test, config.seed,
                                      groups=dataset.groups())
        return {"train": tr, "val": va, "test": te}
    by = {k: [i for i, s in enumerate(dataset.samples) if s.split == k] for k in ("train", "val", "test")}
    if not by["val"] and config.split.val > 0:
        train_labels = [labels[i] for i in by["train"]]
        if min(train_labels.count(c) for c in set(train_labels)) >= 2:
            tr, va, _ = stratified_split(train_labels, config.split.val, 0.0, config.seed)
            by["val"] = [by["train"][i] for i in va]
            by["train"] = [by["train"][i] for i in tr]
    missing = sorted(set(dataset.classes) - {labels[i] for i in by["train"]})
    if missing:
        raise DataError("the train split has no examples of some classes",
                        [f"class `{c}`: add examples to train/{c}/" for c in missing])
    return by


def prepare(data: str | Path, config: TrainConfig, pipeline: PipelineSpec,
            progress: Progress) -> Prepared:
    """Validate data, weights and device; decode every file; make the splits.

    A preprocessor that learns from the training split (signals) is fitted on it, and the backbone
    is then built with what it decided (the channel count).
    """
    dataset = discover(data, config.task, config)
    check_train_items(config, len(dataset.samples), len(dataset.classes))  # before any item is made
    for w in dataset.warnings:
        progress.warn(w)
    spec = BACKBONES.get(pipeline.backbone)
    seed_everything(config.seed)
    backbone = build_backbone(pipeline.backbone, config.pretrained)  # fails fast on missing weights
    pre = build_preprocessor(spec, config)
    progress.event("prepare", f"reading {len(dataset.samples)} files")
    raws = decode_all(dataset.samples, pre, progress)
    classes = dataset.classes
    y = np.array([classes.index(s.label) for s in dataset.samples])
    prepared = Prepared(config, pipeline, spec, dataset, classes, y, raws, pre, backbone,
                        select_device(config.device))
    prepared.splits = make_splits(dataset, config)
    prepared.health = check_data(dataset, config.task, config, prepared.splits, progress)
    for line in prepared.health.lines(limit=3):
        progress.warn(f"data health: {line}")
    enforce(prepared.health, config.health.strict)
    prepared.splits = prepared.health.apply(prepared.splits)  # leaked copies leave val/test
    return fit_to_data(prepared, progress)


def fit_to_data(prepared: Prepared, progress: Progress) -> Prepared:
    """What the preprocessor and the backbone learn from the training data (after the split)."""
    config, pre, raws, y = prepared.config, prepared.pre, prepared.raws, prepared.y
    for note in pre.fit_split(raws, prepared.splits["train"]):  # signals: rate, channels, statistics
        progress.warn(note)
    if pre.backbone_options():  # the backbone is sized by what the training split decided
        seed_everything(config.seed)
        prepared.initial_backbone = build_backbone(prepared.pipeline.backbone, config.pretrained,
                                                   **pre.backbone_options())
    pool = prepared.splits["train"] + prepared.splits["val"]
    prepared.fitted = pre.fit([raws[i] for i in pool], y[pool])
    if prepared.fitted:  # data-dependent settings (audio length, flips) are saved with the run's config
        prepared.config = build_config(config_dict(config), prepared.fitted)
        for section, values in prepared.fitted.items():
            for key, value in values.items():
                why = pre.reasons.get(f"{section}.{key}")
                progress.say(f"chosen from the data: {section}.{key} = {value}" + (f" — {why}" if why else ""))
    # MiniRocket: biases and feature statistics from the training split only, once the inputs are settled
    fitted = fit_backbone(prepared.initial_backbone, pre, raws, prepared.splits["train"], config.seed)
    if fitted is not None and prepared.config.strategy == "probe":
        Recipe(prepared, progress).remember([(i, 0) for i in prepared.splits["train"]], fitted)
    return prepared


def prepare_sibling(first: Prepared, config: TrainConfig, pipeline: PipelineSpec,
                    progress: Progress) -> Prepared:
    """Another pipeline on the data ``first`` prepared: the same examples, split, data-health
    findings and memo (so the same CV folds and one reference model), its own backbone,
    preprocessing and decoded inputs (an audio backbone may want another sample rate)."""
    spec = BACKBONES.get(pipeline.backbone)
    seed_everything(config.seed)
    backbone = build_backbone(pipeline.backbone, config.pretrained)
    pre = build_preprocessor(spec, config)
    progress.event("prepare", f"reading {len(first.dataset.samples)} files for {pipeline.name}")
    raws = decode_all(first.dataset.samples, pre, progress)
    sibling = Prepared(config, pipeline, spec, first.dataset, first.classes, first.y, raws, pre, backbone,
                       first.device, splits=dict(first.splits), health=copy.deepcopy(first.health),
                       memo=first.memo)
    return fit_to_data(sibling, progress)


def topup_items(indices: list[int], y: np.ndarray, target_size: int) -> list[tuple[int, int]]:
    """(sample, view) pairs: every example once (view 0) plus augmented copies up to target_size."""
    items = [(i, 0) for i in indices]
    for cls in sorted(set(y[indices].tolist())):
        members = [i for i in indices if y[i] == cls]
        for j in range(max(0, target_size - len(members))):
            items.append((members[j % len(members)], 1 + j // len(members)))
    return items


# --------------------------------------------------------------------------- datasets


class SampleDataset(TorchDataset):
    """(sample, view) items → (input tensor, label); ``augment`` re-draws augmentation every epoch."""

    def __init__(self, prepared: Prepared, items: list[tuple[int, int]], augment: bool):
        self.p, self.items, self.augment = prepared, items, augment

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int):
        i, _ = self.items[k]
        return self.p.pre.tensor(self.p.raws[i], augment=self.augment), int(self.p.y[i])


def _loader(dataset, config: TrainConfig, shuffle: bool, epochs: int = 1) -> DataLoader:
    gen = torch.Generator().manual_seed(config.seed)
    workers = config.num_workers if config.num_workers is not None else auto_workers(dataset, epochs)
    return DataLoader(dataset, batch_size=config.batch_size, shuffle=shuffle, generator=gen,
                      num_workers=workers, persistent_workers=workers > 0,
                      multiprocessing_context="fork" if workers and sys.platform.startswith("linux") else None)


# Below this many augmented examples per fit (examples × epochs), starting a process costs more
# than it saves (the tests' tiny fits).
AUTO_WORKERS_MIN_EXAMPLES = 500


def auto_workers(dataset, epochs: int) -> int:
    """``num_workers: null``: one process augments the next examples while the model trains on
    these — on Linux (fork: nothing to pickle, no ``__main__`` guard needed in a user's script),
    with at least two cores, for a fit on augmented examples big enough to pay for the process.

    Augmentation is per example and single-threaded (PIL/torchvision transforms, waveform shifts
    and noise); in the training loop it left the cores idle: the scratch CNN on 150 digit images
    trained in 36–39 s in the loop and 28–30 s with one worker; the scratch log-mel CNN on 200
    spoken digits in 27.1 s and 14.8 s. The worker's random numbers come from the loader's seeded
    generator, so a seed still gives the same run.
    """
    if not (isinstance(dataset, SampleDataset) and dataset.augment):
        return 0
    if not sys.platform.startswith("linux") or cores() < 2:
        return 0
    return 1 if len(dataset) * epochs >= AUTO_WORKERS_MIN_EXAMPLES else 0


# --------------------------------------------------------------------------- one fit


class Recipe:
    """Fits and scores models on index sets of a :class:`Prepared`, for one strategy."""

    def __init__(self, prepared: Prepared, progress: Progress):
        self.p = prepared
        self.progress = progress
        self.config = prepared.config
        self.blocks = head_blocks(self.config.head)
        self.probe = self.config.strategy == "probe"
        self._cache: EmbeddingCache | None = None

    @property
    def cache(self) -> EmbeddingCache | None:
        """The embedding cache of the backbone and preprocessing as they are *now*: a CV fold refits
        what is learned from data (per-channel statistics, MiniRocket's biases), and its embeddings
        are then other ones."""
        if not self.probe:
            return None
        parts = [self.p.pipeline.backbone, self._weights_id(), self.p.pre.signature]
        if is_data_fitted(self.p.initial_backbone):
            parts.append("fitted-" + fitted_id(self.p.initial_backbone))
        key = "|".join(parts)
        if self._cache is None or self._cache.key != key:
            self._cache = EmbeddingCache(self.config.cache_dir or default_cache_dir(), key)
        return self._cache

    def _weights_id(self) -> str:
        pretrained = resolve_pretrained(self.p.backbone_spec, self.config.pretrained)
        if pretrained == "none":  # random weights depend on the seed
            return f"random-seed{self.config.seed}"
        if Path(pretrained).is_file():
            from .data import file_digest

            return "file-" + file_digest(Path(pretrained))[:16]
        return pretrained

    def new_model(self) -> Classifier:
        # A probe never changes its frozen backbone, so every fold can share it.
        backbone = self.p.initial_backbone if self.probe else copy.deepcopy(self.p.initial_backbone)
        torch.manual_seed(self.config.seed)
        if hasattr(backbone, "configure_augment"):  # spectrogram backbones: SpecAugment sizes
            backbone.configure_augment(self.config.augment)
        head = build_head(self.blocks, backbone.num_features, len(self.p.classes))
        model = Classifier(backbone, head)
        set_trainable(model, self.config.strategy, self.config.partial_blocks)
        return model

    def remember(self, items: list[tuple[int, int]], feats: torch.Tensor) -> None:
        """Embeddings (N, D) of ``items`` already computed (a data-fitted backbone's training set)."""
        cache = self.cache
        self.p.memo.setdefault(("embeddings", cache.key if cache else None), {}).update(zip(items, feats))

    def embeddings(self, items: list[tuple[int, int]]) -> torch.Tensor:
        """Cached embeddings (N, D) of (sample, view) items.

        Those this Prepared has embedded (or read from the cache) before are kept in its memo: the
        folds, heads and forked pipelines that share it do not read the cache files again."""
        cache = self.cache
        known = self.p.memo.setdefault(("embeddings", cache.key if cache else None), {})
        todo = list(dict.fromkeys(item for item in items if item not in known))
        if todo:
            known.update(zip(todo, self._embed(todo)))
        if not items:
            return torch.empty(0, getattr(self.p.initial_backbone, "num_features", 0))
        return torch.stack([known[item] for item in items])

    def _embed(self, items: list[tuple[int, int]]) -> torch.Tensor:
        bar = self.progress.bar(len(items), "embedding", "view")
        seen = [0]

        def tick(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - seen[0])
            seen[0] = done
            self.progress.event("embed", f"embedded {done}/{total}", done=done, total=total)

        feats = embed_views(self.p.initial_backbone, self.p.pre,
                            [(self.p.raws[i], self.p.digests[i], v) for i, v in items],
                            self.cache, self.p.device, batch_size=max(self.config.batch_size, 32),
                            on_batch=tick)
        bar.close()
        return feats

    def _data(self, items: list[tuple[int, int]], train: bool):
        labels = torch.as_tensor(self.p.y[[i for i, _ in items]], dtype=torch.long)
        if self.probe:
            return TensorDataset(self.embeddings(items), labels)
        return SampleDataset(self.p, items, augment=train and self.config.augment.enabled)

    def fit_items(self, train_idx: list[int]) -> list[tuple[int, int]]:
        """The (sample, view) items a fit on ``train_idx`` trains on: augmented copies top it up."""
        aug = self.config.augment.enabled
        return topup_items(train_idx, self.p.y, self.config.target_size if aug else 0)

    def fit(self, train_idx: list[int], val_idx: list[int], epochs: int | None = None,
            label: str = "training", fold: int | None = None, folds: int | None = None
            ) -> tuple[Classifier, FitResult]:
        """Train a fresh model on ``train_idx`` (topped up), early-stopping on ``val_idx``."""
        model = self.new_model()
        items = self.fit_items(train_idx)
        n_epochs = epochs or self.config.num_epochs
        train_loader = _loader(self._data(items, train=True), self.config, shuffle=True, epochs=n_epochs)
        val_loader = (_loader(self._data([(i, 0) for i in val_idx], train=False), self.config, False)
                      if val_idx else None)
        bar = self.progress.bar(n_epochs, label, "epoch")

        def on_epoch(row: dict) -> None:
            bar.update()
            bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k.endswith(("loss", "accuracy"))
                             and v is not None})
            self.progress.event("cv" if fold else "train", f"{label} epoch {row['epoch']}/{n_epochs}",
                                fold=fold, folds=folds, epochs=n_epochs, **row)

        trainee = model.head if self.probe else model
        # a head on cached embeddings is small: one thread is faster (runtime.torch_threads)
        with torch_threads(1) if self.probe and self.p.device.type == "cpu" else contextlib.nullcontext():
            result = fit(trainee, train_loader, val_loader, self.config, self.p.device, n_epochs, on_epoch)
        bar.close()
        return model, result

    def proba(self, model: Classifier, idx: list[int]) -> np.ndarray:
        """Class probabilities (N, C) of ``model`` on clean (view 0) examples ``idx``."""
        data = self._data([(i, 0) for i in idx], train=False)
        return predict_proba(model.head if self.probe else model, _loader(data, self.config, False),
                             self.p.device).numpy()

    def score(self, model: Classifier, idx: list[int], proba: np.ndarray | None = None) -> dict:
        """Metrics of ``model`` on clean (view 0) examples ``idx``."""
        proba = self.proba(model, idx) if proba is None else proba
        return classification_metrics(self.p.y[idx], proba, self.p.classes)


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


@contextlib.contextmanager
def fold_preprocessing(pre: Preprocessor, raws: list, train_idx: list[int]):
    """What the preprocessor learns from data (signals: per-channel mean/std) refitted on one CV
    fold's training part, so the held-out part is standardised with statistics it did not shape;
    the run's own state is restored afterwards."""
    saved = pre.state()
    if saved is None:  # nothing learned from data (images, audio)
        yield
        return
    pre.fit_split(raws, train_idx)
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
_fold_runner: FoldRunner | None = None  # an executor's way to spread folds (see use_fold_runner)


@contextlib.contextmanager
def use_fold_runner(runner: FoldRunner | None):
    """Run cross-validation folds with ``runner`` (e.g. as parallel Ray tasks) inside this block."""
    global _fold_runner
    previous, _fold_runner = _fold_runner, runner
    try:
        yield
    finally:
        _fold_runner = previous


def cross_validate(recipe: Recipe, pool: list[int], k: int, epochs: int,
                   folds: list[tuple[list[int], list[int]]] | None = None,
                   oof: np.ndarray | None = None) -> dict | None:
    """Stratified K-fold on the train+val pool (test untouched), ``epochs`` per fold.

    ``folds`` (from :func:`cv_folds`) when the caller already has them; ``oof`` (N, C), when given,
    receives each held-out example's out-of-fold probabilities.
    """
    p = recipe.p
    folds = cv_folds(p, pool, k) if folds is None else folds
    if not folds:
        return None
    results = (_fold_runner or run_folds)(recipe, pool, folds, epochs)
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
    return (f"the validation split has {fewest} example(s) of some class (fewer than "
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


def run_experiment(prepared: Prepared, progress: Progress) -> tuple[Classifier, dict]:
    """Fit on train (early stopping on val), score on test once, cross-validate small data."""
    recipe = Recipe(prepared, progress)
    plan = plan_experiment(prepared)
    policy, splits, pool, k, folds = plan.policy, plan.splits, plan.pool, plan.k, plan.folds
    if policy:
        progress.say(policy)
    progress.event("plan", f"{1 + len(folds)} fits: the final model" + (f" and {len(folds)} cross-validation folds" if folds else ""),
                   fits=1 + len(folds))
    embed_ahead(prepared, progress, plan)
    started = time.perf_counter()
    model, result = recipe.fit(splits["train"], splits["val"])
    train_seconds = time.perf_counter() - started
    report: dict[str, Any] = {"history": result.history, "best_epoch": result.best_epoch,
                              "stopped_early": result.stopped_early, "train_seconds": train_seconds,
                              "epoch_policy": policy}
    if splits["val"]:
        report["val"] = recipe.score(model, splits["val"])
    if splits["test"]:
        progress.event("evaluate", "scoring the test split")
        report["test"] = recipe.score(model, splits["test"])
    report["cv"] = None
    oof = np.full((len(prepared.y), len(prepared.classes)), np.nan)
    if folds:
        t0 = time.perf_counter()
        report["cv"] = cross_validate(recipe, pool, k, epochs=max(1, result.best_epoch), folds=folds, oof=oof)
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
               report.get("test"), prepared.config.health.mislabelled_top)
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
          progress: ProgressCallback | None = None, overwrite: bool = False, verbose: bool = True):
    """Train a model on ``data`` and write a run directory to ``out``; return the loaded Run.

    ``config`` is a TrainConfig, a dict or a JSON/YAML file; ``overrides`` (e.g. CLI flags) win
    over it. ``progress`` receives event dicts (see :mod:`konstrukt.progress`).
    """
    from .inference import Run

    reporter = Progress(with_overall(progress), verbose)  # one progress over every stage and fold
    started = time.perf_counter()
    cfg, spec = resolve_config(task, pipeline, config, overrides)
    plan = auto_plan(cfg.task, requested_pretrained(config, overrides)) if wants_auto(
        pipeline, config, overrides) else None
    staging = artifacts.start_run_dir(Path(out), overwrite)  # unwritable → error before any work
    try:
        use_all_cores()
        prepared = prepare(data, cfg, spec, reporter)
        reporter.say(f"training {spec.name} ({prepared.config.strategy}) on {len(prepared.raws)} examples, "
                     f"{len(prepared.classes)} classes, device {prepared.device}")
        selection = None
        if plan is not None:  # auto: a quick CV contest, then the kept pipeline's model as it is
            prepared, model, report, selection = run_auto(
                prepared, plan, (config, overrides_without_pipeline(overrides)), reporter)
        else:
            model, report = run_experiment(prepared, reporter)
        cfg = prepared.config  # with the settings prepare chose from the data
        report = artifacts.build_report(prepared, report, selection=selection)
        report["wall_seconds"] = round(time.perf_counter() - started, 3)  # the whole run, beside train_seconds
        artifacts.write_run(staging, report, config_dict(cfg), model, prepared.pre.state(),
                            prepared.dataset.root)
        final = artifacts.finish_run_dir(staging, Path(out), overwrite)
    except BaseException:
        artifacts.abandon_run_dir(staging)
        raise
    reporter.event("done", f"run written to {final}", run_dir=str(final))
    return Run.load(final)
