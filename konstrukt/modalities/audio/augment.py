"""Sound augmentations (train split only).

Waveform augmentations — random volume, Gaussian noise, time stretch, pitch shift — run in the
preprocessor on the mono waveform, each drawing its random values from a numpy ``Generator`` so an
augmented *view* with a given seed is the same array every time (the embedding cache relies on it).
Each keeps the length and the float32 dtype of its input.

Spectrogram augmentations — time and frequency masking (SpecAugment) — are an ``nn.Module``
(:class:`SpecAugment`) that spectrogram backbones apply to their log-mel in training mode only; a
frozen backbone runs in eval mode, so embedding pipelines get waveform augmentations only.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from ...config import AugmentConfig
from ...registry import Registry

Wave = np.ndarray  # (T,) float32
WaveAugment = Callable[[Wave, np.random.Generator], Wave]

APPLY_PROB = 0.5  # each augmentation fires independently on half of the views

AUDIO_AUGMENTATIONS: Registry[Callable[[AugmentConfig, int], Optional[WaveAugment]]] = Registry(
    "audio augmentation"
)


def _same_length(wave: Wave, length: int) -> Wave:
    """Crop or zero-pad to ``length`` samples, as float32."""
    wave = wave[:length] if wave.shape[0] >= length else np.pad(wave, (0, length - wave.shape[0]))
    return wave.astype(np.float32, copy=False)


def apply_gain(wave: Wave, gain_db: float) -> Wave:
    """Scale the volume by ``gain_db`` decibels."""
    return (wave * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32)


def add_noise(wave: Wave, snr_db: float, rng: np.random.Generator) -> Wave:
    """Add white Gaussian noise at ``snr_db`` below the signal's RMS (silence stays silent)."""
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
    if rms == 0.0:
        return wave.astype(np.float32, copy=True)  # SNR is undefined for silence
    sigma = rms / 10.0 ** (snr_db / 20.0)
    return (wave + rng.normal(0.0, sigma, wave.shape)).astype(np.float32)


_N_FFT, _HOP = 512, 128  # phase-vocoder resolution: 32 ms frames at 16 kHz, 75 % overlap


def _phase_vocoder(wave: Wave, rate: float) -> Wave:
    """Speed up by ``rate`` (output ≈ len / rate samples) keeping the pitch (librosa's algorithm)."""
    window = torch.hann_window(_N_FFT, dtype=torch.float64)
    spec = torch.stft(torch.from_numpy(wave.astype(np.float64)), _N_FFT, _HOP, window=window,
                      center=True, return_complex=True).numpy()  # (F, N)
    steps = np.arange(0, spec.shape[1], rate)  # fractional input frames, one per output frame
    spec = np.pad(spec, ((0, 0), (0, 2)))  # so frame t + 1 exists at the end
    idx, frac = steps.astype(int), (steps % 1.0)[None]
    c0, c1 = spec[:, idx], spec[:, idx + 1]  # (F, M)
    mag = (1 - frac) * np.abs(c0) + frac * np.abs(c1)
    advance = np.linspace(0, np.pi * _HOP, spec.shape[0])[:, None]  # expected phase advance per hop
    dphase = np.angle(c1) - np.angle(c0) - advance
    dphase -= 2 * np.pi * np.round(dphase / (2 * np.pi))  # wrap to [-pi, pi]
    phase = np.cumsum(advance + dphase, axis=1)
    phase = np.angle(spec[:, :1]) + np.concatenate([np.zeros_like(phase[:, :1]), phase[:, :-1]], axis=1)
    out = torch.istft(torch.from_numpy(mag * np.exp(1j * phase)), _N_FFT, _HOP, window=window,
                      center=True, length=int(round(wave.shape[0] / rate)))
    return out.numpy().astype(np.float32)


def time_stretch(wave: Wave, rate: float) -> Wave:
    """Play ``rate`` times faster without changing pitch (phase vocoder), same length out."""
    if wave.size < _N_FFT or rate == 1.0:
        return wave.astype(np.float32, copy=True)
    return _same_length(_phase_vocoder(wave, rate), wave.shape[0])


def pitch_shift(wave: Wave, sample_rate: int, semitones: float) -> Wave:
    """Shift the pitch by ``semitones`` keeping the duration (stretch, then resample), same length out."""
    if wave.size < _N_FFT or semitones == 0.0:
        return wave.astype(np.float32, copy=True)
    import soxr

    rate = 2.0 ** (-semitones / 12.0)
    # Slow down by 1/rate (pitch kept), then resample as if recorded at sr / rate: the duration
    # comes back and every frequency is divided by rate, i.e. raised by `semitones`.
    shifted = soxr.resample(_phase_vocoder(wave, rate), sample_rate / rate, sample_rate, quality="HQ")
    return _same_length(shifted, wave.shape[0])


def _active(lo_hi: tuple[float, float], neutral: float) -> bool:
    return not (lo_hi[0] == lo_hi[1] == neutral)


@AUDIO_AUGMENTATIONS.register("time_stretch")
def _time_stretch(cfg: AugmentConfig, sample_rate: int) -> Optional[WaveAugment]:
    if not _active(cfg.time_stretch, 1.0):
        return None
    return lambda w, rng: time_stretch(w, float(rng.uniform(*cfg.time_stretch)))


@AUDIO_AUGMENTATIONS.register("pitch_shift")
def _pitch_shift(cfg: AugmentConfig, sample_rate: int) -> Optional[WaveAugment]:
    if not _active(cfg.pitch_shift, 0.0):
        return None
    return lambda w, rng: pitch_shift(w, sample_rate, float(rng.uniform(*cfg.pitch_shift)))


@AUDIO_AUGMENTATIONS.register("gain")
def _gain(cfg: AugmentConfig, sample_rate: int) -> Optional[WaveAugment]:
    if not _active(cfg.gain_db, 0.0):
        return None
    return lambda w, rng: apply_gain(w, float(rng.uniform(*cfg.gain_db)))


@AUDIO_AUGMENTATIONS.register("noise")
def _noise(cfg: AugmentConfig, sample_rate: int) -> Optional[WaveAugment]:
    if cfg.noise_snr_db[0] >= 120:  # noise 120 dB below the signal is below float32 precision: off
        return None
    return lambda w, rng: add_noise(w, float(rng.uniform(*cfg.noise_snr_db)), rng)


# Order matters: change timing/pitch first, then volume, then noise relative to the result.
_ORDER = ("time_stretch", "pitch_shift", "gain", "noise")


def waveform_augmentation(cfg: AugmentConfig, sample_rate: int) -> Optional[WaveAugment]:
    """All enabled waveform augmentations, each applied with probability ``APPLY_PROB``.

    Returns ``f(wave, rng) -> wave`` or None when augmentation is off. Every random choice comes
    from ``rng``, so a seeded generator gives the same output every time.
    """
    if not cfg.enabled:
        return None
    names = [n for n in _ORDER if n in AUDIO_AUGMENTATIONS]
    names += [n for n in AUDIO_AUGMENTATIONS.names() if n not in names]  # ones added later
    steps = [(n, f) for n in names if (f := AUDIO_AUGMENTATIONS.get(n)(cfg, sample_rate)) is not None]
    if not steps:
        return None

    def augment(wave: Wave, rng: np.random.Generator) -> Wave:
        out = wave.astype(np.float32, copy=True)
        for _, step in steps:
            if rng.random() < APPLY_PROB:
                out = step(out, rng)
        return out

    return augment


class SpecAugment(nn.Module):
    """Time and frequency masking on a log-mel batch, active in training mode only.

    ``time_mask``/``freq_mask`` are the maximum widths (frames / mel bins) of each of ``stripes``
    masks per example; masked cells are set to the example's mean so the masked log-mel keeps its
    level. Uses torch's RNG, so ``torch.manual_seed`` makes it reproducible.
    """

    def __init__(self, time_mask: int = 20, freq_mask: int = 8, stripes: int = 2):
        super().__init__()
        self.time_mask, self.freq_mask, self.stripes = int(time_mask), int(freq_mask), int(stripes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, F, T)
        if not self.training or (self.time_mask == 0 and self.freq_mask == 0):
            return x
        keep = torch.ones_like(x, dtype=torch.bool)
        keep &= self._mask(x, dim=-1, width=self.time_mask)
        keep &= self._mask(x, dim=-2, width=self.freq_mask)
        fill = x.mean(dim=(1, 2, 3), keepdim=True).detach()  # (B, 1, 1, 1)
        return torch.where(keep, x, fill)

    def _mask(self, x: torch.Tensor, dim: int, width: int) -> torch.Tensor:
        """Boolean (B, 1, F, 1) or (B, 1, 1, T) map: False inside ``stripes`` random stripes."""
        size, batch = x.shape[dim], x.shape[0]
        width = min(width, size // 2)  # never mask more than half of an axis per stripe
        shape = [batch, 1, 1, 1]
        shape[dim] = size
        keep = torch.ones(shape, dtype=torch.bool, device=x.device)
        if width <= 0:
            return keep
        pos = torch.arange(size, device=x.device)
        for _ in range(self.stripes):
            w = torch.randint(0, width + 1, (batch,), device=x.device)  # (B,)
            start = (torch.rand(batch, device=x.device) * (size - w + 1)).long()  # (B,)
            inside = (pos[None] >= start[:, None]) & (pos[None] < (start + w)[:, None])  # (B, size)
            view = [batch, 1, 1, 1]
            view[dim] = size
            keep &= ~inside.view(view)
        return keep
