"""Bundles: a trained model that runs without konstrukt (folder or .zip), and loading them back.

A bundle holds ``config.json`` (format ``konstrukt-bundle/1``: classes, architecture,
preprocessing, pipeline, metrics, parity, versions), the weights (``model.safetensors`` with the
model's constants, and/or ``model.onnx`` / ``model.int8.onnx``), a generated ``predict.py``,
``requirements.txt`` and a model card ``README.md``. Loading reads JSON, safetensors and ONNX
only — never pickle.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import RunError

BUNDLE_FORMAT = "konstrukt-bundle/1"
TORCH_WEIGHTS, ONNX_FP32, ONNX_INT8 = "model.safetensors", "model.onnx", "model.int8.onnx"


class _Files:
    """Read-only access to a bundle folder or zip by member name."""

    def __init__(self, path: Path):
        self.path = path
        self.zip = None
        self.prefix = ""
        if path.is_file():
            try:
                self.zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise RunError(f"{path}: not a readable zip ({exc})",
                               ["Fix: download or export the bundle again."]) from None
            names = [n for n in self.zip.namelist() if n.endswith("config.json")]
            top = min(names, key=len) if names else "config.json"
            self.prefix = top[: -len("config.json")]  # bundles may sit in one top folder

    def has(self, name: str) -> bool:
        if self.zip is None:
            return (self.path / name).is_file()
        return self.prefix + name in self.zip.namelist()

    def read(self, name: str) -> bytes:
        try:
            if self.zip is None:
                return (self.path / name).read_bytes()
            return self.zip.read(self.prefix + name)
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise RunError(f"{self.path}: cannot read {name} ({exc})",
                           ["Fix: download or export the bundle again."]) from None


def is_bundle(path: Path) -> bool:
    """A folder or zip whose config.json says it is a konstrukt bundle."""
    if path.is_dir() and (path / "report.json").is_file():
        return False
    if not (path.is_file() and path.suffix.lower() == ".zip") and not (path / "config.json").is_file():
        return False
    try:
        files = _Files(path)
        return files.has("config.json") and str(json.loads(files.read("config.json")).get(
            "format", "")).startswith("konstrukt-bundle")
    except (RunError, ValueError, AttributeError):
        return path.is_file()  # a zip that is not a bundle: load_bundle says why


class OnnxModel(nn.Module):
    """An ONNX bundle's model behind the nn.Module interface that :class:`Run` calls."""

    def __init__(self, data: bytes, unpadded: bool, adapter):
        super().__init__()
        # the modality's input adapter turns konstrukt's model input into the graph's (e.g. signals:
        # the graph standardises inside; konstrukt's preprocessor hands standardised windows)
        self.adapter = adapter
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        self.unpadded = unpadded

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from ..models.portable.audio_transformers import valid_lengths

        arr = np.stack(self.adapter.to_graph(list(x.detach().cpu().float().numpy()))).astype(np.float32)
        if self.unpadded:
            lengths = valid_lengths(x.cpu()).tolist()
            out = np.concatenate([self.session.run(["logits"], {"input": arr[i:i + 1, :n]})[0]
                                  for i, n in enumerate(lengths)])
        else:
            out = self.session.run(["logits"], {"input": arr})[0]
        return torch.from_numpy(out)


def input_adapter(modality: str, pre):
    """How the exported model's input differs from konstrukt's model input (the modality's
    ``adapter`` hook; by default it does not)."""
    from ..tasks import MODALITIES
    from .hooks import IdentityAdapter

    make = MODALITIES.get(modality).export.adapter
    return make(pre) if make else IdentityAdapter()


def load_bundle(path: Path):
    """(path, report, config, model, preprocessor) of a bundle, for :class:`konstrukt.Run`: its
    saved architecture and tensors through :func:`konstrukt.rebuild.rebuild`, like a run folder."""
    from ..architecture import build_preprocessor
    from ..config import TrainConfig
    from ..rebuild import rebuild
    files = _Files(path)
    if not files.has("config.json"):
        raise RunError(f"{path} is not a konstrukt bundle (no config.json)",
                       ["Fix: give a folder or .zip written by `konstrukt export`."])
    try:
        cfg = json.loads(files.read("config.json"))
        config = TrainConfig.model_validate(cfg["train_config"])
        arch = cfg["architecture"]
        report = {"task": cfg["task"], "classes": cfg["classes"], "pipeline": cfg["pipeline"]["name"],
                  "strategy": cfg["pipeline"]["strategy"], "model": {"backbone": arch["backbone"]["name"]},
                  "architecture": arch, **cfg.get("metrics", {}), "bundle": cfg}
    except (ValueError, KeyError, TypeError) as exc:
        raise RunError(f"{path}: config.json is not a valid bundle config ({type(exc).__name__}: {exc})",
                       ["Fix: export the bundle again; do not edit config.json by hand."]) from None
    pre = build_preprocessor(arch)  # once: the adapter and the rebuilt run share it
    adapter = input_adapter(arch["backbone"]["modality"], pre)
    if files.has(TORCH_WEIGHTS):
        from safetensors.torch import load as load_bytes

        try:
            state = load_bytes(files.read(TORCH_WEIGHTS))
        except Exception as exc:
            raise RunError(f"{path}: {TORCH_WEIGHTS} is damaged or not safetensors ({exc})",
                           ["Fix: export the bundle again."]) from None
        for key in adapter.extra_state():  # the adapter's, for the bundle's own script: konstrukt's
            state.pop(key, None)           # preprocessor does that part (e.g. standardisation)
        model, pre = rebuild(arch, state, f"{path}/{TORCH_WEIGHTS}", pre=pre)
    elif files.has(ONNX_FP32) or files.has(ONNX_INT8):
        from .onnx import onnx_input

        unpadded = onnx_input(arch["backbone"]["modality"], arch["backbone"]["name"]).unpadded
        model, pre = rebuild(arch, None, str(path), model=OnnxModel(
            files.read(ONNX_FP32 if files.has(ONNX_FP32) else ONNX_INT8), unpadded, adapter), pre=pre)
    else:
        raise RunError(f"{path}: the bundle holds no model file ({TORCH_WEIGHTS}, {ONNX_FP32} or {ONNX_INT8})",
                       ["Fix: export the bundle again."])
    return path, report, config, model, pre
