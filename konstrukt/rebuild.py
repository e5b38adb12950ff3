"""The one way back from saved files to a working model, for every task: (model, preprocessor).

A run folder and a bundle both hold an ``architecture`` (backbone, head and the preprocessing
state — everything learned from the data included) and tensors (weights, and the model's constants:
normalisation, STFT window, mel filters). :func:`rebuild` turns those into a model and its
preprocessor; :func:`architecture_of` reads a run folder's architecture, describing runs written
before runs described themselves from the registry as they were then.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .architecture import apply_constants, build_model, build_preprocessor, constant_buffers
from .errors import RunError


def rebuild(arch: dict, state: dict[str, torch.Tensor] | None, where: str, model: torch.nn.Module | None = None,
            pre=None):
    """(model, preprocessor) of ``arch``: the model built and loaded strictly from ``state``
    (weights and constants together), or ``model`` as given (an ONNX runtime behind nn.Module);
    ``pre``: the preprocessor when the caller already built it from ``arch``."""
    pre = pre if pre is not None else build_preprocessor(arch)
    if model is None:
        model = build_model(arch)
        state = dict(state or {})
        constants = {k: state.pop(k) for k in list(state) if k in constant_buffers(model)}
        apply_state(model, state, where)
        apply_constants(model, constants, where)
    return model.eval(), pre


def apply_state(model: torch.nn.Module, state: dict, where: str) -> None:
    """``load_state_dict(strict=True)``; missing/unexpected/mis-shaped tensors are a RunError."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # missing/unexpected keys, shape mismatches: torch lists them all
        problems = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()][:8]
        raise RunError(f"{where}: the weights do not match the saved architecture",
                       problems + ["Fix: the config or weights were edited or mixed up; use the files "
                                   "of one run, or retrain."]) from None


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file (never unpickled); a damaged file is a RunError naming it."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors' own error type for truncated/corrupt files
        raise RunError(f"{path}: the file is damaged or not safetensors ({exc})",
                       ["Fix: copy the run folder again, or retrain."]) from None


def architecture_of(report: dict, config, folder: Path) -> dict:
    """The run's saved architecture; for runs written before it was saved, the registry's
    description of the backbone and head as they were built then (preprocessing from the config,
    and a signal run's learned state from its ``preprocessing.json``)."""
    if report.get("architecture"):
        return report["architecture"]
    from .architecture import describe
    from .artifacts import PREPROCESSING
    from .config import HeadBlock
    from .models.backbones import BACKBONES, build_backbone
    from .preprocess import build_preprocessor as registry_preprocessor

    spec = BACKBONES.get(report["model"]["backbone"])
    pre = registry_preprocessor(spec, config)
    if (folder / PREPROCESSING).is_file():
        pre.load_state(json.loads((folder / PREPROCESSING).read_text(encoding="utf-8")))
    backbone = build_backbone(spec.name, "none", **pre.backbone_options())
    return describe(spec, backbone, [HeadBlock(**b) for b in report["model"]["head"]],
                    len(report["classes"]), pre)
