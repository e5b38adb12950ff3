"""Quick A/B of the speech embedding's pooling layouts: a linear probe on each, seconds per layout.

For each layout of ``SpeechEmbedding`` (``phases`` 1 or 4, ``mid_stats`` off or on; (1, off) is the
original 288-d layout, (4, on) the "phased" one new runs get), embeds bench/quality_data.py's
``spoken_digits`` and ``speech_intents`` once (no augmentation), then fits scikit-learn's
``StandardScaler`` + ``LogisticRegression`` (the features standardised with the training split's own
statistics, so every layout is compared on equal terms, constants or not) and prints 5-fold CV on the
training split for three fold seeds — what a layout is chosen by — and the test accuracy, printed
for the record only. The real pipeline (augmented views, the AdamW head, ``auto``) is
``bench/quality.py --only spoken_digits speech_intents``.

    KONSTRUKT_OFFLINE=1 nice python bench/speech_pooling_ab.py --data /tmp/konstrukt-quality
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_data import build  # noqa: E402

LAYOUTS = {"original (1 pass)": {}, "4 phases": {"phases": 4}, "1 pass + mid": {"mid_stats": True},
           "phased (4 phases + mid)": {"phases": 4, "mid_stats": True}}
SETS = ("spoken_digits", "speech_intents")


def embed(model, folder: Path) -> tuple[np.ndarray, list[str]]:
    """One pooled vector per clip of ``folder/<class>/*.wav`` (16 kHz mono, as quality_data writes)."""
    import soundfile as sf
    import torch

    x, y = [], []
    with torch.inference_mode():
        for f in sorted(folder.rglob("*.wav")):
            wave, rate = sf.read(f, dtype="float32")
            if rate != 16000:
                raise SystemExit(f"{f}: {rate} Hz; this bench reads bench/quality_data.py's 16 kHz sets")
            x.append(model(torch.from_numpy(wave.reshape(len(wave), -1).mean(1))[None])[0].numpy())
            y.append(f.parent.name)
    return np.stack(x), y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/tmp/konstrukt-quality", help="where the sets are (built if missing)")
    args = ap.parse_args()
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import konstrukt.modalities
    from konstrukt.modalities.audio.speech_embedding import load_onnx_weights, weights_path
    from konstrukt.models.portable.speech_embedding import SpeechEmbedding

    warnings.filterwarnings("ignore", category=UserWarning)
    torch.set_num_threads(1)
    konstrukt.modalities.register_all()
    sets = build(args.data, list(SETS))
    print("| set | layout | dims | 5-fold CV (fold seeds 0 / 1 / 2) | test (not used to choose) | embed s |")
    print("|---|---|---|---|---|---|")
    for name in SETS:
        root = Path(sets[name][1])
        for label, layout in LAYOUTS.items():
            model = SpeechEmbedding(**layout)
            load_onnx_weights(model, weights_path())
            model.eval()
            t = time.perf_counter()
            a, ya = embed(model, root / "train")
            b, yb = embed(model, root / "test")
            seconds = time.perf_counter() - t
            probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000))
            cv = [cross_val_score(probe, a, ya, cv=StratifiedKFold(5, shuffle=True, random_state=s)) for s in range(3)]
            test = probe.fit(a, ya).score(b, yb)
            folds = " / ".join(f"{c.mean():.3f} ± {c.std():.3f}" for c in cv)
            print(f"| {name} | {label} | {a.shape[1]} | {folds} | {test:.3f} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
