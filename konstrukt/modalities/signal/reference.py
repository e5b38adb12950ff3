"""The simple baseline's features for sensor recordings: per-channel summary statistics of the whole
recording at the run's rate — mean, std, min, max, quartiles, mean absolute difference, slope
(9 numbers per channel), fed to :func:`konstrukt.reference.make_model`."""
from __future__ import annotations

import numpy as np

from ...reference import ReferenceSpec


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


REFERENCE = ReferenceSpec("stats_logreg", "per-channel summary statistics + logistic regression",
                          lambda rec, pre: signal_stats(rec.at(pre.rate)))
