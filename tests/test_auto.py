"""`auto` decides by evidence: what is on this machine, then a CV contest (never the test split).

Two tiny probe backbones registered for the test: ``colour`` (mean colour of each image quadrant:
it separates red from blue pictures) and ``blind`` (zeros: a probe that cannot learn). Their
"pretrained" weights are tiny checkpoints the test writes into a private torch hub cache.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import konstrukt
from konstrukt.auto import auto_plan, clearly_wins, pipeline_available, resolve_pipeline, why_clear
from konstrukt.models.backbones import BACKBONES, Backbone, BackboneSpec, with_pretrained
from konstrukt.models.weights import WeightSource, hub_checkpoint_dir
from konstrukt.modalities.image import ImageInput
from konstrukt.pipelines import PIPELINES, PipelineSpec
from konstrukt.tasks import TASKS

CONFIG = {"target_size": 0, "batch_size": 8, "image_size": 16, "cv": 3, "seed": 0}


class Quadrants(Backbone):
    """(B, 3, H, W) → (B, 12): the mean colour of each quadrant; ``blind``: zeros of that shape."""

    def __init__(self, blind: bool = False):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.blind = blind
        self.num_features = 12

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = F.adaptive_avg_pool2d(x, 2).flatten(1) * self.scale  # (B, 12)
        return feats * 0 if self.blind else feats


def _factory(blind: bool):
    def factory(spec, pretrained):
        return with_pretrained(Quadrants(blind), spec, pretrained, spec.name)

    return factory


@pytest.fixture
def probes(monkeypatch):
    """Register the two probes and make `auto` for images try them before the scratch CNN."""
    backbones, pipelines, tasks = BACKBONES._filled(), PIPELINES._filled(), TASKS._filled()
    for name, blind in (("colour", False), ("blind", True)):
        monkeypatch.setitem(backbones, name, BackboneSpec(
            name=name, modality="image", factory=_factory(blind), num_features=12, input=ImageInput(16),
            weights={"test": WeightSource(url=f"https://example.invalid/{name}-probe.pth", description=f"{name} test")},
            default_weights="test"))
        monkeypatch.setitem(pipelines, name, PipelineSpec(
            name=name, tasks=("image",), backbone=name, pretrained="test",
            defaults={"optimizer": "adam", "learning_rate": 0.05, "num_epochs": 30}, description=f"{name} probe"))

    def use(*pretrained: str) -> None:
        monkeypatch.setitem(tasks, "image", dataclasses.replace(
            tasks["image"], auto_pretrained=pretrained, auto_scratch="scratch_cnn"))

    return use


def put_weights(name: str) -> None:
    """Make the probe's pretrained weights present in the (private) torch hub cache."""
    hub_checkpoint_dir().mkdir(parents=True, exist_ok=True)
    torch.save(Quadrants().state_dict(), hub_checkpoint_dir() / f"{name}-probe.pth")


def red_and_blue(root, per_class: int = 12, size: int = 16, seed: int = 0):
    """Noisy pictures, reddish or bluish: the colour is the class."""
    rng = np.random.default_rng(seed)
    for c, tint in (("red", (200, 40, 40)), ("blue", (40, 40, 200))):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            noise = rng.integers(0, 90, (size, size, 3))
            img = np.clip(np.array(tint) * rng.uniform(0.7, 1.0) + noise - 45, 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / c / f"{c}{i}.png")
    return root


def test_availability_follows_the_weights_on_this_machine(probes):
    probes("no_such_pipeline", "colour", "blind")  # a name no branch registered yet is skipped
    plan = auto_plan("image")
    assert plan.pretrained is None and plan.start == "scratch_cnn"  # nothing on this machine
    assert [n for n, _ in plan.unavailable] == ["colour", "blind"]
    assert "not on this machine" in dict(plan.unavailable)["colour"]
    put_weights("blind")
    plan = auto_plan("image")
    assert plan.pretrained == "blind" and [n for n, _ in plan.unavailable] == ["colour"]
    put_weights("colour")
    assert auto_plan("image").pretrained == "colour" and resolve_pipeline("image", "auto").name == "colour"
    assert auto_plan("image", pretrained="none").unavailable == ()  # random weights need nothing


def test_image_auto_uses_efficientnet_b0_only_when_its_imagenet_weights_are_cached():
    import torchvision

    spec = BACKBONES.get("efficientnet_b0")
    assert auto_plan("image").pretrained != "efficientnet_b0"
    assert not pipeline_available(PIPELINES.get("efficientnet_b0"))[0]
    hub_checkpoint_dir().mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.efficientnet_b0().state_dict(),
               hub_checkpoint_dir() / spec.weights["imagenet"].url.rsplit("/", 1)[-1])
    assert spec.weights["imagenet"].is_local()
    assert auto_plan("image").pretrained == "efficientnet_b0"
    assert resolve_pipeline("image", "auto").name == "efficientnet_b0"


def test_hub_weights_are_local_when_config_and_weights_are_in_the_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    source = WeightSource(hub_id="facebook/wav2vec2-base")
    assert not source.is_local()
    repo = tmp_path / "models--facebook--wav2vec2-base"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    assert not source.is_local()  # a config alone is not the weights
    (snapshot / "model.safetensors").write_bytes(b"x")
    assert source.is_local()
    assert WeightSource().is_local()  # nothing to fetch


def test_clearly_wins_needs_a_margin_over_the_simple_model():
    def cv(mean, std):
        return {"accuracy_mean": mean, "accuracy_std": std}

    assert clearly_wins(cv(0.94, 0.03), cv(0.61, 0.1))
    assert not clearly_wins(cv(0.845, 0.05), cv(0.90, 0.05))  # the digit scans of issue 19
    assert not clearly_wins(cv(0.93, 0.03), cv(0.88, 0.05))  # ahead, but within the margin
    assert clearly_wins(cv(1.0, 0.0), cv(1.0, 0.0))  # perfect: nothing left to gain
    assert not clearly_wins(cv(0.8, 0.0), None)  # below the level: worth trying the scratch model
    assert clearly_wins(cv(0.79, 0.095), cv(0.24, 0.09))  # far ahead of the simple model, though not high


def test_the_reason_no_scratch_model_was_trained_says_which_rule_decided():
    def cv(mean, std):
        return {"accuracy_mean": mean, "accuracy_std": std}

    # a tie with the simple model at 100 % is not a "clear win" over it: nothing is left to gain
    assert why_clear(cv(1.0, 0.0), cv(1.0, 0.0)) == (
        "are right on every held-out example in CV, so nothing is left to gain")
    assert why_clear(cv(0.94, 0.03), cv(0.61, 0.1)) == (
        "win clearly: 30 points above the simple model even one fold std down")
    assert why_clear(cv(0.93, 0.03), cv(0.88, 0.05)) is None
    assert why_clear(cv(0.8, 0.0), None) is None


def test_auto_keeps_pretrained_features_that_win_clearly(probes, tmp_path):
    probes("colour")
    put_weights("colour")
    run = konstrukt.train(red_and_blue(tmp_path / "d"), task="image", pipeline="auto", out=tmp_path / "run",
                          config=CONFIG, verbose=False)
    sel = run.report["selection"]
    assert run.report["pipeline"] == sel["kept"] == "colour"
    rows = {c["name"]: c for c in sel["candidates"]}
    assert rows["colour"]["cv_mean"] == 1.0 and rows["colour"]["role"] == "pretrained"
    assert rows["scratch_cnn"]["status"] == "not run"  # the scratch model was not trained at all
    assert rows["hog_logreg"]["role"] == "reference"
    assert sel["reason"].startswith("kept colour: pretrained image features, 100.0 ± 0.0 % in 3-fold CV against")
    assert "for the simple model" in sel["reason"]
    assert "scratch_cnn was not needed: pretrained image features are right on every held-out example" in sel["reason"]
    assert run.report["baseline"]["verdict"] in ("better", "about the same")
    summary = (run.path / "summary.md").read_text()
    assert "## Why this pipeline" in summary and "| colour (kept) |" in summary
    assert json.loads((run.path / "report.json").read_text())["selection"]["kept"] == "colour"


def test_auto_trains_the_scratch_model_when_the_probe_loses_and_keeps_the_winner(probes, tmp_path):
    probes("blind")
    put_weights("blind")
    data = red_and_blue(tmp_path / "d")
    # 6 epochs: enough for the scratch CNN on colours (the blind probe learns nothing at any length)
    run = konstrukt.train(data, task="image", pipeline="auto", out=tmp_path / "run",
                          config={**CONFIG, "num_epochs": 6}, verbose=False)
    sel = run.report["selection"]
    rows = {c["name"]: c for c in sel["candidates"]}
    assert rows["blind"]["cv_mean"] == pytest.approx(0.5, abs=0.1)  # zeros: one class for everything
    assert rows["scratch_cnn"]["status"] == "scored" and rows["scratch_cnn"]["cv_mean"] > 0.9
    assert run.report["pipeline"] == sel["kept"] == "scratch_cnn"
    assert sel["reason"].startswith("kept scratch_cnn: a small model trained from scratch")
    assert "for pretrained image features (blind)" in sel["reason"]
    assert "recommended scratch_cnn" in sel["rule"]  # compare's rule, on CV only
    # the kept model is the scratch CNN that was trained (not a retrained copy), and it predicts
    assert run.report["model"]["backbone"] == "scratch_cnn"
    pred = konstrukt.load_run(run.path).predict(sorted((data / "red").iterdir())[:2])
    assert all(p["label"] in ("red", "blue") for p in pred)


def test_cli_says_why_auto_kept_its_pipeline(probes, tmp_path, capsys):
    from konstrukt.cli import main

    probes("colour")
    put_weights("colour")
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(CONFIG))
    assert main(["train", str(red_and_blue(tmp_path / "d")), "--task", "image", "--config", str(cfg),
                 "--out", str(tmp_path / "run"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "auto kept colour: pretrained image features" in " ".join(out.split())
    assert "a simple baseline" in out
    assert main(["pipelines"]) == 0
    listing = capsys.readouterr().out
    assert "auto on this machine: colour (pretrained image features)" in listing
    assert "efficientnet_b0" in listing and "weights not on this machine" in listing
