"""Audio: decode any wav/flac/ogg/mp3 into a fixed-length mono float32 waveform at the model's rate.

Steps: decode (soundfile; librosa/audioread for formats libsndfile cannot read) → mix to mono by
averaging channels → resample (soxr) → crop or zero-pad to ``audio.duration`` seconds.
Normalisation and log-mel live inside the backbone, so the model input is the raw waveform.

Long files (``audio.long_files``):

* ``crop`` (default) keeps the first ``duration`` seconds and never reads more of the file than
  that — a one-hour recording costs the same memory as a five-second one;
* ``windows`` splits the whole file into consecutive ``duration``-second windows
  (:func:`decode_windows`); prediction classifies every window and votes. The file's length is
  read from its header and refused past the decode limits (``max_audio_seconds``,
  ``max_decoded_bytes``: :mod:`konstrukt.preprocess.limits`) before anything is decoded; then it
  is streamed in blocks and cut into windows as it arrives, so only the windows (mono, at the
  model's rate) are ever held in memory.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch

from ...errors import ConfigError, DataError
from ...preprocess import Preprocessor
from ...preprocess.limits import check_seconds, decode_limits

_LIBSNDFILE_ONLY = frozenset({".wav", ".flac", ".ogg"})  # no fallback decoder: its error is the truth
_BLOCK_FRAMES = 1 << 18  # frames per streamed block (~6 s at 44.1 kHz)
_FIX = "Fix: re-export the file as 16-bit PCM WAV (e.g. `ffmpeg -i IN -ac 1 OUT.wav`) or remove it."


def _bad_file(path: Path, why: str, fix: str = _FIX) -> DataError:
    return DataError(f"{path}: {why}", [fix])


def _to_mono(block: np.ndarray) -> np.ndarray:
    """(frames, channels) → (frames,) float32 by averaging the channels."""
    return block.mean(axis=1, dtype=np.float32) if block.ndim == 2 else block.astype(np.float32)


def resample(wave: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """High-quality resampling of a mono float32 waveform (soxr)."""
    if rate_in == rate_out or wave.size == 0:
        return wave.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(wave, rate_in, rate_out, quality="HQ").astype(np.float32, copy=False)


def fix_length(wave: np.ndarray, length: int) -> np.ndarray:
    """Crop to, or zero-pad at the end to, exactly ``length`` samples."""
    if wave.shape[0] >= length:
        return wave[:length]
    return np.pad(wave, (0, length - wave.shape[0]))


class _Windows:
    """Cuts a stream of mono chunks into consecutive ``length``-sample windows as they arrive, so a
    long file is never held twice (once whole, once cut); ``finish`` cuts as :func:`split_windows`."""

    def __init__(self, length: int):
        self.length, self.windows, self.tail = length, [], np.zeros(0, np.float32)

    def add(self, chunk: np.ndarray) -> None:
        buf = np.concatenate([self.tail, chunk]) if self.tail.size else chunk
        full = buf.shape[0] // self.length * self.length
        self.windows += [buf[s:s + self.length].copy() for s in range(0, full, self.length)]
        self.tail = buf[full:].copy()

    def finish(self) -> list[np.ndarray]:
        if not self.windows or (self.tail.size and self.tail.size >= self.length // 4):  # a scrap does not vote
            self.windows.append(fix_length(self.tail, self.length))
        return self.windows


class _Whole:
    """Collects a stream of mono chunks into one waveform."""

    def __init__(self):
        self.parts: list[np.ndarray] = []

    def add(self, chunk: np.ndarray) -> None:
        self.parts.append(chunk)

    def finish(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros(0, np.float32)


_TOO_LONG_FIX = ("cut the recording into shorter files (e.g. `ffmpeg -i IN -f segment -segment_time 600 "
                 "OUT%03d.wav`), or predict with `audio.long_files: crop`.")


def _read_soundfile(path: Path, rate: int, max_seconds: float | None, sink) -> None:
    """Decode with libsndfile into ``sink``, reading at most ``max_seconds`` of the file, in blocks.

    Read whole (``max_seconds`` None), the file's length in its header is checked against the
    decode limits first; the header also bounds what is read."""
    import soundfile as sf
    import soxr

    with sf.SoundFile(str(path)) as f:
        if f.frames == 0:
            raise _bad_file(path, "contains no audio samples (zero-length file)",
                            "Fix: remove the file or replace it with a recording.")
        if max_seconds is None:
            check_seconds(str(path), f.frames / f.samplerate, rate, _TOO_LONG_FIX)
        # A little extra input so the resampler's tail is not cut short before crop.
        limit = f.frames if max_seconds is None else min(f.frames, math.ceil(max_seconds * f.samplerate) + 64)
        stream = None if f.samplerate == rate else soxr.ResampleStream(f.samplerate, rate, 1, dtype="float32")
        done = 0
        while done < limit:
            block = f.read(min(_BLOCK_FRAMES, limit - done), dtype="float32", always_2d=True)
            if block.shape[0] == 0:  # header promised more frames than the file holds
                break
            done += block.shape[0]
            mono = _to_mono(block)  # (n,)
            sink.add(mono if stream is None else stream.resample_chunk(mono, last=done >= limit))
        if stream is not None and done < limit:
            sink.add(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    if done == 0:
        raise _bad_file(path, "contains no audio samples (empty or truncated data)",
                        "Fix: remove the file or replace it with a complete recording.")


def _read_fallback(path: Path, rate: int, max_seconds: float | None, sink) -> None:
    """Decode what libsndfile cannot (some mp3 variants) through librosa/audioread into ``sink``.

    Read whole, at most the decode limit plus a second (to tell "too long") is decoded."""
    import librosa

    cap = max_seconds if max_seconds is not None else decode_limits().max_audio_seconds + 1.0
    wave, _ = librosa.load(str(path), sr=rate, mono=True, duration=cap, res_type="soxr_hq")
    if wave.size == 0:
        raise _bad_file(path, "contains no audio samples", "Fix: remove the file or replace it.")
    if max_seconds is None:
        check_seconds(str(path), wave.shape[0] / rate, rate, _TOO_LONG_FIX)
    sink.add(wave.astype(np.float32, copy=False))


def _decode_into(path: Path, rate: int, max_seconds: float | None, make_sink):
    """Decode ``path`` into a fresh sink (libsndfile, else the fallback decoder); return the sink."""
    import soundfile as sf

    if not path.is_file():
        raise _bad_file(path, "file not found", "Fix: check the path.")
    if path.stat().st_size == 0:
        raise _bad_file(path, "is an empty file (0 bytes)", "Fix: remove the file or replace it.")
    sink = make_sink()
    try:
        _read_soundfile(path, rate, max_seconds, sink)
    except DataError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        if path.suffix.lower() in _LIBSNDFILE_ONLY:
            raise _bad_file(path, f"not a readable {path.suffix.lower()[1:]} audio file ({exc})") from None
        sink = make_sink()  # libsndfile may have delivered part of the file before failing
        try:
            _read_fallback(path, rate, max_seconds, sink)
        except DataError:
            raise
        except Exception as exc2:  # audioread/librosa raise many unrelated types
            raise _bad_file(path, f"not a readable audio file ({exc2})") from None
    return sink


def _check_finite(path: Path, waves: list[np.ndarray]) -> None:
    if not all(np.isfinite(w).all() for w in waves):  # float WAVs can hold NaN/inf: they poison training
        raise _bad_file(path, "contains NaN or infinite samples",
                        "Fix: re-export the file; a float WAV must hold finite samples.")


def decode_audio(path: str | Path, rate: int, max_seconds: float | None = None) -> np.ndarray:
    """Mono float32 waveform of ``path`` at ``rate`` Hz (at most ``max_seconds`` of it).

    Raises DataError naming the file when it is empty, truncated, not audio at all, or — read
    whole — longer than the decode limits allow.
    """
    path = Path(path)
    wave = _decode_into(path, rate, max_seconds, _Whole).finish()
    _check_finite(path, [wave])
    return wave


def decode_windows(path: str | Path, rate: int, length: int) -> list[np.ndarray]:
    """The whole file as consecutive ``length``-sample windows, cut as :func:`split_windows` cuts
    them but while it is decoded in blocks; refused first when its header says it is longer than
    the decode limits allow."""
    path = Path(path)
    windows = _decode_into(path, rate, None, lambda: _Windows(length)).finish()
    _check_finite(path, windows)
    return windows


def split_windows(wave: np.ndarray, length: int) -> list[np.ndarray]:
    """Consecutive non-overlapping windows of ``length`` samples; the last one is zero-padded.

    A trailing window shorter than a quarter of ``length`` is dropped (unless it is the only one),
    so a vote is not decided by a mostly-silent scrap.
    """
    starts = list(range(0, max(wave.shape[0], 1), length))
    if len(starts) > 1 and wave.shape[0] - starts[-1] < length // 4:
        starts.pop()
    return [fix_length(wave[s:s + length], length) for s in starts]


def check_sample_rate(spec, requested: int | None) -> int:
    """The rate to resample to: the backbone's own, whose log-mel/fbank front end is built for it."""
    rate = int(spec.input.sample_rate)
    if requested and int(requested) != rate:
        raise ConfigError(
            f"`audio.sample_rate` {requested} does not match backbone {spec.name}, whose front end "
            f"expects {rate} Hz",
            [f"Fix: leave `audio.sample_rate` unset (files are resampled to {rate} Hz) "
             f"or set it to {rate}."],
        )
    return rate


AUTO_DURATION = (0.5, 10.0)  # bounds, in seconds, of a duration chosen from the data


def duration_from_clips(lengths: list[int], rate: int, percentile: float = 95.0) -> float:
    """A crop/pad duration that keeps ``percentile`` % of the clips whole, in 0.1 s steps, bounded.

    Short words padded to a fixed 5 s are mostly silence; this keeps the input about as long as
    the recordings are.
    """
    seconds = float(np.percentile(np.asarray(lengths, float), percentile)) / rate
    return float(min(max(math.ceil(seconds * 10) / 10, AUTO_DURATION[0]), AUTO_DURATION[1]))


class AudioPreprocessor(Preprocessor):
    """Audio file → (T,) float32 waveform at the backbone's rate, T = rate × duration."""

    def __init__(self, spec, config):
        from .augment import waveform_augmentation

        self.sample_rate = check_sample_rate(spec, config.audio.sample_rate)
        self.long_files = config.audio.long_files
        self.augmentation = waveform_augmentation(config.augment, self.sample_rate)
        self._aug_key = config.augment.model_dump_json() if self.augmentation else "noaug"
        self._set_duration(config.audio.duration)

    def _set_duration(self, duration: float | None) -> None:
        self.duration = None if duration is None else float(duration)  # None: until fit() sees the data
        self.length = int(round(self.sample_rate * (self.duration or AUTO_DURATION[1])))
        key = f"{self.sample_rate}|{self.length}|{self._aug_key}"
        self.signature = "audio:" + hashlib.sha1(key.encode()).hexdigest()[:12]

    def fit(self, raws: list[np.ndarray], labels, train_idx: list[int], pool_idx: list[int] | None = None) -> dict:
        """With ``audio.duration`` unset, choose it from the lengths of the pool's clips."""
        if self.duration is not None or pool_idx is None:
            return {}
        self._set_duration(duration_from_clips([len(raws[i]) for i in pool_idx], self.sample_rate))
        return {"audio": {"duration": self.duration}}

    def load(self, path: Path) -> np.ndarray:
        """The first ``duration`` seconds, mono at the model's rate (not yet padded)."""
        return decode_audio(path, self.sample_rate, self.duration or AUTO_DURATION[1])

    def load_windows(self, path: Path) -> list[np.ndarray]:
        """Every ``duration``-second window of the whole file (for voting at prediction time)."""
        return decode_windows(path, self.sample_rate, self.length)

    def tensor(self, raw: np.ndarray, augment: bool = False, seed: int | None = None) -> torch.Tensor:
        wave = raw[: self.length]
        if augment and self.augmentation is not None:
            if seed is None:  # draw from torch's seeded RNG (as image augmentation does), not the OS
                seed = int(torch.randint(0, 2 ** 62, ()).item())
            wave = self.augmentation(wave, np.random.default_rng(seed))
        return torch.from_numpy(np.ascontiguousarray(fix_length(wave, self.length), dtype=np.float32))  # (T,)

    def state(self) -> dict:
        return {"kind": "audio", "sample_rate": self.sample_rate, "duration": self.duration,
                "length": self.length, "long_files": self.long_files,
                "mono": "mean of channels", "resample": "soxr HQ",
                "pad": "crop to length, or zero-pad at the end", "layout": "(length,) float32"}

    @classmethod
    def from_state(cls, config: dict) -> "AudioPreprocessor":
        self = cls.__new__(cls)
        self.sample_rate, self.duration = int(config["sample_rate"]), float(config["duration"])
        self.long_files = config.get("long_files", "crop")
        self.length = int(config.get("length") or round(self.sample_rate * self.duration))
        self.augmentation = None
        key = f"{self.sample_rate}|{self.length}|noaug"
        self.signature = "audio:" + hashlib.sha1(key.encode()).hexdigest()[:12]
        return self

