"""Per-frame sequence models: a modality's front end → [per-frame MLP] → residual 1-D CNN blocks
[+ SE] → [BiLSTM / BiGRU / Transformer] → a per-frame linear head → log_softmax over tokens + blank.

Built from the signal family's blocks (:mod:`konstrukt.models.portable.signal_nets`: ``ResBlock``
with its LayerNorm, dropout and squeeze-and-excitation, ``Recurrent``, ``TransformerTail``) and
SpecAugment from the audio wing — arguments instead of copies. Each residual block halves the
frame rate (max-pool), so the CTC output has ``frames(T)`` steps.

Variants are named by the sEMG-keystroke study's ladder: a base (``rescnn``, ``cnn_transformer``,
``transformer_only``) plus ``+`` parts: ``mlp480`` (a per-frame MLP of 480 units in front of the
CNN), ``dropout`` (0.3 instead of 0), ``bilstm`` / ``gru`` (a 2-layer bidirectional recurrent
model over the CNN's frames), ``se`` (squeeze-and-excitation in every block).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from ..modalities.audio.augment import SpecAugment
from ..models.portable.signal_nets import Recurrent, ResBlock, TransformerTail

BASES = ("rescnn", "cnn_transformer", "transformer_only")
PARTS = ("mlp480", "dropout", "bilstm", "gru", "se")
LADDER = ("rescnn", "rescnn+mlp480", "rescnn+mlp480+dropout", "rescnn+mlp480+dropout+bilstm",
          "rescnn+mlp480+dropout+bilstm+se", "cnn_transformer", "transformer_only")
DEFAULT_VARIANT = "rescnn+mlp480+dropout+bilstm+se"


@dataclass(frozen=True)
class Variant:
    name: str
    cnn: bool
    temporal: str  # none, lstm, gru, transformer
    mlp: bool
    dropout: float
    se: bool


def parse_variant(name: str) -> Variant:
    """``rescnn+mlp480+dropout`` → :class:`Variant`; an unknown base or part lists the known ones."""
    if name in ("auto", "", None):
        name = DEFAULT_VARIANT
    base, *parts = name.split("+")
    bad = [p for p in parts if p not in PARTS]
    if base not in BASES or bad:
        raise ConfigError(f"unknown sequence model {name!r}", [
            f"a base model: {', '.join(BASES)}; then any of +{', +'.join(PARTS)} (e.g. {DEFAULT_VARIANT})"])
    temporal = {"cnn_transformer": "transformer", "transformer_only": "transformer"}.get(base, "none")
    temporal = "lstm" if "bilstm" in parts else "gru" if "gru" in parts else temporal
    return Variant(name, base != "transformer_only", temporal, "mlp480" in parts,
                   0.3 if "dropout" in parts else 0.0, "se" in parts)


class SequenceNet(nn.Module):
    """(B, C, T) raw recordings → (B, T', V) per-frame log-probabilities (V = tokens + blank 0)."""

    def __init__(self, frontend: nn.Module, vocab: int, variant: str = DEFAULT_VARIANT,
                 widths: tuple[int, ...] = (64, 128), hidden_size: int = 128, layers: int = 2,
                 heads: int = 4, kernel_size: int = 9, time_mask: int = 10, feature_mask: int = 1):
        super().__init__()
        v = parse_variant(variant)
        self.frontend, self.vocab = frontend, vocab
        self.mask = SpecAugment(time_mask, feature_mask, stripes=2)  # training mode only
        prev = frontend.out_channels
        self.mlp: nn.Module = nn.Identity()
        if v.mlp:  # per-frame MLP (the study's 480-unit MLP over each frame's features)
            self.mlp = nn.Sequential(nn.Conv1d(prev, 480, 1), nn.ReLU(inplace=True), nn.Dropout(v.dropout))
            prev = 480
        blocks = []
        for w in widths if v.cnn else ():
            blocks.append(ResBlock(prev, w, kernel_size, v.dropout, v.se))
            prev = w
        self.blocks = nn.Sequential(*blocks)
        self.temporal: nn.Module | None = None
        if v.temporal in ("lstm", "gru"):
            self.temporal = Recurrent(v.temporal, prev, hidden_size, layers, v.dropout)
        elif v.temporal == "transformer":
            try:
                self.temporal = TransformerTail(prev, hidden_size, layers, heads, max(v.dropout, 0.1))
            except ValueError as exc:
                raise ConfigError(f"sequence model: {exc}", ["Fix: `hidden_size` and `heads` in the config"]) from None
        # the CNN's frames beside the temporal model's (as the classifier family does): the head
        # sees both, so the recurrent / attention part adds context without hiding the CNN
        out = prev + (self.temporal.out_channels if self.temporal is not None else 0)
        self.head = nn.Conv1d(out, vocab, 1)  # per-frame linear head

    def frames(self, length: int) -> int:
        """Output frames for a recording of ``length`` samples (each block halves, rounding up)."""
        n = self.frontend.frames(int(length))
        for _ in self.blocks:
            n = math.ceil(n / 2)
        return int(n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, T) raw
        h = self.frontend(x)  # (B, F, T')
        h = self.mask(h[:, None])[:, 0]  # SpecAugment (time / feature stripes) while training
        h = self.blocks(self.mlp(h))  # (B, W, T'')
        if self.temporal is not None:
            h = torch.cat([h, self.temporal(h)], dim=1)  # (B, W + T, T'')
        return torch.log_softmax(self.head(h).transpose(1, 2).float(), dim=-1)  # (B, T'', V)


def build_model(hooks, channels: int, rate: float, vocab: int, settings) -> SequenceNet:
    """The run's network from its settings (:class:`~konstrukt.sequences.config.SequenceConfig`)."""
    frontend = hooks.frontend(channels, rate)
    return SequenceNet(frontend, vocab, settings.pipeline, tuple(settings.widths), settings.hidden_size,
                       settings.layers, settings.heads, time_mask=round(settings.time_mask * frontend.fps),
                       feature_mask=hooks.feature_mask if settings.feature_mask is None else settings.feature_mask)
