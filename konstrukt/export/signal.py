"""Signal export: per-channel standardisation moves from the preprocessor into the model.

konstrukt standardises a signal window in numpy (training-split mean/std per channel) before the
model sees it. An exported model takes the *raw* window instead — resampled, cut and padded, but in
the recording's own units — and standardises inside (ONNX graph, or the generated PyTorch class),
with mean/std as saved tensors. Padding commutes: konstrukt pads standardised windows with zeros,
which is the channel mean in raw units, so predict.py pads raw windows with the mean.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

# tensor names in the PyTorch bundle's model.safetensors (the generated Backbone owns them)
MEAN_KEY, STD_KEY = "backbone.mean", "backbone.std"


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


class IdentityAdapter:
    """Image and audio: the exported model takes what konstrukt's model takes."""

    def __init__(self, pre=None):
        pass

    def wrap(self, model: nn.Module) -> nn.Module:
        return model

    def to_graph(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return inputs

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {}


ADAPTERS = {"signal": SignalAdapter}


def adapter(modality: str, pre):
    """The input adapter of a modality (identity unless it standardises outside the model)."""
    return ADAPTERS.get(modality, IdentityAdapter)(pre)
