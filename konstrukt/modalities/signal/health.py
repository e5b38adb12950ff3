"""Data health of sensor recordings: what one recording measures, which recordings are one copied,
and the checks only signals need (channel counts that differ, channels that never move, recordings
much shorter than one window).

Near duplicates in two stages: per-channel band energies (shift-invariant) find candidates by
cosine similarity among recordings with the same channel count; the candidates, read again, must
match as one recording (peak multichannel cross-correlation at one lag). Recordings are read as
training reads them (layout, time column, rate from the config; windows of long recordings).
"""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...data.findings import Finding
from ...data.measure import HealthHooks, Measure
from ...data.similarity import cosine_candidates
from ...words import agree, count

if TYPE_CHECKING:
    from ...data.findings import HealthReport

SIGNAL_CANDIDATE_COS = 0.85  # stage 1 for signals: band energies (shift-invariant; only ranks candidates)
SIGNAL_MATCH_CORR = 0.98  # stage 2: peak multichannel cross-correlation (distinct real takes: ≤ 0.971 seen)
# A steady rhythm lines up with any stretch of itself: when another lag reaches PERIODIC_PEAK of
# the best, only a near-perfect match (copies keep their noise; two recordings do not share it).
PERIODIC_PEAK, SIGNAL_PERIODIC_CORR = 0.8, 0.995

_SIGNAL_BANDS = 16  # per-channel spectral bands in the stage-1 fingerprint
_SIGNAL_MATCH_MAX = 2048  # samples per channel compared in stage 2 (the start of a recording)
_SIGNAL_FLAT = 1e-6  # a channel whose range is below this (× its magnitude, at least 1) never moves


def _signal_reader(config):
    """sample -> Recording (a file, or a window of a long recording), as training reads it."""
    from .preprocess import SignalPreprocessor

    return SignalPreprocessor(None, config).load_sample  # keeps the last few long recordings open


def _signal_settings(config) -> str:
    c = config.signal
    return f"{c.layout}|{c.time_column}|{c.sample_rate}"  # what decides how a file is read


def _band_energies(z: np.ndarray, bands: int = _SIGNAL_BANDS) -> np.ndarray:
    """(C, bands) log energy of equal-width frequency bands of each (standardised) channel."""
    power = np.abs(np.fft.rfft(z, axis=1)) ** 2  # (C, F)
    cum = np.concatenate([np.zeros((z.shape[0], 1)), np.cumsum(power, axis=1)], axis=1)  # (C, F + 1)
    edges = np.linspace(0, power.shape[1], bands + 1)  # fractional bins: short recordings work too
    at = np.stack([np.interp(edges, np.arange(cum.shape[1]), row) for row in cum])  # (C, bands + 1)
    energy = np.diff(at, axis=1) / max(power.sum(1).max(), 1e-12)
    return np.log(energy + 1e-6)


def signal_fingerprint(x: np.ndarray) -> np.ndarray:
    """(C, T) → an L2-normalised vector that does not move when a recording is shifted, trimmed a
    little or scaled: each channel's band energies and each channel's level relative to the others.
    Takes of the same gesture can look alike here, so :func:`signal_match` confirms each pair."""
    centred = x - x.mean(1, keepdims=True)
    std = centred.std(1)
    z = centred / np.maximum(std, 1e-12)[:, None]
    bands = _band_energies(z)
    bands -= bands.mean(1, keepdims=True)
    level = np.log(np.maximum(std, 1e-12))
    vec = np.concatenate([bands.ravel(), level - level.mean()]).astype(np.float32)
    return vec / (np.linalg.norm(vec) + 1e-12)


def signal_spectrum(x: np.ndarray, n: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """(FFT of each channel of the first ``_SIGNAL_MATCH_MAX`` samples, zero-padded to ``n`` (default:
    room for every lag); cumulative energy over time, summed over channels; length), for
    :func:`signal_match`. Channels lose their mean and share one scale, so a quiet channel's noise
    does not count as much as the movement in a loud one."""
    x = x[:, :_SIGNAL_MATCH_MAX].astype(np.float64)
    centred = x - x.mean(1, keepdims=True)
    z = centred / max(float(np.sqrt(np.mean(centred * centred))), 1e-12)
    n = n or match_size(z.shape[1], z.shape[1])
    energy = np.concatenate([[0.0], np.cumsum((z * z).sum(0))])  # (T + 1,)
    return np.fft.rfft(z, n, axis=1), energy, z.shape[1]


def match_size(la: int, lb: int) -> int:
    """The FFT size that compares recordings of ``la`` and ``lb`` samples without wrap-around."""
    return 1 << int(math.ceil(math.log2(max(min(la, _SIGNAL_MATCH_MAX) + min(lb, _SIGNAL_MATCH_MAX), 2))))


def signal_match(a: tuple, b: tuple, max_shift: float = 0.25) -> tuple[float, bool]:
    """(peak, periodic): the peak cross-correlation of two multichannel recordings (all channels at
    one lag), normalised by the energy of the overlapping parts, over shifts up to ``max_shift`` of
    the shorter one; and whether another lag comes close to it (a rhythm: any two stretches of one
    steady oscillation line up, so only a near-perfect match counts — see :func:`is_copy`).

    One recording copied — scaled, offset, trimmed, with a little noise — peaks near 1 at one lag;
    two takes of a gesture, even smooth one-channel ones, stay below :data:`SIGNAL_MATCH_CORR`.
    """
    (fa, ea, la), (fb, eb, lb) = a, b
    if fa.shape != fb.shape or ea[-1] == 0 or eb[-1] == 0:
        return 0.0, False
    n = 2 * (fa.shape[1] - 1)
    xc = np.fft.irfft((fa * np.conj(fb)).sum(0), n)  # lag k: sum_t a[t + k] b[t], at index k mod n
    lim = int(max_shift * min(la, lb))
    k = np.arange(-lim, lim + 1)
    # overlap of a[t + k] and b[t]: t in [max(0, -k), min(lb, la - k))
    t0, t1 = np.maximum(0, -k), np.minimum(lb, la - k)
    ok = t1 - t0 >= 0.7 * max(la, lb)  # a short piece that happens to fit is no copy
    if not ok.any():
        return 0.0, False
    k, t0, t1 = k[ok], t0[ok], t1[ok]
    energy_a, energy_b = ea[t1 + k] - ea[t0 + k], eb[t1] - eb[t0]
    corr = np.abs(xc[k % n]) / np.sqrt(np.maximum(energy_a * energy_b, 1e-24))  # (lags,)
    best = int(np.argmax(corr))
    inner = corr[1:-1]
    local = np.flatnonzero((inner > corr[:-2]) & (inner >= corr[2:])) + 1  # local maxima
    periodic = bool(np.any(corr[local[local != best]] >= PERIODIC_PEAK * corr[best]))
    return float(corr[best]), periodic


def is_copy(a: tuple, b: tuple) -> bool:
    """Two recordings (:func:`signal_spectrum`) are one recording copied."""
    peak, periodic = signal_match(a, b)
    return peak >= (SIGNAL_PERIODIC_CORR if periodic else SIGNAL_MATCH_CORR)


def measure_recording(rec) -> Measure:
    """A decoded recording (finite by construction: the readers refuse NaN/inf) → its measurement."""
    x = rec.data  # (C, T)
    channels, steps = x.shape
    meta: dict[str, Any] = {"channels": int(channels)}
    if rec.rate:
        meta.update(sample_rate=float(rec.rate), duration=steps / float(rec.rate))
    else:  # rate unknown (no time column, no --sample-rate): compare lengths in samples
        meta["steps"] = int(steps)
    moves = np.ptp(x, axis=1) > _SIGNAL_FLAT * np.maximum(np.abs(x).max(1), 1.0)  # (C,)
    meta["flat_channels"] = [int(c) for c in np.flatnonzero(~moves)]
    if not moves.any():
        return Measure(meta, flat="constant")
    return Measure(meta, key=signal_fingerprint(x) if steps >= 4 else None)


def measure_signal(path: Path, config=None) -> Measure:
    """One signal file read with ``config`` (default settings when None) → its measurement."""
    from ...config import TrainConfig
    from .preprocess import read_signal

    return measure_recording(read_signal(path, config or TrainConfig(task="signal")))


def _signal_measurer(config):
    read = _signal_reader(config)
    return lambda sample: measure_recording(read(sample))


def signal_pairs(measures: list[Measure], idx: list[int], samples: list, config=None) -> np.ndarray:
    """Stage 1: band-energy fingerprints within cosine reach (at most 12 per recording, among
    recordings with the same channel count); stage 2: the recordings of those candidates, read
    again, must match as one recording. Windows of one long recording are neighbours, not copies."""
    from functools import lru_cache

    from ...config import TrainConfig

    read = _signal_reader(config or TrainConfig(task="signal"))

    @lru_cache(maxsize=256)
    def recording(i: int):
        return read(samples[i])

    @lru_cache(maxsize=512)  # pairs come sorted by their first recording, of similar lengths
    def spectrum(i: int, n: int) -> tuple:
        return signal_spectrum(recording(i).data, n)

    by_size: dict[int, list[int]] = {}
    for i in idx:
        by_size.setdefault(measures[i].key.shape[0], []).append(i)
    keep = []
    for members in by_size.values():
        if len(members) < 2:
            continue
        cand = cosine_candidates(np.stack([measures[i].key for i in members]), SIGNAL_CANDIDATE_COS, top_k=12)
        for i, j in cand:
            a, b = members[i], members[j]
            if samples[a].start is not None and samples[a].path == samples[b].path:
                continue  # two windows of one recording: grouped in one split anyway
            ra, rb = recording(a), recording(b)
            if ra.rate and rb.rate and not math.isclose(ra.rate, rb.rate, rel_tol=1e-3):
                continue  # copies keep their rate; a resampled copy is an outlier finding instead
            n = match_size(ra.data.shape[1], rb.data.shape[1])
            if is_copy(spectrum(a, n), spectrum(b, n)):
                keep.append((a, b))
    return np.array(keep, dtype=int).reshape(-1, 2)


def _show_signal(key: str, value: Any, meta: dict) -> str:
    if key == "duration":
        return f"{value:.3g} s"
    if key == "steps":
        return f"{int(value)} samples"
    if key == "sample_rate":
        return f"{value:g} Hz"
    if key == "channels":
        return count(value, "channel")
    return str(value)


def _signal_checks(report: "HealthReport", measures: list[Measure], config) -> None:
    """What only signals have: channel counts that differ (training refuses them), channels that
    never move (a loose or switched-off sensor), recordings much shorter than one window."""
    ok = [i for i, m in enumerate(measures) if m.error is None]
    counts = Counter(measures[i].meta["channels"] for i in ok)
    if len(counts) > 1:
        common = counts.most_common(1)[0][0]
        odd = [i for i in ok if measures[i].meta["channels"] != common]
        report.findings.append(Finding(
            "channel_mismatch", "error",
            f"{count(len(odd), 'recording')} {agree(len(odd), 'does', 'do')} not have the {common} channels the other {counts[common]} have: "
            "training stops on them",
            odd, "give every file the same channels in the same order, or delete these",
            {"typical": common},
            {i: {"value": _show_signal("channels", measures[i].meta["channels"], {})} for i in odd}))
    flat = [i for i in ok if measures[i].flat is None and measures[i].meta.get("flat_channels")]
    if flat:
        everywhere = sorted(set.intersection(*(set(measures[i].meta["flat_channels"]) for i in flat))) \
            if len(flat) == len([i for i in ok if measures[i].flat is None]) else []
        names = ", ".join(str(c + 1) for c in everywhere)
        report.findings.append(Finding(
            "flat_channel", "warning",
            (f"channel {names} never changes in any recording: it carries nothing to learn from"
             if everywhere else f"{count(len(flat), 'recording')} {agree(len(flat), 'has', 'have')} a channel that never changes "
             "(a loose, saturated or switched-off sensor?)"),
            flat, "drop that channel from every file" if everywhere else
            "check the sensor, then record these again or delete them",
            {"channels": [c + 1 for c in everywhere]},
            {i: {"value": "channel " + ", ".join(str(c + 1) for c in measures[i].meta["flat_channels"])}
             for i in flat}))
    window = config.signal.window
    short = [i for i in ok if measures[i].meta.get("duration", window) < window / 2]
    if short:
        report.findings.append(Finding(
            "short", "warning",
            f"{count(len(short), 'recording')} {agree(len(short), 'is', 'are')} shorter than half a window ({window:g} s): most of what "
            "the model sees of them is padding",
            short, f"record them longer, or set a shorter window (--window, now {window:g} s)",
            {"window": window},
            {i: {"value": _show_signal("duration", measures[i].meta["duration"], {})} for i in short}))


HEALTH = HealthHooks(measure_signal, signal_pairs, {"duration": "duration", "steps": "length"},
                     {"sample_rate": "sample rate"}, _show_signal, noun="recording",
                     flats={"constant": "{are} constant: the signal never changes"},
                     measure_with=_signal_measurer, settings=_signal_settings, extra=_signal_checks)
