"""Image augmentations (train split only): flip, rotation, colour jitter.

Each is registered by name with a builder that reads its settings from
:class:`~konstrukt.config.AugmentConfig` and returns a torchvision transform, or None when the
setting turns it off. Adding one touches only this file.
"""
from __future__ import annotations

from typing import Callable, Optional

from torchvision.transforms import v2

from ..config import AugmentConfig
from ..registry import Registry

IMAGE_AUGMENTATIONS: Registry[Callable[[AugmentConfig], Optional[v2.Transform]]] = Registry(
    "image augmentation"
)


@IMAGE_AUGMENTATIONS.register("hflip")
def _hflip(cfg: AugmentConfig):
    return v2.RandomHorizontalFlip(cfg.hflip) if cfg.hflip > 0 else None


@IMAGE_AUGMENTATIONS.register("rotation")
def _rotation(cfg: AugmentConfig):
    return v2.RandomRotation(cfg.rotation) if cfg.rotation > 0 else None


@IMAGE_AUGMENTATIONS.register("color_jitter")
def _color_jitter(cfg: AugmentConfig):
    if cfg.brightness == cfg.contrast == cfg.saturation == 0:
        return None
    return v2.ColorJitter(brightness=cfg.brightness, contrast=cfg.contrast, saturation=cfg.saturation)


def image_augmentation(cfg: AugmentConfig) -> v2.Compose | None:
    """All enabled image augmentations, in registry order, or None when augmentation is off."""
    if not cfg.enabled:
        return None
    steps = [t for _, build in IMAGE_AUGMENTATIONS.items() if (t := build(cfg)) is not None]
    return v2.Compose(steps) if steps else None
