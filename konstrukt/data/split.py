"""Stratified train / validation / test splits and stratified K-fold, seeded.

The held-out split is allocated per class (rather than with ``train_test_split``) so that every
class with enough examples appears in every split even when classes are imbalanced; folds come
from scikit-learn's ``StratifiedKFold``.
"""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataError
from ..words import count

if TYPE_CHECKING:
    from ..config import TrainConfig
    from .sources import Dataset


def _n_held(n: int, frac: float) -> int:
    return 0 if frac <= 0 else max(1, int(round(n * frac)))


def check_splittable(labels: list[str], val: float, test: float) -> None:
    """Raise DataError listing every class with too few examples for the requested splits."""
    need = 1 + (val > 0) + (test > 0)
    problems = []
    for cls, n in sorted(Counter(labels).items()):
        if n < need:
            problems.append(
                f"class `{cls}`: {count(n, 'example')}, at least {need} are needed to "
                f"split into {'train/val/test' if need == 3 else 'train and a held-out split'} "
                "(add examples, or lower --val/--test to 0)"
            )
    if problems:
        raise DataError("some classes are too small to split", problems)


def check_group_splittable(labels: list[str], groups: list[str], val: float, test: float) -> None:
    """Raise DataError naming every class whose windows come from too few recordings/subjects."""
    need = 1 + (val > 0) + (test > 0)
    per_class: dict[str, set[str]] = {}
    for label, group in zip(labels, groups):
        per_class.setdefault(label, set()).add(group)
    problems = [f"class `{c}`: its windows come from {count(len(g), 'recording/subject group')} "
                f"({', '.join(sorted(g)[:3])}), at least {need} are needed "
                "to hold whole recordings out (add recordings, or lower --val/--test to 0)"
                for c, g in sorted(per_class.items()) if len(g) < need]
    if problems:
        raise DataError("some classes come from too few recordings to split by recording", problems)


def _group_holdout(labels: list[str], groups: list[str], idx: list[int], frac: float, seed: int
                   ) -> tuple[list[int], list[int]]:
    """(rest, held out ≈ frac of idx), whole groups only, class balance kept where possible."""
    if frac <= 0 or not idx:
        return idx, []
    from sklearn.model_selection import StratifiedGroupKFold  # scikit-learn: ~1 s to import

    n_groups = len({groups[i] for i in idx})
    k = min(n_groups, max(2, int(round(1 / frac))))
    sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    rest, held = next(sgkf.split(np.zeros(len(idx)), [labels[i] for i in idx], [groups[i] for i in idx]))
    return [idx[i] for i in rest], [idx[i] for i in held]


def grouped_split(labels: list[str], groups: list[str], val: float, test: float, seed: int
                  ) -> tuple[list[int], list[int], list[int]]:
    """Train, val and test indices with every group (recording/subject) on one side only."""
    check_group_splittable(labels, groups, val, test)
    rest, test_idx = _group_holdout(labels, groups, list(range(len(labels))), test, seed)
    train, val_idx = _group_holdout(labels, groups, rest, val / max(1e-9, 1 - test), seed + 1)
    missing = sorted(set(labels) - {labels[i] for i in train})
    if missing:
        raise DataError("holding whole recordings out left no training windows of some classes",
                        [f"class `{c}`: add recordings of it, or lower --val/--test" for c in missing])
    return sorted(train), sorted(val_idx), sorted(test_idx)


def stratified_split(labels: list[str], val: float, test: float, seed: int,
                     groups: list[str] | None = None) -> tuple[list[int], list[int], list[int]]:
    """Indices of train, val and test, per class, seeded; each class keeps ≥ 1 training example.

    With ``groups`` every group stays on one side (:func:`grouped_split`).
    """
    if groups is not None:
        return grouped_split(labels, groups, val, test, seed)
    check_splittable(labels, val, test)
    rng = np.random.default_rng(seed)
    train, val_idx, test_idx = [], [], []
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    for cls in sorted(by_class):
        idx = list(rng.permutation(by_class[cls]))
        n = len(idx)
        n_test = _n_held(n, test)
        n_val = _n_held(n, val)
        while n - n_test - n_val < 1:  # keep a training example: shrink the larger held-out part
            if n_val >= n_test and n_val > (1 if val > 0 else 0):
                n_val -= 1
            else:
                n_test -= 1
        test_idx += idx[:n_test]
        val_idx += idx[n_test:n_test + n_val]
        train += idx[n_test + n_val:]
    return sorted(train), sorted(val_idx), sorted(test_idx)


def stratified_folds(labels: list[str], k: int, seed: int, groups: list[int] | None = None
                     ) -> list[tuple[list[int], list[int]]]:
    """K stratified (train, held-out) index pairs; K is lowered to the smallest class size.

    With ``groups`` (e.g. duplicates share a group), a group never spans a training and a
    held-out fold, so a copy cannot be scored by a model that trained on it.
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold  # ~1 s to import

    smallest = min(Counter(labels).values())
    k = min(k, smallest)
    if k < 2:
        return []
    if groups is not None and len(set(groups)) < len(groups):
        skf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        folds = [(list(tr), list(te)) for tr, te in skf.split(np.zeros(len(labels)), labels, groups)]
        return [f for f in folds if f[1]]
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(list(tr), list(te)) for tr, te in skf.split(np.zeros(len(labels)), labels)]


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
