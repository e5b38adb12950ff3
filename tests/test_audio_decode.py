"""Audio decoding: every format/bit depth/channel count/rate, bad files refused naming the file."""
from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from konstrukt.config import TrainConfig
from konstrukt.errors import DataError
from konstrukt.models.backbones import BACKBONES
from konstrukt.preprocess import build_preprocessor
from konstrukt.modalities.audio.preprocess import decode_audio, split_windows


def _tone(rate: int, seconds: float, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    mono = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono  # (T,) or (T, C)


def _pre(duration: float = 5.0, long_files: str = "crop", backbone: str = "scratch_melcnn"):
    config = TrainConfig(task="sound", audio={"duration": duration, "long_files": long_files})
    return build_preprocessor(BACKBONES.get(backbone), config)


@pytest.mark.parametrize("subtype,rate,channels,fmt", [
    ("PCM_U8", 8000, 1, "WAV"),  # 8-bit
    ("PCM_16", 16000, 1, "WAV"),
    ("PCM_24", 44100, 2, "WAV"),  # 24-bit stereo
    ("FLOAT", 22050, 1, "WAV"),  # 32-bit float
    ("PCM_16", 96000, 6, "WAV"),  # 96 kHz, 5.1
    ("PCM_16", 48000, 2, "FLAC"),
    ("VORBIS", 44100, 1, "OGG"),
])
def test_decodes_formats_to_mono_at_model_rate(tmp_path, subtype, rate, channels, fmt):
    path = tmp_path / f"tone.{fmt.lower()}"
    sf.write(path, _tone(rate, 2.0, channels), rate, subtype=subtype, format=fmt)
    pre = _pre()
    wave = pre.tensor(pre.load(path))
    assert wave.shape == (16000 * 5,) and wave.dtype.is_floating_point
    real = wave[: 2 * 16000].numpy()
    assert abs(np.abs(real).max() - 0.5) < 0.03  # level kept (channels averaged, not summed)
    assert np.all(wave[2 * 16000 + 100:].numpy() == 0)  # zero-padded to 5 s
    spectrum = np.abs(np.fft.rfft(real))
    assert abs(np.argmax(spectrum) * 16000 / real.size - 440) < 2  # resampled, pitch kept


def test_channels_are_averaged(tmp_path):
    left, right = _tone(16000, 1.0), np.zeros(16000)
    sf.write(tmp_path / "lr.wav", np.stack([left, right], 1), 16000)
    wave = decode_audio(tmp_path / "lr.wav", 16000)
    np.testing.assert_allclose(wave, left / 2, atol=1e-4)


def test_crop_keeps_the_first_seconds(tmp_path):
    sf.write(tmp_path / "long.wav", _tone(16000, 12.0), 16000)
    pre = _pre(duration=3.0)
    assert pre.tensor(pre.load(tmp_path / "long.wav")).shape == (48000,)


def test_cnn14_gets_32k(tmp_path):
    sf.write(tmp_path / "a.wav", _tone(44100, 1.0), 44100)
    pre = _pre(duration=1.0, backbone="cnn14")
    assert pre.sample_rate == 32000 and pre.tensor(pre.load(tmp_path / "a.wav")).shape == (32000,)


def test_silent_file_is_fine(tmp_path):
    sf.write(tmp_path / "silence.wav", np.zeros(16000), 16000)
    pre = _pre(duration=1.0)
    wave = pre.tensor(pre.load(tmp_path / "silence.wav"), augment=True, seed=1)
    assert wave.shape == (16000,) and float(wave.abs().max()) == 0.0


def test_mp3_decodes(tmp_path):
    try:
        sf.write(tmp_path / "a.mp3", _tone(16000, 1.0), 16000, format="MP3")
    except Exception:  # libsndfile without mp3 support
        pytest.skip("this libsndfile cannot write mp3")
    wave = decode_audio(tmp_path / "a.mp3", 16000, 5.0)
    assert 15000 < wave.shape[0] < 18000 and wave.dtype == np.float32


def _zero_frames(path):
    sf.write(path, np.zeros(0), 16000)


def _empty(path):
    path.write_bytes(b"")


def _truncated_header(path):
    sf.write(path, _tone(16000, 1.0), 16000)
    path.write_bytes(path.read_bytes()[:30])  # cut inside the RIFF/fmt header


def _text(path):
    path.write_text("name,label\nthis is not audio,cat\n")


@pytest.mark.parametrize("make,expect", [
    (_zero_frames, "no audio samples"),
    (_empty, "empty file"),
    (_truncated_header, "not a readable wav"),
    (_text, "not a readable wav"),
])
def test_bad_files_raise_data_error_naming_the_file(tmp_path, make, expect):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(DataError) as err:
        _pre().load(path)
    assert str(path) in str(err.value) and expect in str(err.value)
    assert err.value.problems and err.value.problems[0].startswith("Fix:")


def test_nan_samples_refused(tmp_path):
    data = _tone(16000, 1.0)
    data[100] = np.nan
    sf.write(tmp_path / "nan.wav", data, 16000, subtype="FLOAT")
    with pytest.raises(DataError, match="NaN"):
        decode_audio(tmp_path / "nan.wav", 16000)


def _write_long(path, rate: int, seconds: int) -> None:
    """A long WAV written block by block, so the test itself never holds it in memory."""
    block = (_tone(rate, 60.0) * 32767).astype(np.int16)
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_16") as f:
        for _ in range(seconds // 60):
            f.write(block)


def test_one_hour_file_crop_reads_only_what_it_needs(tmp_path):
    path = tmp_path / "hour.wav"
    _write_long(path, 8000, 3600)  # one hour at 8 kHz: ~58 MB on disk
    assert sf.info(path).duration == 3600
    pre = _pre(duration=5.0)
    tracemalloc.start()
    start = time.perf_counter()
    wave = pre.tensor(pre.load(path))
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert wave.shape == (80000,)
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MiB: more of the file was read than needed"
    assert elapsed < 2.0


def test_windows_cover_the_whole_file(tmp_path):
    sf.write(tmp_path / "w.wav", _tone(16000, 12.5), 16000)
    windows = _pre(duration=5.0, long_files="windows").load_windows(tmp_path / "w.wav")
    assert len(windows) == 3 and all(w.shape == (80000,) for w in windows)
    assert np.all(windows[2][40000:] == 0)  # last window zero-padded


def test_split_windows_drops_short_tail_but_keeps_short_files():
    assert len(split_windows(np.ones(10_200, np.float32), 1000)) == 10
    assert len(split_windows(np.ones(10_500, np.float32), 1000)) == 11
    assert len(split_windows(np.ones(100, np.float32), 1000)) == 1
    assert len(split_windows(np.zeros(0, np.float32), 1000)) == 1


def test_signature_changes_with_settings():
    assert _pre(duration=5.0).signature != _pre(duration=4.0).signature
    assert _pre().signature.startswith("audio:")


def test_sample_rate_must_match_the_backbone_front_end():
    from konstrukt.errors import ConfigError

    spec = BACKBONES.get("cnn14")
    assert build_preprocessor(spec, TrainConfig(task="sound", audio={"sample_rate": 32000})).sample_rate == 32000
    with pytest.raises(ConfigError, match="32000"):
        build_preprocessor(spec, TrainConfig(task="sound", audio={"sample_rate": 16000}))
