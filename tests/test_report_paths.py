"""A run's report names its data relative to the data root: no folder of the machine that trained
it (issue 20, item 5). The root is kept beside the report for this machine's export."""
from __future__ import annotations

import json

import pytest

import konstrukt
from konstrukt.errors import WeightsUnavailableError
from tests.conftest import write_images

FAST = {"num_epochs": 1, "target_size": 0, "batch_size": 8, "image_size": 16, "cv": 0}


def test_reports_hold_paths_relative_to_the_data_root(tmp_path, monkeypatch):
    data = write_images(tmp_path / "data", per_class=6, classes=("a", "b"))
    (data / "a" / "notes.txt").write_text("not an image")  # a skipped file: its warning names it
    run = konstrukt.train(data, task="image", pipeline="scratch_cnn", out=tmp_path / "run", config=FAST,
                          verbose=False)
    text = (tmp_path / "run" / "report.json").read_text(encoding="utf-8")
    assert str(tmp_path) not in text, "a machine folder in report.json"
    report = json.loads(text)
    assert report["data"]["source"] == "data"
    files = [f for split in report["data"]["files"].values() for f in split]
    assert files and all(f.split("/")[0] in ("a", "b") for f in files)
    assert any("a/notes.txt" in w for w in report["data"]["warnings"])
    assert json.loads((tmp_path / "run" / "data_root.json").read_text())["root"] == str(data.resolve())
    monkeypatch.chdir(tmp_path / "run")  # export from elsewhere still finds the held-out files
    cfg = konstrukt.export(tmp_path / "run", tmp_path / "bundle", "onnx")
    assert cfg["parity"]["source"] == "test split"
    assert [str(p) for p in konstrukt.load_run(tmp_path / "run").data_files("test")] == \
        [str(data.resolve() / f) for f in report["data"]["files"]["test"]]


def test_a_weights_error_has_a_text_for_service_users_without_server_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    from konstrukt.models.backbones import build_backbone

    with pytest.raises(WeightsUnavailableError) as err:
        build_backbone("efficientnet_b0", "imagenet")
    cli = str(err.value)  # the CLI user is told where and how
    assert str(tmp_path / "torch") in cli and "--pretrained" in cli
    message, problems = err.value.for_service()
    web = " ".join([message, *problems])
    assert "not available on this server" in web and "efficientnet_b0" in web
    assert str(tmp_path) not in web and "http" not in web and "--pretrained" not in web
