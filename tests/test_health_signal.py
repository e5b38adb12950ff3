"""Data health for sensor recordings (task `signal`): each check on real files built to hold exactly
that problem — NaN/inf values, unreadable files, channels that never move, channel counts, sample
rates and lengths that differ, recordings shorter than a window, copies across classes and across
train/test — and a clean set of takes of the same gestures that holds none."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import konstrukt
from konstrukt.cli import main
from konstrukt.config import TrainConfig
from konstrukt.data import discover
from konstrukt.data.health import check, check_data
from konstrukt.modalities.signal.health import SIGNAL_MATCH_CORR, is_copy, match_size, signal_match, signal_spectrum
from konstrukt.demo_signal import synth_gesture, write_signal_dataset
from konstrukt.errors import DataError

RATE = 200.0


def names(report, finding) -> set[str]:
    return {report.sample_dict(i)["name"] for i in finding.samples}


def write_csv(path: Path, x: np.ndarray, rate: float = RATE) -> Path:
    """(C, T) → CSV with a time column, as the demo writes them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(x.shape[1]) / rate
    header = ",".join(["time"] + [f"ch{c + 1}" for c in range(x.shape[0])])
    np.savetxt(path, np.column_stack([t, x.T]), delimiter=",", header=header, comments="", fmt="%.6g")
    return path


def read_csv(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", skiprows=1)[:, 1:].T  # (C, T)


def near_copy(x: np.ndarray, rng) -> np.ndarray:
    """The same recording louder, offset, its first 5 % cut off, a little sensor noise added."""
    cut = x.shape[1] // 20
    y = 1.3 * x[:, cut:] + 0.05
    return y + rng.normal(0, 0.01, y.shape)


@pytest.fixture
def gestures(tmp_path) -> Path:
    """4 gestures × 4 subjects × 2 takes: 6-channel 2-s CSVs at 200 Hz with a time column."""
    return write_signal_dataset(tmp_path / "g", range(4), per_subject=2)


def test_clean_gestures_have_no_findings(gestures):
    report = check(gestures, "signal")
    assert report.findings == [], report.lines()
    assert report.checked == 32 and report.to_dict()["ok"]


def test_values_flat_channels_and_unreadable_files(gestures):
    rng = np.random.default_rng(3)
    good = read_csv(sorted((gestures / "fist").iterdir())[0])
    nan = (gestures / "fist" / "dropout.csv")
    lines = write_csv(nan, good).read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ",nan"
    nan.write_text("\n".join(lines) + "\n")
    np.save(gestures / "pinch" / "inf.npy", np.where(np.arange(400) == 7, np.inf, good).astype(np.float32))
    (gestures / "wave" / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    loose = synth_gesture("wave", 1, rng)
    loose[2] = 0.37  # channel 3 stuck
    write_csv(gestures / "wave" / "loose.csv", loose)
    write_csv(gestures / "rest" / "unplugged.csv", np.full((6, 400), 0.5))
    report = check(gestures, "signal")

    (non_finite,) = report.by_kind("non_finite")
    assert names(report, non_finite) == {"fist/dropout.csv", "pinch/inf.npy"}
    notes = {report.sample_dict(i)["name"]: non_finite.notes[i]["error"] for i in non_finite.samples}
    assert "row 6" in notes["fist/dropout.csv"] and "channel" in notes["pinch/inf.npy"]
    assert "interpolate" in non_finite.action and non_finite.severity == "error"
    (unreadable,) = report.by_kind("unreadable")
    assert names(report, unreadable) == {"wave/broken.npy"} and "broken.npy" in str(report.to_dict())
    (flat,) = report.by_kind("flat_channel")
    assert names(report, flat) == {"wave/loose.csv"} and flat.notes[flat.samples[0]] == {"value": "channel 3"}
    assert "sensor" in flat.action
    (constant,) = report.by_kind("constant")
    assert names(report, constant) == {"rest/unplugged.csv"}
    assert not report.by_kind("near_duplicate") and not report.by_kind("label_conflict")


def test_channel_count_rate_and_length_outliers(gestures):
    rng = np.random.default_rng(4)
    write_csv(gestures / "fist" / "five.csv", synth_gesture("fist", 0, rng, channels=5))
    write_csv(gestures / "pinch" / "slow.csv", synth_gesture("pinch", 1, rng, rate=100.0), rate=100.0)
    write_csv(gestures / "wave" / "long.csv", synth_gesture("wave", 2, rng, seconds=10.0))
    write_csv(gestures / "rest" / "short.csv", synth_gesture("rest", 3, rng, seconds=0.6))
    report = check(gestures, "signal")
    (channels,) = report.by_kind("channel_mismatch")
    assert names(report, channels) == {"fist/five.csv"} and channels.severity == "error"
    assert channels.notes[channels.samples[0]] == {"value": "5 channels"} and "same channels" in channels.action
    by_prop = {f.detail["property"]: f for f in report.by_kind("outlier")}
    assert names(report, by_prop["sample_rate"]) == {"pinch/slow.csv"}
    assert list(by_prop["sample_rate"].notes.values()) == [{"value": "100 Hz"}]
    assert names(report, by_prop["duration"]) == {"wave/long.csv"}
    (short,) = report.by_kind("short")
    assert names(report, short) == {"rest/short.csv"} and "--window" in short.action
    # Training refuses the odd channel count, naming the file: the check said so first.
    with pytest.raises(DataError, match="five.csv: 5 channels"):
        konstrukt.train(gestures, task="signal", out=gestures.parent / "run", verbose=False,
                        overrides={"num_epochs": 1, "cv": 0})


def test_channel_flat_in_every_recording(tmp_path):
    rng = np.random.default_rng(5)
    for g in ("fist", "wave"):
        for k in range(4):
            x = synth_gesture(g, k, rng)
            x[5] = 0.0  # an unused input of the armband
            write_csv(tmp_path / "d" / g / f"{k}.csv", x)
    (flat,) = check(tmp_path / "d", "signal").by_kind("flat_channel")
    assert flat.detail["channels"] == [6] and "channel 6 never changes in any recording" in flat.message
    assert flat.action == "drop that channel from every file"


def test_copy_across_classes_is_a_label_conflict(gestures):
    src = sorted((gestures / "fist").iterdir())[3]
    write_csv(gestures / "pinch" / "fist_again.csv", near_copy(read_csv(src), np.random.default_rng(0)))
    report = check(gestures, "signal")
    (conflict,) = report.by_kind("label_conflict")
    assert names(report, conflict) == {f"fist/{src.name}", "pinch/fist_again.csv"}
    assert not conflict.detail["exact"] and "near-identical recordings" in conflict.message
    other = sorted((gestures / "wave").iterdir())[0]
    shutil.copy(other, gestures / "wave" / "twice.csv")  # an exact copy within its class
    (dup,) = check(gestures, "signal").by_kind("exact_duplicate")
    assert {check(gestures, "signal").sample_dict(i)["name"] for i in dup.samples} == {
        "wave/twice.csv", f"wave/{other.name}"}


def test_copy_across_train_and_test_is_leakage_removed_from_the_score(tmp_path):
    root = tmp_path / "split"
    rng = np.random.default_rng(6)
    for g in ("fist", "pinch", "wave"):
        for k in range(8):
            write_csv(root / ("train" if k < 6 else "test") / g / f"{g}{k}.csv", synth_gesture(g, k, rng))
    assert check(root, "signal").findings == []
    write_csv(root / "test" / "wave" / "leaked.csv", near_copy(read_csv(root / "train" / "wave" / "wave1.csv"), rng))
    dataset = discover(root, "signal")
    splits = {k: [i for i, s in enumerate(dataset.samples) if s.split == k] for k in ("train", "val", "test")}
    report = check_data(dataset, "signal", splits=splits)
    (leak,) = report.by_kind("leakage")
    leaked = next(i for i, s in enumerate(dataset.samples) if s.path.name == "leaked.csv")
    assert report.removed == {"test": [leaked]} and leaked not in report.apply(splits)["test"]
    assert "delete the extra copies" in leak.action


def test_windows_of_one_recording_are_neighbours_not_copies(tmp_path):
    """A labels CSV cuts long recordings into overlapping windows: they share samples by design and
    are split by recording, so they are no duplicates; a copied recording still is."""
    rng = np.random.default_rng(7)
    rows = ["file,start,end,label"]
    for k, g in enumerate(("fist", "wave", "rest")):
        for r in range(3):
            x = np.concatenate([synth_gesture(g, r, rng) for _ in range(3)], axis=1)  # 6 s
            write_csv(tmp_path / "rec" / f"{g}{r}.csv", x)
            rows.append(f"rec/{g}{r}.csv,0,6,{g}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    config = TrainConfig(task="signal", signal={"window": 2.0, "hop": 1.0})
    report = check(tmp_path / "labels.csv", "signal", config)
    assert report.checked == 9 * 5 and report.findings == [], report.lines()


def test_match_scores_copies_high_and_takes_low():
    rng = np.random.default_rng(8)
    x, other = synth_gesture("fist", 0, rng), synth_gesture("fist", 0, rng)
    copy = near_copy(x, rng)
    n = match_size(x.shape[1], copy.shape[1])
    assert signal_match(signal_spectrum(x, n), signal_spectrum(copy, n))[0] > 0.99
    assert signal_match(signal_spectrum(x, n), signal_spectrum(other, n))[0] < 0.5
    assert is_copy(signal_spectrum(x, n), signal_spectrum(copy, n))
    # A steady rhythm (a 5 Hz tremor, a motor's vibration) lines up with any other stretch of it:
    # two recordings of it are no copies, a copy of one still is.
    t = np.arange(400) / 100.0
    hum = [np.sin(2 * np.pi * 5 * t + p)[None] + rng.normal(0, 0.07, (1, 400)) for p in (0.0, 1.0)]
    peak, periodic = signal_match(signal_spectrum(hum[0]), signal_spectrum(hum[1]))
    assert peak > SIGNAL_MATCH_CORR and periodic and not is_copy(signal_spectrum(hum[0]), signal_spectrum(hum[1]))
    assert is_copy(signal_spectrum(hum[0]), signal_spectrum(0.8 * hum[0] + rng.normal(0, 0.005, (1, 400))))


def test_cli_check_and_strict_train_on_signals(gestures, capsys, tmp_path):
    assert main(["check", str(gestures), "--task", "signal", "--strict", "--quiet"]) == 0
    assert "no problems found" in capsys.readouterr().out
    src = sorted((gestures / "wave").iterdir())[0]
    write_csv(gestures / "rest" / "wave_as_rest.csv", near_copy(read_csv(src), np.random.default_rng(1)))
    assert main(["check", str(gestures), "--task", "signal", "--json", "--quiet"]) == 0
    health = json.loads(capsys.readouterr().out)
    assert health["counts"]["label_conflict"] == 1 and health["checked"] == 33
    assert main(["check", str(gestures), "--task", "signal", "--strict", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "label conflict" in out and "wave_as_rest.csv" in out and "fix:" in out
    with pytest.raises(DataError, match="leakage or label conflicts") as err:
        konstrukt.train(gestures, task="signal", out=tmp_path / "run", verbose=False,
                        overrides={"num_epochs": 1, "cv": 0, "health": {"strict": True}})
    assert "rest/wave_as_rest.csv" in str(err.value)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_train_on_signals_reports_health_and_a_mislabelled_recording(tmp_path):
    from tests.conftest import SIGNAL_FAST, write_signals

    data = write_signals(tmp_path / "d", per_class=12)
    extra = write_signals(tmp_path / "extra", per_class=1, seed=9)
    shutil.copy(extra / "up" / "up0.csv", data / "down" / "planted_up.csv")  # an `up` filed under `down`
    overrides = {**SIGNAL_FAST, "num_epochs": 15, "cv": 3, "target_size": 0}
    run = konstrukt.train(data, task="signal", pipeline="rescnn", out=tmp_path / "run", overrides=overrides,
                          verbose=False)
    by_kind = {f["kind"]: f for f in run.report["data_health"]["findings"]}
    mis = by_kind["mislabelled"]
    assert mis["stage"] == "training" and mis["samples"][0]["name"] == "down/planted_up.csv"
    assert (mis["samples"][0]["given"], mis["samples"][0]["suggested"]) == ("down", "up")
    assert by_kind["add_next"]["message"]
