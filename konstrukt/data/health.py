"""Data health: what is wrong with the examples before a model ever sees them.

Checks, each a :class:`Finding` in plain words that names the samples it is about:

* **exact duplicates** (same bytes) and **near duplicates** (images: 64-bit perceptual hash within
  a few bits; audio and signals: a spectral fingerprint, then an alignment check) — within a class
  (``exact_duplicate`` / ``near_duplicate``), across classes (``label_conflict``) and across
  train/validation/test (``leakage``: copies in an evaluation split inflate its score, so they are
  removed from it — see :meth:`HealthReport.apply`);
* **imbalance** (largest/smallest class > 3×), **too few** examples for the splits or the CV;
* **outliers** in size/duration/sample rate/channel count/colour mode, **unreadable** files,
  blank images, near-silent audio and constant signals;
* signals also: NaN/inf values, channel counts that differ, channels that never change, recordings
  much shorter than one window.

Every file is read once, one at a time, into a small per-file measurement (a hash, a short
fingerprint, a few numbers), cached by content hash; duplicates are found with vectorised numpy on
those measurements (blocks of rows, no Python loop over pairs). The post-training checks (likely
mislabelled examples, what to add next) live in :mod:`konstrukt.review`.
"""
from __future__ import annotations

import math
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import DataError
from ..registry import Registry
from ..words import agree, count
from .sources import Dataset

EVAL_SPLITS = ("val", "test")
BLOCKING = frozenset({"label_conflict", "leakage"})  # what --strict stops on
DUPLICATE_KINDS = frozenset({"exact_duplicate", "near_duplicate", "label_conflict"})  # one per group
IMBALANCE_RATIO = 3.0
SIZE_RATIO = 4.0  # a size/duration this many times off the median is an outlier
PHASH_MAX_BITS = 4  # of 64: resaved, resized or re-lit copies land at 0–4, distinct digits at ≥ 6
AUDIO_CANDIDATE_COS = 0.98  # stage 1 (band statistics): cheap, shift-invariant, permissive
AUDIO_MATCH_CORR = 0.93  # stage 2: peak normalised cross-correlation of the waveforms
SILENT_DBFS = -55.0
SIGNAL_CANDIDATE_COS = 0.85  # stage 1 for signals: band energies (shift-invariant; only ranks candidates)
SIGNAL_MATCH_CORR = 0.98  # stage 2: peak multichannel cross-correlation (distinct real takes: ≤ 0.971 seen)
# A steady rhythm lines up with any stretch of itself: when another lag reaches PERIODIC_PEAK of
# the best, only a near-perfect match (copies keep their noise; two recordings do not share it).
PERIODIC_PEAK, SIGNAL_PERIODIC_CORR = 0.8, 0.995
NON_FINITE = "NaN or infinite"  # what the signal readers say about NaN/inf cells or samples
BLOCK = 1024  # rows per block in the pairwise searches: memory O(BLOCK × N)


# --------------------------------------------------------------------------- findings


@dataclass
class Finding:
    """One problem, in plain words, with the samples (indices into the dataset) it names."""

    kind: str
    severity: str  # error | warning | info
    message: str
    samples: list[int] = field(default_factory=list)
    action: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    notes: dict[int, dict] = field(default_factory=dict)  # per-sample extras (e.g. a suggested label)
    stage: str = "data"  # data | training


@dataclass
class HealthReport:
    """The findings about one dataset, and which evaluation examples are left out because of leaks."""

    dataset: Dataset
    findings: list[Finding] = field(default_factory=list)
    splits: dict[str, list[int]] | None = None
    removed: dict[str, list[int]] = field(default_factory=dict)  # split -> indices left out
    checked: int = 0
    # what finding the examples said (files of other types skipped …): `check` says what `train` warns
    warnings: list[str] = field(default_factory=list)
    _where: dict[int, str] | None = field(default=None, repr=False)

    def by_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.kind in BLOCKING]

    def apply(self, splits: dict[str, list[int]]) -> dict[str, list[int]]:
        """``splits`` without the leaked examples of the evaluation splits."""
        gone = {k: set(v) for k, v in self.removed.items()}
        return {k: [i for i in v if i not in gone.get(k, ())] for k, v in splits.items()}

    def groups(self, indices: list[int]) -> list[int]:
        """A group id per index: copies (exact or near, any label) share one, every other example
        has its own — for cross-validation folds that keep copies together."""
        of = {}
        for n, f in enumerate(self.findings):
            if f.kind in DUPLICATE_KINDS:
                of.update({i: -1 - n for i in f.samples})
        return [of.get(i, i) for i in indices]

    def split_of(self, i: int) -> str | None:
        if self._where is None:
            self._where = {j: name for name, idx in (self.splits or {}).items() for j in idx}
        return self._where.get(i, self.dataset.samples[i].split)

    def sample_dict(self, i: int, finding: Finding | None = None) -> dict[str, Any]:
        s = self.dataset.samples[i]
        out = {"index": int(i), "file": self.dataset.relative(s.path), "name": f"{s.label}/{s.path.name}",
               "label": s.label, "split": self.split_of(i)}
        if finding is not None:
            out.update(finding.notes.get(i, {}))
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the ``data_health`` section of report.json and of the API."""
        return {
            "checked": self.checked,
            "ok": not any(f.severity in ("error", "warning") for f in self.findings),
            "counts": dict(Counter(f.kind for f in self.findings)),
            "findings": [{"kind": f.kind, "severity": f.severity, "stage": f.stage, "message": f.message,
                          "action": f.action, "detail": f.detail,
                          "samples": [self.sample_dict(i, f) for i in f.samples]} for f in self.findings],
            "removed_from_evaluation": {k: [self.sample_dict(i) for i in v]
                                        for k, v in self.removed.items() if v},
            "warnings": list(self.warnings),
        }

    def lines(self, limit: int = 8) -> list[str]:
        """Plain-words lines: one per finding (the first ``limit`` per kind), then what was done."""
        out, seen = [], Counter()
        for f in self.findings:
            seen[f.kind] += 1
            if seen[f.kind] <= limit:
                out.append(f"[{f.severity}] {f.message}" + (f" — {f.action}" if f.action else ""))
        for kind, n in seen.items():
            if n > limit:
                out.append(f"… and {n - limit} more {kind.replace('_', ' ')} {agree(n - limit, 'finding')}")
        return out


# --------------------------------------------------------------------------- per-file measurements


@dataclass
class Measure:
    """What the checks need to know about one file (small: the files themselves are not kept)."""

    meta: dict[str, Any] = field(default_factory=dict)  # compared across files for outliers
    key: Any = None  # near-duplicate key: 64-bit image hash, or an audio fingerprint vector
    flat: str | None = None  # blank | silent | constant
    error: str | None = None
    error_kind: str = "unreadable"  # unreadable | non_finite (NaN/inf values)


@dataclass(frozen=True)
class HealthSpec:
    """How one modality is measured, searched for near duplicates and described."""

    measure: Callable[[Path], Measure]
    # (measures, usable indices, samples, config) -> (P, 2) sample indices
    near_pairs: Callable[[list[Measure], list[int], list, Any], np.ndarray]
    numeric: dict[str, str]  # meta key -> plain name, compared by ratio to the median
    categorical: dict[str, str]  # meta key -> plain name, minority values are outliers
    shows: Callable[[str, Any, dict], str]  # (key, value, meta) -> plain text
    noun: str = "file"
    # A modality whose reading depends on the config (signals: layout, time column, rate) or that
    # measures windows of a long recording: config -> (sample -> Measure), used instead of measure.
    measure_with: Callable[[Any], Callable[[Any], Measure]] | None = None
    settings: Callable[[Any], str] | None = None  # config -> the part of the cache key it decides
    extra: Callable[["HealthReport", list[Measure], Any], None] | None = None  # modality's own checks


HEALTH_SPECS: Registry["HealthSpec"] = Registry("data-health modality")  # keyed by modality name
_CACHE: OrderedDict[tuple[str, str], Measure] = OrderedDict()
_CACHE_SIZE = 50_000  # measurements of ~1 kB: a long-running server stays small


def measure_all(dataset: Dataset, modality: str, progress=None, config=None) -> list[Measure]:
    """One :class:`Measure` per sample; files are read one at a time and cached by content hash."""
    from threadpoolctl import threadpool_limits

    from ..config import TrainConfig

    spec = HEALTH_SPECS.get(modality)
    config = config or TrainConfig(task=next(t for t in _tasks_of(modality)))
    bar = progress.bar(len(dataset.samples), "checking data", "file") if progress else None
    out = []
    # Per-file arrays are tiny: a multi-threaded BLAS only adds waiting (measured 34 ms → 0.05 ms
    # per matrix product on a busy 2-core machine).
    with threadpool_limits(1):
        _measure_into(out, dataset, modality, spec, bar, config)
    if bar:
        bar.close()
    return out


def _tasks_of(modality: str) -> list[str]:
    from ..tasks import TASKS

    return [name for name in TASKS.names() if TASKS.get(name).modality == modality]


def _measure_into(out: list, dataset: Dataset, modality: str, spec: "HealthSpec", bar, config) -> None:
    from ..errors import KonstruktError

    measure = spec.measure_with(config) if spec.measure_with else (lambda sample: spec.measure(sample.path))
    settings = spec.settings(config) if spec.settings else ""
    for s in dataset.samples:
        key = (modality, settings, s.digest)
        m = _CACHE.get(key) if s.digest else None
        if m is None:
            try:
                m = measure(s)
            except KonstruktError as exc:  # DataError naming the file/row, ConfigError (no rate)
                m = Measure(error=exc.message.replace(str(s.path), s.path.name),
                            error_kind="non_finite" if NON_FINITE in exc.message else "unreadable")
            except Exception as exc:  # a decoder crashing on a hostile file is that file's problem
                m = Measure(error=f"{s.path.name}: cannot be read ({type(exc).__name__})")
            if s.digest:
                _CACHE[key] = m
                if len(_CACHE) > _CACHE_SIZE:
                    _CACHE.popitem(last=False)
        out.append(m)
        if bar:
            bar.update()


# --------------------------------------------------------------------------- vectorised searches


def hamming_pairs(hashes: np.ndarray, max_bits: int, block: int = BLOCK) -> np.ndarray:
    """Index pairs (i < j) of 64-bit hashes at most ``max_bits`` apart: XOR + popcount in blocks."""
    h = np.ascontiguousarray(hashes, dtype=np.uint64)
    found = []
    for start in range(0, len(h), block):
        d = np.bitwise_count(h[start:start + block, None] ^ h[None, :])  # (B, N)
        i, j = np.nonzero(d <= max_bits)
        i += start
        keep = j > i
        found.append(np.stack([i[keep], j[keep]], 1))
    return np.concatenate(found) if found else np.zeros((0, 2), int)


def cosine_candidates(x: np.ndarray, threshold: float, top_k: int = 8, block: int = BLOCK) -> np.ndarray:
    """Pairs (i < j) of L2-normalised rows with cosine ≥ ``threshold``, at most ``top_k`` per row."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    found = []
    for start in range(0, len(x), block):
        sim = x[start:start + block] @ x.T  # (B, N)
        rows = np.arange(sim.shape[0])
        sim[rows, rows + start] = -np.inf  # not a pair with itself
        k = min(top_k, x.shape[0] - 1)
        if k <= 0:
            break
        best = np.argpartition(-sim, k - 1, axis=1)[:, :k]  # (B, k)
        ok = np.take_along_axis(sim, best, 1) >= threshold
        i = np.repeat(rows + start, k).reshape(-1, k)[ok]
        j = best[ok]
        found.append(np.stack([np.minimum(i, j), np.maximum(i, j)], 1))
    if not found:
        return np.zeros((0, 2), int)
    return np.unique(np.concatenate(found), axis=0)


def _groups(n: int, pairs: np.ndarray) -> list[list[int]]:
    """Connected groups (size ≥ 2) of ``n`` items joined by ``pairs``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(pairs) == 0:
        return []
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    members: dict[int, list[int]] = {}
    for i, c in enumerate(comp.tolist()):
        members.setdefault(c, []).append(i)
    return sorted((m for m in members.values() if len(m) > 1), key=lambda m: m[0])


# --------------------------------------------------------------------------- images


def measure_image(path: Path) -> Measure:
    import imagehash
    from PIL import Image

    from ..preprocess.image import load_image

    img = load_image(path)  # checks the size first, decodes fully, refuses truncated files; upright RGB
    with Image.open(path) as probe:  # the header: size and mode as stored
        width, height, mode = probe.size[0], probe.size[1], probe.mode
    thumb = img.convert("L").resize((32, 32), Image.LANCZOS)  # what pHash looks at
    bits = imagehash.phash(thumb).hash.flatten()  # 64 booleans
    key = int(np.packbits(bits).view(">u8")[0])
    flat = "blank" if float(np.asarray(thumb, dtype=np.float32).std()) < 2.0 else None
    colour = {"1": "black-and-white", "L": "greyscale", "LA": "greyscale", "P": "palette",
              "RGB": "colour", "RGBA": "colour with transparency", "CMYK": "CMYK"}.get(mode, mode)
    return Measure({"pixels": width * height, "width": width, "height": height, "colour": colour},
                   key=key, flat=flat)


def image_pairs(measures: list[Measure], idx: list[int], samples: list, config=None) -> np.ndarray:
    hashes = np.array([measures[i].key for i in idx], dtype=np.uint64)
    pairs = hamming_pairs(hashes, PHASH_MAX_BITS)
    return np.asarray(idx)[pairs] if len(pairs) else pairs


def _show_image(key: str, value: Any, meta: dict) -> str:
    if key == "pixels":
        return f"{meta['width']}×{meta['height']} px" if meta else f"{value / 1e6:.2g} megapixels"
    return str(value)


# --------------------------------------------------------------------------- audio

_SR, _NFFT, _HOP, _MELS = 16000, 512, 256, 32
_MAX_SECONDS = 30.0  # enough to fingerprint; a one-hour file costs the same as a 30 s one


def _log_mel(wave: np.ndarray) -> np.ndarray:
    """(mels, frames) log-mel power in dB, numpy only (one filterbank, built once)."""
    if wave.shape[0] < _NFFT:
        wave = np.pad(wave, (0, _NFFT - wave.shape[0]))
    frames = np.lib.stride_tricks.sliding_window_view(wave, _NFFT)[::_HOP]  # (T, NFFT) views
    power = (np.abs(np.fft.rfft(frames * _window(), axis=1)) ** 2).astype(np.float32)  # (T, F)
    return 10 * np.log10(power @ _mel_bank() + 1e-10).T  # (M, T)


_BANKS: dict[str, np.ndarray] = {}


def _mel_bank() -> np.ndarray:
    if "mel" not in _BANKS:
        import librosa

        _BANKS["mel"] = np.ascontiguousarray(librosa.filters.mel(sr=_SR, n_fft=_NFFT, n_mels=_MELS).T,
                                             dtype=np.float32)  # (F, M)
    return _BANKS["mel"]


def _window() -> np.ndarray:
    if "win" not in _BANKS:
        _BANKS["win"] = np.hanning(_NFFT).astype(np.float32)
    return _BANKS["win"]


def audio_fingerprint(wave: np.ndarray) -> np.ndarray:
    """Band statistics of the log-mel spectrogram: an L2-normalised, gain-invariant vector.

    The mean (minus its own mean) and spread of each mel band do not move when a clip is trimmed,
    shifted or made louder: a cheap first search. Two takes of the same kind of sound can look
    alike here, so :func:`waveform_match` confirms each candidate pair.
    """
    mel = _log_mel(wave)
    mel = np.maximum(mel, mel.max() - 60.0)  # quiet background does not decide similarity
    mean = mel.mean(1)
    vec = np.concatenate([mean - mean.mean(), mel.std(1)]).astype(np.float32)
    return vec / (np.linalg.norm(vec) + 1e-12)


_MATCH_SR, _MATCH_SECONDS = 4000, 4.0  # the waveform check: enough to tell one recording from another
_MATCH_N = 1 << int(math.ceil(math.log2(2 * _MATCH_SR * _MATCH_SECONDS)))  # FFT size: no wrap-around


def match_spectrum(wave: np.ndarray) -> tuple[np.ndarray, float, int]:
    """(FFT of the waveform zero-padded to the match size, its norm, its length) for :func:`waveform_match`."""
    wave = wave[: int(_MATCH_SR * _MATCH_SECONDS)].astype(np.float64)
    norm = float(np.sqrt(np.sum(wave * wave)))  # not BLAS: its threads only wait on tiny vectors
    return np.fft.rfft(wave, _MATCH_N).astype(np.complex64), norm, wave.size


def waveform_match(a: tuple, b: tuple, max_shift: float = 0.25) -> float:
    """Peak normalised cross-correlation of two waveforms (given by :func:`match_spectrum`) over
    shifts up to ``max_shift`` of the shorter one. One recording copied — louder, trimmed,
    re-encoded, resampled — peaks near 1; two takes of the same kind of sound stay far below."""
    (fa, na, la), (fb, nb, lb) = a, b
    if na == 0 or nb == 0:
        return 0.0
    xc = np.fft.irfft(fa * np.conj(fb), _MATCH_N)  # lag k at index k mod N
    lim = int(max_shift * min(la, lb))
    lags = np.concatenate([xc[:lim + 1], xc[_MATCH_N - lim:]]) if lim else xc[:1]
    return float(np.abs(lags).max() / (na * nb))


def measure_audio(path: Path) -> Measure:
    import soundfile as sf

    from ..preprocess.audio import decode_audio

    wave = decode_audio(path, _SR, _MAX_SECONDS)  # mono at 16 kHz, raises DataError naming the file
    try:
        info = sf.info(str(path))
        meta = {"sample_rate": int(info.samplerate), "channels": int(info.channels),
                "duration": float(info.frames) / info.samplerate}
    except Exception:  # formats only the fallback decoder reads: what the waveform tells
        meta = {"duration": wave.shape[0] / _SR}
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
    flat = None
    if wave.size and float(np.ptp(wave)) < 1e-4 and abs(float(wave.mean())) >= 1e-3:
        flat = "constant"
    elif 20 * math.log10(rms + 1e-12) < SILENT_DBFS:
        flat = "silent"
    meta["level_dbfs"] = round(20 * math.log10(rms + 1e-12), 1)
    return Measure(meta, key=audio_fingerprint(wave) if flat is None else None, flat=flat)


def audio_pairs(measures: list[Measure], idx: list[int], samples: list, config=None) -> np.ndarray:
    """Stage 1: band statistics within cosine reach (at most 8 per clip); stage 2: the waveforms
    of those candidates, read again (at most 4 s at 4 kHz), must match as one recording."""
    from functools import lru_cache

    from ..preprocess.audio import decode_audio

    if len(idx) < 2:
        return np.zeros((0, 2), int)
    cand = cosine_candidates(np.stack([measures[i].key for i in idx]), AUDIO_CANDIDATE_COS)

    @lru_cache(maxsize=512)  # candidate pairs come sorted by their first clip: few re-reads
    def spectrum(i: int) -> tuple:
        return match_spectrum(decode_audio(samples[i].path, _MATCH_SR, _MATCH_SECONDS))

    keep = [(idx[i], idx[j]) for i, j in cand
            if waveform_match(spectrum(idx[i]), spectrum(idx[j])) >= AUDIO_MATCH_CORR]
    return np.array(keep, dtype=int).reshape(-1, 2)


def _show_audio(key: str, value: Any, meta: dict) -> str:
    if key == "duration":
        return f"{value:.1f} s"
    if key == "sample_rate":
        return f"{value} Hz"
    if key == "channels":
        return {1: "mono", 2: "stereo"}.get(value, f"{value} channels")
    return str(value)


# --------------------------------------------------------------------------- signals

_SIGNAL_BANDS = 16  # per-channel spectral bands in the stage-1 fingerprint
_SIGNAL_MATCH_MAX = 2048  # samples per channel compared in stage 2 (the start of a recording)
_SIGNAL_FLAT = 1e-6  # a channel whose range is below this (× its magnitude, at least 1) never moves


def _signal_reader(config):
    """sample -> Recording (a file, or a window of a long recording), as training reads it."""
    from ..preprocess.signal import SignalPreprocessor

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
    from ..config import TrainConfig
    from ..preprocess.signal import read_signal

    return measure_recording(read_signal(path, config or TrainConfig(task="signal")))


def _signal_measurer(config):
    read = _signal_reader(config)
    return lambda sample: measure_recording(read(sample))


def signal_pairs(measures: list[Measure], idx: list[int], samples: list, config=None) -> np.ndarray:
    """Stage 1: band-energy fingerprints within cosine reach (at most 12 per recording, among
    recordings with the same channel count); stage 2: the recordings of those candidates, read
    again, must match as one recording. Windows of one long recording are neighbours, not copies."""
    from functools import lru_cache

    from ..config import TrainConfig

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


def _signal_checks(report: HealthReport, measures: list[Measure], config) -> None:
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


HEALTH_SPECS.add("image", HealthSpec(measure_image, image_pairs, {"pixels": "image size"},
                                 {"colour": "colour mode"}, _show_image, noun="image"))
HEALTH_SPECS.add("audio", HealthSpec(measure_audio, audio_pairs, {"duration": "duration"},
                                 {"sample_rate": "sample rate", "channels": "channel count"}, _show_audio,
                                 noun="clip"))
HEALTH_SPECS.add("signal", HealthSpec(measure_signal, signal_pairs,
                                      {"duration": "duration", "steps": "length"},
                                      {"sample_rate": "sample rate"}, _show_signal, noun="recording",
                                      measure_with=_signal_measurer, settings=_signal_settings,
                                      extra=_signal_checks))


# --------------------------------------------------------------------------- the checks

_UNREAD = HealthSpec(lambda path: Measure(), lambda m, idx, samples, config: np.zeros((0, 2), int), {}, {},
                     lambda key, value, meta: str(value))


def _duplicates(report: HealthReport, measures: list[Measure], modality: HealthSpec,
                near: bool, remove_leaked: bool, config=None) -> None:
    samples = report.dataset.samples
    by_digest: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        by_digest.setdefault(s.digest or f"#{i}", []).append(i)
    exact = [(g[0], j) for g in by_digest.values() for j in g[1:]]
    pairs = np.array(exact, dtype=int).reshape(-1, 2)
    if near:
        usable = [i for i, m in enumerate(measures) if m.key is not None and m.flat is None]
        pairs = np.concatenate([pairs, modality.near_pairs(measures, usable, samples, config)])
    for group in _groups(len(samples), pairs):
        same_bytes = len({samples[i].digest for i in group}) == 1
        labels = sorted({samples[i].label for i in group})
        what = "exact copies" if same_bytes else f"near-identical {modality.noun}s"
        if len(labels) > 1:
            report.findings.append(Finding(
                "label_conflict", "error",
                f"{len(group)} {what} are labelled differently ({', '.join(f'`{c}`' for c in labels)})",
                group, "keep the one in the right class and delete (or move) the others",
                {"labels": labels, "exact": same_bytes}))
        else:
            report.findings.append(Finding(
                "exact_duplicate" if same_bytes else "near_duplicate", "warning",
                f"{len(group)} {what} in class `{labels[0]}`: they count {len(group)} times in training",
                group, "keep one and delete the others", {"exact": same_bytes}))
        _leakage(report, group, what, remove_leaked)


def _leakage(report: HealthReport, group: list[int], what: str, remove_leaked: bool) -> None:
    if report.splits is None:
        return
    where = {i: report.split_of(i) for i in group}
    if "train" not in where.values():
        return
    leaked = [i for i in group if where[i] in EVAL_SPLITS]
    if not leaked:
        return
    splits = sorted({where[i] for i in leaked})
    names = {"val": "validation", "test": "test"}
    done = "left out of" if remove_leaked else "still counted in"
    report.findings.append(Finding(
        "leakage", "error",
        f"{what.capitalize()} sit in train and in the {' and '.join(names[s] for s in splits)} split: "
        f"the model is scored on examples it trained on; {len(leaked)} {done} the "
        f"{'/'.join(names[s] for s in splits)} score",
        group, "delete the extra copies, or keep each example in one split only",
        {"removed": [int(i) for i in leaked] if remove_leaked else []}))
    if remove_leaked:
        for i in leaked:
            bucket = report.removed.setdefault(where[i], [])
            if i not in bucket:
                bucket.append(int(i))


def _imbalance(report: HealthReport) -> None:
    counts = Counter(report.dataset.labels())
    (big, n_big), (small, n_small) = max(counts.items(), key=lambda kv: kv[1]), min(
        counts.items(), key=lambda kv: kv[1])
    if n_small and n_big / n_small > IMBALANCE_RATIO:
        few = sorted(c for c, n in counts.items() if n_big / n > IMBALANCE_RATIO)
        report.findings.append(Finding(
            "imbalance", "warning",
            f"classes are unbalanced: `{big}` has {n_big} examples, `{small}` only {n_small} "
            f"({n_big / n_small:.1f}×); the model will favour the big classes",
            [], f"add examples of {', '.join(f'`{c}`' for c in few)} (aim for similar counts per class)",
            {"per_class": dict(sorted(counts.items())), "ratio": round(n_big / n_small, 2)}))


def _held(n: int, frac: float) -> int:
    return 0 if frac <= 0 else max(1, int(round(n * frac)))


def _too_few(report: HealthReport, config) -> None:
    labels = report.dataset.labels()
    counts = Counter(labels)
    val, test = config.split.val, config.split.test
    need = 1 + (val > 0) + (test > 0)
    # Given splits are checked by make_splits; a split konstrukt makes needs `need` per class.
    small = [] if report.dataset.presplit else sorted(c for c, n in counts.items() if n < need)
    for c in small:
        report.findings.append(Finding(
            "too_few", "error",
            f"class `{c}` has {count(counts[c], 'example')}; splitting into train/validation/test needs at least {need}",
            [i for i, s in enumerate(report.dataset.samples) if s.label == c],
            f"add examples of `{c}`, or set the split fractions to 0", {"class": c, "need": need}))
    if report.splits is not None:
        pool = Counter(labels[i] for i in report.splits.get("train", []) + report.splits.get("val", []))
    else:
        pool = Counter({c: n - _held(n, test) - _held(n, val) for c, n in counts.items()})
    k = config.cv if config.cv is not None else (5 if sum(pool.values()) < config.small_data else 0)
    if k >= 2:
        short = sorted(c for c in counts if pool.get(c, 0) < k)
        if short:
            report.findings.append(Finding(
                "too_few", "warning",
                f"{k}-fold cross-validation needs {k} training examples per class; "
                + ", ".join(f"`{c}` has {pool.get(c, 0)}" for c in short)
                + " — the CV uses fewer folds" + (" or is skipped" if min(pool.get(c, 0) for c in short) < 2 else ""),
                [], f"add examples of {', '.join(f'`{c}`' for c in short)}", {"folds": k, "classes": short}))


def _outliers(report: HealthReport, measures: list[Measure], modality: HealthSpec) -> None:
    ok = [i for i, m in enumerate(measures) if m.error is None]
    if len(ok) < 3:
        return
    for key, name in modality.numeric.items():
        vals = np.array([measures[i].meta.get(key, np.nan) for i in ok], dtype=float)
        good = np.isfinite(vals) & (vals > 0)
        if good.sum() < 3:
            continue
        med = float(np.median(vals[good]))
        ratio = np.where(good, vals / med, 1.0)
        odd = [ok[k] for k in np.flatnonzero((ratio > SIZE_RATIO) | (ratio < 1 / SIZE_RATIO))]
        if odd:
            typical = min(ok, key=lambda i: abs(measures[i].meta.get(key, med) - med))
            report.findings.append(Finding(
                "outlier", "warning",
                f"{count(len(odd), modality.noun)} with an unusual {name} (most are about "
                f"{modality.shows(key, med, measures[typical].meta)})",
                odd, "check these files: a wrong or broken file, or something recorded differently",
                {"property": key, "typical": med},
                {i: {"value": modality.shows(key, measures[i].meta[key], measures[i].meta)} for i in odd}))
    for key, name in modality.categorical.items():
        vals = {i: measures[i].meta[key] for i in ok if measures[i].meta.get(key) is not None}
        counts = Counter(vals.values())
        if len(counts) < 2:
            continue
        common, n_common = counts.most_common(1)[0]
        rare = {v for v, n in counts.items() if v != common and n <= max(1, 0.1 * len(vals))}
        if n_common < 0.5 * len(vals) or not rare:
            continue
        odd = [i for i, v in vals.items() if v in rare]
        report.findings.append(Finding(
            "outlier", "warning",
            f"{count(len(odd), modality.noun)} {agree(len(odd), 'differs', 'differ')} in {name} from the other {n_common} "
            f"({modality.shows(key, common, {})})",
            odd, "check these files were recorded or exported like the others",
            {"property": key, "typical": common},
            {i: {"value": modality.shows(key, vals[i], measures[i].meta)} for i in odd}))


def _flat_and_unreadable(report: HealthReport, measures: list[Measure], modality: HealthSpec) -> None:
    texts = {"blank": ("blank", "{are} blank (a single colour): nothing to learn from"),  # {are}: is/are
             "silent": ("silent", f"{{are}} near-silent (below {SILENT_DBFS:.0f} dBFS)"),
             "constant": ("constant", "{are} constant: the signal never changes")}
    for flat, (kind, text) in texts.items():
        idx = [i for i, m in enumerate(measures) if m.flat == flat]
        if idx:
            report.findings.append(Finding(kind, "warning", f"{count(len(idx), modality.noun)} "
                                           + text.format(are=agree(len(idx), "is", "are")), idx,
                                           "delete them, or record them again"))
    errors = {"unreadable": ("cannot be read", "re-export or delete them (training stops on them)"),
              "non_finite": ("{hold} NaN or infinite values (a sensor dropout or a failed export)",
                             "fill the gaps (e.g. interpolate) or cut them out and save again, or delete "
                             "the files (training stops on them)")}
    for kind, (text, fix) in errors.items():
        bad = [i for i, m in enumerate(measures) if m.error and m.error_kind == kind]
        if bad:
            report.findings.append(Finding(kind, "error", f"{count(len(bad), 'file')} "
                                           + text.format(hold=agree(len(bad), "holds", "hold")), bad, fix,
                                           notes={i: {"error": measures[i].error} for i in bad}))


def check_data(dataset: Dataset, task: str = "image", config=None, splits: dict[str, list[int]] | None = None,
               progress=None) -> HealthReport:
    """Run every data-stage check on ``dataset``; return the findings (nothing is raised or changed).

    ``splits`` (``{"train": [...], "val": [...], "test": [...]}``) enables the leakage check; with
    ``config.health.remove_leaked`` the leaked evaluation examples are listed in ``removed``.
    """
    from ..config import TrainConfig
    from ..tasks import TASKS

    config = config or TrainConfig(task=task)
    modality_name = TASKS.get(task).modality
    # A modality without a HealthSpec still gets the checks that need no reading: exact copies,
    # leakage, label conflicts, imbalance, too few.
    modality = HEALTH_SPECS.get(modality_name) if modality_name in HEALTH_SPECS else _UNREAD
    from threadpoolctl import threadpool_limits

    report = HealthReport(dataset, splits=splits, checked=len(dataset.samples),
                          warnings=list(dataset.warnings))
    measures = (measure_all(dataset, modality_name, progress, config) if modality is not _UNREAD
                else [Measure() for _ in dataset.samples])
    _flat_and_unreadable(report, measures, modality)
    with threadpool_limits(1):  # many small array operations: BLAS threads only add waiting
        _duplicates(report, measures, modality, config.health.near_duplicates, config.health.remove_leaked,
                    config)
    _imbalance(report)
    _too_few(report, config)
    _outliers(report, measures, modality)
    if modality.extra:
        modality.extra(report, measures, config)
    return report


def check(data: str | Path, task: str = "image", config=None, progress=None) -> HealthReport:
    """Find the examples in ``data`` (folder, zip or CSV), split them as ``train`` would, and check them."""
    from ..config import TrainConfig
    from ..experiment import make_splits
    from .sources import discover

    config = config or TrainConfig(task=task)
    dataset = discover(data, task)
    try:
        splits = make_splits(dataset, config)
    except DataError:
        splits = None  # too small to split: the too_few findings say which classes
    return check_data(dataset, task, config, splits, progress)


def enforce(report: HealthReport, strict: bool) -> None:
    """With ``strict``, raise DataError when the data leaks across splits or has label conflicts."""
    if strict and report.blocking:
        raise DataError(
            "the data has leakage or label conflicts (--strict stops on these)",
            [f.message + ": " + ", ".join(report.sample_dict(i)["name"] for i in f.samples[:6])
             + (" …" if len(f.samples) > 6 else "") for f in report.blocking])
