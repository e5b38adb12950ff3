"""Each sound augmentation changes the signal as intended and keeps shape and dtype."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from konstrukt.modalities.audio.augment import (
    AUDIO_AUGMENTATIONS, SpecAugment, add_noise, apply_gain, pitch_shift, time_stretch,
    waveform_augmentation,
)
from konstrukt.config import AugmentConfig

SR = 16000


def _tone(freq: float = 440.0, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(wave: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
    return float(np.argmax(spectrum) * SR / wave.size)


def _rms(wave: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))


def _same_form(out: np.ndarray, wave: np.ndarray) -> None:
    assert out.shape == wave.shape and out.dtype == np.float32


def test_gain_scales_by_decibels():
    wave = _tone()
    out = apply_gain(wave, 6.0)
    _same_form(out, wave)
    assert 20 * np.log10(_rms(out) / _rms(wave)) == pytest.approx(6.0, abs=1e-3)


def test_noise_has_the_requested_snr():
    wave = _tone()
    out = add_noise(wave, 10.0, np.random.default_rng(0))
    _same_form(out, wave)
    snr = 20 * np.log10(_rms(wave) / _rms(out - wave))
    assert snr == pytest.approx(10.0, abs=0.3)


def test_noise_leaves_silence_silent():
    silence = np.zeros(SR, np.float32)
    assert not add_noise(silence, 10.0, np.random.default_rng(0)).any()


def test_time_stretch_keeps_pitch_and_moves_events():
    wave = np.zeros(2 * SR, np.float32)
    wave[SR // 2: SR] = _tone(seconds=0.5)  # a burst from 0.5 s to 1.0 s
    out = time_stretch(wave, 2.0)  # twice as fast: the burst moves to ~0.25–0.5 s
    _same_form(out, wave)
    loud = np.flatnonzero(np.abs(out) > 0.1)
    assert abs(loud.min() / SR - 0.25) < 0.03 and abs(loud.max() / SR - 0.5) < 0.03
    assert _peak_hz(out[loud.min(): loud.max()]) == pytest.approx(440, abs=10)


def test_pitch_shift_moves_frequency_by_semitones():
    wave = _tone(seconds=2.0)
    for semitones in (2.0, -3.0):
        out = pitch_shift(wave, SR, semitones)
        _same_form(out, wave)
        assert _peak_hz(out) == pytest.approx(440 * 2 ** (semitones / 12), abs=3)


def test_composed_augmentation_is_seeded_and_keeps_form():
    augment = waveform_augmentation(AugmentConfig(), SR)
    wave = _tone()
    a, b = augment(wave, np.random.default_rng(7)), augment(wave, np.random.default_rng(7))
    _same_form(a, wave)
    np.testing.assert_array_equal(a, b)
    views = [augment(wave, np.random.default_rng(s)) for s in range(6)]
    assert any(not np.array_equal(v, wave) for v in views)
    assert any(not np.array_equal(views[0], v) for v in views[1:])


def test_augmentation_off():
    assert waveform_augmentation(AugmentConfig(enabled=False), SR) is None
    assert set(AUDIO_AUGMENTATIONS.names()) == {"gain", "noise", "pitch_shift", "time_stretch"}


def test_specaugment_masks_stripes_in_training_only():
    torch.manual_seed(0)
    x = torch.randn(3, 1, 64, 100)  # (B, C, F, T)
    aug = SpecAugment(time_mask=20, freq_mask=8, stripes=2)
    aug.eval()
    assert torch.equal(aug(x), x)
    aug.train()
    out = aug(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    changed = out != x  # (B, 1, F, T)
    assert changed.any()
    for b in range(3):  # every masked cell lies on a fully masked row (freq) or column (time)
        rows = changed[b, 0].all(dim=1)
        cols = changed[b, 0].all(dim=0)
        assert torch.equal(changed[b, 0], rows[:, None] | cols[None, :])
        assert cols.sum() <= 2 * 20 and rows.sum() <= 2 * 8


def test_specaugment_is_reproducible_with_torch_seed():
    x = torch.randn(2, 1, 32, 50)
    aug = SpecAugment(10, 4).train()
    torch.manual_seed(3)
    a = aug(x)
    torch.manual_seed(3)
    assert torch.equal(a, aug(x))
