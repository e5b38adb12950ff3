"""The signal wing's part of sequence runs (``Modality.sequence``): reading a recording whole and
the front ends by name (portable modules, so bundles carry them): ``default`` (``sequence_nets.py``)
— per-channel standardisation with the training data's statistics, then, for fast rates, a strided
conv stem (no norm, so amplitude passes, as in the classifier family) down to about 100 frames per
second; ``minirocket`` — frozen per-frame MiniRocket features, what ``auto`` picks (it generalised
to unseen recordings far better in bench/sequence_quality.py); ``emg_spectrogram`` — the sEMG
study's normalised spectrogram and rotation-invariant MLP (both in ``sequence_frontends.py``)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ...errors import DataError
from ...models.portable.sequence_frontends import EmgSpectrogramFrontEnd, MiniRocketFrontEnd
from ...models.portable.sequence_nets import SignalFrontEnd
from ...sequences.hooks import SequenceHooks
from .preprocess import read_signal


def read(path: Path, rate: float | None) -> tuple[np.ndarray, float]:
    """(C, T) float32 at ``rate`` (None: the file's own rate)."""
    cfg = SimpleNamespace(signal=SimpleNamespace(time_column="auto", layout="auto", sample_rate=rate))
    rec = read_signal(path, cfg)
    if rec.rate is None:
        raise DataError(f"{Path(path).name}: the sample rate is unknown (no time column, no rate in the file)",
                        ["Fix: --sample-rate HZ (the rate the recordings were made at)"])
    data = rec.at(rate) if rate else rec.data
    return np.ascontiguousarray(data, dtype=np.float32), float(rate or rec.rate)


def hooks() -> SequenceHooks:
    return SequenceHooks(read=read, frontend=SignalFrontEnd, default_rate=None, feature_mask=0,
                         frontends=FRONTENDS, auto=lambda: "minirocket")  # auto: the bench's best (docs/benchmarks.md)


# more front ends by name (the config's `frontend`; `default` is SignalFrontEnd)
FRONTENDS = {"minirocket": MiniRocketFrontEnd, "emg_spectrogram": EmgSpectrogramFrontEnd}
