"""The simple baseline's features for sound clips: MFCC statistics — mean and std over time of 20
MFCCs and their deltas (80 numbers), fed to :func:`konstrukt.reference.make_model`.

The MFCCs are librosa's (``librosa.feature.mfcc`` with its defaults, and ``librosa.feature.delta``)
computed with numpy and scipy: importing librosa (numba, its lazy submodules) cost ~2 s of every
sound run's time to a first model; ``tests/test_reference.py`` checks the figures against librosa.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ...models.portable.audio_nets import mel_filterbank
from ...reference import ReferenceSpec

N_FFT, HOP, N_MELS, TOP_DB = 2048, 512, 128, 80.0  # librosa.feature.melspectrogram's defaults


@lru_cache(maxsize=8)
def _mel_dct(sample_rate: int, n_mfcc: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(window, mel filters (F, M), orthonormal DCT-II rows (n_mfcc, M)) for one rate."""
    from scipy.fft import dct
    from scipy.signal import get_window

    mel = mel_filterbank(sample_rate, N_FFT, N_MELS, 0.0, sample_rate / 2).astype(np.float64)
    basis = dct(np.eye(N_MELS), type=2, norm="ortho", axis=0)[:n_mfcc]  # (n_mfcc, M)
    return get_window("hann", N_FFT, fftbins=True), mel, basis


def mfcc(wave: np.ndarray, sample_rate: int, n_mfcc: int = 20) -> np.ndarray:
    """(n_mfcc, frames) MFCCs as ``librosa.feature.mfcc(y=wave, sr=sample_rate, n_mfcc=n_mfcc)``."""
    window, mel, basis = _mel_dct(sample_rate, n_mfcc)
    padded = np.pad(np.asarray(wave, np.float64), N_FFT // 2)  # center=True, pad_mode="constant"
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]  # (frames, n_fft)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2  # (frames, F)
    db = 10.0 * np.log10(np.maximum(power @ mel, 1e-10))  # power_to_db(ref=1.0, amin=1e-10)
    db = np.maximum(db, db.max() - TOP_DB)
    return basis @ db.T


def mfcc_stats(wave: np.ndarray, sample_rate: int, n_mfcc: int = 20) -> np.ndarray:
    """(4 × n_mfcc,) mean and std over time of the MFCCs and of their deltas."""
    from scipy.signal import savgol_filter

    wave = wave if wave.size >= N_FFT else np.pad(wave, (0, N_FFT - wave.size))
    coeffs = mfcc(wave, sample_rate, n_mfcc)  # (n_mfcc, frames)
    # librosa.feature.delta(width=9, order=1, mode="nearest") is this Savitzky-Golay derivative
    delta = (savgol_filter(coeffs, 9, 1, deriv=1, axis=-1, mode="nearest") if coeffs.shape[1] >= 3
             else np.zeros_like(coeffs))
    return np.concatenate([coeffs.mean(1), coeffs.std(1), delta.mean(1), delta.std(1)]).astype(np.float32)


REFERENCE = ReferenceSpec("mfcc_logreg", "MFCC statistics + logistic regression",
                          lambda wave, pre: mfcc_stats(wave, pre.sample_rate))
