"""Small files that decode to a lot (issue 20, item 3) are refused by their headers, before any
decoding, with the file, the limit and the fix named; files within the limits read as before."""
from __future__ import annotations

import wave

import numpy as np
import pytest
from hostile_files import csv_table, flac_silence, npy_header, npz_of_zeros, png16
from PIL import Image

from konstrukt.data import check_file
from konstrukt.errors import ConfigError, DataError
from konstrukt.models.portable import rgb as rgb_mod
from konstrukt.modalities.audio.preprocess import AudioPreprocessor, decode_audio, decode_windows, split_windows
from konstrukt.modalities.image.preprocess import load_image, to_rgb
from konstrukt.preprocess.limits import DecodeLimits, _from_env, decode_limits, using_decode_limits
from konstrukt.modalities.signal.preprocess import Recording, read_array_signal, read_csv_signal


# ------------------------------------------------------------------ images

def test_a_small_16bit_png_of_huge_dimensions_is_refused_before_decoding(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(png16(7500, 7000))  # 52.5 megapixels in ~100 kB
    assert path.stat().st_size < 200_000
    with pytest.raises(DataError, match=r"huge\.png: 7500 × 7000 pixels .*limit of 50 megapixels "
                                        r"\(`max_image_pixels`\).*Fix: resize"):
        load_image(path)
    with pytest.raises(DataError, match="huge.png.*max_image_pixels"):
        check_file("image", path)


def test_the_decoded_bytes_limit_counts_bytes_per_pixel(tmp_path):
    Image.fromarray(np.zeros((100, 100), np.uint16)).save(tmp_path / "deep.png")  # 2 bytes a pixel
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(tmp_path / "flat.png")  # 1 byte a pixel
    with using_decode_limits(max_decoded_bytes=15_000):
        assert load_image(tmp_path / "flat.png").size == (100, 100)
        with pytest.raises(DataError, match=r"deep\.png: 100 × 100 pixels decode to 20,000 bytes.*"
                                            r"max_decoded_bytes"):
            load_image(tmp_path / "deep.png")


def _old_to_rgb_l(arr: np.ndarray) -> np.ndarray:
    """What to_rgb did before: the whole image widened to float64."""
    a = arr.astype(np.float64)
    lo, hi = a.min(), a.max()
    return ((a - lo) / (hi - lo) * 255.0).astype(np.uint8)


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float32])
def test_to_rgb_scales_deep_images_block_by_block_exactly_as_before(monkeypatch, dtype):
    monkeypatch.setattr(rgb_mod, "BLOCK_PIXELS", 97)  # many blocks, one ending mid-image
    rng = np.random.default_rng(0)
    arr = (rng.random((61, 37)) * 60000 + 17).astype(dtype)
    img = Image.fromarray(arr)
    assert img.mode in ("I;16", "I", "F")
    out = np.asarray(to_rgb(img))
    assert out.shape == (61, 37, 3)
    np.testing.assert_array_equal(out[..., 0], _old_to_rgb_l(arr))


def test_the_exported_predict_py_reads_images_with_the_core_s_own_code():
    from konstrukt.exporting.templates import portable_source, render

    for runtime in ("torch", "onnx"):
        source = render(version="0", needs=[], modality="image", runtime=runtime, backbone="scratch_cnn")
        assert portable_source("rgb") in source  # verbatim: one source for konstrukt and the bundle


# ------------------------------------------------------------------ arrays

def test_an_npz_of_zeros_with_a_huge_shape_is_refused_before_numpy_allocates(tmp_path):
    path = tmp_path / "zeros.npz"
    path.write_bytes(npz_of_zeros((4000, 6250)))  # 200 MB of float64 zeros in ~200 kB
    assert path.stat().st_size < 1_000_000
    with pytest.raises(DataError, match=r"zeros\.npz: member 'data\.npy': a 4000 × 6250 array of float64 "
                                        r"\(25,000,000 values\), over the limit of 20,000,000 values "
                                        r"\(`max_signal_values`\).*Fix:"):
        read_array_signal(path)
    with pytest.raises(DataError, match="zeros.npz.*max_signal_values"):
        check_file("signal", path)


def test_an_npy_header_is_checked_for_its_size_and_for_the_data_it_promises(tmp_path):
    (tmp_path / "claims.npy").write_bytes(npy_header((100_000, 100_000)) + bytes(64))
    with pytest.raises(DataError, match=r"claims\.npy: a 100000 × 100000 array.*max_signal_values"):
        read_array_signal(tmp_path / "claims.npy")
    with using_decode_limits(max_decoded_bytes=4000):  # 1000 float64 values: 8000 bytes
        (tmp_path / "wide.npy").write_bytes(npy_header((2, 500)) + bytes(8000))
        with pytest.raises(DataError, match=r"wide\.npy: .*8,000 bytes decoded.*max_decoded_bytes"):
            read_array_signal(tmp_path / "wide.npy")
    (tmp_path / "cut.npy").write_bytes(npy_header((2, 500)) + bytes(800))
    with pytest.raises(DataError, match=r"cut\.npy: truncated: its header declares 8,000 bytes of data but "
                                        "800 are stored"):
        read_array_signal(tmp_path / "cut.npy")


def test_an_npz_member_that_expands_like_a_zip_bomb_is_refused(tmp_path):
    path = tmp_path / "flat.npz"
    path.write_bytes(npz_of_zeros((4, 500_000)))  # 16 MB of zeros: within the value limit
    with pytest.raises(DataError, match=r"flat\.npz: member 'data\.npy': expands \d[\d,]*x, over the limit "
                                        r"of 200x \(a possible zip bomb\)"):
        read_array_signal(path)


def test_arrays_within_the_limits_read_as_before(tmp_path):
    x = np.random.default_rng(0).normal(size=(3, 400)).astype(np.float64)
    np.save(tmp_path / "a.npy", x)
    np.savez_compressed(tmp_path / "b.npz", data=x.T, fs=np.array(250.0))
    a, b = read_array_signal(tmp_path / "a.npy"), read_array_signal(tmp_path / "b.npz")
    np.testing.assert_array_equal(a.data, x.astype(np.float32))
    np.testing.assert_array_equal(b.data, x.astype(np.float32))
    assert b.rate == 250.0 and a.data.flags.c_contiguous and b.data.flags.c_contiguous


# ------------------------------------------------------------------ CSV

def test_a_csv_with_too_many_rows_times_columns_is_refused_before_it_is_parsed(tmp_path):
    (tmp_path / "long.csv").write_bytes(b"time,a,b\n" + b"".join(b"%d,1,2\n" % i for i in range(400)))
    with using_decode_limits(max_signal_values=1000):
        with pytest.raises(DataError, match=r"long\.csv: 400 rows × 3 columns \(1,200 values\), over the limit "
                                            r"of 1,000 values \(`max_signal_values`\).*Fix:"):
            read_csv_signal(tmp_path / "long.csv")
        (tmp_path / "ok.csv").write_bytes(b"time,a,b\n" + b"".join(b"%g,1,2\n" % (i / 100) for i in range(300)))
        rec = read_csv_signal(tmp_path / "ok.csv")
    assert rec.data.shape == (2, 300) and rec.rate == 100.0


def test_a_csv_line_longer_than_the_limit_is_refused_without_splitting_it(tmp_path):
    (tmp_path / "wide.csv").write_bytes(csv_table(1, 600_000))  # one 1.2 MB line
    with pytest.raises(DataError, match=r"wide\.csv: line 1 is longer than 1,048,576 characters"):
        read_csv_signal(tmp_path / "wide.csv")


def test_csv_rows_keep_their_own_messages(tmp_path):
    (tmp_path / "bad.csv").write_bytes(b"a,b\n1,2\n3\n4,x\n5,inf\n6,7\n")
    with pytest.raises(DataError, match=r"bad\.csv: row 3: 1 cells, expected 2 \(ragged row\); row 4, b: 'x' is "
                                        r"not a number; row 5, b: inf \(NaN"):
        read_csv_signal(tmp_path / "bad.csv")


def test_resampling_is_sized_before_it_runs(tmp_path):
    rec = Recording(np.zeros((4, 1000), np.float32), 10.0, tmp_path / "slow.csv")
    with using_decode_limits(max_signal_values=100_000):
        with pytest.raises(DataError, match=r"slow\.csv: 4 × 100,000 samples once resampled from 10 to 1000 Hz"):
            rec.at(1000.0)
        assert rec.at(20.0).shape == (4, 2000)


# ------------------------------------------------------------------ audio

def test_two_hours_of_silence_are_refused_when_a_file_is_read_whole(tmp_path):
    path = tmp_path / "silence.flac"
    path.write_bytes(flac_silence(7200, rate=1000))  # two hours in ~25 kB
    assert path.stat().st_size < 100_000
    pre = AudioPreprocessor.from_state({"sample_rate": 16000, "duration": 5.0, "long_files": "windows"})
    with pytest.raises(DataError, match=r"silence\.flac: 120\.0 minutes of audio, over the limit of 20 minutes "
                                        r"\(`max_audio_seconds`\).*Fix: cut the recording"):
        pre.load_windows(path)
    assert 80_000 <= decode_audio(path, 16000, 5.0).shape[0] < 90_000  # crop reads ~5 s of it: fine
    (tmp_path / "minute.flac").write_bytes(flac_silence(60, rate=1000))
    with using_decode_limits(max_decoded_bytes=1024**2):  # 60 s at 16 kHz float32: 3.7 MiB
        with pytest.raises(DataError, match=r"minute\.flac: 1\.0 minutes of audio at 16000 Hz \(4 MiB decoded\)"
                                            r".*max_decoded_bytes"):
            decode_windows(tmp_path / "minute.flac", 16000, 80_000)


def _noise_wav(path, seconds: float, rate: int) -> None:
    pcm = (np.random.default_rng(0).normal(0, 3000, int(seconds * rate))).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(pcm.tobytes())


@pytest.mark.parametrize("seconds", [12.3, 10.0, 10.1, 3.0, 21.0])
def test_windows_cut_while_streaming_equal_the_whole_wave_cut_after(tmp_path, seconds):
    _noise_wav(tmp_path / "a.wav", seconds, 8000)
    whole = split_windows(decode_audio(tmp_path / "a.wav", 16000), 16000 * 2)
    streamed = decode_windows(tmp_path / "a.wav", 16000, 16000 * 2)
    assert len(streamed) == len(whole)
    for a, b in zip(streamed, whole):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ the settings

def test_limits_come_from_the_environment_typed(monkeypatch):
    monkeypatch.setenv("KONSTRUKT_MAX_IMAGE_PIXELS", "1000")
    _from_env.cache_clear()
    try:
        assert decode_limits().max_image_pixels == 1000
        monkeypatch.setenv("KONSTRUKT_MAX_AUDIO_SECONDS", "soon")
        _from_env.cache_clear()
        with pytest.raises(ConfigError, match="decode limit") as info:
            decode_limits()
        assert "KONSTRUKT_MAX_AUDIO_SECONDS" in str(info.value)
    finally:
        monkeypatch.delenv("KONSTRUKT_MAX_IMAGE_PIXELS")
        monkeypatch.delenv("KONSTRUKT_MAX_AUDIO_SECONDS")
        _from_env.cache_clear()
    assert decode_limits() == DecodeLimits()
