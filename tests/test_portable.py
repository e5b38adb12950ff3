"""One source for model code: konstrukt's backbones *are* the portable networks that bundles carry."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from konstrukt.exporting import template_inputs, templates
from konstrukt.exporting.templates import portable_source, render, torch_model
from konstrukt.models.backbones import BACKBONES, build_backbone
from tests.conftest import TINY_BACKBONES

PORTABLE = Path(templates.__file__).parents[1] / "models" / "portable"


@pytest.mark.parametrize("module", sorted(p.stem for p in PORTABLE.glob("*.py") if p.stem != "__init__"))
def test_portable_modules_import_no_konstrukt(module):
    tree = ast.parse(portable_source(module))
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.startswith("konstrukt")], imported
    # A sibling portable module may be imported only where a bundle can do without it: inside
    # `try: ... except ImportError: pass` (the bundle pastes the sibling above this module).
    guarded = {id(n) for t in ast.walk(tree) if isinstance(t, ast.Try)
               and any(isinstance(h.type, ast.Name) and h.type.id == "ImportError" for h in t.handlers)
               for n in t.body if isinstance(n, ast.ImportFrom)}
    relative = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
    assert all(id(n) in guarded and n.level == 1 for n in relative), "relative import outside try/except ImportError"


def test_the_templates_hold_no_network_code():
    for module in (templates, template_inputs):
        source = Path(module.__file__).read_text(encoding="utf-8")
        assert "(nn.Module)" not in source and "nn.Conv" not in source and "nn.Linear" not in source


def _one_per_family() -> list[str]:
    """Every backbone with a torch bundle; of the torchvision family only its smallest (fast)."""
    return [n for n in BACKBONES.names() if torch_model(n) is not None
            and (torch_model(n) is not templates.TORCHVISION or n == "mobilenet_v3_small")]


def _portable_modules(module) -> set[str]:
    return {c.__module__.rsplit(".", 1)[-1] for m in module.modules() for c in type(m).__mro__
            if c.__module__.startswith("konstrukt.models.portable.")}


@pytest.mark.parametrize("name", _one_per_family())
def test_every_bundled_backbone_is_the_portable_network_konstrukt_trains(name, monkeypatch):
    spec, model = BACKBONES.get(name), torch_model(name)
    monkeypatch.setitem(spec.extra, "config_overrides", TINY_BACKBONES.get(name, {}))
    options = {"in_channels": 2, "length": 64} if spec.modality == "signal" else {}
    backbone = build_backbone(name, "none", **options)
    assert any(c.__module__.startswith("konstrukt.models.portable.") for c in type(backbone).__mro__)
    assert _portable_modules(backbone) <= set(model.modules), name  # what konstrukt runs, the bundle carries
    source = render(version="0", needs=[], modality=spec.modality, runtime="torch", backbone=name)
    for module in model.modules:
        assert portable_source(module) in source  # verbatim, not a second copy
