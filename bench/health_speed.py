"""How long the data-health check takes on 5,000 images, 1,000 audio clips and 1,000 sensor
recordings, and how much memory.

    python bench/health_speed.py                      # 5,000 images + 1,000 clips + 1,000 recordings
    python bench/health_speed.py --images 2000 --clips 300 --signals 300 --keep /tmp/health-bench

Writes synthetic data (distinct random drawings as 160×120 JPEGs; synthetic 2–5 s WAV clips of
five kinds of sound; 6-channel 2 s gesture recordings at 200 Hz as CSV with a time column, four
gestures by 50 synthetic subjects) with planted problems — exact copies, near copies across classes — then runs
``konstrukt.data.health.check_data`` and prints, per stage: finding the files (sha256), measuring
them (decode + perceptual hash / fingerprint, one file at a time), and the checks themselves
(the near-duplicate search on the cached measurements). The vectorised search is compared with
the same search as a Python double loop, timed on a subset and scaled by the pair count.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from konstrukt.data import discover  # noqa: E402
from konstrukt.config import TrainConfig  # noqa: E402
from konstrukt.data import measure, similarity  # noqa: E402
from konstrukt.data.health import check_data  # noqa: E402
from konstrukt.modalities.audio.health import AUDIO_CANDIDATE_COS  # noqa: E402
from konstrukt.modalities.image.health import PHASH_MAX_BITS  # noqa: E402
from konstrukt.modalities.signal.health import SIGNAL_CANDIDATE_COS  # noqa: E402
from konstrukt.tasks import TASKS, task_modality  # noqa: E402
from konstrukt.modalities import register_all  # noqa: E402

register_all()  # what konstrukt's entry points do first


def write_images(root: Path, n: int, classes: int = 10, seed: int = 0) -> None:
    from PIL import Image, ImageDraw, ImageEnhance

    rng = np.random.default_rng(seed)
    files = []
    for k in range(n):
        img = Image.new("RGB", (160, 120), tuple(int(v) for v in rng.integers(0, 255, 3)))
        draw = ImageDraw.Draw(img)
        for _ in range(6):
            x, y = rng.integers(0, 160), rng.integers(0, 120)
            box = [int(x), int(y), int(x + rng.integers(10, 80)), int(y + rng.integers(10, 60))]
            fill = tuple(int(v) for v in rng.integers(0, 255, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
        folder = root / f"class{k % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"img{k:05d}.jpg"
        img.save(path, quality=90)
        files.append(path)
    for k in range(25):  # planted: exact copies within a class, near copies in another class
        shutil.copy(files[k], files[k].with_name(f"copy{k}.jpg"))
        near = Image.open(files[100 + k]).resize((200, 150))
        ImageEnhance.Brightness(near).enhance(1.1).save(root / f"class{(101 + k) % classes}" / f"near{k}.jpg")


def write_clips(root: Path, n: int, seed: int = 0) -> None:
    import soundfile as sf

    from konstrukt.demo_sound import SOUND_CLASSES, synth_clip

    rng = np.random.default_rng(seed)
    kinds = list(SOUND_CLASSES)
    files = []
    for k in range(n):
        kind = kinds[k % len(kinds)]
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"clip{k:05d}.wav"
        sf.write(path, synth_clip(kind, rng, seconds=float(rng.uniform(2, 5))), 16000, subtype="PCM_16")
        files.append(path)
    for k in range(10):  # planted: exact copies, and quieter trimmed copies in another class
        shutil.copy(files[k], files[k].with_name(f"copy{k}.wav"))
        wave, rate = sf.read(files[50 + k], dtype="float32")
        sf.write(root / kinds[(51 + k) % len(kinds)] / f"near{k}.wav", 0.5 * wave[800:], rate, subtype="PCM_16")


def write_signals(root: Path, n: int, seed: int = 0) -> None:
    from konstrukt.demo_signal import GESTURES, synth_gesture

    rng = np.random.default_rng(seed)
    header = ",".join(["time"] + [f"ch{c + 1}" for c in range(6)])
    t = np.arange(400) / 200.0

    def save(path: Path, x: np.ndarray) -> None:
        np.savetxt(path, np.column_stack([t[:x.shape[1]], x.T]), delimiter=",", header=header, comments="",
                   fmt="%.5g")

    files, data = [], []
    for k in range(n):
        g = GESTURES[k % len(GESTURES)]
        (root / g).mkdir(parents=True, exist_ok=True)
        x = synth_gesture(g, k % 50, rng)
        path = root / g / f"rec{k:05d}.csv"
        save(path, x)
        files.append(path)
        data.append(x)
    for k in range(10):  # planted: exact copies, and louder trimmed copies in another class
        shutil.copy(files[k], files[k].with_name(f"copy{k}.csv"))
        save(root / GESTURES[(51 + k) % len(GESTURES)] / f"near{k}.csv", 1.3 * data[50 + k][:, 20:] + 0.05)


def python_loop_seconds(keys: list, pair_distance, subset: int) -> tuple[float, int]:
    """Seconds a Python double loop takes over all pairs of ``subset`` keys."""
    keys = keys[:subset]
    t = time.perf_counter()
    hits = 0
    for i in range(len(keys)):
        a = keys[i]
        for j in range(i + 1, len(keys)):
            hits += pair_distance(a, keys[j])
    return time.perf_counter() - t, len(keys)


def run(name: str, data: Path, task: str, planted: str) -> None:
    t0 = time.perf_counter()
    dataset = discover(data, task)
    t1 = time.perf_counter()
    measure._CACHE.clear()
    measures = measure.measure_all(dataset, TASKS.get(task).modality, task_modality(task).health(),
                                   TrainConfig(task=task))
    t2 = time.perf_counter()
    report = check_data(dataset, task)  # measurements cached: this is the checks themselves
    t3 = time.perf_counter()
    n = len(dataset.samples)
    counts = report.to_dict()["counts"]
    print(f"\n{name}: {n} files  ({planted})")
    print(f"  find + sha256        {t1 - t0:7.2f} s")
    print(f"  measure (decode+fp)  {t2 - t1:7.2f} s   {1000 * (t2 - t1) / n:.2f} ms/file")
    print(f"  checks (search …)    {t3 - t2:7.2f} s")
    print(f"  total                {t3 - t0:7.2f} s   {n / (t3 - t0):.0f} files/s")
    print(f"  findings             {counts}")
    pairs = n * (n - 1) // 2
    if task == "image":
        keys = [m.key for m in measures if m.key is not None]
        hashes = np.array(keys, dtype=np.uint64)
        t = time.perf_counter()
        similarity.hamming_pairs(hashes, PHASH_MAX_BITS)
        vec = time.perf_counter() - t
        loop, m = python_loop_seconds(keys, lambda a, b: (a ^ b).bit_count() <= PHASH_MAX_BITS, 1500)
    else:
        x = np.stack([m.key for m in measures if m.key is not None])
        cos = SIGNAL_CANDIDATE_COS if task == "signal" else AUDIO_CANDIDATE_COS
        t = time.perf_counter()
        similarity.cosine_candidates(x, cos, top_k=12 if task == "signal" else 8)
        vec = time.perf_counter() - t
        rows = list(x)
        loop, m = python_loop_seconds(rows, lambda a, b: float(np.dot(a, b)) >= cos, 400)
    est = loop * pairs / (m * (m - 1) / 2)
    print(f"  pair search          numpy {vec:.3f} s  vs  Python double loop ≈ {est:.1f} s "
          f"(timed on {m} files, scaled to {pairs:,} pairs): {est / vec:.0f}× faster")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--clips", type=int, default=1000)
    ap.add_argument("--signals", type=int, default=1000)
    ap.add_argument("--keep", default=None, help="write the data here and keep it (default: a temp folder)")
    args = ap.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="konstrukt-health-bench-"))
    import konstrukt.experiment  # noqa: F401  (check() splits as train does: torch comes with it)

    base = _rss_mb()
    try:
        if args.images:
            t = time.perf_counter()
            if not (root / "images").exists():
                write_images(root / "images", args.images)
            print(f"wrote {args.images} images in {time.perf_counter() - t:.1f} s")
            run("images", root / "images", "image", "planted: 25 exact copies, 25 near copies in another class")
        if args.clips:
            t = time.perf_counter()
            if not (root / "clips").exists():
                write_clips(root / "clips", args.clips)
            print(f"\nwrote {args.clips} clips in {time.perf_counter() - t:.1f} s")
            run("audio clips", root / "clips", "sound",
                "planted: 10 exact copies, 10 quieter trimmed copies in another class")
        if args.signals:
            t = time.perf_counter()
            if not (root / "signals").exists():
                write_signals(root / "signals", args.signals)
            print(f"\nwrote {args.signals} recordings in {time.perf_counter() - t:.1f} s")
            run("sensor recordings", root / "signals", "signal",
                "planted: 10 exact copies, 10 louder trimmed copies in another class")
        print(f"\npeak memory (process RSS): {_rss_mb():.0f} MB, of which {base:.0f} MB before any "
              "check (Python, numpy, torch imported)")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
