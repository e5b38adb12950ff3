"""Real evaluation sets for bench/quality.py, rebuilt offline in seconds.

Every set is written as ``<root>/<name>/{train,test}/<class>/<file>`` (a pre-split folder, the
layout a user would give), with as few training examples per class as users have:

* ``speech_intents`` — 8 spoken intents, each said with one of several paraphrases, by espeak-ng
  speakers (voice × variant × pitch × speed), with a random lead-in, background noise and level.
  **Speaker-independent**: the test speakers' voice variants never occur in training.
* ``spoken_digits`` — "zero" … "nine" by the same kind of speakers, speaker-independent as well.
* ``digits`` — scikit-learn's handwritten digit scans (real, 8×8 grey levels), written at 32 px.
* ``faces`` — scikit-image's bundled LFW subset: real face photos vs real non-face photo patches.
* ``textures`` — crops of three real photos (brick, grass, gravel; scikit-image); training crops
  come from the top half of each photo, test crops from the bottom half, so no pixel is shared.

espeak-ng (Debian) must be on PATH for the speech sets; scikit-image (``pip install
konstrukt[bench]``) for ``faces`` and ``textures``.

    python bench/quality_data.py --out /tmp/konstrukt-quality
"""
from __future__ import annotations

import argparse
import io
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

RATE = 16000

INTENTS = {
    "lights_on": ["turn on the lights", "switch the lights on", "lights on please"],
    "lights_off": ["turn off the lights", "switch the lights off", "lights off please"],
    "play_music": ["play some music", "start the music", "put on a song"],
    "stop_music": ["stop the music", "pause the song", "be quiet"],
    "time": ["what time is it", "tell me the time", "what is the time now"],
    "weather": ["what is the weather like", "will it rain today", "how hot is it outside"],
    "call_mum": ["call my mother", "phone mum", "ring my mom please"],
    "alarm": ["set an alarm", "wake me up at seven", "set a timer"],
}
DIGITS = {w: [w] for w in ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                           "nine"]}
VOICES = ["en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
          "en-029", "en-us-nyc"]
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "adam",
            "Alex", "Andy", "Annie", "aunty", "belinda", "benjamin", "boris", "caleb", "david", "ed",
            "edward", "Gene", "grandma", "grandpa", "Hugo", "iven", "iven2", "Jacky", "john",
            "kaukovalta", "Lee", "linda", "max", "Michael", "Mike", "norbert", "paul", "pedro",
            "quincy", "rob", "robert", "steph", "steph2", "travis", "victor", "zac", "klatt",
            "klatt2", "klatt3", "shelby", "sandro", "Andrea", "anika", "antonio", "Denis", "Storm"]


def _speakers(rng: np.random.Generator, variants: list[str], n: int) -> list[tuple[str, str, int, int]]:
    """``n`` distinct speakers (voice, variant, pitch, words per minute) drawn from ``variants``."""
    out: set[tuple[str, str, int, int]] = set()
    while len(out) < n:
        out.add((str(rng.choice(VOICES)), str(rng.choice(variants)), int(rng.integers(25, 76)),
                 int(rng.integers(130, 200))))
    return sorted(out)


def speak(text: str, speaker: tuple[str, str, int, int], rng: np.random.Generator) -> np.ndarray:
    """One utterance by espeak-ng at 16 kHz, with a random lead-in, tail, level and room noise."""
    import soundfile as sf
    import soxr

    voice, variant, pitch, wpm = speaker
    wav = subprocess.run(["espeak-ng", "-v", f"{voice}+{variant}", "-p", str(pitch), "-s", str(wpm),
                          "--stdout", text], check=True, capture_output=True).stdout
    wave, rate = sf.read(io.BytesIO(wav), dtype="float32")
    wave = soxr.resample(wave, rate, RATE)
    wave = np.concatenate([np.zeros(int(rng.uniform(0.05, 0.4) * RATE), np.float32), wave,
                           np.zeros(int(rng.uniform(0.05, 0.3) * RATE), np.float32)])
    wave = wave / (np.abs(wave).max() + 1e-9) * rng.uniform(0.1, 0.9)
    rms = float(np.sqrt(np.mean(wave ** 2)))
    noise = rng.normal(0, rms / 10 ** (rng.uniform(15, 35) / 20), wave.shape)  # 15–35 dB SNR
    return np.clip(wave + noise, -1, 1).astype(np.float32)


def write_speech(dest: Path, phrases: dict[str, list[str]], n_train: int, n_test: int,
                 seed: int) -> Path:
    """Speaker-independent set: test speakers use voice variants that no training speaker uses."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    variants = list(rng.permutation(VARIANTS))
    held = len(variants) // 3
    speakers = {"train": _speakers(rng, variants[held:], n_train),
                "test": _speakers(rng, variants[:held], n_test)}
    for split, group in speakers.items():
        for label, texts in phrases.items():
            folder = dest / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for k, spk in enumerate(group):
                text = texts[int(rng.integers(len(texts)))]
                sf.write(folder / f"{label}_{k:03d}.wav", speak(text, spk, rng), RATE)
    return dest


def _write_images(dest: Path, split: str, label: str, arrays) -> None:
    folder = dest / split / label
    folder.mkdir(parents=True, exist_ok=True)
    for k, a in enumerate(arrays):
        Image.fromarray(a).save(folder / f"{label}_{k:03d}.png")


def write_digits(dest: Path, n_train: int = 15, n_test: int = 50, seed: int = 0) -> Path:
    """scikit-learn's digit scans, dark ink on white, 32 px (as the demo writes them)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    names = list(DIGITS)
    for c, name in enumerate(names):
        idx = rng.permutation(np.flatnonzero(digits.target == c))
        for split, chosen in (("train", idx[:n_train]), ("test", idx[n_train:n_train + n_test])):
            imgs = [np.asarray(Image.fromarray(255 - (digits.images[i] / 16 * 255).astype(np.uint8))
                               .resize((32, 32), Image.BICUBIC)) for i in chosen]
            _write_images(dest, split, name, imgs)
    return dest


def write_faces(dest: Path, n_train: int = 20, seed: int = 0) -> Path:
    """scikit-image's LFW subset: 100 real faces and 100 real non-face patches, 25×25 grey."""
    from skimage.data import lfw_subset

    images = (lfw_subset() * 255).astype(np.uint8)  # (200, 25, 25); first 100 are faces
    rng = np.random.default_rng(seed)
    for label, block in (("face", images[:100]), ("not_face", images[100:])):
        order = rng.permutation(len(block))
        _write_images(dest, "train", label, block[order[:n_train]])
        _write_images(dest, "test", label, block[order[n_train:]])
    return dest


def write_textures(dest: Path, n_train: int = 20, n_test: int = 40, size: int = 64,
                   seed: int = 0) -> Path:
    """Random crops of three real texture photos; train from the top half, test from the bottom."""
    from skimage import data

    rng = np.random.default_rng(seed)
    for label in ("brick", "grass", "gravel"):
        photo = getattr(data, label)()  # (512, 512) grey
        half = photo.shape[0] // 2
        for split, (lo, n) in (("train", (0, n_train)), ("test", (half, n_test))):
            crops = []
            for _ in range(n):
                y = int(rng.integers(lo, lo + half - size))
                x = int(rng.integers(0, photo.shape[1] - size))
                crops.append(photo[y:y + size, x:x + size])
            _write_images(dest, split, label, crops)
    return dest


# name -> (task, builder(dest)); train per class → test per class in the docstring above
SETS = {
    "speech_intents": ("speech", lambda d: write_speech(d, INTENTS, n_train=12, n_test=20, seed=1)),
    "spoken_digits": ("speech", lambda d: write_speech(d, DIGITS, n_train=20, n_test=30, seed=2)),
    "digits": ("image", lambda d: write_digits(d)),
    "faces": ("image", lambda d: write_faces(d)),
    "textures": ("image", lambda d: write_textures(d)),
}


def write_two_photo_classes(root: Path, per_class: int = 20) -> Path:
    """``root/two/{brick,grass}/``: ``per_class`` real photo crops each (a first-model set)."""
    data = root / "two"
    write_textures(root / "tex", n_train=per_class, n_test=1, size=128)
    for label in ("brick", "grass"):
        (data / label).mkdir(parents=True)
        for f in (root / "tex" / "train" / label).iterdir():
            f.rename(data / label / f.name)
    return data


def build(root: str | Path, names: list[str] | None = None) -> dict[str, tuple[str, Path]]:
    """Write the named sets under ``root`` (skipping ones already there); return name → (task, path)."""
    root = Path(root)
    out = {}
    for name in names or list(SETS):
        task, builder = SETS[name]
        dest = root / name
        if not (dest / "test").is_dir():
            builder(dest)
        out[name] = (task, dest)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/konstrukt-quality")
    ap.add_argument("--only", nargs="*", choices=list(SETS))
    args = ap.parse_args()
    for name, (task, path) in build(args.out, args.only).items():
        n = {s: sum(1 for _ in (path / s).rglob("*.*")) for s in ("train", "test")}
        print(f"{name:15s} {task:7s} {path}  train {n['train']}  test {n['test']}")
