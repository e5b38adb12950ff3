"""Sensor files as people have them (#21 item 14): CSVs without a time column and no rate, and
NPY arrays whose layout only the whole set can tell (a few square files)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import konstrukt
from konstrukt.modalities.signal.layout import set_layout

FAST = {"num_epochs": 2, "target_size": 4, "batch_size": 8, "cv": 0,
        "signal": {"widths": [8, 16], "hidden_size": 8, "layers": 1}}


def write_basic_motions(root: Path, per_class: int = 5) -> Path:
    """aeon's bundled BasicMotions (6 channels × 100 steps, 4 activities) as headerless CSVs,
    one row per time step, as a phone app exports them: no time column, no rate."""
    from aeon.datasets import load_basic_motions

    x, y = load_basic_motions(split="train")
    seen: dict[str, int] = {}
    for series, label in zip(x, y):
        if seen.get(label, 0) >= per_class:
            continue
        seen[label] = seen.get(label, 0) + 1
        (root / label).mkdir(parents=True, exist_ok=True)
        np.savetxt(root / label / f"{label}{seen[label]}.csv", series.T, delimiter=",", fmt="%.6f")
    return root


def write_twelve_lead(root: Path, per_class: int = 6, squares: int = 2) -> Path:
    """12 × T arrays (T 30–90) of three classes, and a few 12 × 12 ones (short takes)."""
    rng = np.random.default_rng(0)
    t_axis = np.arange(90)
    for k, label in enumerate(("a", "b", "c")):
        (root / label).mkdir(parents=True)
        for i in range(per_class + squares):
            steps = 12 if i >= per_class else int(rng.integers(30, 90))
            wave = np.sin(2 * np.pi * (k + 1) * t_axis[:steps] / 30)[None, :] * np.linspace(0.5, 1.5, 12)[:, None]
            np.save(root / label / f"{label}{i}.npy", (wave + 0.1 * rng.normal(size=(12, steps))).astype(np.float32))
    return root


def test_the_set_tells_the_layout():
    assert set_layout([(12, 40), (12, 12), (12, 8)]) == "channels_first"  # 12 × 8 would read as 8 channels
    assert set_layout([(40, 6), (6, 6), (90, 6)]) == "time_first"
    assert set_layout([(100, 6), (100, 6)]) == "time_first"  # one shape: the longer axis is time
    assert set_layout([(5, 5), (5, 5)]) is None and set_layout([(3, 40), (4, 50)]) is None


def test_csvs_without_time_column_train_in_samples_with_the_defaults(tmp_path):
    data = write_basic_motions(tmp_path / "motions")
    run = konstrukt.train(data, task="signal", pipeline="rescnn", out=tmp_path / "run", config=FAST,
                          verbose=False)
    pre = run.report["architecture"]["preprocessing"]
    assert pre["unit"] == "samples" and pre["length"] == 100 and pre["channels"] == 6
    said = " ".join(run.report["data"]["warnings"])
    assert "working in samples, a window is 100 samples" in said and "--sample-rate" in said
    assert "100 samples" in (tmp_path / "run" / "summary.md").read_text()
    one = sorted((data / "walking").glob("*.csv"))[0]
    assert run.predict([one])[0]["label"] in {"walking", "running", "standing", "badminton"}
    cfg = konstrukt.export(run, tmp_path / "bundle", format="onnx")  # the bundle counts samples too
    assert "windows of 100 samples" in (tmp_path / "bundle" / "README.md").read_text()
    assert cfg["parity"]["results"]["onnx fp32"]["top1_agreement"] == 1.0
    out = subprocess.run([sys.executable, "predict.py", str(one), "--json"], cwd=tmp_path / "bundle",
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["label"] == run.predict([one])[0]["label"]
    timed = konstrukt.train(data, task="signal", pipeline="rescnn", out=tmp_path / "timed",
                            config={**FAST, "signal": {**FAST["signal"], "sample_rate": 10.0, "window": 10}},
                            verbose=False)
    assert timed.report["architecture"]["preprocessing"]["unit"] == "seconds"  # --sample-rate: seconds


def test_square_arrays_follow_the_sets_layout(tmp_path):
    data = write_twelve_lead(tmp_path / "ecg")
    run = konstrukt.train(data, task="signal", pipeline="rescnn", out=tmp_path / "run",
                          config={**FAST, "signal": {**FAST["signal"], "sample_rate": 30.0}}, verbose=False)
    pre = run.report["architecture"]["preprocessing"]
    assert pre["channels"] == 12 and pre["array_layout"] == "channels_first"
    assert pre["signal"]["layout"] == "channels_first"  # bundles read the square files the same way
    said = " ".join(run.report["data"]["warnings"])
    assert "axis 0 has 12 entries in every file" in said and "6 square files" in said
    again = konstrukt.load_run(tmp_path / "run")  # a saved run reads a square file alone
    assert again.predict([data / "a" / "a7.npy"])[0]["label"] in {"a", "b", "c"}


def test_a_set_that_cannot_tell_still_names_the_square_files(tmp_path):
    rng = np.random.default_rng(1)
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i, shape in enumerate([(12, 12), (12, 12), (12, 12), (12, 12)]):
            np.save(tmp_path / label / f"{label}{i}.npy", rng.normal(size=shape).astype(np.float32))
    with pytest.raises(konstrukt.errors.DataError, match="square") as err:
        konstrukt.train(tmp_path, task="signal", pipeline="rescnn", out=tmp_path / "run", config=FAST,
                        verbose=False)
    assert "--layout" in str(err.value)
