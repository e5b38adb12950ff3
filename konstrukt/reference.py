"""Classical reference models: a simple scikit-learn peer per modality, on the same split and folds.

Every run fits its modality's reference — hand-made features + logistic regression — on the
examples the deep model trained on, scores it on the same test split and CV folds, and the report
says in plain words whether the model is better (:mod:`konstrukt.verdict`). ``compare`` shows it
as a reference row. Features are computed once per run.

The features belong to the modality: each wing puts a :class:`ReferenceSpec` on its
:class:`~konstrukt.tasks.Modality` record (``reference=``; ``konstrukt/modalities/<name>/reference.py``:
MFCC statistics for sound, pixels + HOG + colour histograms for images, per-channel summary
statistics for signals). This module keeps what every modality shares: the model and its scoring.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class ReferenceSpec:
    """A modality's reference: its name in reports, and the features of one decoded sample."""

    name: str
    description: str
    features: Callable[[Any, Any], np.ndarray]  # (decoded sample, preprocessor) -> (D,)


def make_model():
    """Standardised features → L2-regularised multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))


def _score(X, y, train: list[int], test: list[int], classes: list[str]) -> dict:
    from .evaluation import classification_metrics

    model = make_model().fit(X[train], y[train])
    proba = np.zeros((len(test), len(classes)))
    proba[:, model.classes_] = model.predict_proba(X[test])  # a class absent from train stays 0
    return classification_metrics(y[test], proba, classes)


def evaluate_reference(modality: str, raws: list, pre, y: np.ndarray, classes: list[str],
                       train: list[int], test: list[int],
                       folds: list[tuple[list[int], list[int]]] | None) -> dict | None:
    """The modality's reference fitted on ``train``, scored on ``test`` and on the CV ``folds``.

    ``folds`` index into ``train`` (the same folds the deep model's CV used). Returns None when
    the modality has no reference.
    """
    from .evaluation import summarize_folds
    from .tasks import MODALITIES

    load = MODALITIES.get(modality).reference
    if load is None:
        return None
    spec = load()
    X = np.stack([spec.features(r, pre) for r in raws])  # (N, D)
    out: dict[str, Any] = {"name": spec.name, "description": spec.description,
                           "test": _score(X, y, train, test, classes) if test else None, "cv": None}
    if folds:
        pool = np.asarray(train)
        out["cv"] = summarize_folds([_score(X, y, list(pool[tr]), list(pool[te]), classes)
                                     for tr, te in folds])
    return out
