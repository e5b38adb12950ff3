"""Signal quality on real recorded sensor data: konstrukt's default pipeline vs simple references.

Data: small multivariate sets that ship inside the ``aeon`` wheel (no network):

* BasicMotions — wrist IMU (3-axis accelerometer + gyroscope, 6 channels, 10 s at 10 Hz), 4
  activities, 40 train / 40 test;
* PickupGestureWiimoteZ — Wii remote accelerometer (1 channel), 10 gestures, variable lengths
  (29–361 samples), 50 train / 50 test;
* JapaneseVowels — 12 LPC channels of 9 speakers' /ae/, variable lengths (7–29), 30 per class
  taken from the 270 training examples, all 370 test examples.

Each set is written as NPY files in ``train/<class>`` and ``test/<class>`` folders and trained with
``konstrukt.train`` (default pipeline ``auto`` = rescnn_bilstm_se, default config, 5-fold CV on the
training pool grouped as usual). On the same split: per-channel summary statistics (mean, std, min,
max, quartiles, mean absolute difference, slope) + LogisticRegression, and MiniRocket (aeon) +
RidgeClassifierCV, each with its test accuracy and 5-fold CV on the training split; and konstrukt's
torch MiniRocket transform in aeon's place in that same ridge pipeline (the transforms compared on
equal terms). ``--pipelines`` names the konstrukt pipelines to train (default ``auto,minirocket``:
``minirocket`` is the probe on the torch transform with konstrukt's own preprocessing and head).

Run: ``pip install -e .[bench]`` then ``OMP_WAIT_POLICY=PASSIVE python bench/signal_quality.py``
(``--only NAME`` for one set; ``--epochs N`` to shorten).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def load(name: str, per_class: int | None = None):
    """(train list of (C, T), y_train, test list, y_test) from aeon's bundled copy."""
    from aeon.datasets import load_classification

    def as_list(X):
        return [np.asarray(x, np.float32) for x in X]

    Xtr, ytr = load_classification(name, split="train")
    Xte, yte = load_classification(name, split="test")
    Xtr, Xte = as_list(Xtr), as_list(Xte)
    if per_class:
        keep = np.concatenate([np.flatnonzero(ytr == c)[:per_class] for c in np.unique(ytr)])
        Xtr, ytr = [Xtr[i] for i in keep], ytr[keep]
    return Xtr, np.asarray(ytr), Xte, np.asarray(yte)


def write(root: Path, X, y, split: str) -> None:
    for i, (x, label) in enumerate(zip(X, y)):
        folder = root / split / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"{i:04d}.npy", x)  # channels × time


def features(X) -> np.ndarray:
    """Per-channel summary statistics of each (C, T) recording (konstrukt's signal reference)."""
    from konstrukt.modalities.signal.reference import signal_stats

    return np.stack([signal_stats(x) for x in X])


def pad(X, length: int) -> np.ndarray:
    return np.stack([np.pad(x, ((0, 0), (0, length - x.shape[1])))[:, :length] for x in X])


def cv_scores(make, Xtr, ytr, seed: int = 0) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold

    scores = []
    for fit, held in StratifiedKFold(5, shuffle=True, random_state=seed).split(np.zeros(len(ytr)), ytr):
        model = make()
        model.fit(Xtr[fit], ytr[fit])
        scores.append((model.predict(Xtr[held]) == ytr[held]).mean())
    return np.asarray(scores)


def reference(kind: str, Xtr, ytr, Xte, yte) -> tuple[float, np.ndarray, float]:
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    t0 = time.perf_counter()
    if kind == "stats + logistic regression":
        A, B = features(Xtr), features(Xte)

        from konstrukt.reference import make_model as make  # the same model every signal run fits
    else:
        length = max(x.shape[1] for x in [*Xtr, *Xte])
        length = max(length, 9)  # MiniRocket needs at least its kernel length
        A, B = pad(Xtr, length), pad(Xte, length)
        rocket = TorchMiniRocket if kind.startswith("torch") else aeon_minirocket

        class Make:
            def __init__(self):
                self.rocket = rocket()
                self.clf = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)))

            def fit(self, X, y):
                self.clf.fit(self.rocket.fit_transform(X), y)
                return self

            def predict(self, X):
                return self.clf.predict(self.rocket.transform(X))

        make = Make
    model = make().fit(A, ytr)
    acc = float((model.predict(B) == yte).mean())
    return acc, cv_scores(make, A, ytr), time.perf_counter() - t0


def aeon_minirocket():
    from aeon.transformations.collection.convolution_based import MiniRocket

    return MiniRocket(random_state=0)


class TorchMiniRocket:
    """konstrukt's torch MiniRocket behind aeon's fit_transform/transform (raw features, no
    standardisation: the ridge pipeline scales them), for the same-split comparison."""

    def fit_transform(self, X):
        import torch

        from konstrukt.models.portable.minirocket import MiniRocket

        self.rocket = MiniRocket(X.shape[1], X.shape[2])
        self.rocket.fit(torch.from_numpy(np.ascontiguousarray(X, np.float32)), seed=0)
        return self.transform(X)

    def transform(self, X):
        import torch

        with torch.inference_mode():
            return self.rocket.transform(torch.from_numpy(np.ascontiguousarray(X, np.float32))).numpy()


def konstrukt_run(Xtr, ytr, Xte, yte, epochs: int | None, extra: dict | None = None, pipeline: str = "auto"
                  ) -> tuple[float, float, float, float, dict, str]:
    import konstrukt

    length = max(x.shape[1] for x in [*Xtr, *Xte])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        write(root, Xtr, ytr, "train")
        write(root, Xte, yte, "test")
        # Rate unknown (1 sample per "second"); the window holds the longest recording (pad the rest).
        overrides = {"cv": 5, "signal": {"sample_rate": 1.0, "window": float(length),
                                         "layout": "channels_first"}}
        if epochs:
            overrides["num_epochs"] = epochs
        for key, value in (extra or {}).items():  # --set: a recipe variant to compare
            overrides[key] = {**overrides.get(key, {}), **value} if isinstance(value, dict) else value
        t0 = time.perf_counter()
        run = konstrukt.train(root, task="signal", pipeline=pipeline, out=Path(tmp) / "run",
                              overrides=overrides, verbose=False)
        seconds = time.perf_counter() - t0
    r = run.report
    return (r["test"]["accuracy"], r["cv"]["accuracy_mean"], r["cv"]["accuracy_std"], seconds, r["reference"],
            r["pipeline"])


SETS = {
    "BasicMotions": {},
    "PickupGestureWiimoteZ": {},
    "JapaneseVowels": {"per_class": 30},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=list(SETS), default=None)
    ap.add_argument("--epochs", type=int, default=None, help="konstrukt epochs (default: the pipeline's)")
    ap.add_argument("--pipelines", default="auto,minirocket",
                    help="konstrukt pipelines to run, comma-separated (default: %(default)s)")
    ap.add_argument("--set", default=None, metavar="JSON",
                    help='config overrides for the konstrukt run, e.g. \'{"batch_size": 32}\'')
    args = ap.parse_args()
    import json

    extra = json.loads(args.set) if args.set else None
    print(f"{'dataset':24}{'method':34}{'test acc':>9}{'CV mean ± std':>18}{'seconds':>9}")
    for name, opts in SETS.items():
        if args.only and name != args.only:
            continue
        Xtr, ytr, Xte, yte = load(name, **opts)
        shape = f"{len(Xtr)}+{len(Xte)}, {Xtr[0].shape[0]} ch, {len(set(ytr))} classes"
        print(f"{name:24}({shape})")
        ref = None
        for pipeline in args.pipelines.split(","):
            acc, m, s, sec, ref, kept = konstrukt_run(Xtr, ytr, Xte, yte, args.epochs, extra, pipeline)
            label = f"konstrukt {pipeline}" + (f" ({kept})" if kept != pipeline else "")
            print(f"{'':24}{label:34}{acc:9.3f}{m:11.3f} ± {s:.3f}{sec:9.1f}")
        if ref and ref.get("cv"):  # the reference every run fits, on the run's own split and folds
            print(f"{'':24}{'  its report: stats + LR, same folds':34}{ref['test']['accuracy']:9.3f}"
                  f"{ref['cv']['accuracy_mean']:11.3f} ± {ref['cv']['accuracy_std']:.3f}")
        for kind in ("stats + logistic regression", "MiniRocket + ridge", "torch MiniRocket (ours) + ridge"):
            try:
                acc, cv, sec = reference(kind, Xtr, ytr, Xte, yte)
            except ImportError as exc:
                print(f"{'':24}{kind:34}  unavailable ({exc})")
                continue
            print(f"{'':24}{kind:34}{acc:9.3f}{cv.mean():11.3f} ± {cv.std():.3f}{sec:9.1f}")


if __name__ == "__main__":
    main()
