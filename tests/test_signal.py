"""The signal task: readers and their detections, bad input, augmentations, grouped splits, the five
pipelines through the library and the CLI, and runs that reload from their folder alone."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from konstrukt.modalities.signal import augment as aug
from konstrukt.config import AugmentConfig, TrainConfig, build_config
from konstrukt.data import discover
from konstrukt.data.split import stratified_folds, stratified_split
from konstrukt.errors import ConfigError, DataError
from konstrukt.modalities.signal.preprocess import SignalPreprocessor, fix_length, read_signal

from tests.conftest import SIGNAL_FAST, write_signals

PIPES = ["rescnn", "rescnn_se", "rescnn_bilstm_se", "rescnn_gru", "rescnn_transformer"]


def cfg(**signal) -> TrainConfig:
    return build_config({"task": "signal", "signal": signal})


def write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- readers


def test_csv_with_header_and_time_column_gives_channels_and_rate(tmp_path):
    f = write_csv(tmp_path / "a.csv", "time,x,y\n0,1,2\n0.01,3,4\n0.02,5,6\n")
    rec = read_signal(f, cfg())
    assert rec.data.shape == (2, 3) and rec.data.dtype == np.float32 and rec.rate == 100.0
    assert rec.data[:, 0].tolist() == [1, 2] and "time" in rec.note


def test_csv_without_header_detects_an_even_ramp_and_the_override_turns_it_off(tmp_path):
    f = write_csv(tmp_path / "a.csv", "0,1,2\n0.5,3,4\n1.0,5,6\n")
    assert read_signal(f, cfg()).rate == 2.0
    rec = read_signal(f, cfg(time_column="none", sample_rate=50))
    assert rec.data.shape == (3, 3) and rec.rate == 50.0


def test_npy_layout_is_detected_from_the_longer_axis_and_can_be_forced(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((100, 4), np.float32))  # time × channels
    rec = read_signal(tmp_path / "a.npy", cfg(sample_rate=10))
    assert rec.data.shape == (4, 100) and "time × channels" in rec.note
    forced = read_signal(tmp_path / "a.npy", cfg(sample_rate=10, layout="channels_first"))
    assert forced.data.shape == (100, 4)
    np.save(tmp_path / "sq.npy", np.zeros((5, 5), np.float32))  # alone, a square file cannot tell
    assert read_signal(tmp_path / "sq.npy", cfg(sample_rate=10)).note.startswith("square")
    pre = SignalPreprocessor(None, cfg(sample_rate=10))
    with pytest.raises(DataError, match="1 file is square") as err:
        pre.fit([pre.load(tmp_path / "sq.npy")], None, [0])
    assert "sq.npy" in err.value.problems and "--layout" in err.value.problems[-1]


def test_npz_reads_its_data_and_stored_rate_without_pickles(tmp_path):
    np.savez(tmp_path / "a.npz", data=np.ones((3, 50), np.float32), fs=250.0)
    rec = read_signal(tmp_path / "a.npz", cfg())
    assert rec.data.shape == (3, 50) and rec.rate == 250.0
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="obj.npy: not a readable npy"):
        read_signal(tmp_path / "obj.npy", cfg(sample_rate=10))


def test_files_at_another_rate_are_resampled_and_windows_padded_or_cropped(tmp_path):
    write_signals(tmp_path / "d", per_class=2, rate=100.0, seconds=1.0)
    write_signals(tmp_path / "d2", classes=("up",), per_class=1, rate=200.0, seconds=1.0)
    pre = SignalPreprocessor(None, cfg(window=0.5))
    raws = [pre.load(p) for p in sorted((tmp_path / "d").rglob("*.csv"))]
    pre.fit(raws, None, list(range(len(raws))))
    assert pre.rate == 100.0 and pre.length == 50
    other = pre.load(next((tmp_path / "d2").rglob("*.csv")))
    assert other.rate == 200.0 and other.data.shape[1] == 200
    assert tuple(pre.tensor(other).shape) == (3, 50)  # resampled to 100 Hz, then cropped
    x = np.arange(6, dtype=np.float32).reshape(1, 6)
    assert fix_length(x, 4).tolist() == [[1, 2, 3, 4]]  # centre crop
    assert fix_length(x, 8, pad="edge").tolist() == [[0, 1, 2, 3, 4, 5, 5, 5]]


def test_standardisation_uses_training_statistics_only(tmp_path):
    pre = SignalPreprocessor(None, cfg(sample_rate=10, window=1.0))
    from konstrukt.modalities.signal.preprocess import Recording

    train = Recording(np.array([[0, 2] * 5, [10, 30] * 5], np.float32), 10.0, Path("t"))
    held = Recording(np.full((2, 10), 1000.0, np.float32), 10.0, Path("h"))
    pre.fit([train, held], None, [0])
    assert pre.mean.tolist() == [1.0, 20.0] and pre.std.tolist() == [1.0, 10.0]
    x = pre.tensor(train).numpy()
    assert np.allclose(x.mean(1), 0) and np.allclose(x.std(1), 1)
    short = Recording(np.array([[3.0] * 5, [40.0] * 5], np.float32), 10.0, Path("s"))
    x = pre.tensor(short).numpy()  # standardised, then padded at the channel mean (0)
    assert x[:, :5].tolist() == [[2.0] * 5, [2.0] * 5] and not x[:, 5:].any()


def test_cross_validation_standardises_each_fold_with_its_own_training_statistics(tmp_path, monkeypatch):
    """Each CV fold's model sees windows standardised with the mean/std of that fold's training
    part only (the held-out part shapes nothing); the run keeps its training split's statistics."""
    import konstrukt
    from konstrukt import experiment

    rng = np.random.default_rng(0)
    for c in ("low", "high"):  # per-recording offsets: every fold's statistics differ
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(6):
            x = rng.normal(0, 1, (2, 50)) + rng.uniform(-20, 20, (2, 1)) + (5.0 if c == "high" else 0.0)
            np.save(tmp_path / "d" / c / f"{c}{i}.npy", x.astype(np.float32))
    seen = []
    fit = experiment.Recipe.fit

    def spy(self, train_idx, val_idx, *args, **kwargs):
        if kwargs.get("fold"):
            seen.append((list(train_idx), self.p.pre.mean.copy(), self.p.raws))
        return fit(self, train_idx, val_idx, *args, **kwargs)

    monkeypatch.setattr(experiment.Recipe, "fit", spy)
    from konstrukt.execution.folds import run_folds
    from konstrukt.execution.runners import Runners

    # the folds one after another in this process, so that the spy sees them (else they are forked)
    run = konstrukt.train(tmp_path / "d", task="signal", pipeline="rescnn", out=tmp_path / "run", verbose=False,
                          runners=Runners(folds=run_folds),
                          overrides={**SIGNAL_FAST, "cv": 3, "split": {"val": 0.0, "test": 0.17},
                                     "signal": {**SIGNAL_FAST["signal"], "sample_rate": 100, "layout": "channels_first"}})
    assert len(seen) == 3
    for train_idx, mean, raws in seen:
        want = np.concatenate([raws[i].data for i in train_idx], axis=1).mean(1)
        assert np.allclose(mean, want, atol=1e-4), (mean, want)
    assert len({tuple(np.round(m, 4)) for _, m, _ in seen}) == 3  # three folds, three statistics
    saved = run.report["architecture"]["preprocessing"]  # the one saved state
    assert not (run.path / "preprocessing.json").exists()
    files = {Path(f).name for f in run.report["data"]["files"]["train"]}
    raws = seen[0][2]
    want = np.concatenate([r.data for r in raws if r.path.name in files], axis=1).mean(1)
    assert np.allclose(saved["mean"], want, atol=1e-4)


def test_signal_runs_are_reproducible_with_augmentation(tmp_path):
    """Same seed, same data: the same augmented views, the same losses (augmentation draws from
    the run's seeded generator, not from fresh OS entropy)."""
    import konstrukt

    data = write_signals(tmp_path / "d", per_class=4)
    overrides = {**SIGNAL_FAST, "num_epochs": 2, "target_size": 8}
    runs = [konstrukt.train(data, task="signal", pipeline="rescnn", out=tmp_path / f"run{k}", verbose=False,
                            overrides=overrides) for k in range(2)]
    losses = [[h["train_loss"] for h in run.report["history"]] for run in runs]
    assert losses[0] == losses[1]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("text,expected", [
    ("a,b\n1,2\n3\n", "row 3: 1 cells, expected 2 (ragged row)"),
    ("a,b\n1,2\n3,nan\n", "row 3, b: nan (NaN or infinite"),
    ("a,b\n1,2\n3,inf\n", "row 3, b: inf (NaN or infinite"),
    ("a,b\n1,2\n3,abc\n", "row 3, b: 'abc' is not a number"),
])
def test_bad_csv_rows_are_refused_naming_file_and_row(tmp_path, text, expected):
    f = write_csv(tmp_path / "bad.csv", text)
    with pytest.raises(DataError) as err:
        read_signal(f, cfg(sample_rate=10))
    assert err.value.message.startswith("bad.csv: row 3") and expected in err.value.message


def test_empty_file_and_header_only_are_refused(tmp_path):
    with pytest.raises(DataError, match="empty.csv: is an empty file"):
        read_signal(write_csv(tmp_path / "empty.csv", ""), cfg(sample_rate=10))
    with pytest.raises(DataError, match="head.csv: has a header row but no data rows"):
        read_signal(write_csv(tmp_path / "head.csv", "a,b\n"), cfg(sample_rate=10))


def test_files_with_different_channel_counts_are_refused_by_name(tmp_path):
    write_signals(tmp_path / "d", per_class=2, channels=3)
    write_signals(tmp_path / "d", classes=("up",), per_class=1, channels=2, seed=5)  # overwrites up0
    pre = SignalPreprocessor(None, cfg())
    raws = [pre.load(p) for p in sorted((tmp_path / "d").rglob("*.csv"))]
    with pytest.raises(DataError) as err:
        pre.fit(raws, None, [0])
    assert err.value.problems[0].startswith("up0.csv: 2 channels, but most files have 3")


def test_unknown_rate_works_in_samples_of_the_files_typical_length(tmp_path):
    rng = np.random.default_rng(0)
    for i, t in enumerate((40, 44, 60)):
        np.save(tmp_path / f"a{i}.npy", rng.normal(size=(3, t)).astype(np.float32))
    pre = SignalPreprocessor(None, cfg())
    raws = [pre.load(p) for p in sorted(tmp_path.glob("*.npy"))]
    pre.fit(raws, None, [0, 1, 2])
    notes = pre.notes
    assert pre.length == 44 and any("working in samples, a window is 44 samples" in n for n in notes)
    assert pre.tensor(raws[2]).shape == (3, 44)
    again = SignalPreprocessor.from_state(pre.state())  # a saved run reads the same
    assert again.length == 44 and again.state()["unit"] == "samples"
    assert torch.equal(again.tensor(raws[0]), pre.tensor(raws[0]))
    timed = SignalPreprocessor(None, cfg(sample_rate=20.0))  # --sample-rate: seconds again (2 s)
    timed.fit([timed.load(p) for p in sorted(tmp_path.glob("*.npy"))], None, [0, 1, 2])
    assert timed.length == 40 and timed.state()["unit"] == "seconds"


def _labels(tmp_path: Path, rows: list[str], seconds: float = 4.0) -> Path:
    rate = 50.0
    rng = np.random.default_rng(0)
    for name in ("r1.npy", "r2.npy"):
        np.save(tmp_path / name, rng.normal(size=(2, int(rate * seconds))).astype(np.float32))
    return write_csv(tmp_path / "labels.csv", "file,start,end,label\n" + "\n".join(rows) + "\n")


@pytest.mark.parametrize("rows,expected", [
    (["r1.npy,0,2,a", "gone.npy,0,2,b"], "labels.csv row 3: file not found: gone.npy"),
    (["r1.npy,0,2,a", "r2.npy,3,1,b"], "labels.csv row 3: end 1 s is not after start 3 s"),
    (["r1.npy,0,2,a", "r1.npy,1.5,3,b"], "labels.csv rows 2 and 3: segments of r1.npy overlap"),
    (["r1.npy,0,2,a", "r2.npy,x,1,b"], "labels.csv row 3: start 'x' / end '1' must be numbers"),
])
def test_bad_labels_csv_rows_are_refused_naming_the_row(tmp_path, rows, expected):
    labels = _labels(tmp_path, rows)
    with pytest.raises(DataError) as err:
        discover(labels, "signal", cfg(sample_rate=50, window=1.0))
    assert any(expected in p for p in err.value.problems), err.value.problems


def test_segments_shorter_than_a_window_are_skipped_with_a_warning(tmp_path):
    labels = _labels(tmp_path, ["r1.npy,0,2,a", "r2.npy,0,2,b", "r2.npy,2,2.5,a"])
    data = discover(labels, "signal", cfg(sample_rate=50, window=1.0, hop=0.5))
    assert len(data.samples) == 6  # 3 windows per 2-s segment
    assert "skipped 1 segment shorter than one window (1 s): row 4 (0.5 s)" in data.warnings[0]
    assert {s.group for s in data.samples} == {"recording r1.npy", "recording r2.npy"}


def test_bad_input_exits_2_without_traceback_through_the_cli(tmp_path, capsys):
    from konstrukt.cli import main

    write_signals(tmp_path / "d", per_class=3)
    write_csv(tmp_path / "d" / "up" / "broken.csv", "time,a,b,c\n0,1,2,3\n0.01,1,2\n")
    code = main(["train", str(tmp_path / "d"), "--task", "signal", "--out", str(tmp_path / "run"),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "broken.csv: row 3: 3 cells, expected 4 (ragged row)" in err
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- augmentations

X = np.random.default_rng(0).normal(size=(4, 200)).astype(np.float32)


def _same_kind(y: np.ndarray) -> None:
    assert y.shape == X.shape and y.dtype == np.float32


def test_time_mask_zeroes_one_span_on_every_channel():
    y = aug.time_mask(X, 0.2, np.random.default_rng(1))
    _same_kind(y)
    zero = np.all(y == 0, axis=0)
    assert 1 <= zero.sum() <= 40 and np.array_equal(y[:, ~zero], X[:, ~zero])


def test_channel_mask_zeroes_whole_channels_but_never_all():
    y = aug.channel_mask(X, 0.5, np.random.default_rng(1))
    _same_kind(y)
    dead = [c for c in range(4) if np.all(y[c] == 0)]
    assert len(dead) == 2 and all(np.array_equal(y[c], X[c]) for c in range(4) if c not in dead)
    assert aug.channel_mask(X[:1], 0.9, np.random.default_rng(1)).any()


def test_magnitude_warp_multiplies_by_a_smooth_curve_around_one():
    y = aug.magnitude_warp(X, 0.2, 4, np.random.default_rng(1))
    _same_kind(y)
    curve = y / X
    assert 0.3 < curve.min() and curve.max() < 1.7 and not np.allclose(curve, 1)
    assert np.abs(np.diff(curve, axis=1)).max() < 0.05  # smooth: tiny step to step changes


def test_jitter_adds_small_noise():
    y = aug.jitter(X, 0.05, np.random.default_rng(1))
    _same_kind(y)
    assert 0.03 < (y - X).std() < 0.07


def test_scaling_multiplies_each_channel_by_one_gain():
    y = aug.scale(X, 0.2, np.random.default_rng(1))
    _same_kind(y)
    gains = y / X
    assert np.allclose(gains, gains[:, :1], atol=1e-5) and not np.allclose(gains, 1)


def test_time_shift_rolls_the_window():
    y = aug.time_shift(X, 0.1, np.random.default_rng(3))
    _same_kind(y)
    shift = next(k for k in range(-20, 21) if np.array_equal(np.roll(X, k, axis=1), y))
    assert shift != 0


def test_the_chain_is_seeded_and_off_when_disabled():
    f = aug.signal_augmentation(AugmentConfig())
    a, b = f(X, np.random.default_rng(7)), f(X, np.random.default_rng(7))
    assert np.array_equal(a, b) and not np.array_equal(a, X)
    assert aug.signal_augmentation(AugmentConfig(enabled=False)) is None
    assert len(aug.SIGNAL_AUGMENTATIONS) == 6


# --------------------------------------------------------------------------- grouped splits


def test_splits_and_folds_never_put_one_recording_on_both_sides():
    labels = [c for c in "ab" for _ in range(30)]
    groups = [f"{c}{i // 5}" for c, i in zip(labels, list(range(30)) * 2)]  # 6 recordings per class
    tr, va, te = stratified_split(labels, 0.2, 0.2, 0, groups=groups)
    sides = [{groups[i] for i in part} for part in (tr, va, te)]
    assert all(part for part in sides) and not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert {labels[i] for i in tr} == {"a", "b"}
    for fit, held in stratified_folds(labels, 5, 0, groups=groups):
        assert not {groups[i] for i in fit} & {groups[i] for i in held}


def test_a_class_from_one_recording_cannot_be_held_out_by_recording():
    labels, groups = ["a"] * 4 + ["b"] * 4, ["r1"] * 4 + ["r2", "r3", "r4", "r5"]
    with pytest.raises(DataError) as err:
        stratified_split(labels, 0.2, 0.2, 0, groups=groups)
    assert "class `a`: its windows come from 1 recording/subject group" in err.value.problems[0]


# --------------------------------------------------------------------------- training


@pytest.mark.parametrize("pipeline", PIPES)
def test_each_pipeline_trains_predicts_and_reloads_from_its_folder(tmp_path, pipeline):
    import konstrukt

    data = write_signals(tmp_path / "d", per_class=4, fmt="npz")
    run = konstrukt.train(data, task="signal", pipeline=pipeline, out=tmp_path / "run",
                          overrides=SIGNAL_FAST, verbose=False)
    assert run.report["pipeline"] == pipeline and run.report["test"]["n"] > 0
    assert run.report["model"]["head"] == [{"units": 480, "activation": "relu", "dropout": 0.3,
                                            "batchnorm": False}]
    state = json.loads((tmp_path / "run" / "report.json").read_text())["architecture"]["preprocessing"]
    assert state["channels"] == 3 and state["sample_rate"] == 100.0 and len(state["mean"]) == 3
    files = sorted(data.rglob("*.npz"))[:3]
    before = run.predict_proba(files)
    again = konstrukt.load_run(tmp_path / "run").predict_proba(files)
    assert before.shape == (3, 3) and np.allclose(before, again, atol=1e-5)


def test_labels_csv_trains_with_grouped_splits_and_a_long_file_votes_over_windows(tmp_path):
    import konstrukt

    rng = np.random.default_rng(0)
    rows = []
    for r in range(6):  # six recordings, each half `up`, half `flat`
        t = np.arange(400) / 100.0
        x = np.vstack([np.where(t < 2, np.sin(2 * np.pi * 5 * t), 0) + rng.normal(0, 0.1, t.size)
                       for _ in range(2)])
        np.save(tmp_path / f"rec{r}.npy", x.astype(np.float32))
        rows += [f"rec{r}.npy,0,2,buzz,s{r % 3}", f"rec{r}.npy,2,4,still,s{r % 3}"]
    labels = write_csv(tmp_path / "labels.csv", "file,start,end,label,subject\n" + "\n".join(rows) + "\n")
    overrides = {**SIGNAL_FAST, "signal": {**SIGNAL_FAST["signal"], "sample_rate": 100, "hop": 0.5},
                 "split": {"val": 0.0, "test": 0.34}, "cv": 3}
    run = konstrukt.train(labels, task="signal", pipeline="rescnn", out=tmp_path / "run",
                          overrides=overrides, verbose=False)
    files = run.report["data"]["files"]
    assert files["test"] and run.report["cv"]["folds"] == 2  # 2 subjects left in the pool: 2 folds
    subjects = {split: {Path(f).name for f in fs} for split, fs in files.items()}
    assert not subjects["train"] & subjects["test"]  # recordings of a held-out subject stay out
    (proba,) = run.predict_proba([tmp_path / "rec0.npy"])  # 4 s file: windows vote
    assert proba.shape == (2,) and np.isclose(proba.sum(), 1)
    metrics = run.evaluate(labels)
    assert metrics["n"] == len(run.report["data"]["files"]["train"]) + len(files["test"])


def test_cli_trains_and_predicts_signals(tmp_path, capsys):
    from konstrukt.cli import main

    data = write_signals(tmp_path / "d", per_class=4, fmt="npy")
    cfg_file = tmp_path / "c.json"
    cfg_file.write_text(json.dumps(SIGNAL_FAST))
    assert main(["train", str(data), "--task", "signal", "--pipeline", "rescnn", "--sample-rate", "100",
                 "--config", str(cfg_file), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    out = capsys.readouterr()
    assert "read as time × channels" in out.err
    assert main(["predict", str(tmp_path / "run"), str(next(data.rglob("*.npy"))), "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert set(result["probabilities"]) == {"up", "down", "flat"}


def test_long_windows_get_a_strided_stem_sized_by_the_window(tmp_path):
    import torch

    from konstrukt.models.backbones import build_backbone
    from konstrukt.modalities.signal.preprocess import Recording

    pre = SignalPreprocessor(None, cfg(sample_rate=1000, window=2.0))
    pre.fit([Recording(np.random.default_rng(0).normal(size=(3, 2000)).astype(np.float32), 1000.0, Path("r"))], None, [0])
    assert pre.backbone_options()["stride"] == 16  # 2000 samples → 125 steps into the blocks
    model = build_backbone("rescnn_se", "none", **{**pre.backbone_options(), "widths": (8, 16)})
    out = model(torch.randn(2, 3, 2000))
    assert out.shape == (2, model.num_features) and model.blocks()[0] is model.stem
