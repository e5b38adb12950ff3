"""The prepared data set: read and decode every file once, split, check, fit what learns from data.

:func:`prepare` is the first stage of a run (and of each group of a comparison): it validates data,
weights and device before the long work, decodes every file once, makes the splits, runs the data
health check, and fits what the preprocessor and backbone learn from the training split. Every fit
of the run then works on the :class:`Prepared` it returns.
"""
from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .config import TrainConfig, build_config, check_train_items, config_dict
from .data.health import check_data, enforce
from .data.sources import Dataset, discover
from .data.split import make_splits
from .errors import DataError
from .models.backbones import BACKBONES, Backbone, BackboneSpec, build_backbone
from .models.data_fit import fit_backbone, is_data_fitted
from .preprocess import Preprocessor, build_preprocessor
from .progress import Progress
from .recipe import Recipe
from .runtime import seed_everything, select_device
from .words import count

if TYPE_CHECKING:
    from .pipelines import PipelineSpec


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
        raise DataError(f"{count(len(problems), 'file')} cannot be read — fix or remove them and run again",
                        problems)
    return raws



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
    embed_originals_early(prepared, progress)
    prepared.health = check_data(dataset, config.task, config, prepared.splits, progress)
    for line in prepared.health.lines(limit=3):
        progress.warn(f"data health: {line}")
    enforce(prepared.health, config.health.strict)
    prepared.splits = prepared.health.apply(prepared.splits)  # leaked copies leave val/test
    return fit_to_data(prepared, progress)


# What the steps after the originals' embeddings import first: the flip check, the folds, the
# reference model and the metrics use scikit-learn (~1 s to import)
LIBRARIES_AFTER_ORIGINALS = ("sklearn.linear_model", "sklearn.pipeline", "sklearn.preprocessing",
                             "sklearn.model_selection", "sklearn.metrics")


def embed_originals_early(prepared: Prepared, progress: Progress) -> None:
    """A probe on inputs whose clean form nothing learned from the data changes (photos: fit
    chooses the flip probability only) embeds every original into the cache in a forked process
    (:mod:`.execution.forked_embedding`) while this one imports what the next steps need and checks
    the data's health: on two cores, a first model on 2 × 20 photos saves ~0.5 s
    (bench/first_model.py). The run's embedding pass then reads them from the cache."""
    from .execution.forked_embedding import embedding_aside

    recipe = Recipe(prepared, progress)
    if not (recipe.probe and prepared.pre.fit_keeps_clean_view) or is_data_fitted(prepared.initial_backbone):
        return
    items = [(raw, digest, 0) for raw, digest in zip(prepared.raws, prepared.digests)]
    with embedding_aside(prepared.initial_backbone, prepared.pre, items, recipe.cache, prepared.device,
                         batch_size=max(prepared.config.batch_size, 32)):
        for name in LIBRARIES_AFTER_ORIGINALS:
            importlib.import_module(name)


def fit_to_data(prepared: Prepared, progress: Progress) -> Prepared:
    """What the preprocessor and the backbone learn from the training data (after the split)."""
    config, pre, raws, y = prepared.config, prepared.pre, prepared.raws, prepared.y
    # one learning step: the training split's statistics, the settings chosen from train+val
    prepared.fitted = pre.fit(raws, y, prepared.splits["train"], prepared.splits["train"] + prepared.splits["val"])
    for note in pre.notes:  # signals: what the readers assumed (layout, time column)
        progress.warn(note)
        prepared.dataset.warnings.append(note)  # and in the report: what the run assumed
    if pre.backbone_options():  # the backbone is sized by what the training split decided
        seed_everything(config.seed)
        prepared.initial_backbone = build_backbone(prepared.pipeline.backbone, config.pretrained,
                                                   **pre.backbone_options())
    if prepared.fitted:  # data-dependent settings (audio length, flips) are saved with the run's config
        prepared.config = build_config(config_dict(config), prepared.fitted)
        for section, values in prepared.fitted.items():
            for key, value in values.items():
                why = pre.reasons.get(f"{section}.{key}")
                progress.say(f"chosen from the data: {why} ({section}.{key} = {value})" if why
                             else f"chosen from the data: {section}.{key} = {value}")
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

