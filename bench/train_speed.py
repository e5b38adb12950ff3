"""Speed of the cached-embedding path against the classic loop, and of `konstrukt demo`.

    python bench/train_speed.py            # full benchmark (a few minutes on 2 CPU cores)
    python bench/train_speed.py --quick    # smaller images, for a smoke run

Both paths train EfficientNet-B0 (random weights: the compute is the same as pretrained) on the
same 2 classes × 15 images with the same splits and 5 CV folds, 10 epochs, batch 8, no early
stopping; the classic loop pushes freshly augmented images through the frozen backbone every epoch.
Figures are printed side by side from one run, because these machines are noisy.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import konstrukt  # noqa: E402
from konstrukt.demo import write_digits  # noqa: E402


def timed_train(data: Path, out: Path, **overrides) -> tuple[float, dict]:
    t0 = time.perf_counter()
    run = konstrukt.train(data, task="image", pipeline="efficientnet_b0", out=out, overwrite=True,
                          overrides=overrides, verbose=False)
    return time.perf_counter() - t0, run.report


DEMO_SCRIPT = """
import resource, sys, time
from konstrukt.cli import main
t0 = time.perf_counter()
rc = main(["demo", "--out", sys.argv[1], "--quiet"])
print(f"{time.perf_counter() - t0:.3f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} {rc}")
"""


def demo_figures(workdir: Path) -> tuple[float, float]:
    """Wall time and peak RSS (MB) of `konstrukt demo`, measured inside a fresh process.

    (RUSAGE_CHILDREN would count the parent's memory copied at fork, so the child reports itself.)
    """
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", DEMO_SCRIPT, str(workdir / "demo")], check=True,
                         capture_output=True, text=True).stdout.split()
    wall = time.perf_counter() - t0  # includes interpreter start and imports, as a user sees it
    return wall, float(out[-2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="112-px images instead of 224 (smoke run)")
    parser.add_argument("--skip-demo", action="store_true", help="only the cached-vs-classic figures")
    parser.add_argument("--demo-only", action="store_true", help="only time `konstrukt demo`")
    args = parser.parse_args()
    size = 112 if args.quick else 224
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["KONSTRUKT_CACHE"] = str(tmp / "cache")  # cold cache for the first cached run
        if args.demo_only:
            wall, rss = demo_figures(tmp)
            print(f"konstrukt demo (digits + sounds): {wall:.1f} s wall, peak RSS {rss:.0f} MB")
            return
        data = write_digits(tmp / "data", per_class=15, classes=(3, 8), size=64)
        common = dict(pretrained="none", cv=5, num_epochs=10, batch_size=8, image_size=size,
                      early_stopping={"enabled": False}, seed=0)
        print(f"EfficientNet-B0 (random weights), 2 classes x 15 images at {size} px, 5-fold CV + "
              f"final fit, 10 epochs, batch 8, {os.cpu_count()} CPU cores\n")
        t_cold, r_cold = timed_train(data, tmp / "cached", strategy="probe", **common)
        t_warm, r_warm = timed_train(data, tmp / "cached2", strategy="probe", **common)
        t_classic, r_classic = timed_train(data, tmp / "classic", strategy="head", **common)
        rows = [("cached embeddings, cold cache", t_cold, r_cold),
                ("cached embeddings, warm cache", t_warm, r_warm),
                ("classic loop (augment + backbone every epoch)", t_classic, r_classic)]
        print(f"{'path':48}{'seconds':>9}{'CV acc':>10}")
        for name, t, r in rows:
            print(f"{name:48}{t:9.1f}{r['cv']['accuracy_mean']:10.3f}")
        print(f"\nspeed-up of the cached path, end to end: {t_classic / t_cold:.1f}x (cold cache), "
              f"{t_classic / t_warm:.1f}x (warm cache); bar: >= 5x")
        if not args.skip_demo:
            wall, rss = demo_figures(tmp)
            print(f"\nkonstrukt demo (digits + sounds): {wall:.1f} s wall, peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
