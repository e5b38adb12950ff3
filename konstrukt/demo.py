"""``konstrukt demo``: a real small dataset, trained and checked offline in well under a minute.

The images are scikit-learn's bundled handwritten digits (real scans, 8×8 grey levels), written
as PNG files in one folder per class — exactly the layout a user would give.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_digits(dest: str | Path, per_class: int = 15, classes: tuple[int, ...] = tuple(range(10)),
                 size: int = 32, seed: int = 0, extra_per_class: int = 0) -> Path:
    """Write ``per_class`` digit images per class into ``dest/<digit name>/``; return ``dest``.

    With ``extra_per_class`` > 0, that many *other* images per class go into ``dest_new/``
    (files the model never saw, for trying predictions).
    """
    from sklearn.datasets import load_digits

    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    digits = load_digits()
    rng = np.random.default_rng(seed)
    dest = Path(dest)
    for c in classes:
        idx = rng.permutation(np.flatnonzero(digits.target == c))
        for split_dest, chosen in ((dest, idx[:per_class]),
                                   (dest.with_name(dest.name + "_new"), idx[per_class:per_class + extra_per_class])):
            if len(chosen) == 0:
                continue
            folder = split_dest / names[c]
            folder.mkdir(parents=True, exist_ok=True)
            for i in chosen:
                img = (digits.images[i] / 16.0 * 255).astype(np.uint8)  # (8, 8) grey levels
                Image.fromarray(255 - img, mode="L").resize((size, size), Image.BICUBIC).save(
                    folder / f"{names[c]}_{i:04d}.png")
    return dest


def train_and_try(data: Path, *, task: str, pipeline: str, out: Path, every: int,
                  overrides: dict, verbose: bool, overwrite: bool) -> dict:
    """Train on ``data``, then predict every ``every``-th file of its ``<data>_new`` twin."""
    from .experiment import train

    run = train(data, task=task, pipeline=pipeline, out=out, overwrite=overwrite, verbose=verbose,
                overrides=overrides)
    new_dir = data.with_name(data.name + "_new")
    new_files = sorted(p for p in new_dir.rglob("*") if p.is_file())
    return {"data": str(data), "new_files": str(new_dir), "run": str(run.path),
            "report": run.report, "predictions": run.predict(new_files[::every], top_k=3)}


def run_demo(out: str | Path = "konstrukt-demo", verbose: bool = True, overwrite: bool = True) -> dict:
    """Write the digits, train with ``auto`` (the contest of the pretrained EfficientNet-Lite0
    features, the simple model and the scratch CNN, by CV), evaluate and predict."""
    out = Path(out)
    data = write_digits(out / "data" / "digits", per_class=15, extra_per_class=2)
    # The digits are 32 px scans: every contestant sees them at 32 px, for 15 epochs of the fixed
    # schedule (the 2-per-class validation split cannot choose them; 15 epochs score the same 3-fold
    # CV as 30 did, 92.5 %, in half the time). On these scans ImageNet features lose to the scratch
    # CNN (issue 19), so the contest trains both; what keeps it to seconds: 3 folds instead of 5 (the
    # kept model is trained on all the training data either way), no augmented top-up copies (each
    # epoch sees the 150 scans, freshly augmented), and no augmenting worker process (a second copy
    # of the interpreter's pages in the peak memory).
    overrides = {"image_size": 32, "num_epochs": 15, "cv": 3, "target_size": 0, "num_workers": 0}
    return train_and_try(data, task="image", pipeline="auto", out=out / "image_run", every=4,
                         overrides=overrides, verbose=verbose, overwrite=overwrite)
