"""Data health of sound clips: what one clip measures, and which clips are one recording copied.

Near duplicates in two stages: band statistics of the log-mel spectrogram (shift- and
gain-invariant) find candidates by cosine similarity; the candidates' waveforms, read again, must
match as one recording (peak normalised cross-correlation). Near-silent and constant clips are
flagged; duration, sample rate and channel count are compared for outliers.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ...data.measure import HealthHooks, Measure
from ...data.similarity import cosine_candidates

AUDIO_CANDIDATE_COS = 0.98  # stage 1 (band statistics): cheap, shift-invariant, permissive
AUDIO_MATCH_CORR = 0.93  # stage 2: peak normalised cross-correlation of the waveforms
SILENT_DBFS = -55.0

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
        from ...models.portable.audio_nets import mel_filterbank  # librosa's filters without librosa (numba: seconds)

        _BANKS["mel"] = np.ascontiguousarray(mel_filterbank(_SR, _NFFT, _MELS, 0.0, _SR / 2),
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

    from .preprocess import decode_audio

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

    from .preprocess import decode_audio

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


HEALTH = HealthHooks(measure_audio, audio_pairs, {"duration": "duration"},
                     {"sample_rate": "sample rate", "channels": "channel count"}, _show_audio, noun="clip",
                     flats={"silent": f"{{are}} near-silent (below {SILENT_DBFS:.0f} dBFS)",
                            "constant": "hold a constant signal that never changes"})
