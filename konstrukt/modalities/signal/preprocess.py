"""Signals: sensor recordings (CSV / NPY / NPZ, channels × time) → fixed-length standardised windows.

Reading (``read_signal``):

* **CSV** — columns are channels, one row per time step, an optional time column
  (:mod:`konstrukt.modalities.signal.csv_reader`).
* **NPY / NPZ** — a 1-D (one channel) or 2-D array, channels × time or time × channels: the longer
  axis is taken as time, or the axis of one length across the set holds the channels
  (:mod:`konstrukt.modalities.signal.layout`; ``signal.layout`` overrides); the run says which.
  An NPZ holds one array (or one named ``data``/``x``/``signal``) and may hold its rate as
  ``sample_rate``/``fs``. Arrays are read with ``allow_pickle=False``.

A file without a time column or stored rate is at ``signal.sample_rate`` (``--sample-rate``); with
neither, the run works in samples (windows of the files' typical length).
:meth:`SignalPreprocessor.fit` looks at the training split only: it fixes the model's rate
(``signal.sample_rate``, else the most common rate of the training files; other files are
resampled with a polyphase filter), the channel count, and the per-channel mean and standard
deviation used to standardise every window. Those travel with the run as plain JSON
(:meth:`~SignalPreprocessor.state`), so a run reloads from its folder alone.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from ...errors import ConfigError, DataError
from ...preprocess import Preprocessor
from ...preprocess.limits import check_values
from ...words import count
from .headers import check_array_file
from .csv_reader import bad_file as _bad, read_csv_values
from .layout import orient, samples_note, settle_layout, typical_length

ARRAY_KEYS = ("data", "x", "signal", "signals", "X")
RATE_KEYS = ("sample_rate", "fs", "sampling_rate", "rate", "sr")
# Long windows go through a strided stem first so that at most this many steps enter the residual
# blocks (2 s at 1 kHz: stride 16, 62.5 steps/s — gestures and envelopes live well below that).
# 256 cost about twice the time per training window (2.9 → 1.5 ms at 8 ch × 2 s × 1 kHz).
MAX_STEPS = 128


@dataclass
class Recording:
    """A decoded recording: (C, T) float32 at ``rate`` Hz (None: unknown, take ``signal.sample_rate``)."""

    data: np.ndarray  # (C, T)
    rate: float | None
    path: Path
    note: str = ""  # what the reader assumed (layout, time column), said once per run
    shape: tuple | None = None  # an array file's 2-D shape as stored (the set decides its layout)
    transposed: bool = False  # stored as time × channels
    _at: dict = field(default_factory=dict, repr=False)  # resampled copies by rate

    @property
    def channels(self) -> int:
        return int(self.data.shape[0])

    def at(self, rate: float) -> np.ndarray:
        """The data at ``rate`` Hz (resampled once, then cached)."""
        if self.rate is None or math.isclose(self.rate, rate, rel_tol=1e-3):
            return self.data
        if rate not in self._at:
            # A file at a much lower rate than the model's grows by the ratio: size it first.
            steps = math.ceil(self.data.shape[1] * rate / self.rate)
            check_values(self.path.name, self.channels * steps, 8,
                         f"{self.channels} × {steps:,} samples once resampled from {self.rate:g} to {rate:g} Hz",
                         "record the file at (or near) the rate of the other files, or set "
                         "`signal.sample_rate` to match it.")
            self._at[rate] = resample(self.data, self.rate, rate)
        return self._at[rate]


def resample(x: np.ndarray, rate_in: float, rate_out: float) -> np.ndarray:
    """Polyphase resampling of (C, T) along time (anti-aliased), float32 out."""
    from scipy.signal import resample_poly

    ratio = Fraction(rate_out / rate_in).limit_denominator(1000)
    return resample_poly(x, ratio.numerator, ratio.denominator, axis=1).astype(np.float32)


def read_csv_signal(path: Path, time_mode: str = "auto") -> Recording:
    """CSV → Recording (:func:`~konstrukt.modalities.signal.csv_reader.read_csv_values`)."""
    data, rate, note = read_csv_values(path, time_mode)
    return Recording(data, rate, path, note)


# --------------------------------------------------------------------------- NPY / NPZ


def _npz_array(path: Path, npz) -> tuple[np.ndarray, float | None]:
    keys = list(npz.files)
    rate = None
    for k in RATE_KEYS:
        if k in keys and np.asarray(npz[k]).size == 1:
            rate = float(np.asarray(npz[k]).reshape(()))
    arrays = [k for k in keys if k not in RATE_KEYS]
    named = [k for k in ARRAY_KEYS if k in arrays]
    if named:
        return npz[named[0]], rate
    if len(arrays) == 1:
        return npz[arrays[0]], rate
    raise _bad(path, f"holds {len(arrays)} arrays ({', '.join(arrays[:6]) or 'none'}); "
                     f"konstrukt reads one", "keep one array, or name the signal `data`")


def read_array_signal(path: Path, layout: str = "auto") -> Recording:
    """NPY/NPZ → Recording (no pickles: ``allow_pickle=False``)."""
    try:
        check_array_file(path)  # numpy allocates what a header declares: its size first
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                arr, rate = _npz_array(path, loaded)
                arr = np.asarray(arr)
        else:
            arr, rate = loaded, None
    except DataError:
        raise
    except Exception as exc:  # numpy raises ValueError/OSError/EOFError/zipfile errors
        raise _bad(path, f"not a readable {path.suffix[1:]} array ({str(exc)[:120]})",
                   "save it with numpy.save / numpy.savez (numeric array, no objects)") from None
    if arr.dtype.kind not in "biuf" or arr.size == 0:
        raise _bad(path, f"holds {'no values' if arr.size == 0 else f'a {arr.dtype} array'}; a signal is "
                         "a non-empty numeric array", "save the recording as a float array")
    shape = tuple(arr.shape) if arr.ndim == 2 else None
    data, note, transposed = orient(path, arr, layout)
    data = np.ascontiguousarray(data, dtype=np.float32)  # one copy: oriented, float32, contiguous
    del arr, loaded  # the decoded copy only: the original may be twice its size
    if not np.isfinite(data).all():
        c, t = np.argwhere(~np.isfinite(data))[0]
        raise _bad(path, f"channel {c + 1}, sample {t + 1}: NaN or infinite value",
                   "fill or remove the missing samples before saving")
    return Recording(data, rate, path, note, shape, transposed)


def read_signal(path: str | Path, config, layout: str | None = None) -> Recording:
    """Decode one signal file as ``config.signal`` says (``layout``: the one a run settled on);
    DataError names the file and the row."""
    path = Path(path)
    if not path.is_file():
        raise _bad(path, "file not found", "check the path")
    if path.stat().st_size == 0:
        raise _bad(path, "is an empty file (0 bytes)", "remove it or export the recording again")
    if path.suffix.lower() == ".csv":
        rec = read_csv_signal(path, config.signal.time_column)
    else:
        rec = read_array_signal(path, layout or config.signal.layout)
    if rec.rate is None and config.signal.sample_rate:
        rec.rate = float(config.signal.sample_rate)
    return rec


# --------------------------------------------------------------------------- fixed length


def fix_length(x: np.ndarray, length: int, pad: str = "zeros", crop: str = "center") -> np.ndarray:
    """(C, T) → (C, length): crop (centre or start) or pad at the end (zeros or the last value)."""
    t = x.shape[1]
    if t > length:
        start = (t - length) // 2 if crop == "center" else 0
        return x[:, start:start + length]
    if t < length:
        return np.pad(x, ((0, 0), (0, length - t)), mode="constant" if pad == "zeros" else "edge")
    return x


def window_starts(total: int, length: int, hop: int) -> list[int]:
    """Start samples of every full window of ``length`` with ``hop`` in ``total`` samples."""
    return list(range(0, total - length + 1, max(1, hop))) if total >= length else []


# --------------------------------------------------------------------------- preprocessor


class SignalPreprocessor(Preprocessor):
    """Signal file → (C, L) float32 window: resampled, cropped/padded, standardised per channel.

    ``fit`` must run on the training recordings before ``tensor`` (or ``from_state`` / ``load_state``
    with a saved :meth:`state`).
    """

    def __init__(self, spec, config):
        from .augment import signal_augmentation

        self.config = config
        self.cfg = config.signal
        self.rate: float | None = None  # Hz; 1.0 when the run works in samples (rate unknown)
        self.in_samples = False  # no time column, no --sample-rate: windows of `window_samples`
        self.window_samples: int | None = None
        self.layout: str | None = None  # how array files are read, settled on the whole set
        self.channels: int | None = None
        self.mean: np.ndarray | None = None  # (C,)
        self.std: np.ndarray | None = None  # (C,)
        self.augmentation = signal_augmentation(config.augment)
        self._files: OrderedDict[Path, Recording] = OrderedDict()  # long recordings read once
        self._update_signature()

    # ---- data-dependent state (training split only), saved with the run

    @property
    def length(self) -> int:
        if self.in_samples:
            return self.window_samples
        return max(1, int(round(self.cfg.window * self.rate)))

    def fit(self, raws: list[Recording], labels, train_idx: list[int], pool_idx: list[int] | None = None) -> dict:
        """Fix rate, channel count and per-channel statistics from the training recordings.

        Checks every recording has the same channel count; ``notes`` says what the readers
        assumed (layout, time column). Nothing is chosen from the pool: no config overrides.
        """
        self.layout, notes = settle_layout(raws, self.cfg.layout)  # before channels are counted
        counts = Counter(r.channels for r in raws)
        channels = counts.most_common(1)[0][0]
        odd = [f"{r.path.name}: {count(r.channels, 'channel')}, but most files "
               f"have {channels}" for r in raws if r.channels != channels]
        if odd:
            raise DataError("the recordings do not all have the same channels", odd[:20] + [
                "Fix: give every file the same channels in the same order, or remove the odd ones."])
        train = [raws[i] for i in train_idx] or raws
        rates = Counter(r.rate for r in train if r.rate is not None)
        self.in_samples = not (self.cfg.sample_rate or rates)
        if self.in_samples:  # the window from every file (a format property, the same in each CV fold)
            self.rate, self.window_samples = 1.0, typical_length(raws)
            notes.append(samples_note(self.window_samples))
        else:
            self.rate = float(self.cfg.sample_rate or rates.most_common(1)[0][0])
        self.channels = channels
        stacked = np.concatenate([self._data(r) for r in train], axis=1)  # (C, ΣT)
        self.mean = stacked.mean(axis=1).astype(np.float32)
        self.std = np.maximum(stacked.std(axis=1), 1e-6).astype(np.float32)  # flat channel: no blow-up
        self._update_signature()
        self.notes = notes + self._notes(raws)
        return {}

    @staticmethod
    def _notes(raws: list[Recording]) -> list[str]:
        by_file = {r.path: r.note for r in raws if r.note}  # windows of one recording count once
        notes = Counter(n.split(" (")[0] if "read as" in n else n for n in by_file.values())
        return [f"{count(n, 'file')}: {note}; override with --layout / --time-column" for note, n in notes.items()]

    def _learned(self) -> dict:
        """What ``fit`` learned from the training split, as plain JSON."""
        return {"sample_rate": self.rate, "channels": self.channels, "length": self.length if self.rate else None,
                "unit": "samples" if self.in_samples else "seconds", "array_layout": self.layout,
                "mean": None if self.mean is None else self.mean.tolist(),
                "std": None if self.std is None else self.std.tolist()}

    def state(self) -> dict:
        """The settings and learned values that decide the model input, as plain JSON."""
        signal = {**self.cfg.model_dump(mode="json"), "layout": self.layout or self.cfg.layout}
        if self.in_samples:  # bundles read `window` and `hop` in the model's steps: here samples
            signal.update(window=self.window_samples, hop=self.cfg.hop)
        return {"kind": "signal", **self._learned(), "signal": signal,
                "layout": "(channels, length) float32, standardised per channel"}

    @classmethod
    def from_state(cls, config: dict) -> "SignalPreprocessor":
        from ...config import build_config

        self = cls(None, build_config({"task": "signal", "signal": config["signal"],
                                       "augment": {"enabled": False}}))
        self.load_state(config)
        return self

    def load_state(self, state: dict) -> None:
        self.rate, self.channels = float(state["sample_rate"]), int(state["channels"])
        self.in_samples = state.get("unit") == "samples"
        self.window_samples = int(state["length"]) if self.in_samples else None
        self.layout = state.get("array_layout")
        self.mean = None if state.get("mean") is None else np.asarray(state["mean"], np.float32)
        self.std = None if state.get("std") is None else np.asarray(state["std"], np.float32)
        self._update_signature()

    def backbone_options(self) -> dict:
        """What the model needs to know: channel count, window length and the ``signal`` model sizes."""
        c = self.cfg
        # Long windows (2 s at 1 kHz) go through a strided stem first: ≤ MAX_STEPS into the blocks.
        stride = c.downsample or (max(1, math.ceil(self.length / MAX_STEPS)) if self.rate else 1)
        return {"in_channels": self.channels, "length": self.length if self.rate else None,
                "stride": stride, "widths": tuple(c.widths), "kernel_size": c.kernel_size,
                "dropout": c.dropout, "hidden_size": c.hidden_size, "layers": c.layers, "heads": c.heads}

    def _update_signature(self) -> None:
        key = json.dumps([self.cfg.model_dump(mode="json"), self._learned() if self.rate else None,
                          self.config.augment.model_dump(mode="json")])
        self.signature = "signal:" + hashlib.sha1(key.encode()).hexdigest()[:12]

    # ---- reading

    def load(self, path: Path) -> Recording:
        rec = read_signal(path, self.config, self.layout)
        if self.rate is not None and rec.note.startswith("square"):  # a fitted run that did not settle
            raise _bad(path, f"is {rec.note}, so which axis is time cannot be told",
                       "set `signal.layout` (--layout) to channels_first or time_first")
        return rec

    def _data(self, rec: Recording) -> np.ndarray:
        """(C, T) at the model's rate; in samples as stored (a run in samples has no rate)."""
        return rec.data if self.in_samples else rec.at(self.rate)

    def load_sample(self, sample) -> Recording:
        """A labelled window of a long recording (``sample.start``/``end`` in seconds) or a file."""
        if sample.start is None:
            return self.load(sample.path)
        rec = self._recording(sample.path)
        rate = rec.rate
        if rate is None:
            raise ConfigError("the sampling rate is unknown: the files have no time column",
                              ["Fix: pass --sample-rate HZ (or set `signal.sample_rate`)."])
        a, b = int(round(sample.start * rate)), int(round(sample.end * rate))
        if b > rec.data.shape[1] + 1:
            raise _bad(sample.path, f"{sample.origin}: the segment ends at {sample.end:g} s but the "
                                    f"recording lasts {rec.data.shape[1] / rate:g} s",
                       "correct the end time in the labels CSV")
        return Recording(rec.data[:, a:b], rate, sample.path, rec.note)

    def _recording(self, path: Path) -> Recording:
        if path not in self._files:
            self._files[path] = self.load(path)
            while len(self._files) > 4:  # windows come in file order: a few open files suffice
                self._files.popitem(last=False)
        return self._files[path]

    def load_windows(self, path: Path) -> list[Recording] | None:
        """Prediction on a recording longer than one window: every window (hop apart), to vote."""
        rec = self.load(path)
        if self.rate is None:
            return None
        x = self._data(rec)
        hop = (int(round(self.cfg.hop)) if self.cfg.hop else self.length // 2) if self.in_samples else \
            int(round((self.cfg.hop or self.cfg.window / 2) * self.rate))
        starts = window_starts(x.shape[1], self.length, hop)
        if len(starts) <= 1:
            return [rec]
        return [Recording(x[:, s:s + self.length], self.rate, path) for s in starts]

    # ---- model input

    def tensor(self, raw: Recording, augment: bool = False, seed: int | None = None) -> torch.Tensor:
        if self.rate is None:
            raise RuntimeError("SignalPreprocessor.fit (or load_state) must run before tensor()")
        if raw.channels != self.channels:
            raise _bad(raw.path, f"has {raw.channels} channels; the model was trained on {self.channels}",
                       "record the same channels, in the same order, as the training data")
        x = self._data(raw)  # (C, T)
        if self.cfg.standardize and self.mean is not None:  # before padding: zeros pad at the mean
            x = (x - self.mean[:, None]) / self.std[:, None]
        x = fix_length(x, self.length, self.cfg.pad, self.cfg.crop).astype(np.float32, copy=False)  # (C, L)
        if augment and self.augmentation is not None:
            if seed is None:  # from torch's generator, which the run seeds: reproducible runs
                seed = int(torch.randint(0, 2**31 - 1, ()).item())
            x = self.augmentation(x, np.random.default_rng(seed))
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))  # (C, L)
