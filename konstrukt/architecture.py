"""Self-describing runs: the architecture and preprocessing of a model as plain JSON, and back.

A run's ``report.json`` holds an ``architecture`` section written by :func:`describe`:

* ``backbone`` — the registered name plus every argument that shapes it (input size, mean/std,
  sample rate, embedding size, the architecture overrides such as CNN widths or a transformer's
  config), so a later change of the registry's defaults cannot change a saved model;
* ``head`` — the layer specs, and ``num_classes``;
* ``preprocessing`` — the preprocessor's own settings (``Preprocessor.state()``) plus the
  front end that lives inside the model (normalisation, log-mel settings), for people and for
  generated code.

Constants that live inside the model but are not trained (normalisation mean/std, STFT window,
mel filters) are saved as tensors in ``constants.safetensors`` and copied back on load.
Old runs without these sections are rebuilt from the registry as before.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .errors import RunError

CONSTANTS = "constants.safetensors"
FORMAT = "konstrukt-architecture/1"
# transformers config keys that describe labels or bookkeeping, not the network's shape
_HF_SKIP = {"id2label", "label2id", "num_labels", "architectures", "transformers_version",
            "model_type", "_name_or_path", "torch_dtype", "dtype", "_attn_implementation_autoset"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def backbone_overrides(backbone: nn.Module, spec) -> dict[str, Any]:
    """The constructor overrides that shape ``backbone`` (transformers: its config's non-defaults)."""
    hf = getattr(getattr(backbone, "ast", None) or getattr(backbone, "wav2vec2", None), "config", None)
    if hf is not None:
        diff = hf.to_diff_dict()
        return _jsonable({k: v for k, v in diff.items() if k not in _HF_SKIP})
    return _jsonable(dict(spec.extra.get("config_overrides", {})))


def frontend(backbone: nn.Module) -> dict[str, Any]:
    """What the model does to its raw input before the network (it runs inside the graph)."""
    out: dict[str, Any] = {}
    for name, mod in backbone.named_modules():
        found = {k: int(getattr(mod, k)) for k in ("n_fft", "win_length", "hop_length", "frame", "hop")
                 if isinstance(getattr(mod, k, None), int)}
        if "n_fft" in found:  # a spectrogram front end (LogMel, KaldiFbank, PANNs STFT)
            mel = getattr(mod, "mel", None)
            if isinstance(mel, torch.Tensor):
                found["n_mels"] = int(mel.shape[-1])
            out[name] = {"type": type(mod).__name__, **found}
    mean = getattr(backbone, "mean", None)
    if isinstance(mean, torch.Tensor):
        out["normalise"] = {"mean": mean.flatten().tolist(), "std": backbone.std.flatten().tolist()}
    return out


def backbone_options(spec, pre) -> dict[str, Any]:
    """The factory arguments the data decided (signals: channels, stem stride, sizes), with the
    registry variant they complete; empty for backbones sized by the registry alone."""
    options = {k: v for k, v in pre.backbone_options().items() if v is not None}
    return _jsonable({**spec.extra.get("variant", {}), **options}) if options else {}


def describe(spec, backbone: nn.Module, head_blocks: list, num_classes: int, pre) -> dict[str, Any]:
    """The ``architecture`` section of a run: everything needed to rebuild the model."""
    return {
        "format": FORMAT,
        "backbone": {"name": spec.name, "modality": spec.modality,
                     "num_features": int(backbone.num_features),
                     "input": _jsonable(dataclasses.asdict(spec.input)) if spec.input is not None else None,
                     "config_overrides": backbone_overrides(backbone, spec),
                     "options": backbone_options(spec, pre)},
        "head": [b.model_dump() if hasattr(b, "model_dump") else dict(b) for b in head_blocks],
        "num_classes": int(num_classes),
        "preprocessing": {**pre.state(), "in_model": frontend(backbone)},
    }


def spec_from(arch: dict):
    """The registry's backbone spec with every saved argument put back (registry defaults ignored)."""
    from .models.backbones import BACKBONES

    b = arch["backbone"]
    spec = BACKBONES.get(b["name"])
    saved_input = spec.input
    if b.get("input") is not None and spec.input is not None:  # e.g. ImageInput(size, mean, std)
        saved_input = type(spec.input)(**{k: tuple(v) if isinstance(v, list) else v for k, v in b["input"].items()})
    return dataclasses.replace(spec, num_features=b["num_features"], input=saved_input,
                               extra={**spec.extra, "config_overrides": dict(b["config_overrides"])})


def build_model(arch: dict):
    """An untrained Classifier of exactly the saved architecture (no pretrained download)."""
    from .config import HeadBlock
    from .models.classifier import Classifier
    from .models.heads import build_head

    spec = spec_from(arch)
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in arch["backbone"].get("options", {}).items()}
    try:
        backbone = spec.factory(spec, "none", **options)
    except (TypeError, ValueError) as exc:
        raise RunError(f"the saved architecture of backbone {spec.name} cannot be built ({exc})",
                       ["Fix: the run was written by an incompatible konstrukt version; retrain it."]) from None
    head = build_head([HeadBlock(**b) for b in arch["head"]], backbone.num_features, arch["num_classes"])
    return Classifier(backbone, head)


def build_preprocessor(arch: dict):
    """The preprocessor rebuilt from its saved settings: its ``kind`` is the modality, whose
    ``restore_preprocessor`` hook reads them (``Preprocessor.from_state``)."""
    from .tasks import MODALITIES

    cfg = arch["preprocessing"]
    known = [name for name, modality in MODALITIES.items() if modality.restore_preprocessor]
    if cfg.get("kind") not in known:
        raise RunError(f"unknown preprocessing kind {cfg.get('kind')!r} in the saved architecture",
                       [f"known: {', '.join(known)}; the run needs a newer konstrukt"])
    return MODALITIES.get(cfg["kind"]).restore_preprocessor(cfg)


# --------------------------------------------------------------------------- constant tensors


def constant_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    """Non-trained, non-persistent buffers (normalisation, window, mel filters) by full name."""
    out = {}
    for mod_name, mod in model.named_modules():
        for name in getattr(mod, "_non_persistent_buffers_set", ()):
            buf = getattr(mod, name, None)
            if isinstance(buf, torch.Tensor):
                out[f"{mod_name}.{name}" if mod_name else name] = buf.detach().cpu().contiguous()
    return out


def save_constants(model: nn.Module, path: Path) -> None:
    save_file(constant_buffers(model), str(path), metadata={"format": "konstrukt-constants"})


def load_constants(model: nn.Module, path: Path) -> None:
    """Copy saved constants into the model's buffers; a damaged file or mismatch is a RunError."""
    try:
        saved = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error type on truncated files
        raise RunError(f"{path}: cannot read the saved constants ({exc})",
                       ["Fix: the file is damaged; copy the run folder again or retrain."]) from None
    apply_constants(model, saved, str(path))


def apply_constants(model: nn.Module, saved: dict[str, torch.Tensor], where: str) -> None:
    current = constant_buffers(model)
    problems = [f"`{k}`: saved {tuple(v.shape)}, model {tuple(current[k].shape)}"
                for k, v in saved.items() if k in current and current[k].shape != v.shape]
    problems += [f"`{k}`: not in the model" for k in saved if k not in current]
    if problems:
        raise RunError(f"{where}: saved constants do not match the architecture", problems)
    with torch.no_grad():
        for full, value in saved.items():
            mod_name, _, name = full.rpartition(".")
            mod = model.get_submodule(mod_name) if mod_name else model
            getattr(mod, name).copy_(value)
