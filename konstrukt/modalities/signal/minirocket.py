"""The ``minirocket`` backbone: MiniRocket's training-free convolutional features of a signal window.

The transform lives in :mod:`konstrukt.models.portable.minirocket` (torch only, copied verbatim into
exported bundles); this wraps it in the backbone contract. Nothing in it is trained by gradient:
its channel subsets, biases and feature statistics are *fitted* on the training windows (see
:mod:`konstrukt.models.data_fit`: once per run on the training split, again on each CV fold's
training part), and saved as buffers in the run's weights.
"""
from __future__ import annotations

import torch

from ...errors import ConfigError
from ...models.backbones import Backbone, BackboneSpec, with_pretrained
from ...models.portable.minirocket import MINIROCKET_KERNEL_LENGTH, MiniRocketFeatures

NUM_FEATURES = 10_000  # the paper's default: 84 kernels × 119 biases = 9,996 features


class MiniRocketBackbone(MiniRocketFeatures, Backbone):
    """(B, C, L) standardised window → (B, ~10k) standardised PPV features; no parameters
    (the network: :class:`.portable.minirocket.MiniRocketFeatures`)."""

    def __init__(self, in_channels: int, length: int, num_features: int = NUM_FEATURES,
                 max_dilations: int = 32):
        super().__init__(in_channels, length, num_features, max_dilations)

    def blocks(self) -> list[torch.nn.Module]:
        return [self.rocket]

    def fit_data(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        """Fit on training windows (N, C, L): channel subsets, biases, feature mean/std; returns
        their embeddings (N, F), computed on the way."""
        return self.rocket.fit(x, seed=seed)


def minirocket_factory(spec: BackboneSpec, pretrained: str, **options) -> Backbone:
    """Sized by the data (channels, window length from the preprocessor), else the spec's input."""
    channels = options.get("in_channels") or spec.input.channels
    length = options.get("length") or spec.input.length
    if length < MINIROCKET_KERNEL_LENGTH:
        raise ConfigError(f"the signal window is {length} samples; MiniRocket needs at least "
                          f"{MINIROCKET_KERNEL_LENGTH}", ["Fix: a longer `signal.window` (--window), or a "
                                                          "higher `signal.sample_rate`"])
    overrides = spec.extra.get("config_overrides", {})  # tests: fewer features
    return with_pretrained(MiniRocketBackbone(channels, length, **overrides), spec, pretrained, spec.name)
