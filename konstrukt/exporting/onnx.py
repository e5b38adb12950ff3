"""ONNX export (fp32) and INT8 quantisation with onnxruntime.

The graph takes the raw model input — an image as (B, 3, S, S) floats in [0, 1], audio as a
(B, T) waveform, a signal as a raw (B, C, L) window — so normalisation and any front end run
inside it. The batch axis is dynamic. What differs per modality and backbone — the module that is
recorded, more dynamic axes, edits of the saved graph, the INT8 policy — comes from the modality's
export hooks (:class:`konstrukt.tasks.ExportHooks`, records in :mod:`.hooks`); the audio wing's
log-mel front end as a DFT convolution is the main example (``konstrukt/modalities/audio/export.py``).

INT8: static quantisation (QDQ, per-channel weights) calibrated on training samples, or dynamic
quantisation (weights only), as the modality's :class:`~.hooks.Int8Policy` says.
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
from .hooks import Int8Policy, OnnxInput

OPSET = 18
INPUT, OUTPUT = "input", "logits"


def onnx_input(modality: str, backbone: str) -> OnnxInput:
    """How a backbone of a modality is exported (its wing's ``onnx_input`` hook, or the default)."""
    from ..tasks import MODALITIES

    hook = MODALITIES.get(modality).export.onnx_input
    return hook(backbone) if hook else OnnxInput()


def int8_policy(modality: str, backbone: str) -> Int8Policy:
    """How a backbone of a modality is quantised (its wing's ``int8`` hook, or static)."""
    from ..tasks import MODALITIES

    hook = MODALITIES.get(modality).export.int8
    return hook(backbone) if hook else Int8Policy()


def export_fp32(model: nn.Module, backbone: str, example: torch.Tensor, path: Path,
                spec: OnnxInput = OnnxInput()) -> None:
    """Export with the dynamo exporter; dynamic batch (and the axes ``spec`` adds), in ``spec``'s
    trace context, the saved graph edited by ``spec.finish``."""
    from torch.export import Dim

    module = (spec.wrap(model) if spec.wrap else model).eval()
    axes = {0: Dim("batch", min=1, max=4096)}
    for axis, name, low, high in spec.dynamic_axes:
        axes[axis] = Dim(name, min=low, max=high)
    example = example[:2] if example.shape[0] >= 2 else torch.cat([example, example])  # batch ≥ 2
    trace = spec.trace(module) if spec.trace else contextlib.nullcontext()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), trace:
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
    if spec.finish:
        spec.finish(model)
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
        # SE: the squeeze conv reads a pooled vector; the excite conv feeds only the gate's Sigmoid
        # (a conv followed by SiLU feeds Sigmoid *and* Mul: x · σ(x); those stay quantised)
        if (src is not None and src.op_type in ("ReduceMean", "GlobalAveragePool")) or feeds == ["Sigmoid"]:
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


def _compact_quantizer_names(fp32: Path, out: Path) -> None:
    """Shorten the names the quantiser made up (``<weight>_quantized_scale``…, ~4 per weight) and drop
    node names; names from the fp32 graph stay. Outputs are bit-identical; B0's INT8 file loses
    ~80 KB (3.64× → 3.71× smaller than fp32, float biases)."""
    import onnx

    fp = onnx.load(str(fp32), load_external_data=False).graph
    keep = ({v.name for v in (*fp.input, *fp.output, *fp.initializer)} | {o for n in fp.node for o in n.output})
    model = onnx.load(str(out))
    short: dict[str, str] = {}

    def rename(name: str) -> str:
        return name if not name or name in keep else short.setdefault(name, f"q{len(short)}")

    for init in model.graph.initializer:
        init.name = rename(init.name)
    for node in model.graph.node:
        node.input[:] = [rename(i) for i in node.input]
        node.output[:] = [rename(o) for o in node.output]
        node.name = ""
    onnx.save(model, str(out))


class _Calibration:
    """onnxruntime's CalibrationDataReader over a list of model inputs."""

    def __init__(self, inputs: list[np.ndarray], batch: int = 8):
        self.batches = iter([np.stack(inputs[i:i + batch]) for i in range(0, len(inputs), batch)])

    def get_next(self):
        x = next(self.batches, None)
        return None if x is None else {INPUT: x}


# Static INT8 from the smallest file to the closest one: the exporter keeps the first whose top-1
# agreement with the PyTorch model reaches parity.INT8_TARGET_AGREEMENT (bench/int8_trained_b0.py).
STATIC_LEVELS = ("all", "ends", "fragile")
STATIC_LEVEL_NAMES = {"all": "static", "ends": "static (first conv and last layer in float)",
                      "fragile": "static (first conv, SE convs and last layer in float)"}


def _float_nodes(fp32: Path, level: str) -> list[str]:
    fragile = fragile_nodes(fp32)
    if level == "ends":
        return [fragile[0], fragile[-1]] if fragile else []
    return fragile if level == "fragile" else []


def quantize(fp32: Path, out: Path, policy: Int8Policy, calibration: list[np.ndarray], level: str = "all") -> str:
    """Write the INT8 model as ``policy`` says; returns the method used (``static…`` or ``dynamic``).

    Static quantisation keeps the nodes of ``level`` (:data:`STATIC_LEVELS`) in float: ``all``
    quantises every Conv/Gemm, ``ends`` keeps the first conv and the last layer, ``fragile`` also
    the squeeze-and-excitation convs (:func:`fragile_nodes`). Biases stay float: int32 biases are
    as large, and their per-channel scales cost B0's file 6 % (3.42x → 3.64x smaller than fp32).
    The policy's ``float_nodes`` stay in float either way.
    """
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)

    exclude = policy.float_nodes(fp32) if policy.float_nodes else []
    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # ORT's pre-processing advice
    if policy.dynamic:
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=policy.per_channel,
                         op_types_to_quantize=list(policy.op_types) or None, nodes_to_exclude=exclude)
        _drop_shape_info(out)
        _compact_quantizer_names(fp32, out)
        return "dynamic"
    if not calibration:
        raise RunError("static INT8 quantisation needs training samples for calibration, and none "
                       "could be read", ["Fix: keep the training files in place, or pass --samples FOLDER."])
    exclude = list(dict.fromkeys(exclude + _float_nodes(fp32, level)))
    quantize_static(str(fp32), str(out), _Calibration(calibration), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                    op_types_to_quantize=["Conv", "Gemm"], nodes_to_exclude=exclude,
                    calibrate_method=CalibrationMethod.MinMax, extra_options={"QuantizeBias": False})
    _drop_shape_info(out)
    _compact_quantizer_names(fp32, out)
    if policy.finish:
        policy.finish(out)
    return STATIC_LEVEL_NAMES[level]
