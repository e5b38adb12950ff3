"""ONNX export (fp32) and INT8 quantisation with onnxruntime.

The graph takes the raw model input — an image as (B, 3, S, S) floats in [0, 1], audio as a
(B, T) waveform — so normalisation and the log-mel front end (``STFT`` is an ONNX op from opset
17) run inside it. The batch axis is dynamic. wav2vec2 takes its waveform without the zero padding
(the time axis is dynamic too), because its group norm would otherwise mix padding into every
frame; its predict.py trims and runs one file at a time.

INT8: static quantisation (QDQ, per-channel weights) calibrated on training samples for
convolutional image/audio models; dynamic quantisation for transformers and signal models. The mel
filter-bank product of the front end stays in float, because log-mel levels of quiet sounds do not survive 8 bits.
"""
from __future__ import annotations

import contextlib
import logging
import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import RunError

OPSET = 18
INPUT, OUTPUT = "input", "logits"
DYNAMIC_QUANT = frozenset({"ast", "wav2vec2_base"})  # transformers: dynamic; the rest: static
UNPADDED = frozenset({"wav2vec2_base"})  # backbones whose graph takes the unpadded waveform


class UnpaddedWav2Vec2(nn.Module):
    """wav2vec2 classifier on one unpadded waveform batch: the exported form (no data-dependent loop)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, wave: torch.Tensor) -> torch.Tensor:  # wave: (B, L) without padding
        return self.model.head(self.model.backbone._embed(wave))  # (B, C)


def exportable(model: nn.Module, backbone: str) -> nn.Module:
    """The module whose forward ONNX records (wav2vec2: the unpadded form)."""
    return UnpaddedWav2Vec2(model) if backbone in UNPADDED else model


def export_fp32(model: nn.Module, backbone: str, example: torch.Tensor, path: Path) -> None:
    """Export with the dynamo exporter (it handles ``torch.stft``); dynamic batch (and time)."""
    from torch.export import Dim

    module = exportable(model, backbone).eval()
    batch = Dim("batch", min=1, max=4096)
    axes = {0: batch}
    if backbone in UNPADDED:
        axes[1] = Dim("time", min=400, max=16000 * 600)
    example = example[:2] if example.shape[0] >= 2 else torch.cat([example, example])  # batch ≥ 2
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), str(path), input_names=[INPUT], output_names=[OUTPUT],
                              dynamic_shapes=(axes,), dynamo=True, opset_version=OPSET,
                              external_data=False, verbose=False)
    except Exception as exc:  # the exporter raises many types; the user needs the gist
        raise RunError(f"ONNX export of {backbone} failed: {type(exc).__name__}: "
                       f"{str(exc).splitlines()[0][:300]}",
                       ["Fix: export --format bundle (PyTorch) instead, and report this model."]) from None
    import onnx

    model = onnx.load(str(path))
    for node in model.graph.node:  # the exporter's per-node stack traces: ~3 KB a node, not needed
        del node.metadata_props[:]
        node.doc_string = ""
    onnx.save(model, str(path))
    onnx.checker.check_model(str(path), full_check=True)


def session(path: Path):
    """An onnxruntime CPU session."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run_session(sess, inputs: list[np.ndarray], unpadded: bool, batch: int = 16) -> np.ndarray:
    """Logits (N, C) for model inputs; unpadded inputs (different lengths) go one by one."""
    if unpadded:
        return np.concatenate([sess.run([OUTPUT], {INPUT: x[None]})[0] for x in inputs])
    out = [sess.run([OUTPUT], {INPUT: np.stack(inputs[i:i + batch])})[0] for i in range(0, len(inputs), batch)]
    return np.concatenate(out)


def _frontend_nodes(path: Path) -> list[str]:
    """MatMul nodes that apply the mel filter bank (kept in float)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [n.name for n in graph.node
            if n.op_type == "MatMul" and any(i.endswith((".mel", "mel_filters")) for i in n.input)]


def fragile_nodes(path: Path) -> list[str]:
    """Nodes whose INT8 error costs most agreement for least size: the first convolution (raw pixel
    ranges), squeeze-and-excitation gates (1×1 convs on pooled vectors that feed a Sigmoid: a small
    error scales whole channels) and the layer that writes the logits."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    convs = [n for n in graph.node if n.op_type == "Conv"]
    out = [convs[0].name] if convs else []
    for n in convs:
        src = producer.get(n.input[0])
        feeds = [c.op_type for c in consumers.get(n.output[0], [])]
        if (src is not None and src.op_type in ("ReduceMean", "GlobalAveragePool")) or "Sigmoid" in feeds:
            out.append(n.name)
    logits = {o.name for o in graph.output}
    for n in graph.node:  # the last Gemm/MatMul (its Add, when split) writes the logits
        if n.op_type in ("Gemm", "MatMul") and (set(n.output) & logits or any(
                c.op_type == "Add" and set(c.output) & logits for c in consumers.get(n.output[0], []))):
            out.append(n.name)
    return list(dict.fromkeys(out))


def _drop_shape_info(path: Path) -> None:
    """Remove the intermediate shape annotations the quantiser adds (~0.7 MB on B0; ORT infers them)."""
    import onnx

    model = onnx.load(str(path))
    del model.graph.value_info[:]
    onnx.save(model, str(path))


class _Calibration:
    """onnxruntime's CalibrationDataReader over a list of model inputs."""

    def __init__(self, inputs: list[np.ndarray], batch: int = 8):
        self.batches = iter([np.stack(inputs[i:i + batch]) for i in range(0, len(inputs), batch)])

    def get_next(self):
        x = next(self.batches, None)
        return None if x is None else {INPUT: x}


def needs_calibration(backbone: str, modality: str) -> bool:
    """Static quantisation (calibrated on training samples) or dynamic (none needed)?"""
    return modality != "signal" and backbone not in DYNAMIC_QUANT


def quantize(fp32: Path, out: Path, backbone: str, calibration: list[np.ndarray], modality: str = "") -> str:
    """Write the INT8 model; returns the method used (``static`` or ``dynamic``).

    Signal models (small 1-D convs, LayerNorm, LSTM/GRU) are quantised dynamically, every supported
    op included: their activations swing per recording, so a static activation range calibrated
    on a few training windows costs agreement, and the recurrent parts have no static kernel.
    """
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)

    exclude = _frontend_nodes(fp32)
    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # ORT's pre-processing advice
    if modality == "signal":
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True)
        _drop_shape_info(out)
        return "dynamic"
    if backbone in DYNAMIC_QUANT:
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"],
                         nodes_to_exclude=exclude)
        _drop_shape_info(out)
        return "dynamic"
    if not calibration:
        raise RunError("static INT8 quantisation needs training samples for calibration, and none "
                       "could be read", ["Fix: keep the training files in place, or pass --samples FOLDER."])
    quantize_static(str(fp32), str(out), _Calibration(calibration), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                    op_types_to_quantize=["Conv", "Gemm"], nodes_to_exclude=exclude,
                    calibrate_method=CalibrationMethod.MinMax)
    _drop_shape_info(out)
    return "static"
