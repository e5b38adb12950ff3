"""The audio modality's export: its ONNX input, its INT8 policy and its model-card words.

The graph takes the (B, T) waveform and runs the log-mel front end inside, with the STFT as a
convolution over a DFT basis (onnxruntime's STFT op is slower than PyTorch at batch 1); the basis is
computed from the window by graph nodes that onnxruntime folds at session start, so the file does
not store it. wav2vec2 takes its waveform without the zero padding (the time axis is dynamic too),
because its group norm would otherwise mix padding into every frame; its predict.py trims and runs
one file at a time.

INT8: static quantisation for the convolutional backbones, dynamic for the transformers (AST,
wav2vec2). The front end (DFT convolution, mel filter-bank product) stays in float, because log-mel
levels of quiet sounds do not survive 8 bits; its constants are stored as float16 in the INT8 file.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...exporting.hooks import Int8Policy, OnnxInput

DYNAMIC_QUANT = frozenset({"ast", "wav2vec2_base"})  # transformers: dynamic; the rest: static
UNPADDED = frozenset({"wav2vec2_base"})  # backbones whose graph takes the unpadded waveform
FRONTEND_NOTE = ("The log-mel front end runs inside the model (ONNX: the STFT as a convolution "
                 "over a DFT basis, equal to torch.stft within float rounding; in the INT8 file it runs in float, "
                 "its constants stored as float16).")
UNPADDED_NOTE = ("The ONNX model takes each waveform without its trailing zero padding "
                 "(wav2vec2's group norm would mix padding into every frame); predict.py trims it.")


def onnx_input(backbone: str) -> OnnxInput:
    """wav2vec2: the unpadded waveform, time axis dynamic; the others: the log-mel front end as a DFT
    convolution, its basis computed in the graph."""
    if backbone in UNPADDED:
        return OnnxInput(unpadded=True, dynamic_axes=((1, "time", 400, 16000 * 600),), wrap=UnpaddedWav2Vec2,
                         trace=dft_frontend, finish=_dft_basis_in_graph, notes=(UNPADDED_NOTE,))
    return OnnxInput(trace=dft_frontend, finish=_dft_basis_in_graph, notes=(FRONTEND_NOTE,))


def int8(backbone: str) -> Int8Policy:
    """Transformers: dynamic, MatMul/Gemm; the rest: static. The front end stays in float."""
    if backbone in DYNAMIC_QUANT:
        return Int8Policy(dynamic=True, op_types=("MatMul", "Gemm"), float_nodes=_frontend_nodes)
    return Int8Policy(float_nodes=_frontend_nodes, finish=_frontend_in_float16)


def describe(pre: dict) -> str:
    """The saved preprocessing settings in the model card's words."""
    return (f"mono (mean of channels), resampled to {pre['sample_rate']} Hz, "
            f"{pre['duration']:g} s (cropped or zero-padded)"
            + ("; long files vote over windows" if pre.get("long_files") == "windows" else ""))


class UnpaddedWav2Vec2(nn.Module):
    """wav2vec2 classifier on one unpadded waveform batch: the exported form (no data-dependent loop)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, wave: torch.Tensor) -> torch.Tensor:  # wave: (B, L) without padding
        return self.model.head(self.model.backbone._embed(wave))  # (B, C)


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

    from ...models.portable.audio_nets import LogMel

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
