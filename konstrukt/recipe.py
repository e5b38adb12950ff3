"""One fit on index sets of a prepared data set: the items it trains on, the loaders, the model.

:class:`Recipe` is what a run, each CV fold and each compared pipeline fit and score with; a head
on a frozen backbone ("probe") trains on cached embeddings, anything else on decoded examples that
are augmented afresh every epoch (:class:`SampleDataset`).
"""
from __future__ import annotations

import contextlib
import copy
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset as TorchDataset, TensorDataset

from .config import TrainConfig
from .embeddings import EmbeddingCache, default_cache_dir, embed_views
from .evaluation import classification_metrics
from .models.backbones import resolve_pretrained
from .models.classifier import Classifier, set_trainable
from .models.data_fit import fitted_id, is_data_fitted
from .models.heads import build_head, head_blocks
from .models.ridge import fit_ridge
from .progress import Progress
from .runtime import cores, torch_threads
from .training import FitResult, fit, predict_proba

if TYPE_CHECKING:
    from .prepare import Prepared


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
        head, tail = [self.p.pipeline.backbone, self._weights_id()], []
        if getattr(self.p.initial_backbone, "weights_version", None):  # the weights file's content
            tail.append(self.p.initial_backbone.weights_version)
        if is_data_fitted(self.p.initial_backbone):
            tail.append("fitted-" + fitted_id(self.p.initial_backbone))
        key = "|".join([*head, self.p.pre.signature, *tail])
        clean_key = "|".join([*head, self.p.pre.clean_signature, *tail])  # view 0's own folder
        if self._cache is None or self._cache.key != key:
            self._cache = EmbeddingCache(self.config.cache_dir or default_cache_dir(), key,
                                         clean_key=clean_key if clean_key != key else None)
        return self._cache

    def _weights_id(self) -> str:
        pretrained = resolve_pretrained(self.p.backbone_spec, self.config.pretrained)
        if pretrained == "none":  # random weights depend on the seed
            return f"random-seed{self.config.seed}"
        if Path(pretrained).is_file():
            from .data.sources import file_digest

            return "file-" + file_digest(Path(pretrained))[:16]
        return pretrained

    @property
    def closed_form(self) -> bool:
        """A ridge head on cached embeddings: fitted in closed form, no epochs (models/ridge.py)."""
        return self.probe and self.config.head == "ridge"

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
        if self.closed_form:
            return model, FitResult([fit_ridge(model.head, *self._data(items, train=True).tensors)], 1)
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

