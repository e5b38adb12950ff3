"""Signal speed: the default pipeline (rescnn_bilstm_se, default sizes) at 8 channels × 2 s × 1 kHz.

Prints training throughput (windows/s, with augmentation and backward pass), single-window
inference latency (median of many, the preprocessor's tensor() included), and the wall time of
``konstrukt.train`` with 5-fold CV on 4 classes × 20 windows (the product's small-data path:
split, top-up to 50 per class, early stopping, then CV with the chosen epoch count). The issue asks
for that last figure to stay under 2 minutes on a 2-core machine.

Run: ``OMP_WAIT_POLICY=PASSIVE python bench/signal_speed.py [--epochs N]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

CHANNELS, RATE, SECONDS = 8, 1000.0, 2.0


def write_data(root: Path, classes: int = 4, per_class: int = 20) -> Path:
    from konstrukt.demo_signal import GESTURES, synth_gesture

    rng = np.random.default_rng(0)
    for g in GESTURES[:classes]:
        (root / g).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            x = synth_gesture(g, i % 5, rng, CHANNELS, RATE, SECONDS)
            np.savez(root / g / f"{i:03d}.npz", data=x, fs=RATE)
    return root


def main() -> None:
    import torch

    from konstrukt.experiment import resolve_config, train
    from konstrukt.models.backbones import build_backbone
    from konstrukt.models.classifier import Classifier
    from konstrukt.models.heads import build_head, head_blocks
    from konstrukt.modalities.signal.preprocess import Recording, SignalPreprocessor
    from konstrukt.modalities import register_all
    from konstrukt.runtime import use_all_cores

    register_all()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=None, help="override the pipeline's epochs for the CV run")
    ap.add_argument("--set", default=None, metavar="JSON",
                    help='config overrides for the CV run, e.g. \'{"batch_size": 32}\'')
    args = ap.parse_args()
    use_all_cores()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, input {CHANNELS} ch × "
          f"{SECONDS:g} s × {RATE:g} Hz")

    config, _ = resolve_config("signal", "auto", overrides={"signal": {"sample_rate": RATE}})
    pre = SignalPreprocessor(None, config)
    rng = np.random.default_rng(0)
    recs = [Recording(rng.normal(size=(CHANNELS, int(RATE * SECONDS))).astype(np.float32), RATE, Path(f"{i}"))
            for i in range(32)]
    pre.fit(recs, None, list(range(32)))
    backbone = build_backbone("rescnn_bilstm_se", "none", **pre.backbone_options())
    head = build_head(head_blocks(config.head), backbone.num_features, 4)  # the pipeline's MLP 480
    model = Classifier(backbone, head)
    total = sum(p.numel() for p in model.parameters())
    print(f"rescnn_bilstm_se + MLP 480: {total:,} parameters")

    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    batch = config.batch_size  # the pipeline's own
    model.train()
    for step in range(6):  # 1 warm-up + 5 timed steps
        if step == 1:
            t0 = time.perf_counter()
        x = torch.stack([pre.tensor(recs[(step * batch + k) % 32], augment=True) for k in range(batch)])
        y = torch.randint(0, 4, (batch,))
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    train_rate = 5 * batch / (time.perf_counter() - t0)
    print(f"training: {train_rate:.0f} windows/s (batch {batch}, augmentation + forward + backward + step)")

    model.eval()
    times = []
    with torch.inference_mode():
        for i in range(30):
            t0 = time.perf_counter()
            model(pre.tensor(recs[i % 32]).unsqueeze(0))
            times.append(time.perf_counter() - t0)
    print(f"single-window latency: {1000 * statistics.median(times[5:]):.1f} ms median "
          f"(min {1000 * min(times):.1f} ms)")

    with tempfile.TemporaryDirectory() as tmp:
        data = write_data(Path(tmp) / "data")
        import json

        overrides = {"cv": 5, **(json.loads(args.set) if args.set else {})}
        if args.epochs:
            overrides["num_epochs"] = args.epochs
        t0 = time.perf_counter()
        run = train(data, task="signal", out=Path(tmp) / "run", overrides=overrides, verbose=False)
        wall = time.perf_counter() - t0
    r = run.report
    print(f"konstrukt.train, 4 classes × 20 windows, 5-fold CV: {wall:.1f} s total "
          f"(fit {r['train_seconds']:.1f} s over {len(r['history'])} epochs, CV {r['cv']['seconds']:.1f} s "
          f"with {r['cv']['epochs_per_fold']} epochs per fold); test acc {r['test']['accuracy']:.3f}, "
          f"CV {r['cv']['accuracy_mean']:.3f} ± {r['cv']['accuracy_std']:.3f}")


if __name__ == "__main__":
    main()
