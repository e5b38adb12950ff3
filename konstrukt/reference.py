"""Classical reference models: a simple scikit-learn peer per modality, on the same split and folds.

Every run fits its modality's reference — hand-made features + logistic regression — on the
examples the deep model trained on, scores it on the same test split and CV folds, and the report
says in plain words whether the model is better (:mod:`konstrukt.verdict`). ``compare`` shows it
as a reference row. References are registered per modality; features are computed once per run.

* audio: MFCC statistics — mean and std over time of 20 MFCCs and their deltas (80 numbers);
* image: 16×16 grey pixels + a histogram of oriented gradients (HOG, 8×8 cells of a 64×64 grey
  image, 9 orientations) + an 8-bin histogram per colour channel;
* signal: per-channel summary statistics of the whole recording at the run's rate — mean, std,
  min, max, quartiles, mean absolute difference, slope (9 numbers per channel).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .registry import Registry


@dataclass(frozen=True)
class ReferenceSpec:
    name: str
    description: str
    features: Callable[[Any, Any], np.ndarray]  # (decoded sample, preprocessor) -> (D,)


REFERENCES: Registry[ReferenceSpec] = Registry("reference model")


def mfcc_stats(wave: np.ndarray, sample_rate: int, n_mfcc: int = 20) -> np.ndarray:
    """(4 × n_mfcc,) mean and std over time of the MFCCs and of their deltas."""
    import librosa

    wave = wave if wave.size >= 2048 else np.pad(wave, (0, 2048 - wave.size))
    mfcc = librosa.feature.mfcc(y=wave, sr=sample_rate, n_mfcc=n_mfcc)  # (n_mfcc, frames)
    delta = librosa.feature.delta(mfcc, mode="nearest") if mfcc.shape[1] >= 3 else np.zeros_like(mfcc)
    return np.concatenate([mfcc.mean(1), mfcc.std(1), delta.mean(1), delta.std(1)]).astype(np.float32)


def hog(grey: np.ndarray, cell: int = 8, bins: int = 9) -> np.ndarray:
    """Histogram of oriented gradients (unsigned, magnitude-weighted), L2-normalised per cell."""
    gy, gx = np.gradient(grey.astype(np.float32))
    mag = np.hypot(gx, gy)
    ang = np.mod(np.arctan2(gy, gx), np.pi)  # unsigned orientation in [0, pi)
    b = np.minimum((ang / np.pi * bins).astype(int), bins - 1)
    h, w = grey.shape[0] // cell, grey.shape[1] // cell
    out = np.zeros((h, w, bins), np.float32)
    cy, cx = np.divmod(np.arange(h * cell * w * cell), w * cell)
    np.add.at(out, (cy // cell, cx // cell, b[:h * cell, :w * cell].ravel()),
              mag[:h * cell, :w * cell].ravel())
    out /= np.linalg.norm(out, axis=2, keepdims=True) + 1e-6
    return out.ravel()


def image_features(img) -> np.ndarray:
    """16×16 grey pixels, HOG of the 64×64 grey image, and an 8-bin histogram per RGB channel."""
    rgb = img.convert("RGB")
    grey = rgb.convert("L")
    pixels = np.asarray(grey.resize((16, 16)), np.float32).ravel() / 255.0
    grad = hog(np.asarray(grey.resize((64, 64)), np.float32) / 255.0)
    arr = np.asarray(rgb, np.uint8).reshape(-1, 3)
    colour = np.concatenate([np.histogram(arr[:, c], bins=8, range=(0, 256))[0] for c in range(3)])
    return np.concatenate([pixels, grad, colour / max(len(arr), 1)]).astype(np.float32)


def signal_stats(x: np.ndarray) -> np.ndarray:
    """(9 × C,) per-channel summary statistics of a (C, T) recording: mean, std, min, max, the three
    quartiles, mean absolute difference between neighbours, and the least-squares slope."""
    x = np.asarray(x, np.float64)
    if x.shape[1] > 1:
        t = np.arange(x.shape[1]) - (x.shape[1] - 1) / 2
        slope = (x - x.mean(1, keepdims=True)) @ t / (t @ t)
        wiggle = np.abs(np.diff(x, axis=1)).mean(1)
    else:
        slope = wiggle = np.zeros(x.shape[0])
    q = np.percentile(x, [25, 50, 75], axis=1)
    return np.concatenate([x.mean(1), x.std(1), x.min(1), x.max(1), *q, wiggle, slope]).astype(np.float32)


REFERENCES.add("audio", ReferenceSpec(
    "mfcc_logreg", "MFCC statistics + logistic regression",
    lambda wave, pre: mfcc_stats(wave, pre.sample_rate)))
REFERENCES.add("image", ReferenceSpec(
    "hog_logreg", "pixels + HOG + colour histogram + logistic regression",
    lambda img, pre: image_features(img)))
REFERENCES.add("signal", ReferenceSpec(
    "stats_logreg", "per-channel summary statistics + logistic regression",
    lambda rec, pre: signal_stats(rec.at(pre.rate))))


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

    if modality not in REFERENCES:
        return None
    spec = REFERENCES.get(modality)
    X = np.stack([spec.features(r, pre) for r in raws])  # (N, D)
    out: dict[str, Any] = {"name": spec.name, "description": spec.description,
                           "test": _score(X, y, train, test, classes) if test else None, "cv": None}
    if folds:
        pool = np.asarray(train)
        out["cv"] = summarize_folds([_score(X, y, list(pool[tr]), list(pool[te]), classes)
                                     for tr, te in folds])
    return out
