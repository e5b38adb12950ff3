"""The simple baseline's features for sound clips: MFCC statistics — mean and std over time of 20
MFCCs and their deltas (80 numbers), fed to :func:`konstrukt.reference.make_model`."""
from __future__ import annotations

import numpy as np

from ...reference import ReferenceSpec


def mfcc_stats(wave: np.ndarray, sample_rate: int, n_mfcc: int = 20) -> np.ndarray:
    """(4 × n_mfcc,) mean and std over time of the MFCCs and of their deltas."""
    import librosa

    wave = wave if wave.size >= 2048 else np.pad(wave, (0, 2048 - wave.size))
    mfcc = librosa.feature.mfcc(y=wave, sr=sample_rate, n_mfcc=n_mfcc)  # (n_mfcc, frames)
    delta = librosa.feature.delta(mfcc, mode="nearest") if mfcc.shape[1] >= 3 else np.zeros_like(mfcc)
    return np.concatenate([mfcc.mean(1), mfcc.std(1), delta.mean(1), delta.std(1)]).astype(np.float32)


REFERENCE = ReferenceSpec("mfcc_logreg", "MFCC statistics + logistic regression",
                          lambda wave, pre: mfcc_stats(wave, pre.sample_rate))
