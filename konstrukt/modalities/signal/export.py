"""The signal modality's export: standardisation inside the model, its INT8 policy, its card words.

konstrukt standardises a signal window in numpy (training-split mean/std per channel) before the
model sees it. An exported model takes the *raw* window instead — resampled, cut and padded, but in
the recording's own units — and standardises inside (ONNX graph, or the generated PyTorch class),
with mean/std as saved tensors. Padding commutes: konstrukt pads standardised windows with zeros,
which is the channel mean in raw units, so predict.py pads raw windows with the mean.

INT8: dynamic, every supported op included: signal models' activations (small 1-D convs,
LayerNorm, LSTM/GRU) swing per recording, so a static activation range calibrated on a few
training windows costs agreement, and the recurrent parts have no static kernel.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...exporting.hooks import Int8Policy
from ...words import count

# tensor names in the PyTorch bundle's model.safetensors (the generated Backbone owns them)
MEAN_KEY, STD_KEY = "backbone.mean", "backbone.std"
HEAD_ONLY_QUANT = frozenset({"minirocket"})  # fixed features whose inputs must stay exact: INT8 head only


def statistics(pre) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per channel the model standardises with; (0, 1) when standardisation is off."""
    if pre.cfg.standardize and pre.mean is not None:
        return pre.mean.astype(np.float32), pre.std.astype(np.float32)
    return np.zeros(pre.channels, np.float32), np.ones(pre.channels, np.float32)


class StandardisedInput(nn.Module):
    """``model`` behind per-channel standardisation: raw (B, C, L) windows in, logits out."""

    def __init__(self, model: nn.Module, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.from_numpy(np.asarray(mean, np.float32)).view(1, -1, 1))
        self.register_buffer("std", torch.from_numpy(np.asarray(std, np.float32)).view(1, -1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, L) raw
        return self.model((x - self.mean) / self.std)


class SignalAdapter:
    """How a signal run's model and inputs look outside konstrukt (see the module docstring)."""

    def __init__(self, pre):
        self.mean, self.std = statistics(pre)

    def wrap(self, model: nn.Module) -> nn.Module:
        return StandardisedInput(model, self.mean, self.std).eval()

    def to_graph(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """konstrukt's standardised windows → the raw windows the exported model takes."""
        return [(x * self.std[:, None] + self.mean[:, None]).astype(np.float32) for x in inputs]

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {MEAN_KEY: torch.from_numpy(self.mean).view(1, -1, 1).clone(),
                STD_KEY: torch.from_numpy(self.std).view(1, -1, 1).clone()}


def int8(backbone: str) -> Int8Policy:
    """Dynamic, per-channel weights; MiniRocket: its head only.

    MiniRocket's features compare conv outputs with fitted biases, which 8-bit activations would
    shift (all ops: logits moved by up to 0.34 on the test run; head only: 0.02). Only the head's
    MatMul/Gemm (nearly all the weights) is quantised; the channel sums' MatMuls take no stored
    weights, so the quantiser leaves them in float.
    """
    return Int8Policy(dynamic=True, per_channel=True,
                      op_types=("Gemm", "MatMul") if backbone in HEAD_ONLY_QUANT else ())


def describe(pre: dict) -> str:
    """The saved preprocessing settings in the model card's words."""
    sig = pre["signal"]
    unit = "samples" if pre.get("unit") == "samples" else "s"  # no rate known: the run counts samples
    return (f"{count(pre['channels'], 'channel')} "
            + ("as stored (no sampling rate), " if unit == "samples" else f"resampled to {pre['sample_rate']:g} Hz, ")
            + f"windows of {sig['window']:g} {unit} ({pre['length']} samples; shorter files padded with "
            f"{'the last value' if sig['pad'] == 'edge' else 'the channel mean'}, longer ones "
            f"cut into windows {sig['hop'] or sig['window'] / 2:g} {unit} apart that vote)"
            + ("; inside the model: per-channel standardisation with the training split's "
               "mean/std (saved tensors)" if sig["standardize"] else ""))
