"""What a modality lends sequence runs (the ``Modality.sequence`` hook): how its files are read
and the front end that turns a raw batch into per-frame features.

A modality's wing (``konstrukt/modalities/<name>/sequence.py``) builds a :class:`SequenceHooks`;
the sequence core never asks which modality it has.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from torch import nn


@dataclass(frozen=True)
class SequenceHooks:
    # (path, rate or None: the file's own) -> ((C, T) float32 array, rate in Hz); DataError names the file
    read: Callable[[Path, Optional[float]], tuple[np.ndarray, float]]
    # (channels, rate, state or None) -> a front-end module: (B, C, T) raw → (B, F, T') features,
    # with ``out_channels`` (F), ``frames(T) -> T'`` and ``fit(list of (C, T) arrays)`` (training
    # data statistics kept as buffers, saved with the weights)
    frontend: Callable[[int, float], nn.Module]
    default_rate: Optional[float] = None  # files are resampled to this rate (None: the first file's)
    feature_mask: int = 1  # SpecAugment: widest masked stripe of feature channels (mel bins / channels)
    noun: str = "recording"
