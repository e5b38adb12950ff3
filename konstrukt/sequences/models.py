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

from dataclasses import dataclass

from torch import nn

from ..errors import ConfigError
from ..modalities.audio.augment import SpecAugment
from ..models.portable.sequence_nets import SequenceNet as PortableSequenceNet

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


class SequenceNet(PortableSequenceNet):
    """(B, C, T) raw recordings → (B, T', V) per-frame log-probabilities (V = tokens + blank 0): the
    portable network (:mod:`konstrukt.models.portable.sequence_nets`, what bundles carry) built
    from a variant name, with SpecAugment while training."""

    def __init__(self, frontend: nn.Module, vocab: int, variant: str = DEFAULT_VARIANT,
                 widths: tuple[int, ...] = (64, 128), hidden_size: int = 128, layers: int = 2,
                 heads: int = 4, kernel_size: int = 9, time_mask: int = 10, feature_mask: int = 1):
        try:
            super().__init__(frontend, vocab, **variant_options(variant), widths=tuple(widths),
                             hidden_size=hidden_size, layers=layers, heads=heads, kernel_size=kernel_size,
                             mask=SpecAugment(time_mask, feature_mask, stripes=2))  # training mode only
        except ValueError as exc:  # the transformer's width and heads do not divide
            raise ConfigError(f"sequence model: {exc}", ["Fix: `hidden_size` and `heads` in the config"]) from None


def variant_options(variant: str) -> dict:
    """The portable network's keyword arguments of a variant name (saved in bundles' config.json)."""
    v = parse_variant(variant)
    return {"cnn": v.cnn, "temporal": v.temporal, "mlp": v.mlp, "dropout": v.dropout, "se": v.se}


def model_options(run_settings, frontend: nn.Module) -> dict:
    """Everything a bundle needs to rebuild a run's network without konstrukt (its config.json)."""
    return {"frontend": type(frontend).__name__, **variant_options(run_settings.pipeline),
            "widths": list(run_settings.widths), "hidden_size": run_settings.hidden_size,
            "layers": run_settings.layers, "heads": run_settings.heads}


def build_model(hooks, channels: int, rate: float, vocab: int, settings) -> SequenceNet:
    """The run's network from its settings (:class:`~konstrukt.sequences.config.SequenceConfig`)."""
    frontend = hooks.factory(getattr(settings, "frontend", "auto"))(channels, rate)
    return SequenceNet(frontend, vocab, settings.pipeline, tuple(settings.widths), settings.hidden_size,
                       settings.layers, settings.heads, time_mask=time_stripe(settings, frontend),
                       feature_mask=hooks.feature_mask if settings.feature_mask is None else settings.feature_mask)


def time_stripe(settings, frontend: nn.Module) -> int:
    """SpecAugment's widest time stripe in the front end's frames (``settings.time_mask`` is in
    seconds). Training sizes it again once the front end is fitted: ``fit`` may choose the frame
    rate (MiniRocket's window follows the texts)."""
    return round(settings.time_mask * frontend.fps)
