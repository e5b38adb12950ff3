"""INT8 on a *trained* EfficientNet-B0: file size and top-1 agreement on the run's test split.

    nice python bench/int8_trained_b0.py [--epochs 12] [--size 64] [--per-class 60]

No pretrained weights can be downloaded here, so B0 is trained from scratch (every layer) on
scikit-learn's digits rendered as images — briefly, at a small input size, so that it has real,
confident weights (a random-weight B0 sits at chance and any quantisation noise flips its argmax).
The run is exported to ONNX fp32, then quantised several ways (float biases unless said); each line
prints the INT8 file's size ratio to fp32 and its top-1 agreement with the PyTorch model on the
test split. The last line is what ``konstrukt export --format onnx-int8`` itself writes (with its
parity check; it tries more layers in float until agreement reaches 99 %).
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

import numpy as np  # noqa: E402

import konstrukt  # noqa: E402
from konstrukt.demo import write_digits  # noqa: E402
from konstrukt.errors import RunError  # noqa: E402
from konstrukt.exporting import onnx as konnx  # noqa: E402
from konstrukt.exporting import parity  # noqa: E402


def variants(fp32: Path):
    """(name, quantize_static kwargs) to compare; the exporter's choice is among them."""
    from onnxruntime.quantization import CalibrationMethod, QuantType

    fragile = konnx.fragile_nodes(fp32)
    base = {"activation_type": QuantType.QUInt8, "weight_type": QuantType.QInt8, "per_channel": True,
            "op_types_to_quantize": ["Conv", "Gemm"], "calibrate_method": CalibrationMethod.MinMax,
            "extra_options": {"QuantizeBias": False}}  # float biases (the exporter's choice)
    ends = [fragile[0], fragile[-1]]  # first conv, last Gemm
    return [
        ("static QDQ per-channel, all Conv+Gemm, int32 biases", {**base, "extra_options": {}}),
        ("static QDQ per-channel, all Conv+Gemm", base),
        ("… minus first conv and last Gemm", {**base, "nodes_to_exclude": ends}),
        (f"… minus first conv, SE convs, last Gemm ({len(fragile)} nodes)", {**base, "nodes_to_exclude": fragile}),
        ("… same, percentile calibration", {**base, "nodes_to_exclude": fragile,
                                             "calibrate_method": CalibrationMethod.Percentile}),
        ("static QDQ per-tensor, all Conv+Gemm", {**base, "per_channel": False}),
        ("… per-tensor minus first conv and last Gemm", {**base, "per_channel": False, "nodes_to_exclude": ends}),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--per-class", type=int, default=60)
    args = ap.parse_args()
    from onnxruntime.quantization import QuantFormat, quantize_static

    work = Path(tempfile.mkdtemp(prefix="konstrukt-int8-"))
    os.environ.setdefault("KONSTRUKT_CACHE", str(work / "cache"))
    data = write_digits(work / "digits", per_class=args.per_class)
    t0 = time.perf_counter()
    run = konstrukt.train(data, task="image", pipeline="efficientnet_b0", out=work / "run", verbose=False,
                          overrides={"pretrained": "none", "strategy": "full", "image_size": args.size,
                                     "num_epochs": args.epochs, "cv": 0, "target_size": 0,
                                     "learning_rate": 3e-3, "batch_size": 32})
    print(f"trained B0 from scratch: {args.per_class * 10} digits at {args.size} px, {args.epochs} epochs, "
          f"{time.perf_counter() - t0:.0f} s; test accuracy {100 * run.report['test']['accuracy']:.1f} %")
    t0 = time.perf_counter()
    cfg = konstrukt.export(run, work / "onnx", format="onnx")
    print(f"export --format onnx: {time.perf_counter() - t0:.1f} s  {cfg['parity']['seconds']}")
    fp32 = work / "onnx" / "model.onnx"
    files, _ = parity.held_out_files(run)
    inputs = parity.model_inputs(run, files)
    reference = parity.torch_logits(run.model, inputs)
    calib = parity.model_inputs(run, parity.calibration_files(run, limit=128))
    calib = calib[: max(8, len(calib) // 8 * 8)]  # equal batches: the histogram calibrator stacks them
    print(f"\n{'INT8 variant':60}{'ratio':>7}{'agree':>8}{'max |Δ|':>9}   (n = {len(inputs)} test images, "
          f"{len(calib)} calibration images)")
    for name, kwargs in variants(fp32):
        out = work / "variant.int8.onnx"
        quantize_static(str(fp32), str(out), konnx._Calibration(calib), quant_format=QuantFormat.QDQ, **kwargs)
        konnx._drop_shape_info(out)
        r = parity.compare(reference, konnx.run_session(konnx.session(out), inputs, False))
        print(f"{name:60}{fp32.stat().st_size / out.stat().st_size:6.2f}x{100 * r['top1_agreement']:7.1f}%"
              f"{r['max_abs_logit_diff']:9.3f}")
    t0 = time.perf_counter()
    try:
        q = konstrukt.export(run, work / "int8", format="onnx-int8")["parity"]
        r = q["results"]["onnx int8"]
        print(f"{'konstrukt export --format onnx-int8':60}{q['int8_size_ratio']:6.2f}x"
              f"{100 * r['top1_agreement']:7.1f}%{r['max_abs_logit_diff']:9.3f}   ({time.perf_counter() - t0:.1f} s)")
        tried = ", ".join(f"{a['method']} {100 * a['top1_agreement']:.1f} %" for a in r.get("attempts", []))
        print(f"  kept: {r['method']}" + (f"  (tried before: {tried})" if tried else ""))
    except RunError as exc:
        print(f"konstrukt export --format onnx-int8 refused: {exc.message}")
    print(f"\n(files in {work})")


if __name__ == "__main__":
    main()
