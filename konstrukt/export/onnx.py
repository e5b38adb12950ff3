"""ONNX export (fp32) and INT8 quantisation with onnxruntime.

The graph takes the raw model input — an image as (B, 3, S, S) floats in [0, 1], audio as a
(B, T) waveform, a signal as a raw (B, C, L) window — so normalisation and the log-mel front end
run inside it (the STFT as a convolution over a DFT basis: onnxruntime's STFT op is slower than
PyTorch at batch 1; the basis is computed from the window by graph nodes that onnxruntime folds
at session start, so the file does not store it). The batch axis is dynamic. wav2vec2 takes its waveform without the zero
padding (the time axis is dynamic too), because its group norm would otherwise mix padding into
every frame; its predict.py trims and runs one file at a time.

INT8: static quantisation (QDQ, per-channel weights) calibrated on training samples for
convolutional image/audio models; dynamic quantisation for transformers and signal models (for
MiniRocket the linear head only: its fixed features stay exact). The
front end (DFT convolution, mel filter-bank product) stays in float, because log-mel levels of
quiet sounds do not survive 8 bits; its constants are stored as float16 in the INT8 file.
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
HEAD_ONLY_QUANT = frozenset({"minirocket"})  # fixed features whose inputs must stay exact: INT8 head only


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


def _dft_logmel(self, wave: torch.Tensor) -> torch.Tensor:
    """LogMel's forward with the STFT as one strided Conv1d over a windowed DFT basis.

    Same result as ``torch.stft`` (centre, reflect padding, Hann window padded to n_fft) within
    float rounding; onnxruntime runs it as a plain convolution, much faster than its STFT op.
    """
    import torch.nn.functional as F

    if wave.shape[-1] <= self.n_fft // 2:
        wave = F.pad(wave, (0, self.n_fft // 2 + 1 - wave.shape[-1]))
    x = F.pad(wave.float()[:, None], (self.n_fft // 2, self.n_fft // 2), mode="reflect")  # (B, 1, T + n_fft)
    y = F.conv1d(x, self.dft_basis, stride=self.hop_length)  # (B, 2F, frames): real then imaginary
    bins = self.n_fft // 2 + 1
    power = y[:, :bins] ** 2 + y[:, bins:] ** 2
    mel = torch.matmul(power.transpose(1, 2), self.mel)  # (B, frames, M)
    return 10.0 * torch.log10(mel.clamp_min(1e-10)).transpose(1, 2).unsqueeze(1)


def dft_basis(n_fft: int, window: torch.Tensor) -> torch.Tensor:
    """(2F, 1, n_fft) kernels: window × cos and window × −sin of every rFFT bin (float64 → float32)."""
    w = torch.zeros(n_fft, dtype=torch.float64)
    left = (n_fft - window.shape[0]) // 2  # torch.stft centres a shorter window in n_fft
    w[left:left + window.shape[0]] = window.double()
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
    angle = 2 * torch.pi * k * n / n_fft
    return torch.cat([w * torch.cos(angle), -w * torch.sin(angle)]).float()[:, None, :]


@contextlib.contextmanager
def dft_frontend(model: nn.Module):
    """While exporting, every LogMel computes its STFT as a DFT convolution (see ``_dft_logmel``)."""
    import types

    from ..models.portable.audio_nets import LogMel

    patched = [m for m in model.modules() if isinstance(m, LogMel)]
    for m in patched:
        m.dft_basis = dft_basis(m.n_fft, m.window)
        m.forward = types.MethodType(_dft_logmel, m)
    try:
        yield model
    finally:
        for m in patched:
            del m.forward, m.dft_basis



def _dft_basis_in_graph(model) -> None:
    """Replace the stored DFT basis (2F × n_fft floats, ~1 MB) by nodes that compute it from the
    window at session start (onnxruntime folds constant subgraphs), so the file keeps n_fft floats.

    cos/sin of 2π·((k·n) mod N)/N: the integer product is reduced first, so float32 angles stay
    small and the computed basis equals the stored one within ~1e-6. Left alone if it does not.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    for init in list(graph.initializer):
        if not init.name.endswith("dft_basis"):
            continue
        basis = numpy_helper.to_array(init)  # (2F, 1, N)
        n_fft = basis.shape[-1]
        bins = n_fft // 2 + 1
        window = basis[0, 0].astype(np.float32)  # bin 0: cos(0) = 1, so the row is the window
        kn = np.mod(np.outer(np.arange(bins), np.arange(n_fft)), n_fft).astype(np.float32)
        angle = kn * np.float32(2 * np.pi / n_fft)
        again = np.concatenate([np.cos(angle) * window, -np.sin(angle) * window])[:, None, :]
        if basis.shape != (2 * bins, 1, n_fft) or np.abs(again - basis).max() > 1e-5:
            continue
        p = init.name + "."
        consts = [numpy_helper.from_array(window, p + "window"),
                  numpy_helper.from_array(np.array(2 * np.pi / n_fft, np.float32), p + "step"),
                  numpy_helper.from_array(np.array(n_fft, np.int64), p + "n"),
                  numpy_helper.from_array(np.array(bins, np.int64), p + "bins"),
                  numpy_helper.from_array(np.array(0, np.int64), p + "zero"),
                  numpy_helper.from_array(np.array(1, np.int64), p + "one"),
                  numpy_helper.from_array(np.array([1], np.int64), p + "ax1"),
                  numpy_helper.from_array(np.array([0], np.int64), p + "ax0")]
        nodes = [
            helper.make_node("Range", [p + "zero", p + "n", p + "one"], [p + "t"]),  # (N,)
            helper.make_node("Range", [p + "zero", p + "bins", p + "one"], [p + "k"]),  # (F,)
            helper.make_node("Unsqueeze", [p + "k", p + "ax1"], [p + "k2"]),  # (F, 1)
            helper.make_node("Unsqueeze", [p + "t", p + "ax0"], [p + "t2"]),  # (1, N)
            helper.make_node("Mul", [p + "k2", p + "t2"], [p + "kt"]),
            helper.make_node("Mod", [p + "kt", p + "n"], [p + "ktn"]),
            helper.make_node("Cast", [p + "ktn"], [p + "ktf"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [p + "ktf", p + "step"], [p + "angle"]),
            helper.make_node("Cos", [p + "angle"], [p + "cos"]),
            helper.make_node("Sin", [p + "angle"], [p + "sin"]),
            helper.make_node("Neg", [p + "sin"], [p + "nsin"]),
            helper.make_node("Concat", [p + "cos", p + "nsin"], [p + "cs"], axis=0),  # (2F, N)
            helper.make_node("Mul", [p + "cs", p + "window"], [p + "basis"]),
            helper.make_node("Unsqueeze", [p + "basis", p + "ax1"], [init.name]),  # (2F, 1, N)
        ]
        graph.initializer.remove(init)
        graph.initializer.extend(consts)
        for i, node in enumerate(nodes):
            node.name = f"{p}node{i}"
            graph.node.insert(i, node)


def export_fp32(model: nn.Module, backbone: str, example: torch.Tensor, path: Path) -> None:
    """Export with the dynamo exporter; dynamic batch (and time); log-mel STFT as a DFT convolution."""
    from torch.export import Dim

    module = exportable(model, backbone).eval()
    batch = Dim("batch", min=1, max=4096)
    axes = {0: batch}
    if backbone in UNPADDED:
        axes[1] = Dim("time", min=400, max=16000 * 600)
    example = example[:2] if example.shape[0] >= 2 else torch.cat([example, example])  # batch ≥ 2
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), dft_frontend(module):
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
    _dft_basis_in_graph(model)
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
    """The front end's nodes, kept in float: the DFT convolution and the mel filter-bank MatMul."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [n.name for n in graph.node
            if (n.op_type == "MatMul" and any(i.endswith(FRONTEND_MATRICES) for i in n.input))
            or (n.op_type == "Conv" and any(i.endswith(FRONTEND_KERNELS) for i in n.input))]


# the log-mel front end's constants: STFT kernels (konstrukt's DFT basis, PANNs' conv_real/imag)
# and mel filter banks
FRONTEND_KERNELS = ("dft_basis", "stft.conv_real.weight", "stft.conv_imag.weight")
FRONTEND_MATRICES = (".mel", "mel_filters", "melW")


def _frontend_in_float16(path: Path) -> None:
    """Store the front end's constants as float16, cast back to float32 when the session loads.

    In the INT8 file the front end stays in float (see the module doc). LogMel's DFT basis is computed
    in the graph (:func:`_dft_basis_in_graph`); CNN14's STFT kernels and the mel matrices are stored. float16 keeps the kernels to ~5e-4 relative error: spectral
    leakage near -66 dB, far below what changes a log-mel (the INT8 parity check measures it).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    users = {i for n in graph.node for i in n.input
             if (n.op_type == "Conv" and i.endswith(FRONTEND_KERNELS))
             or (n.op_type == "MatMul" and i.endswith(FRONTEND_MATRICES))}
    casts = []
    for init in graph.initializer:
        if init.name in users and init.data_type == TensorProto.FLOAT:
            half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "_fp16")
            init.CopyFrom(half)
            casts.append(helper.make_node("Cast", [half.name], [half.name[:-5]], to=TensorProto.FLOAT,
                                          name=half.name[:-5] + "_cast"))
    if casts:
        nodes = casts + list(graph.node)  # before their users: the graph stays topologically sorted
        del graph.node[:]
        graph.node.extend(nodes)
        onnx.save(model, str(path))


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


def needs_calibration(backbone: str, modality: str) -> bool:
    """Static quantisation (calibrated on training samples) or dynamic (none needed)?"""
    return modality != "signal" and backbone not in DYNAMIC_QUANT


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


def quantize(fp32: Path, out: Path, backbone: str, calibration: list[np.ndarray], modality: str = "",
             level: str = "all") -> str:
    """Write the INT8 model; returns the method used (``static…`` or ``dynamic``).

    Signal models (small 1-D convs, LayerNorm, LSTM/GRU) are quantised dynamically, every supported
    op included: their activations swing per recording, so a static activation range calibrated
    on a few training windows costs agreement, and the recurrent parts have no static kernel.
    Static quantisation keeps the nodes of ``level`` (:data:`STATIC_LEVELS`) in float: ``all``
    quantises every Conv/Gemm, ``ends`` keeps the first conv and the last layer, ``fragile`` also
    the squeeze-and-excitation convs (:func:`fragile_nodes`). Biases stay float: int32 biases are
    as large, and their per-channel scales cost B0's file 6 % (3.42x → 3.64x smaller than fp32).
    """
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)

    exclude = _frontend_nodes(fp32)
    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # ORT's pre-processing advice
    if modality == "signal":
        # MiniRocket: its features compare conv outputs with fitted biases, which 8-bit activations
        # would shift (all ops: logits moved by up to 0.34 on the test run; head only: 0.02). Only
        # the head's MatMul/Gemm (nearly all the weights) is quantised; the channel sums' MatMuls
        # take no stored weights, so the quantiser leaves them in float.
        ops = {"op_types_to_quantize": ["Gemm", "MatMul"]} if backbone in HEAD_ONLY_QUANT else {}
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True, **ops)
        _drop_shape_info(out)
        _compact_quantizer_names(fp32, out)
        return "dynamic"
    if backbone in DYNAMIC_QUANT:
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"],
                         nodes_to_exclude=exclude)
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
    _frontend_in_float16(out)
    return STATIC_LEVEL_NAMES[level]
