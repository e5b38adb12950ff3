"""Time to a first model with ``auto`` (issue 19), from a cold cache, beside its floor, in one run.

1. photos: ``konstrukt train`` (``auto``, defaults: 5-fold CV, reference model, data health,
   pictures) on 2 classes × 20 real photo crops (scikit-image's brick and grass textures), in a
   fresh process with an empty embedding cache; beside it the floor — one embedding pass: a fresh
   process that imports torch, builds the same backbone, decodes the photos with konstrukt's image
   preprocessing and embeds as many images and augmented views as the run embedded (the cache's
   entry count) with konstrukt's own embedding pass (``embeddings.embed_views``, no cache), ending
   as the ``konstrukt`` program ends (no interpreter teardown) — and their ratio;
2. speech: the same ``auto`` run on 8 spoken intents × 12 clips (bench/quality_data.py's
   ``speech_intents``; needs espeak-ng).

Wall and CPU seconds of each child process (CPU seconds say more on a shared machine).

    python bench/first_model.py                 # both
    python bench/first_model.py --skip-speech
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

FLOOR = """
import sys, torch
from pathlib import Path
from konstrukt.config import build_config
from konstrukt.embeddings import embed_views
from konstrukt.models.backbones import BACKBONES, build_backbone
from konstrukt.preprocess import build_preprocessor
from konstrukt.modalities import register_all
register_all()
name, data, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
spec = BACKBONES.get(name)
model = build_backbone(name, "default").eval()
pre = build_preprocessor(spec, build_config({"task": "image"}))
raws = [pre.load(f) for f in sorted(data.rglob("*.*"))]  # decode every photo once
# originals, then augmented views; the product's own embedding pass, without a cache
items = [(raws[i % len(raws)], str(i % len(raws)), i // len(raws)) for i in range(n)]
embed_views(model, pre, items, None, torch.device("cpu"))
import os
os._exit(0)  # as the konstrukt program ends (cli.exit_without_teardown): no interpreter teardown
"""


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall, CPU) seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - t0, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def train_cold(data: Path, task: str, root: Path) -> tuple[float, float, dict, int]:
    """(wall, CPU, report, embeddings computed) of `konstrukt train` with auto on a cold cache."""
    cache = root / f"cache-{task}"
    env = {**os.environ, "KONSTRUKT_CACHE": str(cache), "KONSTRUKT_OFFLINE": "1"}
    out = root / f"run-{task}"
    wall, cpu = timed([sys.executable, "-m", "konstrukt", "train", str(data), "--task", task,
                       "--out", str(out), "--quiet"], env)
    report = json.loads((out / "report.json").read_text())
    return wall, cpu, report, len(list(cache.rglob("*.npy")))


def photos(root: Path) -> None:
    from quality_data import write_two_photo_classes

    data = write_two_photo_classes(root)
    wall, cpu, report, n = train_cold(data, "image", root)
    kept = report["pipeline"]
    floor_wall, floor_cpu = timed([sys.executable, "-c", FLOOR, report["model"]["backbone"], str(data), str(n)],
                                  # as the CLI runs torch (cli.main): idle OpenMP threads sleep, not spin
                                  {"OMP_WAIT_POLICY": "PASSIVE", **os.environ, "KONSTRUKT_OFFLINE": "1"})
    print(f"photos, 2 classes × 20, auto → {kept}: test {report['test']['accuracy']:.3f}, CV "
          f"{report['cv']['accuracy_mean']:.3f} ± {report['cv']['accuracy_std']:.3f}")
    print(f"  konstrukt train (auto, 5-fold CV, cold cache): {wall:6.1f} s wall, {cpu:6.1f} s CPU")
    print(f"  floor: import, build, decode + embed {n} views: {floor_wall:6.1f} s wall, {floor_cpu:6.1f} s CPU")
    print(f"  ratio: {wall / floor_wall:.2f}x wall, {cpu / floor_cpu:.2f}x CPU")


def speech(root: Path) -> None:
    from quality_data import build

    sets = build(str(root / "sets"), ["speech_intents"])
    _, path = sets["speech_intents"]
    wall, cpu, report, n = train_cold(path, "speech", root)
    print(f"spoken intents, 8 × 12, auto → {report['pipeline']}: test {report['test']['accuracy']:.3f}, "
          f"CV {report['cv']['accuracy_mean']:.3f} ± {report['cv']['accuracy_std']:.3f}")
    print(f"  konstrukt train (auto, 5-fold CV, cold cache, {n} clips embedded): {wall:6.1f} s wall, "
          f"{cpu:6.1f} s CPU")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-speech", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="konstrukt-first-") as tmp:
        photos(Path(tmp))
        if not args.skip_speech:
            speech(Path(tmp))


if __name__ == "__main__":
    main()
