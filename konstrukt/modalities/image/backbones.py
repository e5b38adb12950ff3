"""The image backbones' code: torchvision classifiers with their classifier removed, and the small
CNN trained from scratch (the networks: :mod:`konstrukt.models.portable.image_nets`, which bundles
carry verbatim). Registered with their defaults by :func:`konstrukt.modalities.image.register_backbones`.
"""
from __future__ import annotations

from torch import nn

from ...models.backbones import Backbone, BackboneSpec, with_pretrained
from ...models.portable import image_nets as portable
from ...models.portable.image_nets import Normalised, torchvision_trunk


# --------------------------------------------------------------------------- torchvision backbones


class TorchvisionBackbone(Normalised, Backbone):
    """A torchvision classifier with its final classifier removed; normalisation built in.

    The wrapped model keeps torchvision's own module names, so official checkpoints load with
    ``strict=True`` before the classifier is dropped (the network: :mod:`konstrukt.models.portable.image_nets`).
    """

    def __init__(self, model: nn.Module, arch: str, num_features: int, block_names: list[str], mean, std):
        super().__init__(torchvision_trunk(arch, model), mean, std, num_features)
        self._block_names = block_names

    def blocks(self) -> list[nn.Module]:
        out: list[nn.Module] = []
        for name in self._block_names:
            mod = self.model.get_submodule(name)
            # Sequential stages (EfficientNet/MobileNet features) count block by block.
            out.extend(mod.children() if name == "features" else [mod])
        return out


def _torchvision_factory(arch: str, block_names: list[str]):
    def factory(spec: BackboneSpec, pretrained: str) -> Backbone:
        import torchvision

        model = with_pretrained(getattr(torchvision.models, arch)(weights=None), spec, pretrained,
                                f"torchvision {arch}")
        return TorchvisionBackbone(model, arch, spec.num_features, block_names,
                                   spec.input.mean, spec.input.std)

    return factory


# --------------------------------------------------------------------------- from scratch


class ScratchCNN(portable.ScratchCNN, Backbone):
    """A small 4-stage CNN that trains from scratch on a CPU in seconds (the offline default);
    the network is :class:`.portable.image_nets.ScratchCNN`."""

    def blocks(self) -> list[nn.Module]:
        return list(self.stages)


def _scratch_factory(spec: BackboneSpec, pretrained: str) -> Backbone:
    model = ScratchCNN(**spec.extra.get("config_overrides", {}))
    return with_pretrained(model, spec, pretrained, "scratch_cnn")
