"""Signal backbones: a standardised window (B, C, L) in, an embedding (B, D) out; trained from scratch.

One family, :class:`ResCNN`, with arguments instead of copies:

* for long windows, a strided conv stem without normalisation, so the amplitude passes
  (``signal.downsample``; auto: at most 128 steps enter the blocks — a 2-s window at 1 kHz is cut 16×);
* a stack of residual 1-D conv blocks (kernel 9, channel LayerNorm, ReLU, dropout, a 1×1
  projection on the skip path when the channel count changes, max-pool ÷2 after each block),
  optionally with squeeze-and-excitation;
* then a temporal model over the block outputs: none (``rescnn``, ``rescnn_se``), a 2-layer
  bidirectional LSTM (``rescnn_bilstm_se``), a bidirectional GRU (``rescnn_gru``) or a Transformer
  encoder with sinusoidal positions (``rescnn_transformer``);
* mean + max pooling over time of the CNN output and, beside it, of the temporal model's output
  (a skip around the temporal model: LSTM/GRU gates saturate on large activations and would
  otherwise hide the signal's amplitude, which is often what tells gestures apart) → the embedding.

Sizes (widths, kernel, dropout, hidden size, layers, heads) come from the ``signal`` config section
through the preprocessor's ``backbone_options()``; ``spec.extra["config_overrides"]`` shrinks them
for tests. No pretrained weights exist for these models.
"""
from __future__ import annotations

from torch import nn

from ...errors import ConfigError
from ...models.backbones import Backbone, BackboneSpec, with_pretrained
from ...models.portable import signal_nets as portable


class ResCNN(portable.ResCNN, Backbone):
    """Residual 1-D CNN [+ SE] [+ BiLSTM / BiGRU / Transformer] → mean+max pool → (B, D); the
    network is :class:`.portable.signal_nets.ResCNN`."""

    def __init__(self, *args, **kwargs):
        try:
            super().__init__(*args, **kwargs)
        except ValueError as exc:  # sizes from the `signal` config section: name them so
            raise ConfigError(f"signal model: {exc}", ["Fix: the `signal` section (hidden_size, heads, "
                                                       "temporal) of the config"]) from None

    def blocks(self) -> list[nn.Module]:
        stem = [self.stem] if not isinstance(self.stem, nn.Identity) else []
        return [*stem, *self.stages, *([self.temporal] if self.temporal is not None else [])]


def rescnn_factory(spec: BackboneSpec, pretrained: str, **options) -> Backbone:
    """Build a ResCNN variant: the spec's variant settings, the run's sizes, then test overrides."""
    options = {k: v for k, v in options.items() if k != "length"}  # any length: pooled over time
    kwargs = {**spec.extra.get("variant", {}), **{k: v for k, v in options.items() if v is not None},
              **spec.extra.get("config_overrides", {})}
    if kwargs.get("in_channels") is None:
        kwargs["in_channels"] = spec.input.channels
    return with_pretrained(ResCNN(**kwargs), spec, pretrained, spec.name)
