"""Synthetic sequence data for the sequence tests: each character is a distinct burst shape on a
2-channel signal (a: 6 Hz sine on channel 0, b: 6 Hz sine on channel 1, c: a positive step on both,
d: a negative step on both), separated by quiet gaps of random length; the text is the characters
in order. No per-character alignment is written: the model must find it (CTC). :func:`train_toy`
trains the tests' toy runs on it."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

RATE = 50.0
ALPHABET = "abcd"
# a toy run's settings, small and quick: one CNN block (frame rate ÷ 2), a small BiLSTM
TOY = {"num_epochs": 25, "batch_size": 4, "cv": 0, "widths": [32], "hidden_size": 32,
       "pipeline": "rescnn+bilstm", "learning_rate": 3e-3, "patience": 30}


def burst(ch: str, n: int, rng) -> np.ndarray:
    t = np.arange(n) / RATE
    x = np.zeros((2, n), dtype=np.float32)
    if ch == "a":
        x[0] = np.sin(2 * np.pi * 6 * t)
    elif ch == "b":
        x[1] = np.sin(2 * np.pi * 6 * t)
    elif ch == "c":
        x[:] = 1.0
    else:
        x[:] = -1.0
    return x * rng.uniform(0.8, 1.2)


def recording(text: str, rng) -> np.ndarray:
    parts = [np.zeros((2, int(rng.integers(3, 8))), dtype=np.float32)]
    for ch in text:
        parts += [burst(ch, int(rng.integers(10, 14)), rng), np.zeros((2, int(rng.integers(4, 9))), dtype=np.float32)]
    x = np.concatenate(parts, axis=1)
    return x + rng.normal(0, 0.05, x.shape).astype(np.float32)


def write_sequences(root: Path, n: int = 48, seed: int = 0, alphabet: str = ALPHABET, lengths=(2, 5),
                    subjects: int = 0, name: str = "labels.csv") -> Path:
    """``n`` NPZ recordings (with their rate) and ``labels.csv`` (path,text[,subject])."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        text = "".join(rng.choice(list(alphabet), int(rng.integers(lengths[0], lengths[1] + 1))))
        np.savez(root / f"rec{seed}_{i:03d}.npz", data=recording(text, rng), fs=RATE)
        rows.append([f"rec{seed}_{i:03d}.npz", text] + ([f"s{i % subjects}"] if subjects else []))
    with open(root / name, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "text"] + (["subject"] if subjects else []))
        w.writerows(rows)
    return root / name


def train_toy(root: Path, config: dict, n: int = 48, seed: int = 0):
    """A toy sequence run trained on one thread (quick, reproducible): ``n`` recordings of
    :func:`write_sequences` under ``root/data``, the run in ``root/run``."""
    from konstrukt.runtime import torch_threads
    from konstrukt.sequences.run import train_sequences

    labels = write_sequences(root / "data", n=n, seed=seed)
    with torch_threads(1):
        return train_sequences(labels, out=root / "run", config=config, verbose=False)


def write_tone_clips(root: Path, n: int = 9, rate: int = 16000) -> Path:
    """``n`` WAV clips of three tones each (a: 440 Hz, b: 1200 Hz, 0.15 s, a 0.1 s gap after each)
    and ``labels.csv`` (path,text) beside them: the `sound` task's sequence data."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    tone = {"a": 440.0, "b": 1200.0}
    rows = []
    for i in range(n):
        text = "".join(rng.choice(["a", "b"], 3))
        parts = []
        for ch in text:
            t = np.arange(int(0.15 * rate)) / rate
            parts += [0.5 * np.sin(2 * np.pi * tone[ch] * t), np.zeros(rate // 10)]
        sf.write(root / f"c{i}.wav", np.concatenate(parts).astype(np.float32), rate)
        rows.append(f"c{i}.wav,{text}")
    (root / "labels.csv").write_text("path,text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return root / "labels.csv"
