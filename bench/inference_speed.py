"""Inference speed: PyTorch eager vs ONNX fp32 vs ONNX INT8, side by side in one run.

    nice python bench/inference_speed.py            # B0 at 224 px, scratch CNN, scratch log-mel CNN
    nice python bench/inference_speed.py --quick    # fewer repetitions

For each pipeline it trains a small run offline (EfficientNet-B0 with *random* weights: the
compute is the same as pretrained; sklearn's digits for images, synthesised sounds for audio),
exports it with ``konstrukt export --format all`` (timed; parity figures come from the export's
own check on the run's test split), then times batch-1 latency (p50/p95 over many calls) and
batch-32 throughput for the three runtimes on the same inputs. All runtimes use every core.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("KONSTRUKT_OFFLINE", "1")
# torch's idle OpenMP threads would otherwise spin and steal the cores onnxruntime is timed on.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import konstrukt  # noqa: E402
from konstrukt.demo import write_digits  # noqa: E402
from konstrukt.demo_sound import write_sound_demo  # noqa: E402
from konstrukt.errors import RunError  # noqa: E402
from konstrukt.exporting import onnx as konnx  # noqa: E402
from konstrukt.exporting import parity  # noqa: E402

CASES = [  # name, pipeline, task, data kind, overrides ("B0_WEIGHTS": see random_b0)
    ("EfficientNet-B0 (224 px)", "efficientnet_b0", "image", "digits",
     {"pretrained": "B0_WEIGHTS", "num_epochs": 30, "cv": 0, "learning_rate": 1e-2}),
    ("scratch CNN (64 px)", "scratch_cnn", "image", "digits",
     {"num_epochs": 10, "cv": 0, "image_size": 64}),
    ("scratch log-mel CNN (5 s audio)", "scratch_melcnn", "sound", "sounds",
     {"num_epochs": 10, "cv": 0}),
]


def timings(fn, x1, x32, reps1: int, reps32: int) -> tuple[float, float, float]:
    """(p50 ms, p95 ms) at batch 1 and items/s at batch 32."""
    for _ in range(3):
        fn(x1)
    lat = []
    for _ in range(reps1):
        t0 = time.perf_counter()
        fn(x1)
        lat.append(1000 * (time.perf_counter() - t0))
    fn(x32)
    t0 = time.perf_counter()
    for _ in range(reps32):
        fn(x32)
    thr = reps32 * x32.shape[0] / (time.perf_counter() - t0)
    return float(np.percentile(lat, 50)), float(np.percentile(lat, 95)), thr


def random_b0(data: Path, dest: Path) -> Path:
    """A random-weight EfficientNet-B0 whose batch-norm statistics are measured on the digits.

    Untouched random init gives (nearly) the same features for every image, which would make
    the agreement figures meaningless; re-estimating the batch-norm statistics (no labels, no
    training) gives varied features while keeping the compute of the real model.
    """
    import torchvision
    from PIL import Image
    from torchvision.transforms.v2 import functional as F

    torch.manual_seed(0)
    net = torchvision.models.efficientnet_b0(weights=None)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches below
    files = sorted(data.rglob("*.png"))[::2]
    x = torch.stack([F.to_dtype(F.resize(F.to_image(Image.open(f).convert("RGB")), [224, 224]),
                                torch.float32, scale=True) for f in files])
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    net.train()
    with torch.no_grad():
        for i in range(0, len(x), 25):
            net(x[i:i + 25])
    torch.save(net.state_dict(), dest)
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    reps1, reps32 = (15, 2) if args.quick else (60, 5)
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    work = Path(tempfile.mkdtemp(prefix="konstrukt-bench-"))
    os.environ.setdefault("KONSTRUKT_CACHE", str(work / "cache"))
    digits = write_digits(work / "digits", per_class=15)
    sounds = write_sound_demo(work / "sounds", per_class=15, seconds=5.0)
    speed_rows, export_rows = [], []
    for name, pipeline, task, kind, over in CASES:
        data = digits if kind == "digits" else sounds
        if over.get("pretrained") == "B0_WEIGHTS":
            over = {**over, "pretrained": str(random_b0(digits, work / "b0_random_bn.pth"))}
        run = konstrukt.train(data, task=task, pipeline=pipeline, out=work / pipeline, overrides=over,
                              verbose=False)
        t0 = time.perf_counter()
        cfg = konstrukt.export(run, work / f"{pipeline}-onnx", format="onnx")  # the export a user waits for
        export_s = time.perf_counter() - t0
        bundle = Path(cfg["path"])
        try:  # the INT8 export, with its own parity check
            q = konstrukt.export(run, work / f"{pipeline}-int8", format="onnx-int8")["parity"]
            int8_path, i8, failed = work / f"{pipeline}-int8" / "model.int8.onnx", q["results"]["onnx int8"], ""
        except RunError as exc:  # the export refuses; measure the refused model anyway, and say so
            failed = "  (INT8 export refused: " + exc.message.split(" (needs")[0] + ")"
            int8_path = work / f"{pipeline}-refused.int8.onnx"
            backbone = run.report["architecture"]["backbone"]
            konnx.quantize(bundle / "model.onnx", int8_path, konnx.int8_policy(backbone["modality"], backbone["name"]),
                           parity.model_inputs(run, parity.calibration_files(run)))
            files, _ = parity.held_out_files(run)
            inputs = parity.model_inputs(run, files)
            i8 = parity.compare(parity.torch_logits(run.model, inputs),
                                konnx.run_session(konnx.session(int8_path), inputs, False))
        par = cfg["parity"]
        b32, b8 = (bundle / "model.onnx").stat().st_size, int8_path.stat().st_size
        export_rows.append((name, export_s, par["results"]["onnx fp32"], i8, b32 / b8, b32, b8, par["samples"],
                            run.report["test"]["accuracy"], failed))
        bundle = Path(cfg["path"])
        x = torch.stack([run.pre.tensor(run.pre.load(Path(f))) for f in
                         (run.report["data"]["files"]["train"] * 4)[:32]])  # (32, ...)
        x1, x32 = x[:1], x
        model = run.model.cpu().eval()

        def eager(t):
            with torch.inference_mode():
                return model(t)

        fp32, int8 = konnx.session(bundle / "model.onnx"), konnx.session(int8_path)
        row = [name]
        row.append(timings(eager, x1, x32, reps1, reps32))
        row.append(timings(lambda t: fp32.run(None, {"input": t.numpy()}), x1, x32, reps1, reps32))
        row.append(timings(lambda t: int8.run(None, {"input": t.numpy()}), x1, x32, reps1, reps32))
        speed_rows.append(row)

    cores = len(os.sched_getaffinity(0))
    print(f"\nInference on {cores} CPU cores (torch {torch.__version__}, onnxruntime "
          f"{__import__('onnxruntime').__version__}); batch-1 latency in ms, batch-32 throughput in items/s\n")
    print(f"{'model':34}{'runtime':10}{'p50 b1':>9}{'p95 b1':>9}{'b32 /s':>9}{'b1 vs eager':>13}")
    for name, *rts in speed_rows:
        for label, (p50, p95, thr) in zip(("eager", "ONNX fp32", "ONNX INT8"), rts):
            print(f"{name:34}{label:10}{p50:9.2f}{p95:9.2f}{thr:9.1f}{rts[0][0] / p50:12.2f}x")
    print(f"\n{'trained run':34}{'test acc':>9}{'export s':>9}{'fp32 |Δ|':>10}{'fp32 agr':>9}"
          f"{'int8 agr':>9}{'fp32 KB':>9}{'int8 KB':>9}{'ratio':>7}{'n':>4}")
    for name, secs, f32, i8, ratio, b32, b8, n, acc, failed in export_rows:
        print(f"{name:34}{100 * acc:8.1f}%{secs:9.1f}{f32['max_abs_logit_diff']:10.1e}{100 * f32['top1_agreement']:8.1f}%"
              f"{100 * i8['top1_agreement']:8.1f}%{b32 / 1024:9.0f}{b8 / 1024:9.0f}{ratio:6.2f}x{n:4d}{failed}")
    print("\nexport s: `konstrukt export --format onnx` (ONNX export + checker + parity on the test split)")
    print(f"\n(files in {work})")


if __name__ == "__main__":
    main()
