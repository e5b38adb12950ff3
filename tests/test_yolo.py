"""YOLO11n/s-cls (Ultralytics, the optional extra konstrukt[yolo]): built from Ultralytics' model
YAML, trained with every strategy, exported to ONNX with parity; official checkpoints are unpickled
in full only when their SHA-256 is pinned (else by a restricted unpickler), and converted once to safetensors.

No network: the checkpoints here are written by the tests with Ultralytics' own classes.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ultralytics") is None,
                                reason="the optional extra konstrukt[yolo] (Ultralytics) is not installed")

import konstrukt  # noqa: E402
from konstrukt.cli import main  # noqa: E402
from konstrukt.errors import RunError, WeightsUnavailableError  # noqa: E402
from konstrukt.models.backbones import BACKBONES, build_backbone  # noqa: E402
from konstrukt.models.weights import hub_checkpoint_dir  # noqa: E402
from tests.conftest import write_images  # noqa: E402
from tests.test_export import _same_predictions, _standalone, test_files  # noqa: E402

FAST = {"num_epochs": 1, "target_size": 0, "batch_size": 8, "image_size": 32, "cv": 0, "pretrained": "none"}


def _ultralytics_model(yaml: str, nc: int = 1000):
    from konstrukt.modalities.image.yolo import classification_model

    return classification_model(yaml, nc)


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name,yaml,reference", [("yolo11n_cls", "yolo11n-cls.yaml", 1_633_584),
                                                 ("yolo11s_cls", "yolo11s-cls.yaml", 5_545_488)])
def test_built_from_the_model_yaml_at_the_reference_sizes(name, yaml, reference):
    """The reference's 1.6 M / 5.5 M are Ultralytics' own counts (its YAML's summary comments), which
    count an 80-class output layer; with ImageNet's 1000 classes the network has 1.28 M more."""
    backbone = build_backbone(name, "none").eval()
    assert backbone.num_features == BACKBONES.get(name).num_features == 1280
    assert _params(backbone) + 1281 * 80 == _params(_ultralytics_model(yaml, 80)) == reference
    assert round(reference / 1e6, 1) == {"yolo11n_cls": 1.6, "yolo11s_cls": 5.5}[name]
    assert _params(backbone) + 1281 * 1000 == _params(_ultralytics_model(yaml, 1000))  # 2.81 M / 6.72 M
    with torch.no_grad():
        assert backbone(torch.rand(2, 3, 64, 48)).shape == (2, 1280)
    assert len(backbone.blocks()) == 11  # 10 YAML stages and the head's conv


def test_pipelines_are_registered_with_the_agpl_named():
    pipes = {n: p for n, p in konstrukt.pipelines.PIPELINES.items() if n.startswith("yolo11")}
    assert set(pipes) == {"yolo11n_cls", "yolo11s_cls"}
    assert all(p.strategy == "probe" and "AGPL-3.0" in p.description for p in pipes.values())
    assert BACKBONES.get("yolo11n_cls").extra["code_license"]["license"] == "AGPL-3.0"


def _check_run(run, strategy: str) -> None:
    report = json.loads((run.path / "report.json").read_text())
    assert report["pipeline"] == "yolo11n_cls" and report["strategy"] == strategy
    assert report["architecture"]["backbone"]["name"] == "yolo11n_cls"
    head = 1280 * len(run.classes) + len(run.classes)
    assert report["params_total"] == 1_531_104 + head
    assert report["params_trainable"] == (report["params_total"] if strategy == "full" else head)
    again = konstrukt.load_run(run.path)  # rebuilt from the run folder alone
    files = test_files(run, 2)
    _same_predictions(again.predict(files), run.predict(files), atol=1e-5)


@pytest.fixture(scope="module")
def yolo_run(tmp_path_factory):
    """yolo11n-cls fully fine-tuned from scratch, 1 epoch on 3 × 5 small pictures."""
    root = tmp_path_factory.mktemp("yolo")
    data = write_images(root / "data", per_class=5, classes=("circle", "square", "stripes"), size=32)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KONSTRUKT_CACHE", str(root / "cache"))
        return konstrukt.train(data, task="image", pipeline="yolo11n_cls", out=root / "run",
                               config={**FAST, "strategy": "full"}, verbose=False)


@pytest.mark.parametrize("strategy", ["probe", "head"])
def test_trains_end_to_end_with_a_frozen_backbone(tmp_path, strategy):
    data = write_images(tmp_path / "data", per_class=4, classes=("circle", "square"), size=32)
    _check_run(konstrukt.train(data, task="image", pipeline="yolo11n_cls", out=tmp_path / "run",
                               config={**FAST, "strategy": strategy}, verbose=False), strategy)


def test_trains_end_to_end_fully_fine_tuned(yolo_run):
    _check_run(yolo_run, "full")


def test_onnx_export_with_parity_and_the_agpl_on_the_card(yolo_run, tmp_path):
    cfg = konstrukt.export(yolo_run, tmp_path / "b", format="onnx")
    result = cfg["parity"]["results"]["onnx fp32"]
    assert result["top1_agreement"] == 1.0 and result["max_abs_logit_diff"] <= 1e-3
    bundle = tmp_path / "b"
    card = (bundle / "README.md").read_text()
    assert "## Licence" in card and "**AGPL-3.0**" in card and "Ultralytics" in card
    assert "GNU AFFERO GENERAL PUBLIC LICENSE" in (bundle / cfg["files"]["code_license"]).read_text()
    assert cfg["code"]["license"] == "AGPL-3.0" and "weights" not in (cfg["weights"] or {})  # from scratch
    assert "ultralytics" not in (bundle / "requirements.txt").read_text()  # the ONNX bundle needs none of it
    files = test_files(yolo_run, 3)
    _same_predictions(_standalone(bundle, "predict.py", files), yolo_run.predict(files), atol=1e-4)
    with pytest.raises(RunError, match="PyTorch bundle is not available .* Ultralytics' AGPL-3.0 code"):
        konstrukt.export(yolo_run, tmp_path / "t", format="bundle")


# --------------------------------------------------------------------------- weights


class _WritesAFile:
    """Unpickling this object creates ``marker``: proof of whether a pickle was opened."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _hostile_checkpoint(path: Path, marker: Path) -> Path:
    torch.save({"model": _WritesAFile(marker), "ema": None}, path)
    probe = path.with_name("probe.pt")  # the file really is dangerous: a plain torch.load runs it
    shutil.copy(path, probe)
    torch.load(probe, weights_only=False)
    assert marker.exists()
    marker.unlink()
    return path


def test_a_hostile_checkpoint_runs_nothing(tmp_path, monkeypatch):
    """Unpinned files are read by the restricted unpickler: a pickle that calls something is refused."""
    from konstrukt.modalities.image import yolo

    marker = tmp_path / "pwned"
    evil = _hostile_checkpoint(tmp_path / "yolo11n-cls.pt", marker)
    with pytest.raises(WeightsUnavailableError, match="beyond tensors and network modules"):  # --pretrained PATH
        build_backbone("yolo11n_cls", str(evil))
    assert not marker.exists()
    cached = hub_checkpoint_dir() / "yolo11n-cls.pt"  # the official name in the cache, wrong content
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(evil, cached)
    monkeypatch.setitem(yolo.OFFICIAL_SHA256, "yolo11n-cls.pt", "0" * 64)
    with pytest.raises(WeightsUnavailableError, match="is not the official file's"):
        build_backbone("yolo11n_cls", "imagenet")
    monkeypatch.setitem(yolo.OFFICIAL_SHA256, "yolo11n-cls.pt", "")  # no pin: restricted, still refused
    with pytest.raises(WeightsUnavailableError, match="asks for io.open"):
        build_backbone("yolo11n_cls", "imagenet")
    assert not marker.exists() and not (hub_checkpoint_dir() / "yolo11n-cls.safetensors").exists()


@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "restricted-unpickler"])
def test_the_official_checkpoint_is_converted_once_to_safetensors(tmp_path, monkeypatch, pinned):
    """An Ultralytics-format checkpoint (a whole pickled model in half precision, as released), read
    as Ultralytics does when its hash is pinned, else by the restricted unpickler."""
    from konstrukt.modalities.image import yolo

    torch.manual_seed(1)
    official = _ultralytics_model("yolo11n-cls.yaml")
    for m in official.modules():  # batch-norm statistics that are not the defaults
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
    path = hub_checkpoint_dir() / "yolo11n-cls.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": official.half(), "ema": None, "train_args": {}}, path)
    monkeypatch.setitem(yolo.OFFICIAL_SHA256, "yolo11n-cls.pt", yolo.sha256(path) if pinned else "")
    source = BACKBONES.get("yolo11n_cls").weights["imagenet"]
    assert source.is_local() and not source.converted().exists()

    backbone = build_backbone("yolo11n_cls", "default")  # the official tag: checked, unpickled, converted
    want = official.float().state_dict()
    got = backbone.model.state_dict()
    assert set(got) == set(want) - {"model.10.linear.weight", "model.10.linear.bias"}
    assert all(torch.equal(got[k], want[k]) for k in got)
    assert source.converted().is_file()

    def no_unpickling(*args, **kwargs):
        raise AssertionError("torch.load called: the converted safetensors should have been read")

    path.unlink()  # from now on only the safetensors file: no pickle anywhere
    monkeypatch.setattr(torch, "load", no_unpickling)
    assert source.is_local()
    for pretrained in ("imagenet", str(source.converted())):  # the tag, and --pretrained PATH.safetensors
        again = build_backbone("yolo11n_cls", pretrained)
        assert all(torch.equal(again.model.state_dict()[k], got[k]) for k in got)


def test_offline_without_weights_gives_the_message_of_every_pipeline(image_data, tmp_path, capsys):
    with pytest.raises(WeightsUnavailableError, match="yolo11n-cls.pt and downloads are off") as err:
        build_backbone("yolo11n_cls", "default")
    assert "--pretrained PATH" in str(err.value)
    messages = {}
    for pipeline in ("yolo11n_cls", "efficientnet_b0"):
        out = tmp_path / pipeline
        assert main(["train", str(image_data), "--out", str(out), "--pipeline", pipeline, "--quiet"]) == 2
        messages[pipeline] = capsys.readouterr().err
        assert not out.exists()
    yolo_lines, b0_lines = (m.splitlines() for m in messages.values())
    assert "Traceback" not in messages["yolo11n_cls"] and "yolo11n-cls.pt" in yolo_lines[0]
    assert yolo_lines[1:] == b0_lines[1:]  # the same fixes, word for word


def test_importing_ultralytics_leaves_pillow_and_torch_as_they_were(tmp_path):
    """Ultralytics patches Image.open and torch.save when imported; konstrukt puts them back, so an
    unreadable image is still Pillow's error (konstrukt's "cannot read"), not a pi-heif install."""
    from PIL import Image

    from konstrukt.modalities.image.yolo import classification_model

    classification_model("yolo11n-cls.yaml", nc=2)
    assert Image.open.__module__ == "PIL.Image" and torch.save.__module__ == "torch.serialization"
    text = tmp_path / "text.jpg"
    text.write_text("hello")
    with pytest.raises(Image.UnidentifiedImageError):
        Image.open(text)


def test_the_run_records_the_ultralytics_version(yolo_run):
    from importlib.metadata import version

    report = json.loads((yolo_run.path / "report.json").read_text())
    assert report["versions"]["ultralytics"] == version("ultralytics")


def test_a_yolo_run_loaded_without_ultralytics_says_how_to_install_it(yolo_run):
    import subprocess
    import sys

    from tests.test_yolo_missing import HIDDEN

    code = HIDDEN + f"from konstrukt.cli import main\nsys.exit(main(['predict', {str(yolo_run.path)!r}, " \
                    f"{str(test_files(yolo_run, 1)[0])!r}]))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "backbone 'yolo11n_cls' needs Ultralytics" in done.stderr and "pip install 'konstrukt[yolo]'" in done.stderr
    assert "Traceback" not in done.stderr
