"""Adding a modality is one package: a toy "value list" modality (tests/toy_modality/) registers
through the same call as the built-in ones and trains, reloads and predicts end to end."""
from __future__ import annotations

import numpy as np
import pytest

import konstrukt
from konstrukt import modalities
from konstrukt.models.backbones import BACKBONES
from konstrukt.modalities import register_package
from konstrukt.pipelines import AUTO_CANDIDATES, PIPELINES
from konstrukt.tasks import MODALITIES, TASKS

from tests import toy_modality


@pytest.fixture
def toy_registered(monkeypatch):
    """The toy modality registered for one test; the registries get their entries back after it,
    so no other test sees a fifth task."""
    for registry in (MODALITIES, TASKS, PIPELINES, AUTO_CANDIDATES, BACKBONES):
        monkeypatch.setattr(registry, "_entries", dict(registry._filled()))
    monkeypatch.setattr(modalities, "_registered", list(modalities._registered))  # forgets the toy after
    register_package(toy_modality)
    yield


def _write(root, rng, per_class: int = 12):
    """Rising and falling ramps of 8 to 16 values with noise: learnable from the values alone."""
    for label, sign in (("rising", 1.0), ("falling", -1.0)):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            n = int(rng.integers(8, 17))
            values = sign * np.linspace(0, 1, n) + rng.normal(0, 0.05, n)
            (root / label / f"{label}_{i}.vals").write_text(" ".join(f"{v:.4f}" for v in values))


def test_a_new_modality_package_trains_end_to_end(toy_registered, tmp_path):
    assert "values" in TASKS and "values_mlp" in BACKBONES.names()
    _write(tmp_path / "data", np.random.default_rng(0))
    run = konstrukt.train(tmp_path / "data", task="values", out=tmp_path / "run", verbose=False,
                          config={"seed": 0, "cv": 0})
    assert run.report["model"]["backbone"] == "values_mlp"
    assert run.report["test"]["accuracy"] >= 0.75  # two classes: chance is 0.5

    loaded = konstrukt.load_run(tmp_path / "run")  # the modality's restore hook rebuilds the preprocessor
    new = tmp_path / "new.vals"
    new.write_text("0.9, 0.7, 0.5, 0.3, 0.1, -0.1, -0.3, -0.5, -0.7")
    [pred] = loaded.predict([new])
    assert pred["label"] == "falling"


def test_the_toy_is_gone_after_its_test():
    assert "values" not in TASKS and "values" not in MODALITIES
