"""Channels-last vs the standard memory layout for image models, side by side in one run.

    python bench/layout_speed.py          # B0 embedding pass, B0 and scratch-CNN training steps
    python bench/layout_speed.py --quick  # fewer repeats

konstrukt feeds image batches to convolutional models in channels-last memory
(``runtime.ChannelsLast``: the embedding pass of a frozen backbone, training, scoring). This times
the same work both ways, alternating, with random weights (the compute is the same as pretrained)
and prints the medians and their ratio, plus the largest difference between the two outputs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from konstrukt.models.backbones import build_backbone  # noqa: E402
from konstrukt.runtime import ChannelsLast, use_all_cores  # noqa: E402
from konstrukt.modalities import register_all  # noqa: E402

register_all()  # what konstrukt's entry points do first


def embed_pass(backbone, x, channels_last: bool):
    with torch.inference_mode():
        if not channels_last:
            return backbone(x)
        with ChannelsLast(backbone) as layout:
            return backbone(layout(x))


def train_step(model, opt, x, y, channels_last: bool):
    def step(inputs):
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(inputs), y)
        loss.backward()
        opt.step()
        return loss.detach()

    if not channels_last:
        return step(x)
    with ChannelsLast(model) as layout:
        return step(layout(x))


def side_by_side(name: str, work, repeats: int) -> None:
    work(False), work(True)  # warm-up: allocations, oneDNN kernel choice
    times = {False: [], True: []}
    for _ in range(repeats):
        for layout in (False, True):
            start = time.perf_counter()
            work(layout)
            times[layout].append(time.perf_counter() - start)
    std, cl = (1000 * statistics.median(times[k]) for k in (False, True))
    print(f"{name:44}{std:>10.1f} ms{cl:>12.1f} ms{std / cl:>9.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    use_all_cores()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU\n")
    print(f"{'':44}{'standard':>13}{'channels-last':>15}{'ratio':>9}")

    b0 = build_backbone("efficientnet_b0", "none").eval()
    x = torch.rand(32, 3, 224, 224)
    side_by_side("EfficientNet-B0 embedding pass, 32 × 224 px", lambda cl: embed_pass(b0, x, cl), repeats)
    diff = (embed_pass(b0, x, False) - embed_pass(b0, x, True)).abs().max().item()
    scale = embed_pass(b0, x, False).abs().max().item()

    for name, size, batch in (("efficientnet_b0", 224, 8), ("scratch_cnn", 64, 16), ("scratch_cnn", 96, 16)):
        backbone = build_backbone(name, "none")
        model = torch.nn.Sequential(backbone, torch.nn.Linear(backbone.num_features, 3)).train()
        opt = torch.optim.AdamW(model.parameters(), 1e-4, fused=True)
        xb, yb = torch.rand(batch, 3, size, size), torch.randint(0, 3, (batch,))
        side_by_side(f"{name} training step, {batch} × {size} px",
                     lambda cl, m=model, o=opt, xb=xb, yb=yb: train_step(m, o, xb, yb, cl), repeats)
    print(f"\nB0 embeddings, largest |difference| between the layouts: {diff / scale:.1e} of the largest "
          "|value|\n(batch-1 prediction keeps the standard layout: moving the weights per call costs more)")


if __name__ == "__main__":
    main()
