"""The signal wing's part of sequence runs (``Modality.sequence``): reading a recording whole and
the front end — per-channel standardisation with the training data's statistics, then, for fast
rates, a strided conv stem (no norm, so amplitude passes, as in the classifier family) down to
about 100 frames per second."""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from ...errors import DataError
from ...sequences.hooks import SequenceHooks
from .preprocess import read_signal

FRAMES_PER_SECOND = 100  # what enters the residual blocks (each then halves it)


def read(path: Path, rate: float | None) -> tuple[np.ndarray, float]:
    """(C, T) float32 at ``rate`` (None: the file's own rate)."""
    cfg = SimpleNamespace(signal=SimpleNamespace(time_column="auto", layout="auto", sample_rate=rate))
    rec = read_signal(path, cfg)
    if rec.rate is None:
        raise DataError(f"{Path(path).name}: the sample rate is unknown (no time column, no rate in the file)",
                        ["Fix: --sample-rate HZ (the rate the recordings were made at)"])
    data = rec.at(rate) if rate else rec.data
    return np.ascontiguousarray(data, dtype=np.float32), float(rate or rec.rate)


class SignalFrontEnd(nn.Module):
    """(B, C, T) raw → standardised per channel → [strided stem] → (B, F, T')."""

    def __init__(self, channels: int, rate: float, stem_width: int = 64):
        super().__init__()
        self.stride = max(1, int(rate // FRAMES_PER_SECOND))
        self.register_buffer("mean", torch.zeros(1, channels, 1))
        self.register_buffer("std", torch.ones(1, channels, 1))
        self.stem: nn.Module = nn.Identity()
        self.out_channels, self.fps = channels, rate / self.stride  # frames per second out
        if self.stride > 1:
            s = self.stride
            self.stem = nn.Sequential(nn.Conv1d(channels, stem_width, 2 * s + 1, stride=s, padding=s),
                                      nn.ReLU(inplace=True))
            self.out_channels = stem_width

    def fit(self, arrays: list[np.ndarray]) -> None:
        """Per-channel mean / std of the training recordings."""
        cat = np.concatenate([a.reshape(a.shape[0], -1) for a in arrays], axis=1).astype(np.float64)
        self.mean.copy_(torch.from_numpy(cat.mean(axis=1)).float().view(1, -1, 1))
        self.std.copy_(torch.from_numpy(np.maximum(cat.std(axis=1), 1e-6)).float().view(1, -1, 1))

    def frames(self, length: int) -> int:
        return math.ceil(length / self.stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        return self.stem((x - self.mean) / self.std)


def hooks() -> SequenceHooks:
    return SequenceHooks(read=read, frontend=SignalFrontEnd, default_rate=None, feature_mask=0)
