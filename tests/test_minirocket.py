"""MiniRocket: the torch transform against aeon's, fitting on training data only, a run that reloads,
and bundles (PyTorch and ONNX) that run without konstrukt."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import konstrukt
from konstrukt.cli import main
from konstrukt.models.data_fit import fitted_id, refitted
from konstrukt.models.portable.minirocket import MiniRocket, minirocket_dilations

from tests.conftest import SIGNAL_FAST, write_signals
from tests.test_export import _same_predictions, _standalone, test_files

# 840 features (10 per kernel) keep the tests fast; the transform is the same at any size
MINI = {"num_features": 840}
FAST = {**SIGNAL_FAST, "num_epochs": 5, "signal": {**SIGNAL_FAST["signal"], "window": 0.5}}


@pytest.fixture
def small_rocket(monkeypatch):
    from konstrukt.models.backbones import BACKBONES

    monkeypatch.setitem(BACKBONES.get("minirocket").extra, "config_overrides", MINI)


def _aeon_parameters(rocket, aeon_transform) -> None:
    """Copy aeon's fitted channel subsets and biases into ``rocket`` (the same dilations)."""
    counts, channels, dilations, per_dilation, biases = aeon_transform.parameters
    assert list(dilations) == rocket.dilations and list(per_dilation) == rocket.features_per_dilation
    mask, start = np.zeros(tuple(rocket.channel_mask.shape), np.float32), 0
    for row, n in enumerate(counts):
        mask[row, channels[start:start + n]] = 1.0
        start += n
    rocket.channel_mask.copy_(torch.from_numpy(mask))
    rocket.biases.copy_(torch.from_numpy(biases))


@pytest.mark.parametrize("name, cases", [("BasicMotions", 12), ("ItalyPowerDemand", 12)])
def test_features_equal_aeons_minirocket(name, cases):
    """Multivariate (6 channels) and univariate: aeon's fitted parameters in, the same features out;
    and our own fit draws the same channel subsets and biases as aeon's from the same seed."""
    pytest.importorskip("aeon", reason="aeon (Python >= 3.11, the `test` extra) is the reference implementation")
    from aeon.datasets import load_classification
    from aeon.transformations.collection.convolution_based import MiniRocket as AeonMiniRocket

    X = load_classification(name, split="train")[0][:cases].astype(np.float32)  # (N, C, T)
    reference = AeonMiniRocket(random_state=0).fit(X)
    want = reference.transform(X)
    rocket = MiniRocket(X.shape[1], X.shape[2])
    _aeon_parameters(rocket, reference)
    got = rocket.transform(torch.from_numpy(X)).numpy()
    assert got.shape == want.shape == (cases, 9996)
    # a bias equal to an output value flips with float rounding order: one step of 1/T, rarely
    diff = np.abs(got - want)
    assert (diff > 1e-6).mean() < 1e-3 and diff.mean() < 1e-4, (diff > 1e-6).mean()

    ours = MiniRocket(X.shape[1], X.shape[2])
    ours.fit(torch.from_numpy(X), seed=0)
    assert torch.equal(ours.channel_mask, rocket.channel_mask)
    assert np.allclose(ours.biases.numpy(), rocket.biases.numpy(), atol=1e-4)


def test_dilations_follow_the_window_length():
    assert minirocket_dilations(9) == ([1], [119])
    dilations, per = minirocket_dilations(2000)
    assert dilations[0] == 1 and dilations[-1] == 249 and sum(per) == 119  # 8 · 249 < 1999
    with pytest.raises(ValueError, match="at least 9 samples"):
        MiniRocket(1, 8)


def test_fit_standardises_features_and_refuses_other_shapes():
    x = torch.randn(20, 3, 64).cumsum(-1)
    rocket = MiniRocket(3, 64, num_features=840)
    feats = rocket.fit(x, seed=1)
    assert feats.shape == (20, 840) and torch.allclose(feats, rocket(x), atol=1e-5)
    assert feats.mean(0).abs().max() < 1e-4
    with pytest.raises(ValueError, match="3 channel"):
        rocket(torch.randn(2, 2, 64))


def test_a_fold_refits_on_its_training_part_and_the_run_state_comes_back():
    """CV folds: biases from the fold's training windows only; the embedding cache key follows."""
    from konstrukt.modalities.signal.minirocket import MiniRocketBackbone

    class Pre:  # the preprocessor's one method a fit uses
        @staticmethod
        def tensor(raw):
            return raw

    raws = [torch.randn(2, 40).cumsum(-1) for _ in range(12)]
    backbone = MiniRocketBackbone(2, 40, num_features=168)
    backbone.fit_data(torch.stack(raws[:8]), seed=0)
    run_state, run_id = {k: v.clone() for k, v in backbone.state_dict().items()}, fitted_id(backbone)
    with refitted(backbone, Pre, raws, [0, 1, 2, 3], seed=0) as feats:
        assert feats.shape == (4, 168) and fitted_id(backbone) != run_id
        alone = MiniRocketBackbone(2, 40, num_features=168)
        alone.fit_data(torch.stack(raws[:4]), seed=0)
        assert torch.equal(backbone.rocket.biases, alone.rocket.biases)  # the fold's windows alone
    assert fitted_id(backbone) == run_id
    assert all(torch.equal(v, run_state[k]) for k, v in backbone.state_dict().items())


@pytest.fixture(scope="module")
def rocket_run(tmp_path_factory):
    from konstrukt.models.backbones import BACKBONES

    root = tmp_path_factory.mktemp("minirocket")
    data = write_signals(root / "data", per_class=8, fmt="csv")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KONSTRUKT_CACHE", str(root / "cache"))
        env.setitem(BACKBONES.get("minirocket").extra, "config_overrides", MINI)
        return konstrukt.train(data, task="signal", pipeline="minirocket", out=root / "run",
                               config={**FAST, "cv": 3}, verbose=False)


def test_minirocket_trains_a_probe_and_reloads_from_its_folder(rocket_run, small_rocket):
    run = rocket_run
    r = run.report
    assert r["pipeline"] == "minirocket" and r["strategy"] == "probe" and r["model"]["head"] == []
    assert r["params_trainable"] == r["params_total"] == 840 * 3 + 3  # the linear head alone
    assert r["cv"]["folds"] == 3 and r["test"]["accuracy"] >= 0.5
    assert r["history"][0]["ridge_alpha"] > 0  # the head was fitted in closed form (models/ridge.py)
    arch = r["architecture"]["backbone"]
    assert arch["options"]["length"] == 50 and arch["options"]["in_channels"] == 3
    files = test_files(run)
    again = konstrukt.load_run(run.path)
    assert torch.equal(again.model.backbone.rocket.biases, run.model.backbone.rocket.biases)
    assert np.allclose(again.predict_proba(files), run.predict_proba(files), atol=1e-6)
    assert run.model.backbone.rocket.biases.abs().sum() > 0  # fitted, saved, reloaded


def test_minirocket_exports_with_parity_and_runs_without_konstrukt(rocket_run, small_rocket, tmp_path, capsys):
    run = rocket_run
    files = test_files(run)
    cfg = konstrukt.export(run, tmp_path / "b", format="all")
    results = cfg["parity"]["results"]
    assert results["onnx fp32"]["top1_agreement"] == 1.0 and results["onnx fp32"]["max_abs_logit_diff"] <= 1e-3
    assert results["onnx int8"]["top1_agreement"] >= 0.97 and results["onnx int8"]["max_abs_logit_diff"] < 0.1
    import onnx

    int8_ops = {n.op_type for n in onnx.load(str(tmp_path / "b" / "model.int8.onnx")).graph.node}
    assert "MatMulInteger" in int8_ops and "ConvInteger" not in int8_ops  # the head only: features exact
    source = (tmp_path / "b" / "predict_torch.py").read_text()
    portable = Path(konstrukt.__file__).parent / "models" / "portable" / "minirocket.py"
    assert portable.read_text() in source  # the very module konstrukt runs
    assert main(["predict", str(run.path), *map(str, files), "--json", "--top-k", "99"]) == 0
    want = json.loads(capsys.readouterr().out)
    _same_predictions(_standalone(tmp_path / "b", "predict_torch.py", files), want, atol=1e-5)
    _same_predictions(_standalone(tmp_path / "b", "predict.py", files), want, atol=1e-4)


def test_ridge_head_is_ridge_classifier_cv_as_a_linear_layer():
    """The closed-form head chooses scikit-learn's alpha and predicts as RidgeClassifierCV does
    (aeon's MiniRocket head); its softmax is calibrated on leave-one-out decisions, not flat."""
    from sklearn.linear_model import RidgeClassifierCV

    from konstrukt.models.ridge import ALPHAS, fit_ridge

    rng = np.random.default_rng(0)
    for classes, n, d in [(3, 40, 200), (2, 30, 100), (5, 60, 50), (4, 300, 20)]:  # N ≤ D and N > D
        x = rng.normal(size=(n + 100, d))
        y = rng.integers(0, classes, n + 100)
        x[np.arange(n + 100), y] += 2.0
        ref = RidgeClassifierCV(alphas=ALPHAS).fit(x[:n], y[:n])
        head = torch.nn.Sequential(torch.nn.Linear(d, classes))
        row = fit_ridge(head, torch.from_numpy(x[:n]).float(), torch.from_numpy(y[:n]))
        assert row["ridge_alpha"] == pytest.approx(ref.alpha_)
        with torch.no_grad():
            logits = head(torch.from_numpy(x[n:]).float())
        assert (logits.argmax(1).numpy() == ref.predict(x[n:])).mean() >= 0.99
        assert torch.softmax(logits, 1).max(1).values.mean() > 1.5 / classes  # not a flat softmax
    with pytest.raises(ValueError, match="one Linear layer"):
        fit_ridge(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2)),
                  torch.zeros(5, 4), torch.zeros(5, dtype=torch.long))
