"""Class names are data, never code: the core's one label rule, and exports that stay safe with
hostile but printable names (issue 20, item 1)."""
from __future__ import annotations

import ast
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

import konstrukt
from konstrukt.data import discover
from konstrukt.data.labels import MAX_LABEL_BYTES, label_problem
from konstrukt.errors import DataError
from tests.conftest import write_images

HOSTILE = 'x"""; __import__("os").system("touch PWNED"); """'
FAST = {"num_epochs": 2, "target_size": 0, "batch_size": 8, "image_size": 16, "cv": 0}


def _labels_csv(root: Path, labels: dict[str, str]) -> Path:
    """A labels CSV giving the images of each folder in ``labels`` (folder → label) that label."""
    path = root / "labels.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label"])
        for folder, label in labels.items():
            for image in sorted((root / folder).iterdir()):
                writer.writerow([image.relative_to(root).as_posix(), label])
    return path


@pytest.mark.parametrize("label", [
    'a\nb', HOSTILE.replace(";", "\n"), "tab\there", "esc\x1b[31m", "nul\x00", "bidi\u202e",
    "x" * (MAX_LABEL_BYTES + 1), "\U0001F600" * 26])
def test_labels_with_control_characters_or_too_many_bytes_are_refused_by_name(tmp_path, label):
    root = write_images(tmp_path / "data", per_class=3, classes=("a", "b"))
    data = _labels_csv(root, {"a": label, "b": "b"})
    with pytest.raises(DataError) as err:
        discover(data, "image")
    text = str(err.value)
    assert "labels.csv:2" in text and f"at most {MAX_LABEL_BYTES} bytes" in text, text


def test_class_folders_obey_the_same_rule(tmp_path):
    root = write_images(tmp_path / "data", per_class=3, classes=("fine", "bad\x07bell"))
    with pytest.raises(DataError) as err:
        discover(root, "image")
    assert "class folder" in str(err.value) and "U+0007" in str(err.value)


def test_printable_labels_of_any_script_up_to_the_limit_are_accepted():
    for label in ('say "hi"', "a/b", "ü" * (MAX_LABEL_BYTES // 2), "猫", HOSTILE, "x" * MAX_LABEL_BYTES):
        assert label_problem(label) is None, label
    assert label_problem("\U0001F600" * 25) is None  # 100 bytes exactly
    assert "104 bytes" in label_problem("\U0001F600" * 26)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """A tiny run one of whose classes is named like code that creates a file named PWNED."""
    root = tmp_path_factory.mktemp("hostile")
    data = _labels_csv(write_images(root / "data", per_class=6, classes=("a", "b")), {"a": HOSTILE, "b": "b"})
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KONSTRUKT_CACHE", str(root / "cache"))
        env.chdir(root)  # `touch PWNED` would land here if training ran the label
        return konstrukt.train(data, task="image", pipeline="scratch_cnn", out=root / "run", config=FAST,
                               verbose=False)


def test_a_hostile_printable_label_is_exported_as_data_never_as_code(hostile_run, tmp_path, monkeypatch):
    run = hostile_run
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # `touch PWNED` would land here if the exporter ran the label
    assert HOSTILE in run.classes
    bundle = konstrukt.export(run, tmp_path / "bundle", "all")
    out = tmp_path / "bundle"
    for script in ("predict.py", "predict_torch.py"):
        source = (out / script).read_text(encoding="utf-8")
        ast.parse(source)
        assert "__import__" not in source and "PWNED" not in source  # the names are not in the code
    assert json.loads((out / "config.json").read_text(encoding="utf-8"))["classes"] == run.classes
    image = run.data_files("test")[0]
    for script in ("predict.py", "predict_torch.py"):
        done = subprocess.run([sys.executable, script, str(image), "--json"], cwd=out, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert set(json.loads(done.stdout)[0]["probabilities"]) == set(run.classes)
    assert not (work / "PWNED").exists() and not (out / "PWNED").exists()
    assert not list(run.path.parent.rglob("PWNED")) and not list(tmp_path.rglob("PWNED")), "the label ran as code"
    assert bundle["classes"] == run.classes


def test_the_generated_script_runs_in_a_child_process_never_in_the_exporter(hostile_run, tmp_path, monkeypatch):
    import os

    from konstrukt.exporting import templates

    # A generated script that leaves a mark in whatever process runs it: the parity check must
    # still pass, and the mark must not be in this (the exporting) process.
    monkeypatch.setattr(templates, "MAIN", templates.MAIN + "\nimport os\nos.environ['KONSTRUKT_RAN_HERE'] = '1'\n")
    monkeypatch.delenv("KONSTRUKT_RAN_HERE", raising=False)
    cfg = konstrukt.export(hostile_run, tmp_path / "bundle", "bundle")
    assert cfg["parity"]["results"]["pytorch (predict script)"]["top1_agreement"] == 1.0
    assert "KONSTRUKT_RAN_HERE" not in os.environ
    assert not [m for m in sys.modules if m.startswith("_konstrukt_generated")]
