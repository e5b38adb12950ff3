"""EfficientNet-Lite0 (ImageNet weights from the installed package): embedding speed, a real-photo
probe, and the time of a whole ``konstrukt train`` from a cold cache.

    nice python bench/lite0_speed.py                    # all three
    nice python bench/lite0_speed.py --skip-probe --threads 2

1. embedding pass: images/s at 224 px, batch 16, ``--threads`` torch threads (EfficientNet-B0,
   same input, for scale);
2. probe on real photos: scikit-image's texture crops (bench/quality_data.py ``textures``: brick,
   grass, gravel; 20 train / 40 test per class), pipeline defaults + 5-fold CV;
3. ``konstrukt train --pipeline efficientnet_lite0`` on 2 classes × 20 real photo crops (brick,
   grass) in a fresh process with an empty embedding cache: wall seconds, CV included.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def embedding_speed(name: str, threads: int, batch: int = 16, batches: int = 5) -> tuple[float, float]:
    """(images per wall second, images per CPU second) of a frozen forward pass at the backbone's
    input size, channels-last as konstrukt's embedding pass feeds it; CPU seconds say more than
    wall time on a machine others share."""
    from konstrukt.modalities import register_all
    from konstrukt.models.backbones import BACKBONES, build_backbone
    from konstrukt.runtime import ChannelsLast

    register_all()
    torch.set_num_threads(threads)
    spec = BACKBONES.get(name)
    local = "imagenet" in spec.weights and spec.weights["imagenet"].is_local()
    model = build_backbone(name, "imagenet" if local else "none").eval()  # same compute either way
    x = torch.rand(batch, 3, spec.input.size, spec.input.size)  # (B, 3, 224, 224)
    with torch.inference_mode(), ChannelsLast(model) as layout:
        model(layout(x))  # warm-up
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(batches):
            model(layout(x))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return batch * batches / wall, batch * batches / cpu


def probe_on_textures(root: Path) -> dict:
    import konstrukt
    from quality_data import build

    _, path = build(root / "sets", ["textures"])["textures"]
    t0 = time.perf_counter()
    run = konstrukt.train(path, task="image", pipeline="efficientnet_lite0", out=root / "probe",
                          config={"cv": 5}, verbose=False)
    r = run.report
    return {"seconds": time.perf_counter() - t0, "test": r["test"]["accuracy"],
            "cv": (r["cv"] or {}).get("accuracy_mean"), "cv_std": (r["cv"] or {}).get("accuracy_std"),
            "reference_test": ((r.get("reference") or {}).get("test") or {}).get("accuracy")}


def cold_cli_train(root: Path, threads: int) -> tuple[float, float]:
    """(wall, CPU) seconds of `konstrukt train` (fresh process, empty cache) on 2 classes × 20 photo
    crops; CPU seconds say more than wall time on a machine others share."""
    import resource

    from quality_data import write_two_photo_classes

    data = write_two_photo_classes(root)
    env = {**os.environ, "KONSTRUKT_CACHE": str(root / "cold-cache"), "KONSTRUKT_OFFLINE": "1",
           "OMP_NUM_THREADS": str(threads)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "konstrukt", "train", str(data), "--task", "image",
                    "--pipeline", "efficientnet_lite0", "--out", str(root / "cli-run"), "--quiet"],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    wall, after = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-probe", action="store_true")
    args = ap.parse_args()
    for name in ("efficientnet_lite0", "efficientnet_b0"):
        wall, cpu = embedding_speed(name, args.threads)
        print(f"{name}: {wall:.1f} images/s wall, {cpu:.1f} images per CPU second "
              f"(224 px, batch 16, {args.threads} threads)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_probe:
            r = probe_on_textures(Path(tmp))
            print(f"textures (3 real photos' crops, 20 train / 40 test per class): test {r['test']:.3f}, "
                  f"CV {r['cv']:.3f} ± {r['cv_std']:.3f}, reference (features + LR) {r['reference_test']}, "
                  f"{r['seconds']:.1f} s", flush=True)
        wall, cpu = cold_cli_train(Path(tmp), args.threads)
        print(f"konstrukt train --pipeline efficientnet_lite0, 2 classes × 20 photos, cold cache, CV on: "
              f"{wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)


if __name__ == "__main__":
    main()
