"""predict.py's input part per modality: a file becomes the model's input arrays (``load_inputs``).

Each part reads its settings from ``PRE`` (the bundle's config.json) when the script runs. The image
part carries :mod:`konstrukt.models.portable.rgb` verbatim (``$rgb``), so a bundle decodes images
with konstrukt's own code.
"""
from __future__ import annotations

from string import Template

_READ_IMAGE = """

def read_image(path):
    with Image.open(path) as img:
        img.load()
        return to_rgb(ImageOps.exif_transpose(img))
"""

IMAGE_ONNX = Template('''
from PIL import Image, ImageOps

$rgb''' + _READ_IMAGE + '''

def load_inputs(path):
    """[(3, S, S) float32 in [0, 1]]: RGB, stretched to S x S (bilinear, antialiased)."""
    size = PRE["size"]
    img = read_image(path).resize((size, size), Image.BILINEAR)
    return [np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0]
''')

IMAGE_TORCH = Template('''
import torch
from PIL import Image, ImageOps
from torchvision.transforms.v2 import functional as F

$rgb''' + _READ_IMAGE + '''

def load_inputs(path):
    """[(3, S, S) float32 in [0, 1]]: RGB, stretched to S x S (bilinear, antialiased)."""
    size = PRE["size"]
    x = F.resize(F.to_image(read_image(path)), [size, size], antialias=True)  # (3, S, S) uint8
    return [F.to_dtype(x, torch.float32, scale=True).numpy()]
''')

AUDIO = Template('''
import math

import soundfile as sf
import soxr

UNPADDED = $unpadded  # True: the model takes each waveform without its zero padding


def read_audio(path, seconds=None):
    """Mono float32 waveform at the model's rate (mean of the channels, soxr HQ resampling)."""
    rate = PRE["sample_rate"]
    with sf.SoundFile(str(path)) as f:
        frames = f.frames if seconds is None else min(f.frames, math.ceil(seconds * f.samplerate) + 64)
        data, sr = f.read(frames, dtype="float32", always_2d=True), f.samplerate
    if data.shape[0] == 0:
        raise ValueError(f"{path}: contains no audio samples")
    wave = data.mean(axis=1, dtype=np.float32)
    if sr != rate:
        wave = soxr.resample(wave, sr, rate, quality="HQ").astype(np.float32)
    return wave


def fix_length(wave, n):
    return wave[:n] if wave.shape[0] >= n else np.pad(wave, (0, n - wave.shape[0]))


def trim(wave, minimum=400):
    """Cut the zero padding at the end (only for models that take unpadded input)."""
    if not UNPADDED:
        return wave
    nonzero = np.flatnonzero(wave)
    return wave[: max(int(nonzero[-1]) + 1 if nonzero.size else 0, min(minimum, wave.shape[0]))]


def load_inputs(path):
    """Fixed-length waveforms: the first `duration` seconds, or every window of the file (voting)."""
    n = PRE["length"]
    if PRE["long_files"] != "windows":
        return [trim(fix_length(read_audio(path, PRE["duration"]), n))]
    wave = read_audio(path)
    starts = list(range(0, max(wave.shape[0], 1), n))
    if len(starts) > 1 and wave.shape[0] - starts[-1] < n // 4:
        starts.pop()  # a mostly-silent scrap does not vote
    return [trim(fix_length(wave[s:s + n], n)) for s in starts]
''')

SIGNAL = Template('''
import csv
import math
from fractions import Fraction

SIGNAL = PRE["signal"]  # window, hop, pad, crop, layout, time_column, sample_rate, standardize
RATE, CHANNELS, LENGTH = float(PRE["sample_rate"]), int(PRE["channels"]), int(PRE["length"])
if SIGNAL["standardize"] and PRE["mean"] is not None:  # the model standardises inside;
    PAD_VALUE = np.asarray(PRE["mean"], np.float32)[:, None]  # konstrukt's zero padding is the mean
else:
    PAD_VALUE = np.zeros((CHANNELS, 1), np.float32)
TIME_NAMES = {"time", "t", "timestamp", "times", "seconds", "sec", "secs", "s", "time_s", "time (s)",
              "time[s]", "t_s", "elapsed"}
MS_NAMES = {"ms", "time_ms", "time (ms)", "time[ms]", "timestamp_ms"}
ARRAY_KEYS = ("data", "x", "signal", "signals", "X")
RATE_KEYS = ("sample_rate", "fs", "sampling_rate", "rate", "sr")


def _number(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return False


def read_csv(path):
    # Columns are channels; an optional header; an optional first column of time (gives the rate).
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    header = None
    if rows and not all(_number(c) for c in rows[0]):
        header, rows = rows[0], rows[1:]
    if not rows:
        raise ValueError("no data rows")
    width = len(header) if header is not None else len(rows[0])
    if any(len(r) != width for r in rows):
        raise ValueError(f"ragged rows (expected {width} cells per row)")
    values = np.asarray([[float(c) for c in r] for r in rows], dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError("NaN or infinite values")
    is_time, scale, mode = False, 1.0, SIGNAL["time_column"]
    if mode == "first" and values.shape[1] >= 2:
        is_time = True
    elif mode == "auto" and values.shape[1] >= 2:
        if header is not None:
            name = header[0].strip().lower()
            is_time, scale = (True, 1e-3) if name in MS_NAMES else (name in TIME_NAMES, 1.0)
        else:
            steps = np.diff(values[:, 0])
            is_time = bool(steps.size >= 2 and steps.min() > 0
                           and (steps.max() - steps.min()) <= 1e-3 * steps.mean())
    rate = None
    if is_time:
        steps = np.diff(values[:, 0] * scale)
        if steps.size == 0 or (steps <= 0).any():
            raise ValueError("the time column does not increase")
        rate = float(f"{1.0 / np.median(steps):.6g}")
        values = values[:, 1:]
    return np.ascontiguousarray(values.T, dtype=np.float32), rate


def read_array(path):
    # NPY / NPZ (never unpickled); 1-D is one channel; 2-D: the longer axis is time unless set.
    loaded = np.load(path, allow_pickle=False)
    rate = None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.files)
            for k in RATE_KEYS:
                if k in keys and np.asarray(loaded[k]).size == 1:
                    rate = float(np.asarray(loaded[k]).reshape(()))
            arrays = [k for k in keys if k not in RATE_KEYS]
            named = [k for k in ARRAY_KEYS if k in arrays]
            if not named and len(arrays) != 1:
                raise ValueError(f"holds {len(arrays)} arrays; name the signal `data`")
            arr = np.asarray(loaded[named[0] if named else arrays[0]])
    else:
        arr = loaded
    if arr.dtype.kind not in "biuf" or arr.size == 0:
        raise ValueError("not a non-empty numeric array")
    if arr.ndim == 1:
        arr = arr[None, :]
    elif arr.ndim != 2:
        raise ValueError(f"a {arr.ndim}-D array; a signal is 1-D or 2-D")
    elif SIGNAL["layout"] == "time_first" or (SIGNAL["layout"] == "auto" and arr.shape[0] > arr.shape[1]):
        arr = arr.T
    elif SIGNAL["layout"] == "auto" and arr.shape[0] == arr.shape[1]:
        raise ValueError(f"square {arr.shape}: which axis is time cannot be told")
    data = arr.astype(np.float32)
    if not np.isfinite(data).all():
        raise ValueError("NaN or infinite values")
    return np.ascontiguousarray(data), rate


def read_signal(path):
    # (channels, time) float32 at the model's rate (polyphase resampling when the file differs).
    path = Path(path)
    data, rate = read_csv(path) if path.suffix.lower() == ".csv" else read_array(path)
    if data.shape[0] != CHANNELS:
        raise ValueError(f"has {data.shape[0]} channels; the model was trained on {CHANNELS}")
    rate = rate or SIGNAL["sample_rate"]
    if rate is None or PRE.get("unit") == "samples" or math.isclose(rate, RATE, rel_tol=1e-3):
        return data
    from scipy.signal import resample_poly  # only for files at another rate

    ratio = Fraction(RATE / rate).limit_denominator(1000)
    return resample_poly(data, ratio.numerator, ratio.denominator, axis=1).astype(np.float32)


def fix_length(x, n):
    # Crop (centre or start) or pad at the end (the channel mean, or the last value).
    t = x.shape[1]
    if t > n:
        start = (t - n) // 2 if SIGNAL["crop"] == "center" else 0
        return x[:, start:start + n]
    if t < n:
        if SIGNAL["pad"] == "edge":
            return np.pad(x, ((0, 0), (0, n - t)), mode="edge")
        return np.concatenate([x, np.repeat(PAD_VALUE, n - t, axis=1)], axis=1)
    return x


def load_inputs(path):
    # Raw (channels, LENGTH) windows; a recording longer than a window gives every window (they vote).
    x = read_signal(path)
    hop = max(1, int(round((SIGNAL["hop"] or SIGNAL["window"] / 2) * RATE)))
    starts = list(range(0, x.shape[1] - LENGTH + 1, hop)) if x.shape[1] >= LENGTH else []
    if len(starts) <= 1:
        return [fix_length(x, LENGTH)]
    return [x[:, s:s + LENGTH] for s in starts]
''')

# modality -> runtime ("torch" | "onnx") -> its input part
INPUTS = {"image": {"torch": IMAGE_TORCH, "onnx": IMAGE_ONNX},
          "audio": {"torch": AUDIO, "onnx": AUDIO},
          "signal": {"torch": SIGNAL, "onnx": SIGNAL}}
