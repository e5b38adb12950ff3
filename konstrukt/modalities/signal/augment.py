"""Signal augmentations (train split only), on a standardised (C, L) float32 window.

Time masking, channel masking, magnitude warping (a smooth cubic-spline curve through ``knots``
random points around 1, std ``sigma``), jitter (Gaussian noise), random per-channel scaling and a
random circular time shift. Each draws its random values from a numpy ``Generator``, so a seeded
view is the same array every time, and keeps the shape and the float32 dtype. Each fires on half of
the views (``APPLY_PROB``); a size of 0 in the config turns it off.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ...config import AugmentConfig
from ...registry import Registry

Window = np.ndarray  # (C, L) float32
SignalAugment = Callable[[Window, np.random.Generator], Window]

APPLY_PROB = 0.5

SIGNAL_AUGMENTATIONS: Registry[Callable[[AugmentConfig], Optional[SignalAugment]]] = Registry(
    "signal augmentation")


def time_mask(x: Window, max_fraction: float, rng: np.random.Generator) -> Window:
    """Zero one random span of up to ``max_fraction`` of the window, on every channel."""
    length = x.shape[1]
    width = int(rng.integers(1, max(2, int(length * max_fraction) + 1)))
    start = int(rng.integers(0, max(1, length - width + 1)))
    out = x.copy()
    out[:, start:start + width] = 0.0  # 0 is the channel mean after standardisation
    return out


def channel_mask(x: Window, fraction: float, rng: np.random.Generator) -> Window:
    """Zero a random ``fraction`` of the channels (at least one, never all of them)."""
    channels = x.shape[0]
    if channels < 2:
        return x.copy()
    n = min(channels - 1, max(1, int(round(channels * fraction))))
    out = x.copy()
    out[rng.choice(channels, size=n, replace=False)] = 0.0
    return out


def smooth_curve(length: int, knots: int, sigma: float, rng: np.random.Generator,
                 channels: int = 1) -> np.ndarray:
    """(channels, length) cubic-spline curves through ``knots`` + 2 points drawn from N(1, sigma)."""
    from scipy.interpolate import CubicSpline

    at = np.linspace(0, length - 1, knots + 2)
    values = rng.normal(1.0, sigma, (knots + 2, channels))
    return CubicSpline(at, values, axis=0)(np.arange(length)).T.astype(np.float32)  # (C, L)


def magnitude_warp(x: Window, sigma: float, knots: int, rng: np.random.Generator) -> Window:
    """Multiply each channel by its own smooth random curve around 1."""
    return (x * smooth_curve(x.shape[1], knots, sigma, rng, x.shape[0])).astype(np.float32)


def jitter(x: Window, sigma: float, rng: np.random.Generator) -> Window:
    """Add Gaussian noise of std ``sigma`` (the window is standardised: in channel stds)."""
    return (x + rng.normal(0.0, sigma, x.shape)).astype(np.float32)


def scale(x: Window, sigma: float, rng: np.random.Generator) -> Window:
    """Multiply each channel by a random gain drawn from N(1, sigma)."""
    return (x * rng.normal(1.0, sigma, (x.shape[0], 1))).astype(np.float32)


def time_shift(x: Window, max_fraction: float, rng: np.random.Generator) -> Window:
    """Roll the window in time by up to ``max_fraction`` of its length, either way."""
    most = int(x.shape[1] * max_fraction)
    return np.roll(x, int(rng.integers(-most, most + 1)), axis=1) if most else x.copy()


@SIGNAL_AUGMENTATIONS.register("time_shift")
def _time_shift(cfg: AugmentConfig) -> Optional[SignalAugment]:
    f = cfg.time_shift
    return (lambda x, rng: time_shift(x, f, rng)) if f > 0 else None


@SIGNAL_AUGMENTATIONS.register("magnitude_warp")
def _magnitude_warp(cfg: AugmentConfig) -> Optional[SignalAugment]:
    s, k = cfg.magnitude_warp_sigma, cfg.magnitude_warp_knots
    return (lambda x, rng: magnitude_warp(x, s, k, rng)) if s > 0 else None


@SIGNAL_AUGMENTATIONS.register("scaling")
def _scaling(cfg: AugmentConfig) -> Optional[SignalAugment]:
    s = cfg.scaling
    return (lambda x, rng: scale(x, s, rng)) if s > 0 else None


@SIGNAL_AUGMENTATIONS.register("jitter")
def _jitter(cfg: AugmentConfig) -> Optional[SignalAugment]:
    s = cfg.jitter
    return (lambda x, rng: jitter(x, s, rng)) if s > 0 else None


@SIGNAL_AUGMENTATIONS.register("time_mask")
def _time_mask(cfg: AugmentConfig) -> Optional[SignalAugment]:
    f = cfg.signal_time_mask
    return (lambda x, rng: time_mask(x, f, rng)) if f > 0 else None


@SIGNAL_AUGMENTATIONS.register("channel_mask")
def _channel_mask(cfg: AugmentConfig) -> Optional[SignalAugment]:
    f = cfg.signal_channel_mask
    return (lambda x, rng: channel_mask(x, f, rng)) if f > 0 else None


# Timing first, then amplitude, then noise, then masks (a masked span stays silent).
_ORDER = ("time_shift", "magnitude_warp", "scaling", "jitter", "time_mask", "channel_mask")


def signal_augmentation(cfg: AugmentConfig) -> Optional[SignalAugment]:
    """All enabled signal augmentations, each applied with probability ``APPLY_PROB``; None if off."""
    if not cfg.enabled:
        return None
    names = [n for n in _ORDER if n in SIGNAL_AUGMENTATIONS]
    names += [n for n in SIGNAL_AUGMENTATIONS.names() if n not in names]
    steps = [f for n in names if (f := SIGNAL_AUGMENTATIONS.get(n)(cfg)) is not None]
    if not steps:
        return None

    def augment(x: Window, rng: np.random.Generator) -> Window:
        out = x.astype(np.float32, copy=True)
        for step in steps:
            if rng.random() < APPLY_PROB:
                out = step(out, rng)
        return out

    return augment
