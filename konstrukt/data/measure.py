"""Per-file measurements for the data-health checks, and the hooks a modality fills to provide them.

Each modality's wing (``konstrukt/modalities/<name>/health.py``) builds a :class:`HealthHooks`
record — how one of its files is measured, how near duplicates are found among the measurements,
which properties are compared for outliers and how they read in plain words — and puts it on its
:class:`~konstrukt.tasks.Modality` record (``health=``). The engine (:mod:`konstrukt.data.health`)
looks it up by the task's modality and never asks which modality it is.

Every file is read once, one at a time, into a small :class:`Measure` (a hash, a short
fingerprint, a few numbers), cached by content hash.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:
    from .findings import HealthReport
    from .samples import Dataset

NON_FINITE = "NaN or infinite"  # what the readers say about NaN/inf cells or samples


@dataclass
class Measure:
    """What the checks need to know about one file (small: the files themselves are not kept)."""

    meta: dict[str, Any] = field(default_factory=dict)  # compared across files for outliers
    key: Any = None  # near-duplicate key: 64-bit image hash, or an audio fingerprint vector
    flat: str | None = None  # a kind of empty file the modality names in HealthHooks.flats
    error: str | None = None
    error_kind: str = "unreadable"  # unreadable | non_finite (NaN/inf values)
    confirm: Any = None  # what a near-duplicate candidate is confirmed with (e.g. a grey thumbnail)


@dataclass(frozen=True)
class HealthHooks:
    """How one modality is measured, searched for near duplicates and described."""

    measure: Callable[[Path], Measure]
    # (measures, usable indices, samples, config) -> (P, 2) sample indices
    near_pairs: Callable[[list[Measure], list[int], list, Any], np.ndarray]
    numeric: dict[str, str]  # meta key -> plain name, compared by ratio to the median
    categorical: dict[str, str]  # meta key -> plain name, minority values are outliers
    shows: Callable[[str, Any, dict], str]  # (key, value, meta) -> plain text
    noun: str = "file"
    # Measure.flat -> what such files are, after "<n> <noun>": e.g. "{are} blank (a single colour)"
    # ({are}: is or are, by the count)
    flats: dict[str, str] = field(default_factory=dict)
    # A modality whose reading depends on the config (signals: layout, time column, rate) or that
    # measures windows of a long recording: config -> (sample -> Measure), used instead of measure.
    measure_with: Callable[[Any], Callable[[Any], Measure]] | None = None
    settings: Callable[[Any], str] | None = None  # config -> the part of the cache key it decides
    extra: Callable[["HealthReport", list[Measure], Any], None] | None = None  # modality's own checks


_CACHE: OrderedDict[tuple[str, str, str], Measure] = OrderedDict()
_CACHE_SIZE = 50_000  # measurements of ~1 kB: a long-running server stays small


def measure_all(dataset: "Dataset", modality: str, hooks: HealthHooks, config,
                progress=None) -> list[Measure]:
    """One :class:`Measure` per sample; files are read one at a time and cached by content hash
    (and by ``modality`` and the settings that decide how its files are read)."""
    from threadpoolctl import threadpool_limits

    bar = progress.bar(len(dataset.samples), "checking data", "file") if progress else None
    out: list[Measure] = []
    # Per-file arrays are tiny: a multi-threaded BLAS only adds waiting (measured 34 ms → 0.05 ms
    # per matrix product on a busy 2-core machine).
    with threadpool_limits(1):
        _measure_into(out, dataset, modality, hooks, bar, config)
    if bar:
        bar.close()
    return out


def _measure_into(out: list, dataset: "Dataset", modality: str, hooks: HealthHooks, bar, config) -> None:
    measure = hooks.measure_with(config) if hooks.measure_with else (lambda sample: hooks.measure(sample.path))
    settings = hooks.settings(config) if hooks.settings else ""
    for s in dataset.samples:
        key = (modality, settings, s.digest)
        m = _CACHE.get(key) if s.digest else None
        if m is None:
            m = _measure_one(measure, s)
            if s.digest:
                _CACHE[key] = m
                if len(_CACHE) > _CACHE_SIZE:
                    _CACHE.popitem(last=False)
        out.append(m)
        if bar:
            bar.update()


def _measure_one(measure: Callable[[Any], Measure], sample) -> Measure:
    """One sample's measurement; a file that cannot be read becomes a measurement saying why."""
    from ..errors import KonstruktError

    try:
        return measure(sample)
    except KonstruktError as exc:  # DataError naming the file/row, ConfigError (no rate)
        return Measure(error=exc.message.replace(str(sample.path), sample.path.name),
                       error_kind="non_finite" if NON_FINITE in exc.message else "unreadable")
    except Exception as exc:  # a decoder crashing on a hostile file is that file's problem
        return Measure(error=f"{sample.path.name}: cannot be read ({type(exc).__name__})")
