"""MiniRocket transform speed: konstrukt's torch module vs aeon's numba one, on the same windows.

For each aeon set of ``bench/signal_quality.py`` (padded to its longest recording): fit on the
training windows, then transform train + test; seconds and milliseconds per window, one thread
each (aeon ``n_jobs=1``, torch ``set_num_threads(1)``), after a warm-up call (numba compiles on
first use). Also the largest difference of their features with aeon's parameters copied in.

Run: ``pip install -e .[bench]`` then ``python bench/minirocket_speed.py``.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from signal_quality import SETS, load, pad


def aeon_seconds(A: np.ndarray, B: np.ndarray):
    from aeon.transformations.collection.convolution_based import MiniRocket

    MiniRocket(random_state=0, n_jobs=1).fit(A[:4]).transform(A[:4])  # warm-up: numba compiles
    t0 = time.perf_counter()
    rocket = MiniRocket(random_state=0, n_jobs=1).fit(A)
    feats = rocket.transform(np.concatenate([A, B]))
    return time.perf_counter() - t0, rocket, feats


def torch_seconds(A: np.ndarray, B: np.ndarray):
    from konstrukt.models.portable.minirocket import MiniRocket

    t0 = time.perf_counter()
    rocket = MiniRocket(A.shape[1], A.shape[2])
    with torch.inference_mode():
        rocket.fit(torch.from_numpy(A), seed=0)
        rocket.transform(torch.from_numpy(np.concatenate([A, B])))
    return time.perf_counter() - t0, rocket


def max_difference(rocket, reference, X: np.ndarray, aeon_feats: np.ndarray) -> float:
    counts, channels, _, _, biases = reference.parameters
    mask, start = np.zeros(tuple(rocket.channel_mask.shape), np.float32), 0
    for row, n in enumerate(counts):
        mask[row, channels[start:start + n]] = 1.0
        start += n
    rocket.channel_mask.copy_(torch.from_numpy(mask))
    rocket.biases.copy_(torch.from_numpy(biases))
    with torch.inference_mode():
        ours = rocket.transform(torch.from_numpy(X)).numpy()
    return float(np.abs(ours - aeon_feats).mean()), float((np.abs(ours - aeon_feats) > 1e-6).mean())


def main() -> None:
    torch.set_num_threads(1)
    print(f"{'dataset':24}{'windows':>9}{'aeon s':>9}{'torch s':>9}{'aeon ms/w':>11}{'torch ms/w':>12}"
          f"{'mean |Δ|':>10}{'differ':>9}")
    for name, opts in SETS.items():
        Xtr, _, Xte, _ = load(name, **opts)
        length = max(9, max(x.shape[1] for x in [*Xtr, *Xte]))
        A, B = pad(Xtr, length), pad(Xte, length)
        n = len(A) + len(B)
        sa, reference, feats = aeon_seconds(A, B)
        st, rocket = torch_seconds(A, B)
        mean_diff, differ = max_difference(rocket, reference, np.concatenate([A, B]), feats)
        print(f"{name:24}{n:9d}{sa:9.2f}{st:9.2f}{1000 * sa / n:11.2f}{1000 * st / n:12.2f}"
              f"{mean_diff:10.1e}{100 * differ:8.3f}%")


if __name__ == "__main__":
    main()
