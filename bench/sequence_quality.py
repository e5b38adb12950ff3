"""Sequence quality on real recordings: CER of konstrukt's CTC variants and a non-neural peer.

No real spoken-digit recordings can be had offline here (and espeak-ng is not installed), so the
sequences are built from **real sensor recordings bundled in the aeon wheel**, concatenated:

* ``gestures`` — PickupGestureWiimoteZ: a Wii remote's accelerometer (1 channel, 29–361 samples)
  for 10 gestures, named ``0``–``9`` here: a string of gestures is a "digit string". aeon's own
  split: 50 training recordings (5 per gesture), 50 test recordings — the test strings are built
  only from recordings never seen in training (recording-independent, as a speaker-independent
  split keeps voices apart). Rate unknown; written as 100 Hz.
* ``motions`` — BasicMotions: a wrist IMU (6 channels, 10 s at 10 Hz) for 4 activities
  (``b``adminton, ``r``unning, ``s``tanding, ``w``alking); 40 training / 40 test recordings.

Each string is 3–5 recordings drawn at random (repeats allowed) and joined end to end with no gap,
its text the class characters in order: no per-character alignment is given to any model.
``--train`` strings (200) from the training recordings, ``--test`` strings (100) from the test
recordings. konstrukt trains on the training strings (its own validation split for early
stopping, no CV) and is scored on the test strings with greedy and beam (8) decoding.

The peer (no neural network): MiniRocket features (aeon) + RidgeClassifierCV fitted on sliding
windows of the single training recordings (label: the recording's class), run over each test
string with the same sliding window; runs of the same class shorter than 3 windows are dropped
as flicker, the rest collapsed to one character each.

Front ends (``--frontends``, each run with every variant): ``auto`` (the signal wing's pick:
``minirocket``), ``default`` (standardisation + stem), ``minirocket`` (frozen per-frame MiniRocket
features), ``emg_spectrogram``; ``--extra '{"widths": [64]}'`` adds settings to every run.

Run: ``pip install -e .[bench]`` then ``OMP_WAIT_POLICY=PASSIVE python bench/sequence_quality.py``
(``--sets gestures``; ``--variants rescnn,cnn_transformer``; ``--frontends default,minirocket``;
``--epochs N``).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SETS = {  # aeon name, rate written into the files, class → character, peer window / hop (samples)
    "gestures": ("PickupGestureWiimoteZ", 100.0, lambda c: str(int(c) % 10), 48, 12),
    "motions": ("BasicMotions", 10.0, lambda c: c[0], 40, 10),
}


def load(name: str):
    from aeon.datasets import load_classification

    out = []
    for split in ("train", "test"):
        X, y = load_classification(name, split=split)
        out.append(([np.asarray(x, np.float32) for x in X], np.asarray(y)))
    return out


def strings(X, chars, n: int, rng) -> list[tuple[np.ndarray, str, list[int]]]:
    """``n`` (recording, text, recording indices) made by joining 3–5 random recordings."""
    out = []
    for _ in range(n):
        picks = [int(i) for i in rng.integers(0, len(X), int(rng.integers(3, 6)))]
        out.append((np.concatenate([X[i] for i in picks], axis=1), "".join(chars[i] for i in picks), picks))
    return out


def write(folder: Path, items, rate: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "labels.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "text"])
        for k, (x, text, _) in enumerate(items):
            np.savez(folder / f"s{k:04d}.npz", data=x, fs=rate)
            w.writerow([f"s{k:04d}.npz", text])
    return folder / "labels.csv"


def peer(Xtr, chars_tr, test_items, window: int, hop: int, min_run: int = 3) -> tuple[float, float]:
    """(CER, seconds) of sliding-window MiniRocket + ridge, collapsed (see the module docstring)."""
    from aeon.transformations.collection.convolution_based import MiniRocket
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from konstrukt.sequences.metrics import error_rate

    def cut(x):
        x = x if x.shape[1] >= window else np.pad(x, ((0, 0), (0, window - x.shape[1])), mode="edge")
        return [x[:, s:s + window] for s in range(0, x.shape[1] - window + 1, hop)]

    t0 = time.perf_counter()
    wins, labels = [], []
    for x, c in zip(Xtr, chars_tr):
        for w in cut(x):
            wins.append(w)
            labels.append(c)
    rocket = MiniRocket(random_state=0)
    clf = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)))
    clf.fit(rocket.fit_transform(np.stack(wins)), labels)
    hyps = []
    for x, _, _ in test_items:
        pred = list(clf.predict(rocket.transform(np.stack(cut(x)))))
        runs: list[list] = []  # [character, windows in a row]
        for c in pred:
            if runs and runs[-1][0] == c:
                runs[-1][1] += 1
            else:
                runs.append([c, 1])
        kept = [c for c, n in runs if n >= min_run]  # a flicker of one or two windows is noise
        hyps.append("".join(c for i, c in enumerate(kept) if i == 0 or c != kept[i - 1]))
    return error_rate([t for _, t, _ in test_items], hyps), time.perf_counter() - t0


def konstrukt_run(train_csv: Path, test_csv: Path, out: Path, variant: str, epochs: int, seed: int,
                  verbose: bool = False, frontend: str = "auto", extra: dict | None = None) -> dict:
    from konstrukt.sequences.run import train_sequences

    config = {"pipeline": variant, "num_epochs": epochs, "cv": 0, "test": 0.0, "val": 0.15, "beam": 8,
              "seed": seed, "frontend": frontend, **(extra or {})}
    run = train_sequences(train_csv, out=out, config=config, overwrite=True, verbose=verbose)
    t0 = time.perf_counter()
    m = run.evaluate(test_csv)
    r = run.report
    return {"variant": f"{variant} · {run.settings.frontend}" + (f" {json.dumps(extra)}" if extra else ""),
            "cer_beam8": m["cer"], "cer_greedy": m["greedy_cer"], "exact": m["exact_match"],
            "best_epoch": r["best_epoch"], "train_s": r["train_seconds"],
            "train_examples_per_s": r["train_examples_per_second"], "latency_ms_batch1": r["latency_ms_batch1"],
            "decode_ms_greedy": m["greedy_decode_ms_per_example"], "decode_ms_beam8": m["decode_ms_per_example"],
            "params": r["params"], "evaluate_s": round(time.perf_counter() - t0, 2), "worst": m["worst"][:3]}


def main() -> None:
    from konstrukt.modalities import register_all
    from konstrukt.sequences.models import DEFAULT_VARIANT

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default="gestures,motions")
    ap.add_argument("--variants", default=f"{DEFAULT_VARIANT},rescnn,cnn_transformer")
    ap.add_argument("--frontends", default="auto",
                    help="signal front ends, each run with every variant (auto, default, minirocket, emg_spectrogram)")
    ap.add_argument("--extra", default="{}", help="more SequenceConfig settings, JSON (e.g. '{\"widths\": [128]}')")
    ap.add_argument("--epochs", type=int, default=80)
    ap.add_argument("--train", type=int, default=200)
    ap.add_argument("--test", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--no-peer", dest="peer", action="store_false", help="skip the non-neural peer")
    ap.add_argument("--verbose", action="store_true", help="print every epoch")
    args = ap.parse_args()
    register_all()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    results = {}
    root = Path(tempfile.mkdtemp(prefix="konstrukt-seq-"))
    for name in args.sets.split(","):
        aeon_name, rate, char, window, hop = SETS[name]
        (Xtr, ytr), (Xte, yte) = load(aeon_name)
        rng = np.random.default_rng(args.seed)
        chars_tr, chars_te = [char(c) for c in ytr], [char(c) for c in yte]
        train_items, test_items = strings(Xtr, chars_tr, args.train, rng), strings(Xte, chars_te, args.test, rng)
        train_csv = write(root / name / "train", train_items, rate)
        test_csv = write(root / name / "test", test_items, rate)
        rows = []
        if args.peer:
            cer, secs = peer(Xtr, chars_tr, test_items, window, hop)
            rows.append({"variant": "peer: sliding MiniRocket + ridge, collapsed", "cer_greedy": round(cer, 4),
                         "train_s": round(secs, 1)})
            print(f"{name}: {rows[-1]}", flush=True)
        for variant, frontend in [(v, f) for f in args.frontends.split(",") for v in args.variants.split(",") if v]:
            rows.append(konstrukt_run(train_csv, test_csv, root / name / "runs" / f"{variant.replace('+', '_')}-{frontend}",
                                      variant, args.epochs, args.seed, args.verbose, frontend, json.loads(args.extra)))
            print(f"{name}: {json.dumps({k: v for k, v in rows[-1].items() if k != 'worst'})}", flush=True)
        results[name] = rows
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")


def print_table(results: dict) -> None:
    print("\n| set | model | test CER (greedy) | test CER (beam 8) | exact | train s | train ex/s | "
          "batch-1 ms | decode ms greedy / beam |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        for r in rows:
            def g(k, fmt="{}"):
                return fmt.format(r[k]) if k in r else "–"
            print(f"| {name} | {r['variant']} | {g('cer_greedy', '{:.3f}')} | {g('cer_beam8', '{:.3f}')} | "
                  f"{g('exact', '{:.2f}')} | {g('train_s', '{:.0f}')} | {g('train_examples_per_s', '{:.0f}')} | "
                  f"{g('latency_ms_batch1', '{:.1f}')} | {g('decode_ms_greedy', '{:.2f}')} / {g('decode_ms_beam8', '{:.1f}')} |")


if __name__ == "__main__":
    main()
