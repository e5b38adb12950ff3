"""Data health inside `train` and `konstrukt check`: report.json, summary.md, leaked copies left out
of the scores, likely mislabelled examples from the CV, --strict, and the CLI's exit codes."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import konstrukt
from konstrukt.cli import main
from konstrukt.demo import write_digits
from konstrukt.errors import DataError

FAST = {"num_epochs": 6, "target_size": 0, "image_size": 16, "cv": 3, "batch_size": 8}


@pytest.fixture
def planted(tmp_path) -> Path:
    """Digits 0/1 × 14, plus an unseen `one` filed under `zero` and a copy of a `one`."""
    data = write_digits(tmp_path / "d", per_class=14, classes=(0, 1), extra_per_class=1)
    shutil.copy(sorted((tmp_path / "d_new" / "one").iterdir())[0], data / "zero" / "planted_one.png")
    shutil.copy(sorted((data / "one").iterdir())[0], data / "one" / "copy.png")
    return data


def test_train_reports_health_and_mislabelled_example(planted, tmp_path):
    # The scratch recipe's own schedule (30 epochs: 2 warm-up, cosine, label smoothing): with 6 the
    # CV models are too unsure (the planted `one` at ~70 %, below the class's mean confidence) for
    # confident learning to flag anything; trained as a user would, they are sure of it (~94 %).
    run = konstrukt.train(planted, task="image", pipeline="scratch_cnn", out=tmp_path / "run",
                          overrides={**FAST, "num_epochs": 30}, verbose=False)
    health = run.report["data_health"]
    by_kind = {f["kind"]: f for f in health["findings"]}
    assert {s["name"] for s in by_kind["exact_duplicate"]["samples"]} == {"one/copy.png", "one/one_0080.png"}
    mis = by_kind["mislabelled"]
    assert mis["stage"] == "training" and mis["samples"][0]["name"] == "zero/planted_one.png"
    assert mis["samples"][0]["given"] == "zero" and mis["samples"][0]["suggested"] == "one"
    assert by_kind["add_next"]["message"]
    # The copy that landed in an evaluation split is left out of its score, and the report says so.
    removed = [s["file"] for items in health["removed_from_evaluation"].values() for s in items]
    assert len(removed) == 1 and Path(removed[0]).name in {"copy.png", "one_0080.png"}
    scored = run.report["data"]["files"]["val"] + run.report["data"]["files"]["test"]
    assert removed[0] not in scored
    summary = (run.path / "summary.md").read_text()
    assert "## Data health" in summary and "planted_one.png" in summary and "Left out of the scores" in summary


def test_strict_train_stops_on_label_conflict(tmp_path):
    data = write_digits(tmp_path / "d", per_class=8, classes=(0, 1))
    shutil.copy(sorted((data / "zero").iterdir())[0], data / "one" / "really_zero.png")
    with pytest.raises(DataError, match="leakage or label conflicts") as err:
        konstrukt.train(data, task="image", pipeline="scratch_cnn", out=tmp_path / "run", verbose=False,
                        overrides={**FAST, "health": {"strict": True}})
    assert "one/really_zero.png" in str(err.value)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_cli_check(planted, capsys):
    assert main(["check", str(planted), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "exact duplicate" in out and "copy.png" in out and "fix:" in out
    assert main(["check", str(planted), "--json", "--quiet"]) == 0
    health = json.loads(capsys.readouterr().out)
    assert health["checked"] == 30 and health["counts"]["exact_duplicate"] == 1
    (planted / "one" / "copy.png").rename(planted / "zero" / "copy.png")  # now a label conflict
    assert main(["check", str(planted), "--strict", "--quiet"]) == 1
    assert "label conflict" in capsys.readouterr().out
    assert main(["check", str(planted / "missing")]) == 2
    assert "data not found" in capsys.readouterr().err


def test_cli_check_clean_data(tmp_path, capsys):
    data = write_digits(tmp_path / "d", per_class=10, classes=(0, 1))
    assert main(["check", str(data), "--strict", "--quiet"]) == 0
    assert "no problems found" in capsys.readouterr().out
