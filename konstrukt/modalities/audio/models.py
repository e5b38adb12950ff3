"""Audio backbones: raw mono waveform (B, T) in, clip embedding (B, D) out.

Each computes its own features inside the module (log-mel, Kaldi fbank, waveform normalisation),
so exported graphs and generated code take the raw waveform:

* ``cnn14`` — PANNs CNN14 (AudioSet) with the official parameter names, so the official checkpoint
  ``Cnn14_mAP=0.431.pth`` loads with ``strict=True``; 2048-d clip embedding (fc1 + ReLU);
* ``resnet18_melspec`` — torchvision ResNet18 on a 1-channel log-mel, conv1 rebuilt for 1 channel;
* ``ast`` — transformers' Audio Spectrogram Transformer (AudioSet fine-tuned), pooled output;
* ``wav2vec2_base`` — transformers' wav2vec2-base, mean-pooled over time with padding masked;
* ``scratch_melcnn`` — a small log-mel CNN that trains from scratch on a CPU in seconds.

Transformers backbones build from bundled config numbers when ``pretrained`` is ``none`` (no
download); ``spec.extra["config_overrides"]`` (a dict) changes them, which is how tests build tiny
random models. Spectrogram backbones expose ``configure_augment(AugmentConfig)`` to size their
SpecAugment masks (active in training mode only).

The networks live in :mod:`.portable.audio_nets` and :mod:`.portable.audio_transformers` (copied
verbatim into exported bundles); this module adds the registry contract (``blocks``), SpecAugment
and the pretrained-weight loading.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .augment import SpecAugment
from ...errors import WeightsUnavailableError
from ...models.backbones import Backbone, BackboneSpec, pretrained_state, with_pretrained
from ...models.portable import audio_nets, audio_transformers
from ...models.weights import FIX_HINT, load_strict, offline, torchvision_weights


class _SpecAugmented(Backbone):
    """Mixin for backbones with a SpecAugment module named ``spec_augment`` (the portable network
    has an identity there: masks are a training matter)."""

    spec_augment: SpecAugment

    def configure_augment(self, augment) -> None:
        """Size the SpecAugment masks from an AugmentConfig (zero widths when it is disabled)."""
        on = bool(augment.enabled)
        self.spec_augment.time_mask = int(augment.time_mask) if on else 0
        self.spec_augment.freq_mask = int(augment.freq_mask) if on else 0


# --------------------------------------------------------------------------- PANNs CNN14


class Cnn14(audio_nets.Cnn14, _SpecAugmented):
    """PANNs CNN14 (:class:`.portable.audio_nets.Cnn14`), with PANNs' SpecAugment in training."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.spec_augment = SpecAugment(time_mask=64, freq_mask=8)  # PANNs' training setting

    def blocks(self) -> list[nn.Module]:
        return [getattr(self, f"conv_block{i}") for i in range(1, 7)] + [self.fc1]


def _cnn14_factory(spec: BackboneSpec, pretrained: str) -> Backbone:
    state = pretrained_state(spec, pretrained)  # first: a missing checkpoint fails fast
    model = Cnn14(sample_rate=spec.input.sample_rate, **spec.extra.get("config_overrides", {}))
    if state is not None:
        load_strict(model, state, "PANNs Cnn14")
    return model


# --------------------------------------------------------------------------- ResNet18 on log-mel


class ResNet18MelSpec(audio_nets.ResNet18MelSpec, _SpecAugmented):
    """ResNet18 on a log-mel (:class:`.portable.audio_nets.ResNet18MelSpec`), with SpecAugment.

    Only ``conv1`` (rebuilt for one channel) is meant to train besides the head
    (:meth:`trainable_parts`); the Classifier keeps the frozen batch-norm layers in eval mode.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.spec_augment = SpecAugment()

    def blocks(self) -> list[nn.Module]:
        m = self.model
        return [nn.ModuleList([m.conv1, m.bn1]), m.layer1, m.layer2, m.layer3, m.layer4]

    def trainable_parts(self, strategy: str) -> list[nn.Module] | None:
        """``partial``: exactly conv1 trains (the head is the replaced fc); else the default rule."""
        return [self.model.conv1] if strategy == "partial" else None


def _resnet18_melspec_factory(spec: BackboneSpec, pretrained: str) -> Backbone:
    import torchvision

    resnet = torchvision.models.resnet18(weights=None)
    state = pretrained_state(spec, pretrained)
    if state is not None and state.get("conv1.weight", torch.empty(0, 3)).shape[1] == 3:
        load_strict(resnet, state, "torchvision resnet18")  # ImageNet: 3-channel conv1, 1000-way fc
        state = None
    model = ResNet18MelSpec(audio_nets.resnet18_one_channel(resnet), spec.input.sample_rate,
                            **spec.extra.get("config_overrides", {}))
    if state is not None:  # our own 1-channel checkpoint (fc already removed)
        load_strict(model, state, "resnet18_melspec")
    return model


def _resnet18_weights():
    return torchvision_weights("ResNet18_Weights")  # read from torchvision when first asked for


# --------------------------------------------------------------------------- transformers helpers


def _from_hub(cls, hub_id: str, what: str):
    """``cls.from_pretrained(hub_id)`` from the HF cache (or the hub when online), or a clear error."""
    try:
        return cls.from_pretrained(hub_id, local_files_only=offline())
    except Exception as exc:  # OSError (not cached / no network), HTTP errors, ...
        where = "the Hugging Face cache" if offline() else "the Hugging Face hub or its cache"
        raise WeightsUnavailableError(
            f"pretrained weights for {what} ({hub_id}) are not available from {where}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            [FIX_HINT, f"or download once with network: python -c \"import transformers; "
                       f"transformers.{cls.__name__}.from_pretrained('{hub_id}')\""], weights=hub_id,
        ) from None


def _pretrained_transformer(cls, spec: BackboneSpec, pretrained: str):
    """A hub model (weight tag), a saved model folder (file with ``config.json`` beside it), or None.

    Hub-format folders go through ``from_pretrained`` so transformers renames old checkpoint keys.
    """
    if pretrained in spec.weights:
        return _from_hub(cls, spec.weights[pretrained].hub_id, spec.name)
    if pretrained != "none" and (Path(pretrained).parent / "config.json").is_file():
        return _from_hub(cls, str(Path(pretrained).parent), spec.name)
    return None


def _load_state_file(model: nn.Module, spec: BackboneSpec, pretrained: str, prefix: str, what: str) -> None:
    """Strictly load a single state-dict file (bare model, or task model with ``prefix``)."""
    state = pretrained_state(spec, pretrained)
    if state is None:
        return
    if any(k.startswith(prefix) for k in state):  # a task model's checkpoint: keep the bare model
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    load_strict(model, state, what)


# --------------------------------------------------------------------------- AST


class ASTBackbone(audio_transformers.ASTBackbone, Backbone):
    """Audio Spectrogram Transformer (:class:`.portable.audio_transformers.ASTBackbone`)."""

    def blocks(self) -> list[nn.Module]:
        return [self.ast.embeddings, *self.ast.layers, self.ast.layernorm]


def _ast_factory(spec: BackboneSpec, pretrained: str) -> Backbone:
    from transformers import ASTConfig, ASTForAudioClassification, ASTModel

    full = _pretrained_transformer(ASTForAudioClassification, spec, pretrained)
    if full is not None:
        return ASTBackbone(full.audio_spectrogram_transformer)
    # ASTConfig's defaults are the base AudioSet model's numbers (768 wide, 12 layers, 128 mels).
    model = ASTModel(ASTConfig(num_labels=527, **spec.extra.get("config_overrides", {})))
    _load_state_file(model, spec, pretrained, "audio_spectrogram_transformer.", "AST")
    return ASTBackbone(model)



# --------------------------------------------------------------------------- wav2vec2


class Wav2Vec2Backbone(audio_transformers.Wav2Vec2Backbone, Backbone):
    """wav2vec2, padding cut off (:class:`.portable.audio_transformers.Wav2Vec2Backbone`)."""

    def blocks(self) -> list[nn.Module]:
        m = self.wav2vec2
        return [m.feature_extractor, m.feature_projection, *m.encoder.layers]


def _wav2vec2_factory(spec: BackboneSpec, pretrained: str) -> Backbone:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    loaded = _pretrained_transformer(Wav2Vec2Model, spec, pretrained)
    if loaded is not None:
        return Wav2Vec2Backbone(loaded)
    # Wav2Vec2Config's defaults are wav2vec2-base's numbers (768 wide, 12 layers, group norm).
    model = Wav2Vec2Model(Wav2Vec2Config(**spec.extra.get("config_overrides", {})))
    _load_state_file(model, spec, pretrained, "wav2vec2.", "wav2vec2")
    return Wav2Vec2Backbone(model)



# --------------------------------------------------------------------------- from scratch


class ScratchMelCNN(audio_nets.ScratchMelCNN, _SpecAugmented):
    """The small log-mel CNN (:class:`.portable.audio_nets.ScratchMelCNN`), with SpecAugment."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.spec_augment = SpecAugment()

    def blocks(self) -> list[nn.Module]:
        return list(self.stages)


def _scratch_melcnn_factory(spec: BackboneSpec, pretrained: str) -> Backbone:
    model = ScratchMelCNN(spec.input.sample_rate, **spec.extra.get("config_overrides", {}))
    return with_pretrained(model, spec, pretrained, "scratch_melcnn")
