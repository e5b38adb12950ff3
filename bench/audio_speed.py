"""Audio speed: CNN14 and wav2vec2-base embedding throughput, and what the embedding cache saves.

    python bench/audio_speed.py            # full sizes (several minutes on 2 CPU cores)
    python bench/audio_speed.py --quick    # 2-s clips, fewer batches, a smoke run

1. Throughput of the frozen backbones on 5-s clips (batched, ``inference_mode``, random weights —
   the compute is the same as with the pretrained ones): PANNs CNN14 at 32 kHz and wav2vec2-base
   (the real base configuration) mean-pooled at 16 kHz.
2. 5-fold CV of a probe head on 2 classes × 15 synthetic clips with CNN14 embeddings, three ways:
   recomputing the embeddings of every fold's examples in every fold; with the embedding cache
   (each (clip, view) embedded once, on a cold cache); and again on the warm on-disk cache (what
   comparing heads or re-running after adding a few clips costs). Training includes the usual
   ``target_size`` top-up with augmented views. Figures come from one run, side by side, because
   these machines are noisy.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from konstrukt.config import TrainConfig  # noqa: E402
from konstrukt.data import stratified_folds  # noqa: E402
from konstrukt.demo_sound import synth_clip  # noqa: E402
from konstrukt.embeddings import EmbeddingCache, embed_views  # noqa: E402
from konstrukt.recipe import topup_items  # noqa: E402
from konstrukt.modalities import register_all  # noqa: E402
from konstrukt.models.backbones import BACKBONES, build_backbone  # noqa: E402
from konstrukt.preprocess import build_preprocessor  # noqa: E402

register_all()  # what konstrukt's entry points do first

CPU = torch.device("cpu")


@torch.inference_mode()
def throughput(name: str, seconds: float, batch: int, batches: int) -> float:
    """Clips per second of backbone ``name`` (random weights) on ``seconds``-long clips."""
    model = build_backbone(name, "none").eval()
    rate = BACKBONES.get(name).input.sample_rate
    x = torch.randn(batch, int(rate * seconds)) * 0.1  # (B, T)
    model(x)  # warm-up: allocations, kernel selection
    t0 = time.perf_counter()
    for _ in range(batches):
        model(x)
    return batch * batches / (time.perf_counter() - t0)


def fit_head(x: torch.Tensor, y: torch.Tensor, classes: int, epochs: int = 10) -> nn.Module:
    """A linear head on embeddings (N, D), Adam, batch 8 — the probe recipe's training step."""
    torch.manual_seed(0)
    head = nn.Linear(x.shape[1], classes)
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(8):
            opt.zero_grad()
            nn.functional.cross_entropy(head(x[idx]), y[idx]).backward()
            opt.step()
    return head


def cv_seconds(raws, digests, y, pre, backbone, cache_root: Path | None, target_size: int,
               folds: int) -> float:
    """Wall time of ``folds``-fold CV; ``cache_root`` None recomputes every fold's embeddings."""
    t0 = time.perf_counter()
    cache = EmbeddingCache(cache_root, "bench|cnn14|random") if cache_root else None
    for train, test in stratified_folds([str(c) for c in y], folds, seed=0):
        items = topup_items(train, y, target_size)
        emb = embed_views(backbone, pre, [(raws[i], digests[i], v) for i, v in items], cache, CPU, 16)
        head = fit_head(emb.clone(), torch.as_tensor(y[[i for i, _ in items]]), 2)
        test_emb = embed_views(backbone, pre, [(raws[i], digests[i], 0) for i in test], cache, CPU, 16)
        with torch.no_grad():
            head(test_emb).argmax(1)
    return time.perf_counter() - t0


def cache_benchmark(seconds: float, per_class: int, target_size: int, folds: int) -> None:
    rng = np.random.default_rng(0)
    spec = BACKBONES.get("cnn14")
    pre = build_preprocessor(spec, TrainConfig(task="sound", audio={"duration": seconds},
                                               target_size=target_size))
    kinds = ("rising_chirp", "falling_chirp")
    raws = [synth_clip(k, rng, seconds, spec.input.sample_rate) for k in kinds for _ in range(per_class)]
    y = np.repeat(np.arange(2), per_class)
    digests = [f"{i:040x}" for i in range(len(raws))]  # stand-ins for content hashes
    backbone = build_backbone("cnn14", "none")
    recompute = cv_seconds(raws, digests, y, pre, backbone, None, target_size, folds)
    with tempfile.TemporaryDirectory() as tmp:
        cold = cv_seconds(raws, digests, y, pre, backbone, Path(tmp), target_size, folds)
        warm = cv_seconds(raws, digests, y, pre, backbone, Path(tmp), target_size, folds)
    print(f"{folds}-fold CV, 2 classes x {per_class} clips of {seconds:g} s, CNN14, "
          f"target_size {target_size}:")
    print(f"  recomputing embeddings every fold: {recompute:7.1f} s")
    print(f"  embedding cache, cold:             {cold:7.1f} s   ({recompute / cold:.1f}x faster)")
    print(f"  embedding cache, warm:             {warm:7.1f} s   ({recompute / warm:.1f}x faster)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2-s clips and fewer batches")
    args = parser.parse_args()
    seconds, batches = (2.0, 2) if args.quick else (5.0, 4)
    torch.manual_seed(0)
    print(f"torch threads: {torch.get_num_threads()}")
    cnn14 = throughput("cnn14", seconds, batch=8, batches=batches)
    print(f"CNN14 embeddings:          {cnn14:6.2f} clips/s ({seconds:g}-s clips, batch 8)")
    w2v = throughput("wav2vec2_base", seconds, batch=4, batches=batches)
    print(f"wav2vec2-base mean-pooled: {w2v:6.2f} clips/s ({seconds:g}-s clips, batch 4)")
    cache_benchmark(seconds, per_class=15, target_size=20 if args.quick else 50, folds=5)


if __name__ == "__main__":
    main()
