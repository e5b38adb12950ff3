"""One contract for every registered backbone and every modality, whatever the modality.

A new modality gets these checks for free once its package is in konstrukt/modalities/; its big
backbones add a tiny configuration to TINY_BACKBONES in tests/conftest.py.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from konstrukt.config import TrainConfig
from konstrukt.models.backbones import BACKBONES, build_backbone
from konstrukt.models.classifier import Classifier, count_parameters, set_trainable
from konstrukt.models.heads import build_head, head_blocks
from konstrukt.pipelines import AUTO_CANDIDATES, PIPELINES
from konstrukt.preprocess import Preprocessor, build_preprocessor
from konstrukt.registry import Registry
from konstrukt.tasks import MODALITIES, TASKS

from tests.conftest import TINY_BACKBONES


@pytest.mark.parametrize("name", BACKBONES.names())
def test_backbone_contract(tiny_backbones, name):
    """embed(x) -> (B, D) with D = num_features; blocks(); a head attaches and trains alone or with it."""
    spec = BACKBONES.get(name)
    modality = MODALITIES.get(spec.modality)
    torch.manual_seed(0)
    model = build_backbone(name, "none")
    x = modality.example_input(spec, batch=2, small=True)
    clf = Classifier(model, build_head(head_blocks("mlp"), model.num_features, 3))
    set_trainable(clf, "probe")  # frozen backbone, in eval mode: only the head trains
    total, trainable = count_parameters(clf)
    training_free = not any(True for _ in model.parameters())  # MiniRocket: fixed convolutions
    assert trainable == sum(p.numel() for p in clf.head.parameters()) and (training_free or trainable < total)
    with torch.no_grad():
        out = model(x)  # (B, D)
    assert out.shape == (2, model.num_features) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    if not TINY_BACKBONES.get(name):  # built at its registered size
        assert model.num_features == spec.num_features
    blocks = model.blocks()
    assert blocks and all(isinstance(b, nn.Module) for b in blocks)
    clf.head(out).logsumexp(1).mean().backward()  # (B, 3) logits
    assert all(p.grad is not None for p in clf.head.parameters())
    if training_free:  # nothing in the backbone to fine-tune
        return

    clf.zero_grad(set_to_none=True)
    set_trainable(clf, "partial", partial_blocks=1)  # the last block (or the backbone's own choice)
    logits = clf(x)
    assert logits.shape == (2, 3)
    logits.logsumexp(1).mean().backward()
    trained = [p for p in model.parameters() if p.requires_grad]
    assert trained and all(p.grad is not None for p in trained)  # gradients reach what trains
    assert all(p.grad is None for p in model.parameters() if not p.requires_grad)


@pytest.mark.parametrize("name", MODALITIES.names())
def test_modality_contract(name):
    """File types, preprocessor, augmentations, UI capabilities and config section are all there."""
    modality = MODALITIES.get(name)
    assert modality.extensions and all(e.startswith(".") and e == e.lower() for e in modality.extensions)
    assert isinstance(modality.augmentations(), Registry) and len(modality.augmentations()) > 0
    assert modality.ui.capture in ("webcam", "microphone", "motion", "none")
    assert set(modality.extensions) <= set(modality.ui.accept)
    if modality.config_section:
        assert modality.config_section in TrainConfig.model_fields
    tasks = [t for _, t in TASKS.items() if t.modality == name]
    backbones = [s for _, s in BACKBONES.items() if s.modality == name]
    assert tasks and backbones
    for spec in backbones:  # every backbone of the modality gets a working preprocessor
        pre = build_preprocessor(spec, TrainConfig(task=tasks[0].name))
        assert isinstance(pre, Preprocessor) and pre.signature


def test_tasks_pipelines_and_backbones_are_wired():
    for name, task in TASKS.items():
        assert task.modality in MODALITIES
        assert task.extensions == MODALITIES.get(task.modality).extensions
        for pipe in (task.default_pipeline, task.offline_pipeline):
            assert name in PIPELINES.get(pipe).tasks, (name, pipe)
        assert PIPELINES.get(task.offline_pipeline).pretrained == "none"  # the offline default is offline
    for name, pipe in PIPELINES.items():
        modalities = {TASKS.get(t).modality for t in pipe.tasks}
        assert modalities == {BACKBONES.get(pipe.backbone).modality}, name
    for name, candidates in AUTO_CANDIDATES.items():
        assert all(PIPELINES.get(c).backbone == PIPELINES.get(name).backbone for c in candidates)


def test_unknown_task_lists_the_registered_ones():
    from konstrukt.config import build_config
    from konstrukt.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        build_config({"task": "smell"})
    assert "`task`: must be one of 'image', 'signal', 'sound', 'speech', got 'smell'" in err.value.problems


def _fresh(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_registration_is_explicit_and_tasks_stay_light():
    """No registration by import side effect: a registry looked up before register_all() says so;
    after it, listing tasks needs no torch, and the backbones come on their registry's first lookup."""
    out = _fresh("import sys\n"
                 "from konstrukt.tasks import TASKS\n"
                 "from konstrukt.registry import RegistrationError\n"
                 "try:\n"
                 "    TASKS.names()\n"
                 "except RegistrationError as exc:\n"
                 "    print(exc)\n"
                 "from konstrukt.modalities import register_all\n"
                 "from konstrukt.pipelines import PIPELINES\n"
                 "register_all()\n"
                 "print(TASKS.names(), len(PIPELINES) > 0, 'torch' in sys.modules)\n"
                 "from konstrukt.models.backbones import BACKBONES\n"
                 "print(sorted({s.modality for _, s in BACKBONES.items()}))\n")
    first, tasks, modalities = out.splitlines()
    assert first.startswith("the task registry was looked up before konstrukt.modalities.register_all() was "
                            "called")
    assert [tasks, modalities] == ["['image', 'signal', 'sound', 'speech'] True False", "['audio', 'image', 'signal']"]


