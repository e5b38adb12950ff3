"""Synthetic sound classes for the offline demo and the tests.

Each class is a kind of sound a person tells apart at once — rising vs falling chirps, harmonic
tones, noise bursts, click trains — drawn with random pitch, loudness, timing and background
noise, so a model has to learn the kind of sound rather than one exact waveform.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

SoundMaker = Callable[[np.random.Generator, int, int], np.ndarray]


def _envelope(n: int, rng: np.random.Generator, sr: int) -> tuple[np.ndarray, slice]:
    """A random event span (0.3–0.7 of the clip) with 10 ms fades; returns (envelope, span)."""
    length = int(n * rng.uniform(0.3, 0.7))
    start = int(rng.integers(0, n - length + 1))
    env = np.zeros(n)
    fade = min(int(0.01 * sr), length // 2)
    env[start:start + length] = 1.0
    env[start:start + fade] = np.linspace(0, 1, fade)
    env[start + length - fade:start + length] = np.linspace(1, 0, fade)
    return env, slice(start, start + length)


def _chirp(rng: np.random.Generator, n: int, sr: int, rising: bool) -> np.ndarray:
    env, span = _envelope(n, rng, sr)
    lo, hi = rng.uniform(200, 600), rng.uniform(1500, 4000)
    f0, f1 = (lo, hi) if rising else (hi, lo)
    length = span.stop - span.start
    freq = np.zeros(n)
    freq[span] = np.geomspace(f0, f1, length)  # exponential sweep over the event
    return np.sin(2 * np.pi * np.cumsum(freq) / sr) * env


def rising_chirp(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    return _chirp(rng, n, sr, rising=True)


def falling_chirp(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    return _chirp(rng, n, sr, rising=False)


def harmonic_tone(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    env, _ = _envelope(n, rng, sr)
    f0 = rng.uniform(150, 800)
    t = np.arange(n) / sr
    partials = [rng.uniform(0.3, 1.0) / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 6)
                if k * f0 < sr / 2]
    return np.sum(partials, axis=0) * env


def noise_burst(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    env, _ = _envelope(n, rng, sr)
    noise = rng.standard_normal(n)
    if rng.random() < 0.5:  # sometimes darker noise: a one-pole low-pass
        noise = np.cumsum(noise) * 0.1
        noise -= np.convolve(noise, np.ones(64) / 64, mode="same")
    return noise / (np.abs(noise).max() + 1e-9) * env


def click_train(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    env, span = _envelope(n, rng, sr)
    out = np.zeros(n)
    period = int(sr / rng.uniform(4, 20))  # 4–20 clicks per second
    click = np.hanning(int(0.002 * sr) * 2 + 1) * rng.choice([-1, 1])
    for start in range(span.start, span.stop - click.size, period):
        out[start:start + click.size] += click
    return out


SOUND_CLASSES: dict[str, SoundMaker] = {
    "rising_chirp": rising_chirp,
    "falling_chirp": falling_chirp,
    "harmonic_tone": harmonic_tone,
    "noise_burst": noise_burst,
    "click_train": click_train,
}


def synth_clip(kind: str, rng: np.random.Generator, seconds: float = 2.0, sample_rate: int = 16000
               ) -> np.ndarray:
    """One clip of ``kind``: random loudness (−26…−6 dBFS peak) over quiet background noise."""
    n = int(seconds * sample_rate)
    sound = SOUND_CLASSES[kind](rng, n, sample_rate)
    sound = sound / (np.abs(sound).max() + 1e-9) * 10 ** (rng.uniform(-26, -6) / 20)
    background = rng.standard_normal(n) * 10 ** (rng.uniform(-60, -40) / 20)
    return np.clip(sound + background, -1, 1).astype(np.float32)


def write_sound_demo(root: str | Path, per_class: int = 20, classes: tuple[str, ...] | None = None,
                     seconds: float = 2.0, sample_rate: int = 16000, seed: int = 0,
                     extra_per_class: int = 0) -> Path:
    """Write ``per_class`` 16-bit WAV clips per class into ``root/<class>/``; returns ``root``.

    With ``extra_per_class`` > 0, that many *other* clips per class go into ``root_new/`` (files
    the model never saw, for trying predictions).
    """
    import soundfile as sf

    root = Path(root)
    rng = np.random.default_rng(seed)
    for kind in classes or tuple(SOUND_CLASSES):
        for dest, count in ((root, per_class), (root.with_name(root.name + "_new"), extra_per_class)):
            if count == 0:
                continue
            folder = dest / kind
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                sf.write(folder / f"{kind}_{i:03d}.wav", synth_clip(kind, rng, seconds, sample_rate),
                         sample_rate, subtype="PCM_16")
    return root


DEMO_SECONDS = 1.0  # short clips keep the offline demo to seconds on a CPU


def run_sound_demo(out: str | Path = "konstrukt-demo", verbose: bool = True, overwrite: bool = True) -> dict:
    """Write the synthetic sounds, train with ``auto`` (the pretrained speech embedding, shipped in a
    package: offline; a scratch model only if the CV contest asks for it), predict new clips."""
    from .demo import train_and_try

    out = Path(out)
    data = write_sound_demo(out / "data" / "sounds", per_class=12, seconds=DEMO_SECONDS,
                            extra_per_class=2)
    # CV on (the contest needs it; a probe on cached embeddings makes it seconds), no augmented copies.
    return train_and_try(data, task="sound", pipeline="auto", out=out / "sound_run", every=2,
                         overrides={"audio": {"duration": DEMO_SECONDS}, "target_size": 0},
                         verbose=verbose, overwrite=overwrite)
