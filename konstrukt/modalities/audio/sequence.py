"""The audio wing's part of sequence runs (``Modality.sequence``): decoding a clip whole (mono,
16 kHz) and the log-mel front end of the audio networks (``MelFrontEnd``, portable: bundles carry it) (:class:`LogMel`, 10-ms frames, then
per-recording standardisation) with the mel bins as the feature channels."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...models.portable.sequence_nets import MelFrontEnd
from ...sequences.hooks import SequenceHooks
from .preprocess import decode_audio

RATE = 16000


def read(path: Path, rate: float | None) -> tuple[np.ndarray, float]:
    """(1, T) mono float32 at ``rate`` (default 16 kHz)."""
    rate = int(rate or RATE)
    return decode_audio(path, rate)[None].astype(np.float32), float(rate)


def hooks() -> SequenceHooks:
    return SequenceHooks(read=read, frontend=MelFrontEnd, default_rate=RATE, feature_mask=8, noun="clip")
