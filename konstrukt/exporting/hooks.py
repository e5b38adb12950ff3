"""What a modality tells the exporter about one of its backbones: the records its wing returns.

Each modality's ``export`` hooks (:class:`konstrukt.tasks.ExportHooks`, filled in by
``konstrukt/modalities/<name>/__init__.py`` from its ``export.py``) return these records; the
generic code in this package reads them instead of branching on the modality's or backbone's name.
Plain records, no konstrukt or torch import: a wing builds them without loading the exporter.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Optional


@dataclass(frozen=True)
class OnnxInput:
    """The exported graph's input: how the model is recorded and what the graph takes.

    The batch axis is always dynamic; ``dynamic_axes`` adds more as ``(axis, name, min, max)``.
    """

    unpadded: bool = False  # each input without its trailing zero padding, run one at a time
    dynamic_axes: tuple[tuple[int, str, int, int], ...] = ()
    wrap: Optional[Callable[[Any], Any]] = None  # model -> the module ONNX records (None: the model)
    trace: Optional[Callable[[Any], ContextManager]] = None  # a context the export runs in (model in)
    finish: Optional[Callable[[Any], None]] = None  # edits the exported onnx.ModelProto before saving
    notes: tuple[str, ...] = ()  # the model card's words on what the graph does with its input


@dataclass(frozen=True)
class Int8Policy:
    """How INT8 quantises a backbone's graph.

    Static (``dynamic=False``): calibrated on training samples, QDQ, per-channel weights, Conv and
    Gemm, trying :data:`konstrukt.exporting.onnx.STATIC_LEVELS` in turn. Dynamic: weights only, no
    calibration, ``op_types`` (empty: every op type the quantiser supports).
    """

    dynamic: bool = False
    op_types: tuple[str, ...] = ()  # dynamic only
    per_channel: bool = False  # dynamic only (static is always per channel)
    float_nodes: Optional[Callable[[Path], list[str]]] = None  # fp32 file -> nodes kept in float
    finish: Optional[Callable[[Path], None]] = None  # edits the static INT8 file after quantising


class IdentityAdapter:
    """The exported model takes exactly what konstrukt's model takes (no input adapter)."""

    def wrap(self, model):
        return model

    def to_graph(self, inputs):
        return inputs

    def extra_state(self) -> dict:
        return {}
